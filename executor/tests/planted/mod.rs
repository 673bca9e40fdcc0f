//! Two real bug classes the soak found in magpie, planted in small
//! test-only copies, each with a `buggy` switch: the simulation's teeth
//! (`executor/tests/deterministic.rs`) and loom's (`loom-tests/tests/teeth.rs`)
//! are measured on this one file. It imports its atomics and mutex from
//! `crate::shim`: the standard library's in the simulation's tests, loom's
//! in the loom models.
//!
//! * [`FairLock`]: a lost wakeup in an eventual-fairness hand-over. A
//!   waiter spins (looks, yields) before it parks, as parking_lot's do; an
//!   unlock that finds the first waiter passed over too often hands the
//!   lock to it directly (marks it granted, leaves the lock locked) and
//!   wakes the waker it registered. The buggy park (written before the
//!   hand-over was added) looks again whether the lock is free before it
//!   registers, but not whether it was handed over: a hand-over while the
//!   waiter spun found no waker to wake, and the waiter sleeps forever
//!   holding a lock it was given.
//! * [`Completion`]: a wake racing completion. A waiter checks a done
//!   flag, then registers its waker; the buggy one does not look at the
//!   flag again once registered, so a completion between the check and
//!   the registration (which finds no waker) is lost. `yield_in_window`
//!   puts a yield between the two (a cooperative budget running out, say),
//!   so that the window spans an await.

use crate::shim::{AtomicBool, Mutex};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Waker};

/// A yield: wakes itself and returns `Pending` once (runtime-agnostic, so
/// that it works on the simulation and under loom's `block_on`).
pub(crate) struct YieldNow(bool);

pub(crate) fn yield_now() -> YieldNow {
    YieldNow(false)
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// An unlock hands the lock over to the first waiter once it was passed
/// over this many times.
const FAIR_AFTER: u32 = 1;

struct Waiter {
    id: usize,
    /// The lock was handed over to this waiter: it holds it.
    granted: bool,
    /// Unlocks that let the lock go instead of handing it over.
    passed_over: u32,
    /// Registered when the waiter parks.
    waker: Option<Waker>,
}

#[derive(Default)]
struct LockState {
    locked: bool,
    waiters: VecDeque<Waiter>,
}

impl LockState {
    /// Whether the lock was handed over to `id` (which now holds it).
    fn take_grant(&mut self, id: usize) -> bool {
        match self.waiters.iter().position(|w| w.id == id) {
            Some(at) if self.waiters[at].granted => {
                self.waiters.remove(at);
                true
            }
            _ => false,
        }
    }

    /// Takes the lock for `id` if it is free (barging is allowed);
    /// otherwise makes sure `id` waits in line.
    fn barge(&mut self, id: usize) -> bool {
        let at = self.waiters.iter().position(|w| w.id == id);
        if !self.locked {
            self.locked = true;
            if let Some(at) = at {
                self.waiters.remove(at);
            }
            return true;
        }
        if at.is_none() {
            self.waiters.push_back(Waiter {
                id,
                granted: false,
                passed_over: 0,
                waker: None,
            });
        }
        false
    }
}

/// A tiny eventually fair lock (see the module docs).
pub(crate) struct FairLock {
    state: Mutex<LockState>,
    buggy: bool,
}

impl FairLock {
    pub(crate) fn new(buggy: bool) -> FairLock {
        FairLock {
            state: Mutex::new(LockState::default()),
            buggy,
        }
    }

    /// Locks for the caller `id` (distinct per caller).
    pub(crate) async fn lock(&self, id: usize) {
        // Spin once: look, and give the holder a chance to let go.
        {
            let mut state = self.state.lock().unwrap();
            if state.take_grant(id) || state.barge(id) {
                return;
            }
        }
        yield_now().await;
        // Park.
        let mut registered = false;
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap();
            // The fix: look for a hand-over too, under the lock the
            // registration takes. The bug (the park written before the
            // hand-over was added): the first registration only looks
            // whether the lock is free, and misses a hand-over made
            // while the waiter spun, when it had no waker to wake.
            if (registered || !self.buggy) && state.take_grant(id) {
                return Poll::Ready(());
            }
            if state.barge(id) {
                return Poll::Ready(());
            }
            let waiter = state
                .waiters
                .iter_mut()
                .find(|w| w.id == id)
                .expect("a waiter that did not get the lock is in line");
            waiter.waker = Some(cx.waker().clone());
            registered = true;
            Poll::Pending
        })
        .await
    }

    pub(crate) fn unlock(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            assert!(state.locked, "unlock of a lock nobody holds");
            match state.waiters.front_mut() {
                Some(first) if first.passed_over >= FAIR_AFTER => {
                    // Hand-over: the lock stays locked, now the waiter's.
                    first.granted = true;
                    first.waker.take()
                }
                Some(first) => {
                    first.passed_over += 1;
                    let waker = first.waker.clone();
                    state.locked = false;
                    waker
                }
                None => {
                    state.locked = false;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A one-time completion a task waits for (see the module docs).
pub(crate) struct Completion {
    done: AtomicBool,
    waiter: Mutex<Option<Waker>>,
    buggy: bool,
    yield_in_window: bool,
}

impl Completion {
    pub(crate) fn new(buggy: bool, yield_in_window: bool) -> Completion {
        Completion {
            done: AtomicBool::new(false),
            waiter: Mutex::new(None),
            buggy,
            yield_in_window,
        }
    }

    pub(crate) fn complete(&self) {
        self.done.store(true, SeqCst);
        let waker = self.waiter.lock().unwrap().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) async fn wait(&self) {
        if self.done.load(SeqCst) {
            return;
        }
        if self.yield_in_window {
            yield_now().await;
        }
        let mut registered = false;
        std::future::poll_fn(|cx| {
            // The bug: the first registration trusts the check above.
            if (registered || !self.buggy) && self.done.load(SeqCst) {
                return Poll::Ready(());
            }
            *self.waiter.lock().unwrap() = Some(cx.waker().clone());
            registered = true;
            // The fix: look again once registered (a completion after
            // this finds the waker).
            if !self.buggy && self.done.load(SeqCst) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }
}
