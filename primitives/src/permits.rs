//! Permits: a fair counting resource built on the wait list.
//!
//! [`Lock`](crate::Lock) (one permit), [`RwLock`](crate::RwLock) (a reader
//! takes one, a writer takes them all) and [`Semaphore`](crate::Semaphore)
//! are [`Permits`]. This module is where the fairness policies live; it
//! contains no `unsafe`.
//!
//! # The state word
//!
//! ```text
//!  usize::BITS-1 .. 4   3        2       1         0
//! [ free permits    | CLOSED | WOKEN | HANDOFF | WAITERS ]
//! ```
//!
//! * `WAITERS` (owned by the wait list): somebody is waiting.
//! * `HANDOFF`: the first waiter is *reserved*: released permits must be
//!   given to it, and the fast path may not take free permits. Set when the
//!   policy is strict or in fair mode (whenever anybody waits), when the
//!   first waiter has been assigned part of what it asked for (it needs more
//!   than is free; a stream of small requests must not nibble its share
//!   away), or when it is starving (see `wait_list.rs`).
//! * `WOKEN`: the first waiter has been woken to retry and has not polled
//!   yet. While it is set (and `HANDOFF` is not), a release just adds its
//!   permits to the word: the woken waiter will take them, or pass the
//!   chance on.
//! * `CLOSED`: acquires fail.
//!
//! # The fast paths
//!
//! Acquire: one compare-and-swap, if `HANDOFF` is clear and enough permits
//! are free. Release: one compare-and-swap, if nobody waits, or if a woken
//! waiter is about to retry. Everything else takes the lock and calls
//! [`Permits::settle`], the single place that decides who gets what.
//!
//! # `settle`
//!
//! With the lock held, `settle` takes every free permit in hand (setting
//! `HANDOFF` meanwhile, so no fast path runs), adds what is being released,
//! and walks the list from the head. It runs on every release that finds
//! waiters, when a woken waiter retries, when a waiter at the head leaves,
//! and on `close`:
//!
//! * closed: every waiter is unlinked as `CLOSED`, its assigned permits
//!   returned;
//! * the head can be satisfied, and it is reserved (strict policy, fair
//!   mode, partial assignment, starving) or it is the very waiter that is
//!   polling: it is granted, and `settle` moves to the next head;
//! * the head can be satisfied but is not reserved (eventual policy): the
//!   permits go back to the word, the head is woken to retry (`WOKEN`);
//!   whoever asks first gets them;
//! * the head cannot be satisfied: what is in hand is assigned to it, and it
//!   becomes reserved.
//!
//! Finally the rest is put back and `HANDOFF`/`WOKEN` are set to describe
//! the new head.
//!
//! # Fair mode (eventual policy)
//!
//! Granting a starving waiter switches the permits to *fair mode* (a flag
//! under the lock): every head is then reserved, exactly as under the
//! strict policy, until the line is empty. Barging pays off when contention
//! is occasional (the releasing task re-acquires without a task switch); when
//! it is persistent (tasks hold the lock across an `.await`, waiters pile
//! up), every barge costs the woken waiter a failed retry, and strict
//! hand-off is cheaper. Starvation is the signal that contention is
//! persistent; an empty line, that it is over.

use core::task::{Context, Poll, ready};
use std::cell::Cell;
use std::marker::PhantomData;

use crate::coop;
use crate::error::{AcquireError, TryAcquireError};
use crate::fairness::Fairness;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::wait_list::{Locked, Outcome, Status, WAITERS, WaitList, Waiter};

/// The first waiter is reserved; see the module documentation.
const HANDOFF: usize = 1 << 1;
/// The first waiter was woken to retry and has not polled yet.
const WOKEN: usize = 1 << 2;
/// Closed.
const CLOSED: usize = 1 << 3;
const FLAGS: usize = WAITERS | HANDOFF | WOKEN | CLOSED;
const SHIFT: u32 = 4;

/// The most permits a [`Permits`] can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> SHIFT;

fn free(state: usize) -> usize {
    state >> SHIFT
}

/// A fair counting resource. See the module documentation.
pub(crate) struct Permits {
    /// The data under the lock: whether the permits are in *fair mode*
    /// (see the module documentation).
    list: WaitList<bool>,
    strict: bool,
}

/// Permits acquired from a [`Permits`]. Only this module makes one; it is
/// handed back with [`Permits::release`] (or dropped to forget the permits).
///
/// Not `Sync` (data.rs relies on this: whoever can see a `Held` can see the
/// value it guards).
#[derive(Debug, Default)]
#[must_use = "permits are released with `Permits::release`; dropping a `Held` forgets them"]
pub(crate) struct Held {
    n: usize,
    /// Address of the `Permits` it came from; 0 for an empty `Held`.
    owner: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl Held {
    /// The number of permits held.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.n
    }

    /// It came from `permits`.
    #[inline]
    pub(crate) fn is_from(&self, permits: &Permits) -> bool {
        self.owner == permits.id()
    }

    /// Moves `n` of the permits into a new `Held` (from the same owner).
    ///
    /// # Panics
    ///
    /// If fewer than `n` are held.
    pub(crate) fn split(&mut self, n: usize) -> Held {
        assert!(n <= self.n, "cannot split {n} permits off {}", self.n);
        self.n -= n;
        Held {
            n,
            owner: self.owner,
            _not_sync: PhantomData,
        }
    }
}

impl Permits {
    /// `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits > MAX_PERMITS`.
    pub(crate) fn new(permits: usize, fairness: Fairness) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "cannot create {permits} permits: the maximum is {MAX_PERMITS}"
        );
        Permits {
            list: WaitList::new(permits << SHIFT, false),
            strict: fairness == Fairness::Strict,
        }
    }

    #[inline]
    fn id(&self) -> usize {
        self as *const Self as usize
    }

    #[inline]
    fn held(&self, n: usize) -> Held {
        Held {
            n,
            owner: self.id(),
            _not_sync: PhantomData,
        }
    }

    /// The policy.
    pub(crate) fn fairness(&self) -> Fairness {
        if self.strict {
            Fairness::Strict
        } else {
            Fairness::Eventual
        }
    }

    /// Free permits (not counting those set aside for a reserved waiter).
    pub(crate) fn available(&self) -> usize {
        free(self.list.state().load(Acquire))
    }

    /// Closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.list.state().load(Acquire) & CLOSED != 0
    }

    /// Takes `n` permits if that needs no waiting.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> Result<Held, TryAcquireError> {
        if n > MAX_PERMITS {
            return Err(TryAcquireError::TooMany { requested: n });
        }
        let state = self.list.state();
        let mut s = state.load(Relaxed);
        loop {
            if s & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if n == 0 {
                return Ok(self.held(0));
            }
            if s & HANDOFF != 0 || free(s) < n {
                return Err(TryAcquireError::NoPermits);
            }
            match state.compare_exchange_weak(s, s - (n << SHIFT), Acquire, Relaxed) {
                Ok(_) => return Ok(self.held(n)),
                Err(actual) => s = actual,
            }
        }
    }

    /// Polls for `n` permits with the node `me`.
    ///
    /// A first poll (the node is idle) consults the [`coop`] budget before
    /// it takes or links anything: refused, it leaves no trace. A node that
    /// waited completes as soon as it is granted, whatever the budget.
    #[inline(always)]
    pub(crate) fn poll_acquire(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held, AcquireError>> {
        if me.status() == Status::Idle {
            let proceed = ready!(coop::poll_proceed(cx));
            // The fast path: no node involved.
            if let Ok(held) = self.try_acquire(n) {
                proceed.made_progress();
                return Poll::Ready(Ok(held));
            }
            return self.poll_first_budgeted(me, n, cx, proceed);
        }
        self.poll_acquire_slow(me, n, cx)
    }

    /// A first poll whose fast path failed, with its budget unit in hand:
    /// kept if it completes, given back if it waits. Out of line, so that
    /// the fast path stays small enough to inline into the futures.
    #[cold]
    #[inline(never)]
    fn poll_first_budgeted(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
        proceed: coop::Proceed,
    ) -> Poll<Result<Held, AcquireError>> {
        let result = self.poll_acquire_slow(me, n, cx);
        if result.is_ready() {
            proceed.made_progress();
        }
        result
    }

    /// [`poll_acquire`](Self::poll_acquire) without the budget: for a
    /// waiter that has waited already (a `Condition`'s notified waiter
    /// taking its lock back with the node it was notified on).
    #[inline]
    pub(crate) fn poll_reacquire(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held, AcquireError>> {
        if me.status() == Status::Idle {
            if let Ok(held) = self.try_acquire(n) {
                return Poll::Ready(Ok(held));
            }
        }
        self.poll_acquire_slow(me, n, cx)
    }

    #[cold]
    #[inline(never)]
    fn poll_acquire_slow(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held, AcquireError>> {
        loop {
            match me.status() {
                Status::Idle => return self.poll_first(me, n, cx),
                Status::Granted => {
                    let got = me.take_grant().unwrap_or_default();
                    invariant_eq!(got, n);
                    return Poll::Ready(Ok(self.held(got)));
                }
                Status::Closed => {
                    me.take_closed();
                    return Poll::Ready(Err(AcquireError::Closed));
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    let Some(mut mine) = locked.mine(me) else {
                        // A releaser got there first; look again.
                        continue;
                    };
                    mine.set_waker(cx.waker());
                    if mine.take_woken() {
                        // Woken to retry: we are the head. `settle` grants
                        // us if enough is free.
                        self.settle(&mut locked, 0, Some(me));
                        match locked.mine(me) {
                            None => continue,
                            Some(mut mine) => {
                                // Somebody barged in between.
                                if mine.bypass() {
                                    self.settle(&mut locked, 0, None);
                                }
                            }
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_first(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held, AcquireError>> {
        let mut result = self.try_acquire(n);
        let mut locked = None;
        loop {
            match result {
                Ok(held) => return Poll::Ready(Ok(held)),
                Err(TryAcquireError::Closed) => return Poll::Ready(Err(AcquireError::Closed)),
                Err(TryAcquireError::TooMany { requested }) => {
                    return Poll::Ready(Err(AcquireError::TooMany { requested }));
                }
                Err(TryAcquireError::NoPermits) => {}
            }
            let locked = locked.get_or_insert_with(|| self.list.lock());
            let strict = self.strict;
            let mut partial = false;
            let linked = locked.enqueue(me, n, cx.waker(), |s| {
                if s & CLOSED != 0 || (s & HANDOFF == 0 && free(s) >= n) {
                    return None;
                }
                partial = free(s) > 0;
                Some(if strict { s | HANDOFF } else { s })
            });
            if linked {
                let is_head = locked.mine(me).is_some_and(|m| m.is_head());
                if partial && is_head && !strict {
                    // Set the free permits aside for this large request.
                    self.settle(locked, 0, None);
                }
                return Poll::Pending;
            }
            result = self.try_acquire(n);
        }
    }

    /// Withdraws `me` (its future is being dropped), handing back anything
    /// it was assigned or granted.
    pub(crate) fn cancel(&self, me: &mut Waiter<'_>) {
        loop {
            match me.status() {
                Status::Idle => return,
                Status::Closed => {
                    me.take_closed();
                    return;
                }
                Status::Granted => {
                    let n = me.take_grant().unwrap_or_default();
                    self.add(n);
                    return;
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    if let Some(removed) = locked.remove(me) {
                        if removed.was_head || removed.assigned > 0 {
                            self.settle(&mut locked, removed.assigned, None);
                        }
                        return;
                    }
                    // A releaser got there first; its outcome is stored.
                }
            }
        }
    }

    /// Returns permits acquired from here.
    ///
    /// # Panics
    ///
    /// If `held` came from another `Permits`.
    #[inline]
    pub(crate) fn release(&self, held: Held) {
        if held.n == 0 {
            return;
        }
        assert!(held.is_from(self), "permits released to the wrong owner");
        self.add(held.n);
    }

    /// Adds `n` permits (new ones, or released ones).
    ///
    /// # Panics
    ///
    /// If that would make more than `MAX_PERMITS` free.
    #[inline]
    pub(crate) fn add(&self, n: usize) {
        if n == 0 || self.add_fast(n) {
            return;
        }
        self.add_slow(n);
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, n: usize) {
        let mut locked = self.list.lock();
        self.settle(&mut locked, n, None);
    }

    #[inline]
    fn add_fast(&self, n: usize) -> bool {
        let state = self.list.state();
        let mut s = state.load(Relaxed);
        loop {
            check_total(free(s), n);
            if s & HANDOFF != 0 || (s & WAITERS != 0 && s & WOKEN == 0) {
                return false;
            }
            match state.compare_exchange_weak(s, s + (n << SHIFT), Release, Relaxed) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Closes: every waiter is woken with `Closed`, and later acquires fail
    /// (a semaphore's `close`).
    pub(crate) fn close(&self) {
        let mut locked = self.list.lock();
        let prev = self.list.state().fetch_or(CLOSED, AcqRel);
        if prev & CLOSED == 0 {
            self.settle(&mut locked, 0, None);
        }
    }

    /// Decides who gets the free permits plus `avail` more; see the module
    /// documentation. `me` is the waiter that is polling, if any: when it is
    /// the head and can be satisfied it is granted rather than woken.
    fn settle(&self, locked: &mut Locked<'_, bool>, mut avail: usize, me: Option<&Waiter<'_>>) {
        let state = locked.state();
        // Take the free permits in hand; HANDOFF keeps the fast paths out
        // until the final store. (Already set with none free, the common
        // case under contention, there is nothing to take or freeze.)
        let mut s = state.load(Acquire);
        while s & HANDOFF == 0 || free(s) > 0 {
            match state.compare_exchange_weak(s, (s & FLAGS) | HANDOFF, Acquire, Relaxed) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        avail += free(s);
        let mut flags = 0;
        loop {
            locked.make_room();
            let closed = state.load(Relaxed) & CLOSED != 0;
            let fair = self.strict || *locked.data();
            let Some(mut head) = locked.head() else { break };
            if closed {
                avail += head.assigned();
                locked.pop_head(Outcome::Closed, true);
                continue;
            }
            let need = head.want() - head.assigned();
            let is_me = me.is_some_and(|me| head.is(me));
            let starving = head.is_starving();
            if need <= avail {
                if fair || is_me || starving || head.assigned() > 0 {
                    avail -= need;
                    head.assign(need);
                    locked.pop_head(Outcome::Granted, !is_me);
                    if starving {
                        // Contention is persistent: hand off to everyone
                        // in line until the line is empty.
                        *locked.data() = true;
                    }
                    continue;
                }
                head.wake();
                flags = WOKEN;
            } else {
                if avail > 0 {
                    head.assign(avail);
                    avail = 0;
                }
                if fair || starving || head.assigned() > 0 {
                    flags |= HANDOFF;
                }
                if head.is_woken() {
                    flags |= WOKEN;
                }
            }
            break;
        }
        if locked.is_empty() {
            // Fair mode lasts until nobody waits.
            *locked.data() = false;
        }
        let mut s = state.load(Relaxed);
        loop {
            let flags = if s & WAITERS != 0 { flags } else { 0 };
            check_total(free(s), avail);
            let new = (s & (WAITERS | CLOSED)) | flags | ((free(s) + avail) << SHIFT);
            match state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
    }
}

#[track_caller]
fn check_total(free: usize, added: usize) {
    if free
        .checked_add(added)
        .is_none_or(|total| total > MAX_PERMITS)
    {
        panic!("adding {added} permits to {free} would exceed the maximum of {MAX_PERMITS}");
    }
}

impl core::fmt::Debug for Permits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Permits")
            .field("available", &self.available())
            .field("closed", &self.is_closed())
            .field("fairness", &self.fairness())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait_list::{MAX_BYPASS, WaitOp, Waiting};
    use core::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::{Wake, Waker};

    struct Take<'a> {
        permits: &'a Permits,
        n: usize,
    }

    impl WaitOp for Take<'_> {
        type Output = Result<Held, AcquireError>;
        fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.permits.poll_acquire(me, self.n, cx)
        }
        fn cancel(&mut self, me: &mut Waiter<'_>) {
            self.permits.cancel(me);
        }
    }

    type Fut<'a> = Pin<Box<Waiting<Take<'a>>>>;

    fn take(permits: &Permits, n: usize) -> Fut<'_> {
        Box::pin(Waiting::new(Take { permits, n }))
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn poll(f: &mut Fut<'_>, waker: &Waker) -> Poll<Result<Held, AcquireError>> {
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    fn ready(f: &mut Fut<'_>) -> Held {
        match poll(f, Waker::noop()) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => panic!("still pending"),
        }
    }

    fn state(p: &Permits) -> usize {
        p.list.state().load(SeqCst)
    }

    /// The invariants of the state word, checked with the lock held.
    fn check(p: &Permits) {
        let locked = p.list.lock();
        let s = state(p);
        assert_eq!(s & WAITERS != 0, !locked.is_empty(), "WAITERS iff waiters");
        if locked.is_empty() {
            assert_eq!(s & (HANDOFF | WOKEN), 0, "flags without waiters");
        }
        if p.strict && !locked.is_empty() {
            assert_ne!(s & HANDOFF, 0, "strict with waiters is always HANDOFF");
        }
    }

    fn strict(n: usize) -> Permits {
        Permits::new(n, Fairness::Strict)
    }

    fn eventual(n: usize) -> Permits {
        Permits::new(n, Fairness::Eventual)
    }

    #[test]
    fn fast_paths_touch_only_the_word() {
        let p = eventual(2);
        let a = p.try_acquire(2).unwrap();
        assert_eq!(p.available(), 0);
        assert_eq!(p.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
        p.release(a);
        assert_eq!(state(&p), 2 << SHIFT);
        check(&p);
    }

    #[test]
    fn strict_hands_off_in_order_with_partial_assignment() {
        let p = strict(0);
        let mut big = take(&p, 3);
        let mut small = take(&p, 1);
        assert!(poll(&mut big, Waker::noop()).is_pending());
        assert!(poll(&mut small, Waker::noop()).is_pending());
        check(&p);
        p.add(2); // assigned to `big`, not enough yet
        assert_eq!(p.available(), 0);
        assert!(poll(&mut small, Waker::noop()).is_pending());
        p.add(2); // `big` done (3), one left for `small`
        assert_eq!(ready(&mut big).count(), 3);
        assert_eq!(ready(&mut small).count(), 1);
        check(&p);
        assert_eq!(state(&p), 0);
    }

    #[test]
    fn eventual_wakes_the_head_once_and_then_releases_fast() {
        let p = eventual(1);
        let held = p.try_acquire(1).unwrap();
        let (c, w) = counter();
        let mut a = take(&p, 1);
        assert!(poll(&mut a, &w).is_pending());
        check(&p);
        p.release(held);
        assert_eq!(c.0.load(SeqCst), 1);
        assert_ne!(state(&p) & WOKEN, 0);
        assert_eq!(state(&p) & HANDOFF, 0);
        // A barger takes it; its release needs no lock (WOKEN is set).
        let barger = p.try_acquire(1).unwrap();
        p.release(barger);
        assert_eq!(c.0.load(SeqCst), 1, "woken twice");
        check(&p);
        assert_eq!(ready(&mut a).count(), 1);
        check(&p);
    }

    #[test]
    fn a_starving_waiter_is_reserved() {
        let p = eventual(1);
        let mut held = p.try_acquire(1).unwrap();
        let mut a = take(&p, 1);
        assert!(poll(&mut a, Waker::noop()).is_pending());
        let mut bypasses = 0;
        while state(&p) & HANDOFF == 0 {
            p.release(held);
            held = p.try_acquire(1).unwrap(); // barge
            assert!(poll(&mut a, Waker::noop()).is_pending()); // bypassed
            bypasses += 1;
            // Starving after MAX_BYPASS bypasses, or sooner if slow (time).
            assert!(
                bypasses <= MAX_BYPASS,
                "not starving after {bypasses} bypasses"
            );
        }
        check(&p);
        p.release(held);
        assert_eq!(p.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
        assert_eq!(ready(&mut a).count(), 1);
        check(&p);
    }

    #[test]
    fn starvation_switches_to_fair_mode_until_the_line_is_empty() {
        let p = eventual(1);
        let mut held = p.try_acquire(1).unwrap();
        let mut a = take(&p, 1);
        let mut b = take(&p, 1);
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        while state(&p) & HANDOFF == 0 {
            p.release(held);
            held = p.try_acquire(1).unwrap(); // barge; `a` is bypassed
            assert!(poll(&mut a, Waker::noop()).is_pending());
        }
        p.release(held); // to the starving `a`, directly
        let a_held = ready(&mut a);
        assert!(*p.list.lock().data(), "fair mode is on");
        p.release(a_held); // `b` is not starving, but is handed it too
        assert_eq!(p.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
        let b_held = ready(&mut b);
        check(&p);
        assert!(!*p.list.lock().data(), "fair mode ends with the line");
        // Back to barging for the next waiter.
        let mut c = take(&p, 1);
        assert!(poll(&mut c, Waker::noop()).is_pending());
        p.release(b_held);
        assert_ne!(state(&p) & WOKEN, 0);
        let barger = p.try_acquire(1).unwrap();
        p.release(barger);
        assert_eq!(ready(&mut c).count(), 1);
        check(&p);
    }

    #[test]
    fn a_large_head_is_reserved_as_soon_as_it_waits() {
        let p = eventual(4);
        let held = p.try_acquire(1).unwrap();
        let mut big = take(&p, 4);
        assert!(poll(&mut big, Waker::noop()).is_pending());
        // The three free permits were set aside for it.
        assert_eq!(p.available(), 0);
        assert_ne!(state(&p) & HANDOFF, 0);
        assert_eq!(p.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
        p.release(held);
        assert_eq!(ready(&mut big).count(), 4);
        check(&p);
    }

    #[test]
    fn cancelling_a_woken_head_passes_the_wake_on() {
        let p = eventual(1);
        let held = p.try_acquire(1).unwrap();
        let (ca, wa) = counter();
        let (cb, wb) = counter();
        let mut a = take(&p, 1);
        let mut b = take(&p, 1);
        assert!(poll(&mut a, &wa).is_pending());
        assert!(poll(&mut b, &wb).is_pending());
        p.release(held);
        assert_eq!((ca.0.load(SeqCst), cb.0.load(SeqCst)), (1, 0));
        drop(a);
        assert_eq!(cb.0.load(SeqCst), 1);
        check(&p);
        assert_eq!(ready(&mut b).count(), 1);
    }

    #[test]
    fn cancelling_a_partly_assigned_head_returns_its_share() {
        let p = strict(0);
        let mut a = take(&p, 5);
        let mut b = take(&p, 2);
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        p.add(3); // assigned to `a`
        drop(a); // its 3 go on: 2 to `b`, 1 free
        assert_eq!(ready(&mut b).count(), 2);
        assert_eq!(p.available(), 1);
        check(&p);
    }

    #[test]
    fn close_fails_waiters_and_returns_assignments() {
        let p = strict(0);
        let mut a = take(&p, 3);
        let mut b = take(&p, 1);
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        p.add(2); // assigned to `a`
        p.close();
        for f in [&mut a, &mut b] {
            assert_eq!(
                poll(f, Waker::noop()).map(|r| r.err()),
                Poll::Ready(Some(AcquireError::Closed))
            );
        }
        assert_eq!(p.available(), 2);
        assert_eq!(p.try_acquire(1).unwrap_err(), TryAcquireError::Closed);
        check(&p);
    }

    #[test]
    fn many_grants_at_once_are_woken_in_batches() {
        let p = strict(0);
        let (c, w) = counter();
        let mut futs: Vec<_> = (0..100).map(|_| take(&p, 1)).collect();
        for f in &mut futs {
            assert!(poll(f, &w).is_pending());
        }
        p.add(100);
        assert_eq!(c.0.load(SeqCst), 100);
        for f in &mut futs {
            assert_eq!(ready(f).count(), 1);
        }
        check(&p);
    }

    #[test]
    #[should_panic(expected = "wrong owner")]
    fn permits_go_back_where_they_came_from() {
        let a = strict(1);
        let b = strict(1);
        let held = a.try_acquire(1).unwrap();
        b.release(held);
    }
}
