//! Loom models of magpie's primitives and scheduler protocols.
//!
//! Every model lives in `tests/`, one file per subject, and only compiles
//! under `RUSTFLAGS="--cfg loom"`. This library holds the few helpers the
//! models share: a waker that counts its wakes (on a loom atomic, so loom
//! sees the hand-over) and a way to poll a future once by hand, so that a
//! model can drop it at any chosen moment, or [`drive`] it to completion
//! on this thread, failing on a lost wakeup; and, for the runtime's models,
//! a runtime builder, a one-shot [`Gate`] a task waits on, a [`Latch`] that
//! blocks a thread (a worker stuck inside a poll), and drop counters for
//! futures, outputs and closures ([`Counts`]).
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::{Arc, Condvar, Mutex};

/// A waker that counts how many times it was woken.
#[derive(Debug)]
pub struct Counter {
    wakes: AtomicUsize,
}

impl Counter {
    /// How many times the waker was woken so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for Counter {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// A fresh counting waker and the counter behind it.
pub fn counting_waker() -> (StdArc<Counter>, Waker) {
    let counter = StdArc::new(Counter {
        wakes: AtomicUsize::new(0),
    });
    (counter.clone(), Waker::from(counter))
}

/// Polls `fut` once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: &mut Pin<Box<F>>, waker: &Waker) -> Poll<F::Output> {
    fut.as_mut().poll(&mut Context::from_waker(waker))
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_noop<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    poll_once(fut, Waker::noop())
}

/// A magpie runtime with `workers` worker threads, for the runtime's models.
pub fn runtime(workers: usize) -> magpie::Runtime {
    magpie::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// Polls `waiter` on this thread to completion. When it parks (returns
/// `Pending` without a wake during the poll), joins `other` (which always
/// finishes without the waiter), after which a wake must have come: a
/// parked waiter that nobody will wake is a lost wakeup, reported with a
/// panic whose message says so (loom's `block_on` may also be woken
/// spuriously once, and a deadlock aborts instead of failing the model).
pub fn drive<F: Future>(waiter: F, other: loom::thread::JoinHandle<()>) -> F::Output {
    let mut waiter = Box::pin(waiter);
    let (counter, waker) = counting_waker();
    let mut other = Some(other);
    let output = loop {
        let before = counter.wakes();
        if let Poll::Ready(output) = poll_once(&mut waiter, &waker) {
            break output;
        }
        if counter.wakes() > before {
            continue; // a yield, or a wake that came during the poll
        }
        if let Some(other) = other.take() {
            other.join().unwrap();
        }
        assert!(
            counter.wakes() > before,
            "lost wakeup: the waiter parked, the other thread is done, and nobody woke it"
        );
    };
    if let Some(other) = other {
        other.join().unwrap();
    }
    output
}

/// A model builder for models that run tasks on two workers beside the
/// main thread.
///
/// Three threads each running the whole idle protocol make a large model:
/// at the suite's preemption bound of 2 a plain spawn and join on two
/// workers runs for about ten minutes, at 1 for about 20 seconds. Such
/// models therefore cap the bound at 1 unless `MAGPIE_LOOM_FULL` is set
/// (a deep local run). Every branch of the code is still reachable: the
/// cap bounds how many times loom may preempt a thread in one execution,
/// not which paths the threads take. The single-worker models, which
/// cover the same protocols with one thread fewer, run at the full bound.
pub fn two_worker_model() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("MAGPIE_LOOM_FULL").is_none() {
        builder.preemption_bound = Some(builder.preemption_bound.map_or(1, |b| b.min(1)));
    }
    builder
}

#[derive(Debug, Default)]
struct GateState {
    open: bool,
    waker: Option<Waker>,
}

/// A one-shot gate on loom's `Mutex`: a future waits until another thread
/// opens it, and the opener wakes the waiter from that thread.
#[derive(Clone, Debug, Default)]
pub struct Gate(loom::sync::Arc<loom::sync::Mutex<GateState>>);

impl Gate {
    /// Opens the gate and wakes the waiter (by value).
    pub fn open(&self) {
        if let Some(waker) = self.take_waker() {
            waker.wake();
        }
    }

    /// Opens the gate, waking through a clone of the waker: `clone`,
    /// `wake_by_ref` and two drops, any of which may race the waiter's
    /// completion.
    pub fn open_with_clones(&self) {
        if let Some(waker) = self.take_waker() {
            let clone = waker.clone();
            clone.wake_by_ref();
            drop(waker);
            drop(clone);
        }
    }

    fn take_waker(&self) -> Option<Waker> {
        let mut s = self.0.lock().unwrap();
        s.open = true;
        s.waker.take()
    }

    /// `Ready` once the gate is open; otherwise registers `cx`'s waker.
    pub fn poll_open(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.lock().unwrap();
        if s.open {
            return Poll::Ready(());
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until the gate is open (owning this handle to it).
    pub async fn wait(self) {
        std::future::poll_fn(|cx| self.poll_open(cx)).await
    }
}

/// Awaits `fut`, setting `pending` the first time a poll of it returns
/// `Pending` (a primitive's future is then waiting in its line).
///
/// `fut` is pinned *inside* the returned future, not boxed: a runtime that
/// moves a task's future moves `fut` with it, which is what the models of
/// cancellation on magpie's runtime must see (issue 11: a task harness that
/// moved a future out of its task before dropping it moved a linked waiter
/// node; the models that boxed their futures could not notice).
pub async fn set_when_pending<F: Future>(fut: F, pending: &magpie_sync::Event) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut set = false;
    std::future::poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() && !set {
            set = true;
            pending.set();
        }
        poll
    })
    .await
}

/// How many futures (or closures) and outputs were created and dropped.
#[derive(Debug, Default)]
pub struct Counts {
    futures: AtomicUsize,
    future_drops: AtomicUsize,
    outputs: AtomicUsize,
    output_drops: AtomicUsize,
}

impl Counts {
    /// Futures (or closures) created so far.
    pub fn futures(&self) -> usize {
        self.futures.load(SeqCst)
    }

    /// Futures (or closures) dropped so far.
    pub fn future_drops(&self) -> usize {
        self.future_drops.load(SeqCst)
    }

    /// Outputs created so far.
    pub fn outputs(&self) -> usize {
        self.outputs.load(SeqCst)
    }

    /// Asserts that every future and every output was dropped exactly once
    /// (a second drop makes a count exceed its creations).
    pub fn assert_settled(&self) {
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
#[derive(Debug)]
pub struct Output(Arc<Counts>);

impl Output {
    /// A new output, counted.
    pub fn new(counts: &Arc<Counts>) -> Output {
        counts.outputs.fetch_add(1, SeqCst);
        Output(counts.clone())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.0.output_drops.fetch_add(1, SeqCst);
    }
}

/// Counts its creation as a future's and its drop as that future's drop:
/// owned by a future (or a closure), it is dropped exactly when its owner
/// is.
#[derive(Debug)]
pub struct DropToken(Arc<Counts>);

impl DropToken {
    /// A new token, counted.
    pub fn new(counts: &Arc<Counts>) -> DropToken {
        counts.futures.fetch_add(1, SeqCst);
        DropToken(counts.clone())
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.future_drops.fetch_add(1, SeqCst);
    }
}

/// Wraps a future, counting its creation and its drop.
#[derive(Debug)]
pub struct Tracked<F> {
    inner: Pin<Box<F>>,
    _token: DropToken,
}

/// `inner`, counted in `counts` as one future.
pub fn tracked<F: Future>(counts: &Arc<Counts>, inner: F) -> Tracked<F> {
    Tracked {
        inner: Box::pin(inner),
        _token: DropToken::new(counts),
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// A one-shot latch that *blocks the calling thread* (loom's `Mutex` and
/// `Condvar`): a future calling [`wait`](Self::wait) inside its poll keeps
/// its worker stuck in that poll until another thread opens the latch.
#[derive(Clone, Debug, Default)]
pub struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    /// Opens the latch, releasing every waiter.
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    /// Blocks the calling thread until the latch is open.
    pub fn wait(&self) {
        let mut open = self.0.0.lock().unwrap();
        while !*open {
            open = self.0.1.wait(open).unwrap();
        }
    }
}

/// Awaits `fut` with each of its polls under `coop::budget(n)`, as an
/// executor that drives the cooperative budget does. With `n = 1` a model
/// reaches the budget's refusals: the second operation that would complete
/// within one poll is refused (it wakes its task and returns `Pending`).
pub async fn budgeted<F: Future>(n: u32, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| magpie_sync::coop::budget(n, || fut.as_mut().poll(cx))).await
}
