//! `JoinHandle::cancel` at every point of a task's life: the future is
//! dropped exactly once, on a worker thread, at a poll boundary.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use support::{DropCounter, DropToken, rt, with_timeout};

/// A future that counts its polls, records the thread that drops it, and
/// stays pending until told otherwise.
struct Probe {
    polls: Arc<AtomicUsize>,
    dropped_on: Arc<Mutex<Option<String>>>,
    waker: Arc<Mutex<Option<Waker>>>,
    ready: Arc<AtomicUsize>,
    _token: DropToken,
}

#[derive(Clone)]
struct ProbeHandle {
    polls: Arc<AtomicUsize>,
    dropped_on: Arc<Mutex<Option<String>>>,
    waker: Arc<Mutex<Option<Waker>>>,
    ready: Arc<AtomicUsize>,
}

fn probe(drops: &DropCounter) -> (Probe, ProbeHandle) {
    let h = ProbeHandle {
        polls: Arc::default(),
        dropped_on: Arc::default(),
        waker: Arc::default(),
        ready: Arc::default(),
    };
    let p = Probe {
        polls: h.polls.clone(),
        dropped_on: h.dropped_on.clone(),
        waker: h.waker.clone(),
        ready: h.ready.clone(),
        _token: drops.token(),
    };
    (p, h)
}

impl Future for Probe {
    type Output = &'static str;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        self.polls.fetch_add(1, SeqCst);
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.ready.load(SeqCst) == 1 {
            Poll::Ready("done")
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        *self.dropped_on.lock().unwrap() = std::thread::current().name().map(str::to_owned);
    }
}

impl ProbeHandle {
    fn wake(&self) {
        self.waker.lock().unwrap().take().unwrap().wake();
    }
    fn dropped_on_worker(&self) -> bool {
        self.dropped_on
            .lock()
            .unwrap()
            .as_deref()
            .is_some_and(|n| n.starts_with("magpie-worker-"))
    }
}

/// Occupies the only worker of `rt` until the returned sender is used.
fn block_worker(rt: &magpie::Runtime) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    rt.spawn(async move {
        started_tx.send(()).unwrap();
        rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    tx
}

#[test]
fn cancel_before_the_first_poll_drops_the_future_unpolled() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let drops = DropCounter::new();
        let release = block_worker(&rt);
        let (fut, probe) = probe(&drops);
        let task = rt.spawn(fut);
        task.cancel();
        release.send(()).unwrap();
        let err = rt.block_on(task).unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(probe.polls.load(SeqCst), 0);
        assert_eq!(drops.drops(), 1);
        assert!(probe.dropped_on_worker());
    });
}

#[test]
fn cancel_while_waiting_drops_the_future_on_a_worker() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let (fut, probe) = probe(&drops);
        let task = rt.spawn(fut);
        while probe.polls.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        task.cancel();
        assert!(rt.block_on(task).unwrap_err().is_cancelled());
        assert_eq!(
            probe.polls.load(SeqCst),
            1,
            "a cancelled task is not polled again"
        );
        assert_eq!(drops.drops(), 1);
        assert!(probe.dropped_on_worker());
    });
}

#[test]
fn cancel_while_scheduled_drops_the_future_instead_of_polling_it() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let drops = DropCounter::new();
        let (fut, probe) = probe(&drops);
        let task = rt.spawn(fut);
        while probe.polls.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        let release = block_worker(&rt);
        probe.wake(); // scheduled, but the worker is busy
        task.cancel();
        release.send(()).unwrap();
        assert!(rt.block_on(task).unwrap_err().is_cancelled());
        assert_eq!(probe.polls.load(SeqCst), 1);
        assert_eq!(drops.drops(), 1);
        assert!(probe.dropped_on_worker());
    });
}

/// A future that, in its first poll, announces it is running and blocks
/// until the test has called `cancel`, then returns `ready_after_cancel`.
struct CancelDuringPoll {
    running: mpsc::Sender<()>,
    proceed: mpsc::Receiver<()>,
    ready: bool,
    polls: Arc<AtomicUsize>,
    _token: DropToken,
}

impl Future for CancelDuringPoll {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, SeqCst);
        self.running.send(()).unwrap();
        self.proceed.recv().unwrap();
        if self.ready {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref(); // would be polled again if not cancelled
            Poll::Pending
        }
    }
}

fn cancel_during_poll(ready: bool) -> (Result<(), magpie::task::JoinError>, usize, usize) {
    let rt = rt(2);
    let drops = DropCounter::new();
    let (running_tx, running_rx) = mpsc::channel();
    let (proceed_tx, proceed_rx) = mpsc::channel();
    let polls = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(CancelDuringPoll {
        running: running_tx,
        proceed: proceed_rx,
        ready,
        polls: polls.clone(),
        _token: drops.token(),
    });
    running_rx.recv().unwrap();
    task.cancel();
    proceed_tx.send(()).unwrap();
    let out = rt.block_on(task);
    (out, polls.load(SeqCst), drops.drops())
}

#[test]
fn cancel_while_running_takes_effect_at_the_next_poll_boundary() {
    with_timeout(Duration::from_secs(10), || {
        let (out, polls, drops) = cancel_during_poll(false);
        assert!(out.unwrap_err().is_cancelled());
        assert_eq!(polls, 1, "the self-wake must not lead to another poll");
        assert_eq!(drops, 1);
    });
}

#[test]
fn a_poll_that_completes_after_cancel_keeps_its_output() {
    with_timeout(Duration::from_secs(10), || {
        let (out, polls, drops) = cancel_during_poll(true);
        out.unwrap();
        assert_eq!(polls, 1);
        assert_eq!(drops, 1);
    });
}

#[test]
fn cancel_after_completion_keeps_the_output() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let task = rt.spawn(async move { token });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    task.cancel();
    let output = rt.block_on(task).unwrap();
    assert_eq!(drops.drops(), 0);
    drop(output);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn cancelling_twice_and_after_drop_is_harmless() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let (fut, _probe) = probe(&drops);
    let task = rt.spawn(fut);
    task.cancel();
    task.cancel();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    assert_eq!(drops.drops(), 1);
}

#[test]
fn cancelled_task_destructors_run_before_the_handle_resolves() {
    // asyncio's `except CancelledError: cleanup()`, in Rust: a guard's Drop.
    let rt = rt(2);
    let cleaned = Arc::new(AtomicUsize::new(0));
    struct Cleanup(Arc<AtomicUsize>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let c = cleaned.clone();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = started.clone();
    let task = rt.spawn(async move {
        let _cleanup = Cleanup(c);
        s.store(true, SeqCst);
        std::future::pending::<()>().await;
    });
    // Cancel once the guard exists (cancelling before the first poll would
    // drop the future unstarted, with no guard to drop).
    while !started.load(SeqCst) {
        std::thread::yield_now();
    }
    task.cancel();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    assert_eq!(cleaned.load(SeqCst), 1);
}
