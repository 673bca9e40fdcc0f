//! The waiting operations of a queue, as [`WaitOp`]s on its wait list, and
//! the futures made of them: [`Put`], [`Get`] (and the stream's owned get)
//! and [`Join`].
//!
//! A getter waits in the list's main line, a putter in the putters' line,
//! a joiner in the joiners' line. A first poll spends coop budget before
//! the lock. A getter or putter granted while waiting owns a claimed item
//! or a reserved place; if it is dropped before it polls again, `cancel`
//! gives the claim or the reservation to the next waiter. A waiter woken
//! by `close` (`Closed`) owns nothing.

use core::ops::Deref;
use core::task::{Context, Poll, Waker, ready};
use std::sync::Arc;

use crate::coop;
use crate::error::{GetError, PutError};
use crate::flag::{Flag, FlagWait};
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{Acquire, Relaxed};
use crate::wait_list::{LineOf, Locked, Removed, Status, WaitList, WaitOp, Waiter, wait_future};

use super::item::{QueueItem, QueueRef};
use super::shared::{
    JOINERS, ONE_TASK, Shared, State, joiners, pop, push, putters, serve_getters, serve_putters,
};
use super::storage::Storage;

#[cfg(doc)]
use super::GenericQueue;

impl<T, S: Storage<T>> Shared<T, S> {
    fn poll_get(&self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Result<T, GetError>> {
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before the lock.
                    let proceed = ready!(coop::poll_proceed(cx));
                    let result = self.get_or_enqueue(me, cx);
                    if result.is_ready() {
                        proceed.made_progress();
                    }
                    return result;
                }
                Status::Closed => {
                    // A getter woken by `close` may still drain what is
                    // left; it waited already, so it is not budgeted.
                    me.take_closed();
                    return self.get_or_enqueue(me, cx);
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted => {
                    me.take_grant();
                    let mut locked = self.list.lock();
                    locked.data().claimed -= 1;
                    return Poll::Ready(Ok(pop(&mut locked)));
                }
            }
        }
    }

    /// Takes an unclaimed item, fails if closed, or links `me` (idle).
    fn get_or_enqueue(
        &self,
        me: &mut Waiter<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, GetError>> {
        let mut locked = self.list.lock();
        let state = locked.data();
        if state.unclaimed() > 0 {
            return Poll::Ready(Ok(pop(&mut locked)));
        }
        if state.closed {
            return Poll::Ready(Err(GetError(())));
        }
        locked.enqueue(me, 1, cx.waker(), Some);
        Poll::Pending
    }

    fn cancel_get(&self, me: &mut Waiter<'_>) {
        // An item claimed for us goes to the next getter.
        self.cancel(
            me,
            |locked, me| locked.remove(me),
            |locked| {
                locked.data().claimed -= 1;
                serve_getters(locked);
            },
        );
    }

    fn poll_put(
        &self,
        me: &mut Waiter<'_>,
        item: &mut Option<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before the lock.
                    let proceed = ready!(coop::poll_proceed(cx));
                    let mut locked = self.list.lock();
                    let state = locked.data();
                    if state.closed {
                        proceed.made_progress();
                        return Poll::Ready(Err(PutError(take(item))));
                    }
                    if state.free_places() > 0 {
                        push(&self.tasks, &mut locked, take(item));
                        proceed.made_progress();
                        return Poll::Ready(Ok(()));
                    }
                    locked.enqueue_in(putters, me, cx.waker());
                    return Poll::Pending;
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    if let Some(mut mine) = locked.mine_in(putters, me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted => {
                    me.take_grant();
                    let mut locked = self.list.lock();
                    let state = locked.data();
                    state.reserved -= 1;
                    if state.closed {
                        return Poll::Ready(Err(PutError(take(item))));
                    }
                    push(&self.tasks, &mut locked, take(item));
                    return Poll::Ready(Ok(()));
                }
                Status::Closed => {
                    me.take_closed();
                    return Poll::Ready(Err(PutError(take(item))));
                }
            }
        }
    }

    fn cancel_put(&self, me: &mut Waiter<'_>) {
        // A place reserved for us goes to the next putter.
        self.cancel(
            me,
            |locked, me| locked.remove_in(putters, me),
            |locked| {
                locked.data().reserved -= 1;
                serve_putters(locked);
            },
        );
    }

    /// Withdraws a dropped getter or putter: unlinks it (`remove`) if it
    /// still waits, or passes on what it was granted (`pass_on`, with the
    /// lock) if it was granted before it could poll. A waiter woken by
    /// `close` owns nothing.
    #[inline]
    fn cancel(
        &self,
        me: &mut Waiter<'_>,
        remove: impl Fn(&mut Locked<'_, State<S>>, &mut Waiter<'_>) -> Option<Removed>,
        pass_on: impl FnOnce(&mut Locked<'_, State<S>>),
    ) {
        loop {
            match me.status() {
                Status::Idle => return,
                Status::Closed => {
                    me.take_closed();
                    return;
                }
                Status::Waiting => {
                    if remove(&mut self.list.lock(), me).is_some() {
                        return;
                    }
                }
                Status::Granted => {
                    me.take_grant();
                    pass_on(&mut self.list.lock());
                    return;
                }
            }
        }
    }
}

fn take<T>(item: &mut Option<T>) -> T {
    item.take().expect("`Put` polled after completion")
}

pub(super) struct PutOp<'a, T, S> {
    pub(super) shared: &'a Shared<T, S>,
    pub(super) item: Option<T>,
}

impl<T, S: Storage<T>> WaitOp for PutOp<'_, T, S> {
    type Output = Result<(), PutError<T>>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll_put(me, &mut self.item, cx)
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.cancel_put(me);
    }
}

/// A get, for a borrowed queue ([`Get`]) or an owned one (a
/// [`QueueStream`](super::QueueStream)'s).
pub(super) struct GetOp<Q> {
    pub(super) shared: Q,
}

/// The get a [`QueueStream`](super::QueueStream) keeps pinned.
pub(super) type GetOwnedOp<T, S> = GetOp<Arc<Shared<T, S>>>;

// `Deref` names `T` and `S` (a bound on `QueueRef<T, S>` alone does not
// constrain them).
impl<T, S, Q> WaitOp for GetOp<Q>
where
    S: Storage<T>,
    Q: QueueRef<T, S> + Deref<Target = Shared<T, S>>,
{
    type Output = Result<Q::Item, GetError>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let item = ready!(self.shared.poll_get(me, cx))?;
        Poll::Ready(Ok(self.shared.guard(item)))
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.cancel_get(me);
    }
}

/// What a joiner waits for: no unfinished item. Joiners wait in the
/// joiners' line; the last item's done wakes them (see
/// [`Shared::task_done_one`]).
pub(super) struct Unfinished<'a, S> {
    pub(super) list: &'a WaitList<State<S>>,
    pub(super) tasks: &'a AtomicUsize,
}

impl<S> Flag for Unfinished<'_, S> {
    type Data = State<S>;
    const LINE: Option<LineOf<State<S>>> = Some(joiners);

    fn list(&self) -> &WaitList<State<S>> {
        self.list
    }

    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool {
        let mut locked = self.list.lock();
        // Announce a joiner, under the lock (see `Shared::task_done_one`),
        // unless nothing is unfinished.
        let mut word = self.tasks.load(Acquire);
        if word >= ONE_TASK && word & JOINERS == 0 {
            word = self.tasks.fetch_or(JOINERS, Acquire);
            if word < ONE_TASK {
                // Done before the bit was set: take it back (no joiner
                // waits while the count is 0).
                self.tasks.fetch_and(!JOINERS, Relaxed);
            }
        }
        if word < ONE_TASK {
            return false;
        }
        locked.enqueue_in(joiners, me, waker);
        true
    }
}

wait_future! {
    /// The future returned by [`GenericQueue::put`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fifo, Put, Queue};
    ///
    /// let q = Queue::bounded(1).unwrap();
    /// let fut: Put<'_, u8, Fifo<u8>> = q.put(7);
    /// futures::executor::block_on(fut).unwrap();
    /// assert_eq!(*q.try_get().unwrap(), 7);
    /// ```
    pub struct Put['a, T, S: Storage<T>]['a, T, S](pub(super) PutOp<'a, T, S>) -> Result<(), PutError<T>>;
}

wait_future! {
    /// The future returned by [`GenericQueue::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fifo, Get, Queue};
    ///
    /// let q = Queue::unbounded();
    /// q.try_put(7u8).unwrap();
    /// let fut: Get<'_, u8, Fifo<u8>> = q.get();
    /// assert_eq!(*futures::executor::block_on(fut).unwrap(), 7);
    /// ```
    pub struct Get['a, T, S: Storage<T>]['a, T, S](pub(super) GetOp<&'a Shared<T, S>>) -> Result<QueueItem<'a, T, S>, GetError>;
}

wait_future! {
    /// The future returned by [`GenericQueue::join`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fifo, Join, Queue};
    ///
    /// let q = Queue::<u8>::unbounded();
    /// let fut: Join<'_, Fifo<u8>> = q.join();
    /// futures::executor::block_on(fut); // nothing unfinished
    /// ```
    pub struct Join['a, S]['a, S](pub(super) FlagWait<Unfinished<'a, S>>) -> ();
}
