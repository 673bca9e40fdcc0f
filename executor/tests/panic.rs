//! Panics in tasks are caught, surfaced through the `JoinHandle`, and never
//! take a worker down: in a poll, in a destructor, in a waker.

mod support;

use futures::task::{ArcWake, waker};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;
use support::{DropCounter, miri_or, rt, with_timeout};

#[test]
fn a_panic_in_a_poll_reaches_the_handle_with_its_message() {
    let rt = rt(2);
    let task = magpie::task::Builder::new()
        .name("doomed")
        .spawn_on(rt.handle(), async { panic!("task error {}", 42) });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.panic_message(), Some("task error 42"));
    assert_eq!(err.id(), id);
    assert_eq!(
        err.to_string(),
        format!("task {id} (\"doomed\") panicked: task error 42")
    );
    let payload = err.into_panic();
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(text, Some("task error 42"));
}

#[test]
fn workers_survive_panicking_tasks() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        rt.block_on(async {
            let failing: Vec<_> = (0..miri_or(100, 3))
                .map(|i| magpie::spawn(async move { panic!("{i}") }))
                .collect();
            for t in failing {
                assert!(t.await.unwrap_err().is_panic());
            }
            assert_eq!(magpie::spawn(async { 1 }).await.unwrap(), 1);
        });
    });
}

#[test]
fn the_future_is_dropped_after_it_panics() {
    let rt = rt(1);
    let drops = DropCounter::new();
    let token = drops.token();
    let task = rt.spawn(async move {
        let _t = token;
        panic!("boom");
    });
    assert!(rt.block_on(task).unwrap_err().is_panic());
    assert_eq!(drops.drops(), 1);
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor panicked");
    }
}

#[test]
fn a_destructor_panicking_during_cancellation_is_reported_as_a_panic() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let task = rt.spawn(async move {
            let _guard = PanicOnDrop;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        // Cancel only once the guard exists (a fixed sleep assumed the
        // first poll came within 10 ms, which Miri does not meet).
        started_rx.recv().unwrap();
        task.cancel();
        let err = rt.block_on(task).unwrap_err();
        assert_eq!(err.panic_message(), Some("destructor panicked"));
        // The worker is still alive.
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    });
}

#[test]
fn a_destructor_panicking_after_completion_turns_the_result_into_a_panic() {
    let rt = rt(1);
    let task = rt.spawn(async {
        let _guard = PanicOnDrop;
        7
    });
    // The future returned Ready, then its captured guard panicked when the
    // future was dropped: the joiner must hear about it.
    let err = rt.block_on(task).unwrap_err();
    assert_eq!(err.panic_message(), Some("destructor panicked"));
}

#[test]
fn an_unclaimed_output_that_panics_when_dropped_does_not_kill_the_worker() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        drop(rt.spawn(async { PanicOnDrop }));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
    });
}

struct PanickyWaker;
impl ArcWake for PanickyWaker {
    fn wake_by_ref(_: &Arc<Self>) {
        panic!("waker panicked");
    }
}

#[test]
fn a_panicking_join_waker_does_not_kill_the_worker() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let mut task = rt.spawn(async move { rx.await.unwrap() });
        let w = waker(Arc::new(PanickyWaker));
        assert!(
            Pin::new(&mut task)
                .poll(&mut Context::from_waker(&w))
                .is_pending()
        );
        tx.send(()).unwrap();
        while !task.is_finished() {
            std::thread::yield_now();
        }
        assert!(matches!(
            Pin::new(&mut task).poll(&mut Context::from_waker(&w)),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    });
}

#[test]
fn a_waker_that_panics_inside_a_task_fails_only_that_task() {
    let rt = rt(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let task = rt.spawn(async move {
        c.fetch_add(1, SeqCst);
        let w = waker(Arc::new(PanickyWaker));
        w.wake_by_ref();
    });
    assert!(rt.block_on(task).unwrap_err().is_panic());
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);
}
