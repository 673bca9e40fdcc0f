//! Shutting a runtime down: pending futures dropped, threads joined, no new
//! spawns, bounded waits, and the misuse that would block a worker.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{DropCounter, miri_or, rt, stretch, watchdog, with_timeout};

#[test]
fn dropping_the_runtime_drops_every_pending_future_once() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let mut handles = Vec::new();
        let n = miri_or(1000, 30);
        for _ in 0..n {
            let token = drops.token();
            handles.push(rt.spawn(async move {
                let _t = token;
                std::future::pending::<()>().await;
            }));
        }
        // Some are idle, some may still be queued: all must be dropped.
        drop(rt);
        assert_eq!(drops.drops(), n);
        for h in handles {
            assert!(h.is_finished());
            assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn detached_pending_tasks_are_dropped_at_shutdown_too() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let n = miri_or(100, 10);
    for _ in 0..n {
        let token = drops.token();
        drop(rt.spawn(async move {
            let _t = token;
            std::future::pending::<()>().await;
        }));
    }
    drop(rt);
    assert_eq!(drops.drops(), n);
}

#[test]
fn shutdown_joins_the_worker_threads() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let rt = magpie::Runtime::builder()
        .worker_threads(3)
        .on_thread_stop(move || {
            s.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    rt.block_on(async { magpie::spawn(async {}).await.unwrap() });
    drop(rt);
    assert_eq!(
        stopped.load(SeqCst),
        3,
        "every worker stopped before drop returned"
    );
}

#[test]
fn shutdown_timeout_gives_up_on_a_stuck_worker() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let token = drops.token();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        rt.spawn(async move {
            let _t = token;
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap(); // blocks this worker
            done_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.recv().unwrap();
        let t = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(100));
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < watchdog(Duration::from_secs(5)), "{waited:?}");
        assert_eq!(drops.drops(), 0, "the stuck task is still inside its poll");
        release_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        // When its poll returns, the stuck worker drops the cancelled task.
        while drops.drops() == 0 {
            std::thread::yield_now();
        }
    });
}

#[test]
fn block_on_inside_a_worker_panics_with_a_message_that_says_why() {
    let rt = Arc::new(rt(2));
    let inner = rt.clone();
    let err = rt
        .block_on(rt.spawn(async move { inner.block_on(async {}) }))
        .unwrap_err();
    let msg = err.panic_message().unwrap();
    assert!(
        msg.contains("block_on called from a magpie worker thread"),
        "{msg}"
    );
    assert!(msg.contains(".await"), "{msg}");
}

#[test]
fn a_runtime_dropped_on_its_own_worker_shuts_down_without_deadlock() {
    with_timeout(Duration::from_secs(10), || {
        let rt = Arc::new(rt(2));
        let (tx, rx) = mpsc::channel();
        let inside = rt.clone();
        rt.spawn(async move {
            let _ = rx.recv();
            drop(inside); // the last reference: Runtime::drop runs here
        });
        drop(rt);
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    });
}

#[test]
fn the_handle_of_a_task_that_outlives_its_runtime_reports_cancellation() {
    let rt = rt(1);
    let task = rt.spawn(std::future::pending::<()>());
    drop(rt);
    let err = futures::executor::block_on(task).unwrap_err();
    assert!(err.is_cancelled());
    assert!(err.to_string().ends_with("was cancelled"), "{err}");
}

#[test]
fn magpie_run_shuts_its_runtime_down() {
    let drops = DropCounter::new();
    let token = drops.token();
    magpie::run(async move {
        drop(magpie::spawn(async move {
            let _t = token;
            std::future::pending::<()>().await;
        }));
    });
    assert_eq!(drops.drops(), 1);
}

#[test]
fn futures_dropped_at_shutdown_may_spawn_and_wake_without_harm() {
    struct SpawnOnDrop(Option<futures::channel::oneshot::Sender<()>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            // Spawning during shutdown is refused quietly; waking is fine.
            assert!(magpie::try_spawn(async {}).is_err() || magpie::Handle::try_current().is_err());
            let _ = self.0.take().unwrap().send(());
        }
    }
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let mut receivers = Vec::new();
        for _ in 0..miri_or(100, 10) {
            let (tx, rx) = futures::channel::oneshot::channel();
            let (_tx2, rx2) = futures::channel::oneshot::channel::<()>();
            receivers.push(rx);
            let guard = SpawnOnDrop(Some(tx));
            rt.spawn(async move {
                let _g = guard;
                let _ = rx2.await;
            });
            std::mem::forget(_tx2);
        }
        drop(rt);
        for rx in receivers {
            futures::executor::block_on(rx).unwrap();
        }
    });
}

#[test]
fn shutdown_timeout_reports_a_task_stuck_in_a_poll() {
    let rt = support::rt(2);
    let started = std::sync::Arc::new(std::sync::Barrier::new(2));
    let s = started.clone();
    let stuck = magpie::task::Builder::new()
        .name("spinner")
        .spawn_on(rt.handle(), async move {
            s.wait();
            std::thread::sleep(stretch(Duration::from_millis(400)));
        });
    started.wait();
    let report = rt.shutdown_timeout(stretch(Duration::from_millis(30)));
    assert_eq!(report.unfinished().len(), 1, "{report}");
    let t = &report.unfinished()[0];
    assert_eq!(
        (t.id(), t.name(), t.is_blocking()),
        (stuck.id(), Some("spinner"), false)
    );
    // The poll ran to completion after the timeout: its output is kept.
    futures::executor::block_on(stuck).unwrap();
}
