//! [`Notify`]: an edge-triggered wake-up, tokio's `Notify`.
//!
//! # Protocol
//!
//! The state word of the wait list holds, besides `WAITERS`, a stored
//! permit (`PERMIT`, left by a [`notify_one`](Notify::notify_one) that found
//! nobody waiting) and a *generation* (the bits from `GEN_UNIT` up), which
//! [`notify_waiters`](Notify::notify_waiters) advances. A [`Notified`]
//! remembers the generation it was created in; it is notified by
//! `notify_waiters` if the generation moved on before it registered, or
//! if it was linked when the generation moved.
//!
//! * Every linked node registered in the current generation (its `want`
//!   holds that generation). `notify_waiters` advances the generation with
//!   the lock held whenever somebody waits, and in the same critical
//!   section starts waking every node linked so far; so a node linked
//!   later belongs to the new generation and is left waiting. Between the
//!   batches of wakes the lock is released, and nodes of the old
//!   generation are still linked: [`notify_one`](Notify::notify_one)
//!   skips them (it wakes them with the broadcast's outcome, helping it
//!   along), so a `notify_one` is never absorbed by a waiter that
//!   `notify_waiters` already woke.
//! * `notify_one` grants the first waiter of the current generation and
//!   records the grant in its node (`assigned == 1`); a [`Notified`]
//!   dropped with such a grant unobserved calls `notify_one` again, so the
//!   notification goes to the next waiter or back to the permit. A node
//!   woken by `notify_waiters` has `assigned == 0` and passes nothing on.
//! * No wakeup is lost for the reason the wait list gives: a waiter links
//!   itself only through a compare-and-swap that re-checks "same
//!   generation, no permit", and both `notify_one` and `notify_waiters`
//!   change the word with a read-modify-write, or under the lock when
//!   `WAITERS` is set.
//! * Nothing takes the lock while nobody waits: `notify_one` stores the
//!   permit, a `Notified` takes it and `notify_waiters` advances the
//!   generation, each with a compare-and-swap that fails if `WAITERS` is
//!   set (then the lock is taken). A waiter registered by
//!   [`enable`](Notified::enable) is linked early (with no waker of its
//!   own), and its first poll gives the node its waker without the lock
//!   (`Waiter::install_waker`, the wait list's "Early nodes"): a waiter
//!   takes the lock once per wait, enabled or not.

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};

use crate::coop;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire};
use crate::wait_list::{
    Admit, Outcome, Registered, Status, WAITERS, WaitList, WaitOp, Waiter, wait_future,
};

/// A `notify_one` found nobody waiting and left its notification here.
const PERMIT: usize = 1 << 1;
/// One step of the generation, which `notify_waiters` advances.
const GEN_UNIT: usize = 1 << 2;
/// The generation bits.
const GEN_MASK: usize = !(GEN_UNIT - 1);

/// Wakes tasks without carrying data: tokio's `Notify`, asyncio's
/// `Condition.notify` without the lock.
///
/// A task waits with [`notified`](Notify::notified)`().await`; another task
/// wakes one waiter with [`notify_one`](Notify::notify_one) or every
/// current waiter with [`notify_waiters`](Notify::notify_waiters).
///
/// * `notify_one` is *sticky*: if nobody waits, it stores one permit, and
///   the next `notified()` completes at once by taking it (several calls
///   store one permit, not several).
/// * `notify_waiters` is *edge-triggered*: it wakes every [`Notified`]
///   created before the call (registered or not yet polled) and stores
///   nothing. A loop that broadcasts rounds can therefore not lose a
///   waiter the way `Event::set(); Event::clear()` can: a waiter that has
///   not been polled yet is still woken by the round it was created in.
///
/// To check a condition and then wait without missing a notification
/// between the two, create the `Notified` (and, for `notify_one`,
/// [`enable`](Notified::enable) it) *before* checking.
///
/// # Fairness
///
/// `notify_one` wakes waiters in the order they registered (first polled
/// or enabled), longest-waiting first. `notify_waiters` wakes them all,
/// oldest first.
///
/// # Cancellation
///
/// Dropping a [`Notified`] at any point is safe. If `notify_one` had picked
/// it and it had not seen the notification yet, the notification goes to
/// the next waiter (or back to the stored permit): it is never lost to a
/// cancelled task.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use magpie_sync::Notify;
///
/// let notify = Arc::new(Notify::new());
/// let waker = notify.clone();
/// let thread = std::thread::spawn(move || waker.notify_one());
/// // Whether the thread runs before or after we wait, the permit is kept.
/// futures::executor::block_on(notify.notified());
/// thread.join().unwrap();
/// ```
pub struct Notify {
    list: WaitList,
}

impl Notify {
    /// A `Notify` with no waiter and no stored permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = magpie_sync::Notify::new();
    /// notify.notify_waiters(); // nobody waits: nothing happens
    /// ```
    pub fn new() -> Self {
        Notify {
            list: WaitList::with_admit(0, (), admit),
        }
    }

    /// A future that completes when this `Notify` is notified.
    ///
    /// It is woken by a [`notify_waiters`](Notify::notify_waiters) called
    /// any time after this call, even before it is first polled. For
    /// [`notify_one`](Notify::notify_one) it counts as waiting from its
    /// first poll or its [`enable`](Notified::enable) on.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::Notify;
    ///
    /// let notify = Notify::new();
    /// let notified = notify.notified();
    /// notify.notify_waiters(); // created before: it is woken
    /// futures::executor::block_on(notified);
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        let generation = self.list.state().load(Acquire) & GEN_MASK;
        Notified::from_op(WaitForNotify {
            notify: self,
            generation,
            done: false,
            early: false,
        })
    }

    /// Wakes the longest-waiting task, or, if none waits, stores a permit
    /// that the next [`notified`](Notify::notified) takes at once.
    ///
    /// At most one permit is stored: calls while one is stored change
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = magpie_sync::Notify::new();
    /// notify.notify_one();
    /// notify.notify_one(); // still one permit
    /// futures::executor::block_on(notify.notified()); // takes it
    /// ```
    pub fn notify_one(&self) {
        let state = self.list.state();
        let mut s = state.load(Acquire);
        loop {
            if s & WAITERS != 0 {
                break;
            }
            // Nobody waits: store the permit (a read-modify-write even if it
            // is stored already, so the taker synchronises with this call).
            match state.compare_exchange_weak(s, s | PERMIT, AcqRel, Acquire) {
                Ok(_) => {
                    // A registration pending now takes the permit.
                    self.list.recheck_pending();
                    return;
                }
                Err(actual) => s = actual,
            }
        }
        let mut locked = self.list.lock();
        loop {
            locked.make_room();
            let current = state.load(Acquire) & GEN_MASK;
            let fresh = match locked.head() {
                // Nobody waits (`WAITERS` is clear and stays so while we
                // hold the lock): store the permit.
                None => {
                    state.fetch_or(PERMIT, AcqRel);
                    locked.recheck_pending();
                    return;
                }
                Some(mut head) => {
                    let fresh = head.want() == current;
                    if fresh {
                        head.assign(1);
                    }
                    fresh
                }
            };
            // A waiter of an older generation is being woken by a
            // `notify_waiters` between its batches: wake it as that call
            // would (with nothing to pass on) and look further.
            locked.pop_head(Outcome::Granted, true);
            if fresh {
                return;
            }
        }
    }

    /// Wakes every task whose [`Notified`] was created before this call,
    /// oldest first, and stores no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::Notify;
    ///
    /// let notify = Notify::new();
    /// futures::executor::block_on(async {
    ///     let waiters = futures::future::join_all((0..3).map(|_| notify.notified()));
    ///     let notifier = async { notify.notify_waiters() };
    ///     futures::join!(waiters, notifier);
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let state = self.list.state();
        let mut s = state.load(Acquire);
        loop {
            if s & WAITERS != 0 {
                break;
            }
            // Nobody is linked: advancing the generation is all there is
            // to do (waiters created before it see it when they register).
            match state.compare_exchange_weak(s, s.wrapping_add(GEN_UNIT), AcqRel, Acquire) {
                Ok(_) => {
                    // A registration pending now sees the new generation.
                    self.list.recheck_pending();
                    return;
                }
                Err(actual) => s = actual,
            }
        }
        let mut locked = self.list.lock();
        // With the lock held (and the stack settled by `lock`): every node
        // linked now is woken, every node linked from now on registers in
        // the new generation. The re-check settles what was pushed since
        // against the new generation: a node of the old one is woken
        // there, one of the new one (created after the advance) is linked
        // after the mark and left waiting.
        state.fetch_add(GEN_UNIT, AcqRel);
        let linked_before = locked.mark();
        locked.recheck_pending();
        locked.notify_all_before(linked_before);
    }
}

#[cfg(all(test, not(loom)))]
impl Notify {
    /// The wait list, for the wait list's own tests.
    pub(crate) fn list(&self) -> &WaitList {
        &self.list
    }
}

/// Whether a waiter that registered in `generation` must wait, given the
/// state word `s`: not if the generation moved on (a `notify_waiters`
/// came), nor if a permit is stored (it takes it, as a grant of
/// `notify_one`: a cancelled waiter passes it on).
fn admit(s: usize, generation: usize) -> Admit {
    if s & GEN_MASK != generation {
        Admit::Refuse {
            state: s,
            assigned: 0,
        }
    } else if s & PERMIT != 0 {
        Admit::Refuse {
            state: s & !PERMIT,
            assigned: 1,
        }
    } else {
        Admit::Wait(s)
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.list.state().load(Acquire);
        f.debug_struct("Notify")
            .field("permit", &(s & PERMIT != 0))
            .field("has_waiters", &(s & WAITERS != 0))
            .finish()
    }
}

struct WaitForNotify<'a> {
    notify: &'a Notify,
    /// The generation this future was created in.
    generation: usize,
    /// Notified and seen (the node is idle again).
    done: bool,
    /// Linked early by `enable`, and not polled since: the node has no
    /// waker of ours yet.
    early: bool,
}

impl WaitForNotify<'_> {
    /// Takes a permit, sees a newer generation, or links `me` (early if
    /// there is no `waker` yet). Returns `true` if it linked `me` (and must
    /// wait), `false` if it was notified.
    fn register(&self, me: &mut Waiter<'_>, waker: Option<&Waker>) -> bool {
        let state = self.notify.list.state();
        let generation = self.generation;
        let mut s = state.load(Acquire);
        loop {
            if s & GEN_MASK != generation {
                return false;
            }
            if s & PERMIT != 0 {
                match state.compare_exchange_weak(s, s & !PERMIT, AcqRel, Acquire) {
                    Ok(_) => return false,
                    Err(actual) => s = actual,
                }
                continue;
            }
            // `admit` decides, under the lock, now or when a lock holder
            // links us (if the lock is busy).
            return self.notify.list.register(me, generation, waker) == Registered::Waiting;
        }
    }

    /// `Notified::enable`: registers without a waker. Returns whether it
    /// is notified already.
    fn enable(&mut self, me: &mut Waiter<'_>) -> bool {
        if self.done {
            return true;
        }
        match me.status() {
            Status::Idle => {
                if !self.register(me, None) {
                    self.done = true;
                } else if me.status() == Status::Waiting {
                    self.early = true;
                } else {
                    // Notified already: granted as soon as it was linked,
                    // or, pending behind a taken lock, settled (refused)
                    // before `register` returned. Report it now.
                    me.settle();
                    self.done = true;
                }
            }
            Status::Waiting => {}
            Status::Granted | Status::Closed => {
                me.settle();
                self.done = true;
            }
        }
        self.done
    }
}

impl WaitOp for WaitForNotify<'_> {
    type Output = ();

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before registering.
                    let proceed = ready!(coop::poll_proceed(cx));
                    if self.register(me, Some(cx.waker())) {
                        if me.status() == Status::Waiting {
                            return Poll::Pending;
                        }
                        // Notified before `register` returned (see
                        // `enable`): done now, not after a wake.
                        me.settle();
                    }
                    proceed.made_progress();
                    self.done = true;
                    return Poll::Ready(());
                }
                Status::Waiting if core::mem::take(&mut self.early) => {
                    // The first poll after `enable`: give the node our
                    // waker without the lock. If a notification came first,
                    // the node holds its outcome: look again.
                    if me.install_waker(cx.waker()) {
                        return Poll::Pending;
                    }
                }
                Status::Waiting => {
                    let mut locked = self.notify.list.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    me.settle();
                    self.early = false;
                    self.done = true;
                    return Poll::Ready(());
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting && self.notify.list.lock().remove(me).is_some() {
            return;
        }
        if me.take_grant() == Some(1) {
            // Picked by `notify_one` and never saw it: pass it on.
            self.notify.notify_one();
        }
    }
}

wait_future! {
    /// The future returned by [`Notify::notified`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Notified, Notify};
    ///
    /// let notify = Notify::new();
    /// let fut: Notified<'_> = notify.notified();
    /// notify.notify_one();
    /// futures::executor::block_on(fut);
    /// ```
    pub struct Notified['a]['a](WaitForNotify<'a>) -> ();
}

impl Notified<'_> {
    /// Registers this future as a waiter now, before it is polled, so that
    /// a [`notify_one`](Notify::notify_one) from now on may pick it (as it
    /// would after a first poll). Takes a stored permit if there is one.
    /// Returns `true` if the future is notified already (its next poll
    /// completes at once).
    ///
    /// A `Notified` is woken by [`notify_waiters`](Notify::notify_waiters)
    /// from its creation on, enabled or not; `enable` is what makes it
    /// eligible for `notify_one` before its first poll. Calling it again
    /// (or after a poll) changes nothing.
    ///
    /// # Examples
    ///
    /// Check a condition, then wait, without losing a `notify_one` sent
    /// between the two:
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use magpie_sync::Notify;
    ///
    /// let notify = Notify::new();
    /// let ready = AtomicBool::new(false);
    /// futures::executor::block_on(async {
    ///     let waiter = async {
    ///         loop {
    ///             let mut notified = pin!(notify.notified());
    ///             notified.as_mut().enable(); // in line from here on
    ///             if ready.load(Ordering::SeqCst) {
    ///                 return;
    ///             }
    ///             notified.await; // a notify_one after the check reaches us
    ///         }
    ///     };
    ///     let setter = async {
    ///         ready.store(true, Ordering::SeqCst);
    ///         notify.notify_one();
    ///     };
    ///     futures::join!(waiter, setter);
    /// });
    ///
    /// // `enable` reports a notification that is already there.
    /// notify.notify_one();
    /// let mut notified = pin!(notify.notified());
    /// assert!(notified.as_mut().enable());
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.inner().with_op(|op, me| op.enable(me))
    }
}
