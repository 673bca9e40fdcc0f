//! Loom models of the timers (`executor/src/time/driver.rs`). Under loom
//! the driver has a virtual clock: a worker with nothing to run jumps it to
//! the next deadline instead of sleeping, so a sleep completes in a model
//! and its registration, the kick of the worker that must drive the wheel,
//! and the firing race with everything else.
#![cfg(loom)]

use std::time::Duration;

fn runtime() -> magpie::Runtime {
    loom_tests::runtime(1)
}

/// A task sleeps: the worker that runs it registers the timer, finds
/// nothing else to do, arms itself for the deadline and fires it.
#[test]
fn sleep_in_a_task_completes() {
    loom::model(|| {
        let rt = runtime();
        let task = rt.spawn(async {
            magpie::time::sleep(Duration::from_millis(1)).await;
            7
        });
        assert_eq!(rt.block_on(task).unwrap(), 7);
    });
}

/// The timer is registered from a thread that is not a worker (inside
/// `block_on`), racing the worker as it parks: the registration must kick
/// a worker to drive the wheel, or the sleep never ends (a deadlock).
#[test]
fn sleep_outside_the_workers_kicks_a_worker() {
    loom::model(|| {
        let rt = runtime();
        let mut sleep = magpie::time::sleep(Duration::from_millis(1));
        rt.block_on(&mut sleep);
        assert!(sleep.is_elapsed());
    });
}

/// The machine's speed must not reach a model. Here every other execution
/// is made slow on purpose between building the runtime and creating the
/// sleep (outside any runtime, as above). While deadlines read real time,
/// the slow executions filed the 1 ms timer 64 or more 16 µs ticks after
/// the wheel's start instead of 63, one level up the wheel, and loom
/// aborted on the changed path ("Reached unexpected exploration state"):
/// the flaky `sleep_outside_the_workers_kicks_a_worker`, made to fail
/// every time. With the model's virtual clock, every execution files the
/// same tick, and the sleep still completes.
#[test]
fn a_slow_machine_does_not_change_a_model() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        let rt = runtime();
        if EXECUTIONS.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut sleep = magpie::time::sleep(Duration::from_millis(1));
        rt.block_on(&mut sleep);
        assert!(sleep.is_elapsed());
    });
}

/// A timeout elapses and drops the future it guards, in a task.
#[test]
fn timeout_elapses() {
    loom::model(|| {
        let rt = runtime();
        // Created inside the task: under loom, relative deadlines are
        // taken from the virtual clock of the runtime the code runs on.
        let task = rt.spawn(async {
            magpie::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await
        });
        assert!(rt.block_on(task).unwrap().is_err());
    });
}
