//! `JoinHandle`: awaiting, detaching, and exactly-once drops of the output.

mod support;

use futures::task::{ArcWake, waker};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;
use support::{DropCounter, miri_or, rt, with_timeout};

#[test]
fn awaited_output_is_handed_over_and_dropped_once_by_the_receiver() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let (fut_drops, out_drops) = (DropCounter::new(), drops.clone());
    let fut_token = fut_drops.token();
    let task = rt.spawn(async move {
        let _keep = fut_token;
        out_drops.token()
    });
    let output = rt.block_on(task).unwrap();
    assert_eq!(fut_drops.drops(), 1, "future dropped once it completed");
    assert_eq!(drops.drops(), 0);
    drop(output);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn dropping_the_handle_before_completion_detaches_the_task() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let out = drops.clone();
        let (tx, rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let task = rt.spawn(async move {
            rx.recv().unwrap();
            let token = out.token();
            done_tx.send(()).unwrap();
            token
        });
        drop(task);
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        // The worker drops the unclaimed output right after completion.
        while drops.drops() == 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(drops.drops(), 1);
    });
}

#[test]
fn dropping_the_handle_after_completion_drops_the_output_once() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let out = drops.clone();
    let task = rt.spawn(async move { out.token() });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(drops.drops(), 0, "the output waits for its handle");
    drop(task);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn racing_handle_drops_with_completion_drop_every_output_once() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let n = miri_or(20_000, 50);
        for _ in 0..n {
            let out = drops.clone();
            let task = rt.spawn(async move { out.token() });
            drop(task);
        }
        while drops.drops() < n {
            std::thread::yield_now();
        }
        drop(rt);
        assert_eq!(drops.drops(), n);
    });
}

struct CountWakes(AtomicUsize);

impl ArcWake for CountWakes {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn the_latest_waker_given_to_a_handle_is_the_one_woken() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let mut task = rt.spawn(async move { rx.await.unwrap() });
        let first = Arc::new(CountWakes(AtomicUsize::new(0)));
        let second = Arc::new(CountWakes(AtomicUsize::new(0)));
        let w1 = waker(first.clone());
        let w2 = waker(second.clone());
        assert!(
            Pin::new(&mut task)
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        assert!(
            Pin::new(&mut task)
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        assert!(
            Pin::new(&mut task)
                .poll(&mut Context::from_waker(&w2))
                .is_pending()
        );
        tx.send(5).unwrap();
        while second.0.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert_eq!(first.0.load(SeqCst), 0);
        match Pin::new(&mut task).poll(&mut Context::from_waker(&w2)) {
            Poll::Ready(Ok(5)) => {}
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn is_finished_turns_true_exactly_when_the_task_is_done() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let task = rt.spawn(async move { rx.await.unwrap() });
        std::thread::sleep(Duration::from_millis(10));
        assert!(!task.is_finished());
        tx.send(()).unwrap();
        while !task.is_finished() {
            std::thread::yield_now();
        }
        rt.block_on(task).unwrap();
    });
}

#[test]
#[should_panic(expected = "polled again after it returned")]
fn polling_a_handle_after_it_returned_ready_panics() {
    let rt = rt(1);
    let mut task = rt.spawn(async {});
    rt.block_on(&mut task).unwrap();
    let w = waker(Arc::new(CountWakes(AtomicUsize::new(0))));
    let _ = Pin::new(&mut task).poll(&mut Context::from_waker(&w));
}
