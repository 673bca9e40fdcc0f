//! Loom models of the runtime's lifecycle (`executor/src/runtime/lifecycle.rs`):
//! the shutdown sweep racing a worker that pops a run-queue entry, and a
//! worker stuck in a poll past the shutdown deadline.
//!
//! Both need a shutdown deadline that can pass. Under loom a timed wait
//! (`Condvar::wait_until`, `primitives/src/loom.rs`) may time out at any
//! moment the waiter is scheduled, so `shutdown_timeout` may stop waiting
//! for the workers before, while or after they run: the sweep then races
//! whatever a worker is doing. No model reads real time (the timeout's value
//! is ignored under loom).
#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom_tests::{Counts, Latch, Output, tracked};
use std::time::Duration;

/// A one-worker runtime, and a latch its worker opens when it stops. A
/// worker that `shutdown_timeout` gave up on is detached; the model must
/// still wait for it before it ends (loom tears an execution down when the
/// main thread returns).
fn runtime_and_stopped() -> (magpie::Runtime, Latch) {
    let stopped = Latch::default();
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .on_thread_stop({
            let stopped = stopped.clone();
            move || stopped.open()
        })
        .build()
        .unwrap();
    (rt, stopped)
}

/// `shutdown_timeout` whose deadline passes at any moment: its sweep runs
/// while the only worker may be popping the queued task (from the injector
/// at first, from its deque after the task yielded), polling it, or idle.
/// The sweep's `transition_to_shutdown` and the worker's
/// `transition_to_running` race on the queued entry: exactly one of them
/// owns the future, which is dropped exactly once; the handle resolves (the
/// output, or cancelled), the report lists the task only if the worker was
/// inside its poll, and nothing leaks (a stale entry left in a queue would
/// keep the runtime's `Arc` alive: loom reports the leak).
#[test]
fn shutdown_sweep_races_a_run_queue_pop() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let (rt, stopped) = runtime_and_stopped();
        let task = rt.spawn(tracked(&counts, {
            let counts = counts.clone();
            async move {
                magpie::task::yield_now().await;
                Output::new(&counts)
            }
        }));
        let report = rt.shutdown_timeout(Duration::from_millis(1));
        assert!(report.unfinished().len() <= 1);
        if let Some(unfinished) = report.unfinished().first() {
            assert_eq!(unfinished.id(), task.id(), "only the task can be stuck");
            assert!(!unfinished.is_blocking());
        }
        // The worker may still be finishing the poll the sweep found it in.
        match loom::future::block_on(task) {
            Ok(output) => drop(output),
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
        stopped.wait();
        counts.assert_settled();
    });
}

/// A worker outlives the shutdown deadline: the task it polls blocks its
/// thread on a latch that the main thread opens only after
/// `shutdown_timeout` returned. Before blocking, the task spawned a second
/// task, which sits in the worker's LIFO slot. The deadline passes (the
/// timed wait for the workers times out: nobody can notify it), so:
///
/// * the report lists exactly the stuck task;
/// * the queued task was cancelled by the sweep, its future dropped exactly
///   once, before `shutdown_timeout` returned;
/// * after the latch opens the worker finishes its poll, starts no other
///   (the LIFO entry is stale: the sweep owns that task) and leaves; the
///   stuck task's handle resolves, every future and output is dropped once
///   and nothing leaks.
#[test]
fn worker_outlives_the_shutdown_deadline() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let (entered, release) = (Latch::default(), Latch::default());
        let queued = Arc::new(Mutex::new(None));
        let (rt, stopped) = runtime_and_stopped();
        let stuck = rt.spawn(tracked(&counts, {
            let (counts, entered, release, queued) = (
                counts.clone(),
                entered.clone(),
                release.clone(),
                queued.clone(),
            );
            async move {
                // Spawned on the worker: into its LIFO slot.
                let child = magpie::spawn(tracked(&counts, {
                    let counts = counts.clone();
                    async move { Output::new(&counts) }
                }));
                *queued.lock().unwrap() = Some(child);
                entered.open();
                // Stuck inside this poll, past the deadline.
                release.wait();
                Output::new(&counts)
            }
        }));
        entered.wait();
        let report = rt.shutdown_timeout(Duration::from_millis(1));
        let unfinished = report.unfinished();
        assert_eq!(unfinished.len(), 1, "{report}");
        assert_eq!(unfinished[0].id(), stuck.id());
        assert!(!unfinished[0].is_blocking());

        let child = queued
            .lock()
            .unwrap()
            .take()
            .expect("the child was spawned");
        assert!(child.is_finished(), "the sweep cancelled the queued child");
        let joined = futures::FutureExt::now_or_never(child).expect("finished");
        assert!(joined.unwrap_err().is_cancelled());
        assert_eq!(
            counts.future_drops(),
            1,
            "only the child's future is gone while the worker is stuck"
        );

        release.open();
        match loom::future::block_on(stuck) {
            Ok(output) => drop(output),
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
        stopped.wait();
        counts.assert_settled();
        assert_eq!(counts.futures(), 2);
    });
}

/// The stuck poll of `worker_outlives_the_shutdown_deadline` returns
/// *during* the shutdown: another thread opens the latch while
/// `shutdown_timeout` closes, times out and sweeps. The worker coming back
/// from the poll may find the child's LIFO entry while the sweep owns the
/// child (it set `RUNNING` and is dropping its future): the closed flag
/// checked before every LIFO poll, and behind it `transition_to_running`'s
/// refusal of stale entries, keep the worker off that future. Whatever the
/// interleaving, each future is dropped exactly once, both handles resolve
/// and the report lists at most the one task the worker is polling.
#[test]
fn stuck_poll_returns_during_the_sweep() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let (entered, release) = (Latch::default(), Latch::default());
        let queued = Arc::new(Mutex::new(None));
        let (rt, stopped) = runtime_and_stopped();
        let stuck = rt.spawn(tracked(&counts, {
            let (counts, entered, release, queued) = (
                counts.clone(),
                entered.clone(),
                release.clone(),
                queued.clone(),
            );
            async move {
                let child = magpie::spawn(tracked(&counts, {
                    let counts = counts.clone();
                    async move { Output::new(&counts) }
                }));
                *queued.lock().unwrap() = Some(child);
                entered.open();
                release.wait();
                Output::new(&counts)
            }
        }));
        entered.wait();
        let child = queued
            .lock()
            .unwrap()
            .take()
            .expect("the child was spawned");
        let opener = loom::thread::spawn(move || release.open());
        let report = rt.shutdown_timeout(Duration::from_millis(1));
        // The worker polls one task at a time: the stuck one, or the
        // child it went on to.
        assert!(report.unfinished().len() <= 1);
        if let Some(unfinished) = report.unfinished().first() {
            assert!([stuck.id(), child.id()].contains(&unfinished.id()));
        }
        for joined in [loom::future::block_on(child), loom::future::block_on(stuck)] {
            match joined {
                Ok(output) => drop(output),
                Err(e) => assert!(e.is_cancelled(), "{e:?}"),
            }
        }
        opener.join().unwrap();
        stopped.wait();
        counts.assert_settled();
        assert_eq!(counts.futures(), 2);
    });
}
