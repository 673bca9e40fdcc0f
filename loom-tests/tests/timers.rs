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
        rt.block_on(magpie::time::sleep(Duration::from_millis(1)));
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
