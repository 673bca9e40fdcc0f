//! `wait` with each `WaitFor` mode, and its timeout.

mod support;

use magpie::WaitFor;
use magpie::time::{Duration, sleep};
use support::{rt, stretch};

/// A task that sleeps `ms` milliseconds (stretched under Miri, so that
/// the order of the sleepers survives interpretation) and returns `ms`.
fn sleeper(ms: u64) -> magpie::JoinHandle<u64> {
    magpie::spawn(async move {
        sleep(stretch(Duration::from_millis(ms))).await;
        ms
    })
}

#[test]
fn first_completed_returns_as_soon_as_one_finishes() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks = vec![sleeper(200), sleeper(5), sleeper(300)];
        let (done, pending) = magpie::wait(tasks, WaitFor::FirstCompleted).await;
        assert_eq!(done.len(), 1);
        assert_eq!(pending.len(), 2);
        assert!(done[0].is_finished());
        assert_eq!(done[0].id(), done[0].id());
        let d = done.into_iter().next().unwrap();
        assert_eq!(d.await.unwrap(), 5);
        // Pending tasks keep running unless cancelled.
        for t in pending {
            assert_eq!(t.await.unwrap() % 100, 0);
        }
    });
}

#[test]
fn all_completed_waits_for_every_task() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks = vec![sleeper(20), sleeper(5), sleeper(10)];
        let ids: Vec<_> = tasks.iter().map(|t| t.id()).collect();
        let (done, pending) = magpie::wait(tasks, WaitFor::AllCompleted).await;
        assert!(pending.is_empty());
        let done_ids: Vec<_> = done.iter().map(|t| t.id()).collect();
        assert_eq!(done_ids, ids, "done keeps the original order");
        let values: Vec<_> = magpie::gather(done)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, [20, 5, 10]);
    });
}

#[test]
fn first_error_returns_at_the_first_panic() {
    let rt = rt(2);
    rt.block_on(async {
        let slow = sleeper(3_600_000);
        // The quick one has finished before the panicking one starts, so
        // the order holds however slowly the tasks run (under Miri on a
        // loaded machine a 1 ms sleeper did not always beat a 5 ms one).
        let quick = sleeper(1);
        while !quick.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        let erring = magpie::spawn(async {
            magpie::task::yield_now().await;
            panic!("boom")
        });
        let (done, pending) = magpie::wait([slow, erring, quick], WaitFor::FirstError).await;
        assert_eq!(done.len(), 2, "the quick one and the panicking one");
        assert_eq!(pending.len(), 1);
        for t in &pending {
            t.cancel();
        }
        // `done` keeps the original order: the panicking task, then the quick one.
        let outcomes = magpie::gather(done).await;
        assert!(outcomes[0].as_ref().unwrap_err().is_panic());
        assert_eq!(*outcomes[1].as_ref().unwrap(), 1);
    });
}

#[test]
fn first_error_without_errors_waits_for_all() {
    let rt = rt(2);
    rt.block_on(async {
        let (done, pending) =
            magpie::wait(vec![sleeper(5), sleeper(10)], WaitFor::FirstError).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
    });
}

#[test]
fn a_cancelled_task_is_not_an_error_for_first_error() {
    let rt = rt(2);
    rt.block_on(async {
        let cancelled = sleeper(3_600_000);
        cancelled.cancel();
        let (done, pending) = magpie::wait(vec![cancelled, sleeper(10)], WaitFor::FirstError).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
    });
}

#[test]
fn the_timeout_returns_what_has_finished() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks = vec![sleeper(1), sleeper(3_600_000), sleeper(3_600_000)];
        let start = std::time::Instant::now();
        let (done, pending) = magpie::wait(tasks, WaitFor::AllCompleted)
            .timeout(stretch(Duration::from_millis(30)))
            .await;
        assert!(start.elapsed() >= stretch(Duration::from_millis(30)));
        assert_eq!((done.len(), pending.len()), (1, 2));
        for t in pending {
            t.cancel();
            assert!(t.await.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn waiting_on_nothing_returns_at_once() {
    let rt = rt(1);
    let (done, pending) = rt.block_on(magpie::wait(
        Vec::<magpie::JoinHandle<()>>::new(),
        WaitFor::FirstCompleted,
    ));
    assert!(done.is_empty() && pending.is_empty());
}
