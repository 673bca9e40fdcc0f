//! Loom models of magpie's primitives and scheduler protocols.
//!
//! Every model lives in `tests/`, one file per subject, and only compiles
//! under `RUSTFLAGS="--cfg loom"`. This library holds the few helpers the
//! models share: a waker that counts its wakes (on a loom atomic, so loom
//! sees the hand-over) and a way to poll a future once by hand, so that a
//! model can drop it at any chosen moment.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;

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
