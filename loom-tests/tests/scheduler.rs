//! Loom models of the scheduler (`executor/src/runtime/scheduler/`): the
//! park/unpark protocol (no lost wakeup when a task is pushed while the
//! workers park), wakes from other threads and from workers, stealing
//! between two workers, and shutdown (dropping the `Runtime`) while tasks
//! are queued, pending or being woken and while workers are parked.
//!
//! A lost wakeup shows up as a deadlock (every thread blocked: loom reports
//! it); a task leaked by a shutdown race keeps the runtime's `Arc` alive,
//! which loom reports as a leak; futures and outputs are counted and must be
//! dropped exactly once.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use loom_tests::{Gate, runtime};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How many futures and outputs were created and dropped.
#[derive(Default)]
struct Counts {
    futures: AtomicUsize,
    future_drops: AtomicUsize,
    outputs: AtomicUsize,
    output_drops: AtomicUsize,
}

impl Counts {
    fn assert_settled(&self) {
        assert_eq!(
            self.future_drops.load(SeqCst),
            self.futures.load(SeqCst),
            "every future dropped exactly once"
        );
        assert_eq!(
            self.output_drops.load(SeqCst),
            self.outputs.load(SeqCst),
            "every output dropped exactly once"
        );
    }
}

/// A task's output: counts its creation and its drop.
struct Output(Arc<Counts>);

impl Output {
    fn new(counts: &Arc<Counts>) -> Output {
        counts.outputs.fetch_add(1, SeqCst);
        Output(counts.clone())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.0.output_drops.fetch_add(1, SeqCst);
    }
}

/// Wraps a future, counting its creation and its drop.
struct Tracked<F> {
    inner: Pin<Box<F>>,
    counts: Arc<Counts>,
}

fn tracked<F: Future>(counts: &Arc<Counts>, inner: F) -> Tracked<F> {
    counts.futures.fetch_add(1, SeqCst);
    Tracked {
        inner: Box::pin(inner),
        counts: counts.clone(),
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.counts.future_drops.fetch_add(1, SeqCst);
    }
}

/// A spawn from a non-worker thread while the only worker goes from
/// searching to parked: the pusher sees a searcher and wakes nobody, so the
/// last searcher's re-check (rule 4 of `idle.rs`, with the two `SeqCst`
/// fences) must find the task. A lost wakeup is a deadlock.
#[test]
fn spawn_from_outside_while_the_worker_parks() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let rt = runtime(1);
        let task = rt.spawn(tracked(&counts, {
            let counts = counts.clone();
            async move { Output::new(&counts) }
        }));
        drop(rt.block_on(task).expect("the task completes"));
        drop(rt);
        counts.assert_settled();
    });
}

/// A task parked on a gate is woken from a plain thread (through the
/// injector) while the worker parks; the task then spawns a child on the
/// worker (the LIFO slot) and awaits it, so the child's completion wakes
/// its parent from the worker itself.
#[test]
fn wake_from_outside_and_from_the_worker() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let gate = Gate::default();
        let rt = runtime(1);
        let task = rt.spawn(tracked(&counts, {
            let (counts, gate) = (counts.clone(), gate.clone());
            async move {
                gate.wait().await;
                let child = magpie::spawn(tracked(&counts, {
                    let counts = counts.clone();
                    async move { Output::new(&counts) }
                }));
                child.await.expect("the child completes")
            }
        }));
        let opener = thread::spawn(move || gate.open());
        drop(rt.block_on(task).expect("the task completes"));
        opener.join().unwrap();
        drop(rt);
        counts.assert_settled();
    });
}

/// Set when some execution ran the child on another worker than its
/// parent: the steal was reached (checked after the model).
static STOLEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Two workers: a task spawns a child into its worker's LIFO slot and
/// awaits it; the other worker may steal the child (from the slot or the
/// deque) and wake the parent from there. Everything completes, nothing is
/// run twice, and some execution does steal.
///
/// Two workers and the main thread make a large model: its preemption
/// bound is capped at 1 (about 15 s; see `loom_tests::two_worker_model`).
#[test]
fn steal_between_two_workers() {
    loom_tests::two_worker_model().check(|| {
        let counts = Arc::new(Counts::default());
        let rt = runtime(2);
        let task = rt.spawn(tracked(&counts, {
            let counts = counts.clone();
            async move {
                let parent = thread::current().id();
                let child = magpie::spawn(tracked(&counts, {
                    let counts = counts.clone();
                    async move {
                        if thread::current().id() != parent {
                            STOLEN.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        Output::new(&counts)
                    }
                }));
                child.await.expect("the child completes")
            }
        }));
        drop(rt.block_on(task).expect("the task completes"));
        drop(rt);
        counts.assert_settled();
    });
    assert!(
        STOLEN.load(std::sync::atomic::Ordering::Relaxed),
        "no execution stole the child"
    );
}

/// `block_on` parks its thread between polls; two threads wake it, one
/// after publishing a flag (release) the next poll must see (acquire). The
/// second wake may land while the parker is consuming the first one: the
/// parker must still synchronize with it, or the poll reads a stale flag
/// and the thread parks for good (a deadlock). This is the `Parker`
/// contract the workers rely on too (`Runtime::drop` sets the shutdown flag,
/// then unparks them).
#[test]
fn block_on_sees_what_the_waker_wrote() {
    loom::model(|| {
        let rt = runtime(1);
        let flag = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        rt.block_on(std::future::poll_fn(|cx| {
            if flag.load(std::sync::atomic::Ordering::Acquire) {
                return Poll::Ready(());
            }
            if threads.is_empty() {
                let waker = cx.waker().clone();
                threads.push(thread::spawn(move || waker.wake()));
                let (waker, flag) = (cx.waker().clone(), flag.clone());
                threads.push(thread::spawn(move || {
                    flag.store(true, std::sync::atomic::Ordering::Release);
                    waker.wake();
                }));
            }
            Poll::Pending
        }));
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// Dropping the runtime while one task waits forever, another is queued
/// or between polls (it yields once), and the worker is running, searching
/// or parked: every future is dropped exactly once, the waiting task's
/// handle reports cancellation, and nothing leaks.
#[test]
fn shutdown_with_pending_and_queued_tasks() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let rt = runtime(1);
        let waiting = rt.spawn(tracked(&counts, std::future::pending::<()>()));
        let yielding = rt.spawn(tracked(&counts, {
            let counts = counts.clone();
            async move {
                magpie::task::yield_now().await;
                Output::new(&counts)
            }
        }));
        drop(rt);
        assert!(waiting.is_finished() && yielding.is_finished());
        let waited = futures::FutureExt::now_or_never(waiting).expect("finished");
        assert!(waited.unwrap_err().is_cancelled());
        drop(futures::FutureExt::now_or_never(yielding));
        counts.assert_settled();
    });
}

/// Dropping the runtime races a wake from another thread (which may submit
/// the task to the injector just as the shutdown sweep cancels it and
/// drains the queues) and a spawn through a `Handle` from that thread: no
/// run-queue entry may outlive the shutdown (it would leak the task and the
/// runtime), every future is dropped exactly once.
#[test]
fn shutdown_races_wake_and_spawn() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let gate = Gate::default();
        let rt = runtime(1);
        let handle = rt.handle().clone();
        let waiting = rt.spawn(tracked(&counts, gate.clone().wait()));
        let other = thread::spawn({
            let counts = counts.clone();
            move || {
                gate.open();
                let spawned = handle.spawn(tracked(&counts, async {}));
                drop(spawned);
            }
        });
        drop(rt);
        other.join().unwrap();
        assert!(waiting.is_finished());
        drop(waiting);
        counts.assert_settled();
    });
}

/// Dropping the runtime while both workers are parked (or still starting,
/// or searching): the shutdown must wake and join them all. Each worker
/// counts its start and its stop (`on_thread_start` / `on_thread_stop`):
/// when the drop returns, both workers have started and stopped (a worker
/// left parked is a deadlock; one not joined would not have stopped yet),
/// and the runtime refuses new tasks.
#[test]
fn shutdown_with_parked_workers() {
    loom::model(|| {
        let started = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicUsize::new(0));
        let rt = magpie::Runtime::builder()
            .worker_threads(2)
            .on_thread_start({
                let started = started.clone();
                move || {
                    started.fetch_add(1, SeqCst);
                }
            })
            .on_thread_stop({
                let stopped = stopped.clone();
                move || {
                    stopped.fetch_add(1, SeqCst);
                }
            })
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        drop(rt);
        assert_eq!(started.load(SeqCst), 2, "both workers started");
        assert_eq!(
            stopped.load(SeqCst),
            2,
            "both workers stopped and were joined"
        );
        assert!(matches!(
            handle.try_spawn(async {}),
            Err(magpie::SpawnError::Shutdown)
        ));
    });
}
