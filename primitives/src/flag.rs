//! Waiting for a flag: one [`WaitOp`], [`FlagWait`], for every future that
//! waits until a condition holds and is released together with every
//! other waiter of its line when it comes to hold.
//!
//! # Protocol
//!
//! A [`Flag`] is a condition that a raiser makes true (with the list's lock
//! held, or before taking it) and then, under the lock, wakes the whole
//! line it guards (`notify_all` or `notify_all_in`). A waiter, on its first
//! poll, spends coop budget, then calls
//! [`Flag::link_unless_raised`], which either sees the condition true
//! (ready, no waiting) or links the waiter with the condition checked
//! *atomically with the link*: under the lock, or through the state word's
//! admit check of [`Locked::enqueue`](crate::wait_list::Locked::enqueue).
//! So a raiser either is seen by the check or finds the waiter linked and
//! wakes it: no lost wake-up. Once woken (granted or closed), the waiter
//! is ready; nothing it was woken with belongs to anyone else (every
//! waiter of the line is woken), so a dropped waiter has nothing to pass
//! on, and only unlinks itself if it still waits.
//!
//! Users: [`Event::wait`](crate::Event::wait) and oneshot's
//! [`Sender::closed`](crate::oneshot::Sender::closed) (a bit of the state
//! word), watch's [`Sender::closed`](crate::watch::Sender::closed) (no
//! receiver left) and [`GenericQueue::join`](crate::GenericQueue::join)
//! (no unfinished item).

use core::task::{Context, Poll, Waker, ready};

use crate::coop;
use crate::loom::sync::atomic::Ordering::Acquire;
use crate::wait_list::{LineOf, Status, WaitList, WaitOp, Waiter};

/// A condition that, once it holds, releases every waiter of its line.
pub(crate) trait Flag {
    /// The data of the wait list.
    type Data;

    /// The line the waiters wait in: the main line (`None`) or one of the
    /// data's.
    const LINE: Option<LineOf<Self::Data>> = None;

    /// The wait list whose lock the raiser takes to wake the line.
    fn list(&self) -> &WaitList<Self::Data>;

    /// Links `me` (idle) in [`LINE`](Self::LINE) to be woken with `waker`,
    /// unless the condition holds; returns whether it linked. The check
    /// and the link must be atomic with respect to the raiser (see the
    /// module documentation).
    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool;
}

/// [`Flag::link_unless_raised`] for a flag that is a bit of the list's
/// state word, set by the raiser with the lock held when anyone waits
/// (`Event::set`, oneshot's `Receiver::close`): a lock-free look first,
/// then the link, which the state word's admit check refuses once the bit
/// is set.
#[inline]
pub(crate) fn link_unless_bit<D>(
    list: &WaitList<D>,
    bit: usize,
    me: &mut Waiter<'_>,
    waker: &Waker,
) -> bool {
    if list.state().load(Acquire) & bit != 0 {
        return false;
    }
    list.lock()
        .enqueue(me, 1, waker, |s| if s & bit != 0 { None } else { Some(s) })
}

impl<F: Flag> Flag for &F {
    type Data = F::Data;
    const LINE: Option<LineOf<F::Data>> = F::LINE;

    #[inline]
    fn list(&self) -> &WaitList<F::Data> {
        (**self).list()
    }

    #[inline]
    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool {
        (**self).link_unless_raised(me, waker)
    }
}

/// The operation of a future that waits for a [`Flag`]: usually a borrow
/// of the primitive (`FlagWait<&'a Event>`), or a small struct of borrows.
pub(crate) struct FlagWait<F> {
    flag: F,
}

impl<F> FlagWait<F> {
    /// A wait for `flag`.
    #[inline]
    pub(crate) fn new(flag: F) -> Self {
        FlagWait { flag }
    }
}

impl<F: Flag> WaitOp for FlagWait<F> {
    type Output = ();

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before registering.
                    let proceed = ready!(coop::poll_proceed(cx));
                    if self.flag.link_unless_raised(me, cx.waker()) {
                        return Poll::Pending;
                    }
                    proceed.made_progress();
                    return Poll::Ready(());
                }
                Status::Waiting => {
                    let mut locked = self.flag.list().lock();
                    let mine = match F::LINE {
                        None => locked.mine(me),
                        Some(line) => locked.mine_in(line, me),
                    };
                    if let Some(mut mine) = mine {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    me.settle();
                    return Poll::Ready(());
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting {
            let mut locked = self.flag.list().lock();
            let removed = match F::LINE {
                None => locked.remove(me),
                Some(line) => locked.remove_in(line, me),
            };
            if removed.is_some() {
                return;
            }
        }
        // Woken with every other waiter of the line: nothing to pass on.
        me.take_grant();
    }
}
