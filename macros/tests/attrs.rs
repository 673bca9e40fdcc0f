//! `#[magpie::test]` and `#[magpie::main]` expand to working code: the
//! options reach the runtime, `Result` and `?` work, panics fail the test.

use std::time::Duration;

use magpie::Handle;

#[magpie::test]
async fn a_test_runtime_has_two_workers_by_default() {
    assert_eq!(Handle::current().metrics().workers.len(), 2);
}

#[magpie::test(worker_threads = 3, thread_name = "macro-test")]
async fn options_reach_the_runtime() {
    assert_eq!(Handle::current().metrics().workers.len(), 3);
    let name = magpie::spawn(async { std::thread::current().name().map(String::from) })
        .await
        .unwrap();
    assert!(name.unwrap().starts_with("macro-test-"));
}

/// Debug mode's task dump records each task's age; without it, no age.
fn current_task_has_an_age() -> bool {
    let id = magpie::task::current().id();
    let info = Handle::current().tasks().into_iter().find(|t| t.id == id);
    info.expect("a spawned task is in the dump").age.is_some()
}

#[magpie::test(debug = true)]
async fn debug_true_turns_debug_mode_on() {
    let aged = magpie::spawn(async { current_task_has_an_age() }).await;
    assert!(aged.unwrap());
}

#[magpie::test(debug = false)]
async fn debug_false_turns_debug_mode_off() {
    let aged = magpie::spawn(async { current_task_has_an_age() }).await;
    assert!(!aged.unwrap());
}

#[magpie::test]
async fn a_test_may_return_a_result() -> Result<(), std::num::ParseIntError> {
    magpie::time::sleep(Duration::from_millis(1)).await;
    let n: u8 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}

#[magpie::test]
#[should_panic(expected = "boom")]
async fn a_panic_fails_the_test() {
    magpie::task::yield_now().await;
    panic!("boom");
}

mod renamed {
    // A dependency renamed in Cargo.toml is named with `crate = ".."`.
    use magpie as rt;

    #[rt::test(crate = "rt")]
    async fn crate_names_the_runtime_path() {
        assert_eq!(rt::spawn(async { 5 }).await.unwrap(), 5);
    }
}

#[test]
fn main_runs_the_body_and_returns_its_value() {
    // `#[magpie::main]` on a function not named `main` is an ordinary
    // function that can be called: the expansion is the same.
    #[magpie::main(worker_threads = 1)]
    async fn run() -> Result<u32, String> {
        let v = magpie::spawn(async { 40 })
            .await
            .map_err(|e| e.to_string())?;
        Ok(v + 2)
    }
    assert_eq!(run(), Ok(42));

    #[magpie::main]
    async fn fail() -> Result<(), std::num::ParseIntError> {
        let _: u8 = "seven".parse()?;
        Ok(())
    }
    assert!(fail().is_err());
}
