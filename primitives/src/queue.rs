//! The queues: asyncio's `Queue`, `PriorityQueue` and `LifoQueue`, as one
//! generic [`GenericQueue`] over a [`Storage`] order.
//!
//! A queue is two counts of permits on the wait list and a storage:
//!
//! * `items`: one permit per item put and not yet claimed. A getter claims
//!   an item by acquiring a permit, then pops from the storage, which is
//!   kept under the `items` wait list's lock. Since a permit is added only
//!   after its item is pushed, under that lock, a claimed item is always
//!   there to pop, and every item is popped by exactly one getter.
//! * `slots` (bounded queues): one permit per free place. A putter acquires
//!   one before pushing; a getter adds one after popping.
//! * `closed`, also under the `items` lock, so a put either lands before
//!   the close (and will be drained) or fails.
//!
//! `close` closes `items` in drain mode (getters take what is left, then
//! fail) and `slots` in fail mode (waiting putters fail with their item).

use core::fmt;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use futures_core::{FusedStream, Stream};

use crate::error::{CapacityError, GetError, PutError, TryAcquireError, TryGetError, TryPutError};
use crate::fairness::Fairness;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire};
use crate::permits::{self, OnClose, Permits};
use crate::wait_list::{Status, WAITERS, WaitList, WaitOp, Waiter, Waiting, wait_future};

/// The largest capacity of a bounded queue (`usize::MAX >> 4`).
pub const MAX_CAPACITY: usize = permits::MAX_PERMITS;

/// The policy for getters and putters waiting on a queue.
const FAIRNESS: Fairness = Fairness::Strict;

/// Space preallocated for a bounded queue, at most.
const PREALLOCATE: usize = 4096;

mod sealed {
    pub trait Sealed {}
}

/// The order in which a [`GenericQueue`] hands out its items: [`Fifo`]
/// (first in, first out), [`Lifo`] (last in, first out) or [`Priority`]
/// (smallest first). Sealed: these three are all there is.
#[allow(clippy::len_without_is_empty)]
pub trait Storage<T>: sealed::Sealed {
    #[doc(hidden)]
    fn with_capacity(capacity: usize) -> Self;
    #[doc(hidden)]
    fn push(&mut self, item: T);
    #[doc(hidden)]
    fn pop(&mut self) -> Option<T>;
    #[doc(hidden)]
    fn len(&self) -> usize;
}

/// First in, first out: the storage of [`Queue`].
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> sealed::Sealed for Fifo<T> {}

impl<T> Storage<T> for Fifo<T> {
    fn with_capacity(capacity: usize) -> Self {
        Fifo(VecDeque::with_capacity(capacity))
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out: the storage of [`LifoQueue`].
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> sealed::Sealed for Lifo<T> {}

impl<T> Storage<T> for Lifo<T> {
    fn with_capacity(capacity: usize) -> Self {
        Lifo(Vec::with_capacity(capacity))
    }
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (asyncio's order; wrap items in [`std::cmp::Reverse`]
/// for largest first): the storage of [`PriorityQueue`]. Items that compare
/// equal come out in no particular order.
#[derive(Debug)]
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> sealed::Sealed for Priority<T> {}

impl<T: Ord> Storage<T> for Priority<T> {
    fn with_capacity(capacity: usize) -> Self {
        Priority(BinaryHeap::with_capacity(capacity))
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A FIFO queue (asyncio's `Queue`). See [`GenericQueue`] for the methods.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let q = Queue::bounded(2).unwrap();
/// futures::executor::block_on(async {
///     q.put(1).await.unwrap();
///     q.put(2).await.unwrap();
///     assert!(q.is_full());
///     assert_eq!(q.get().await, Ok(1));
///     assert_eq!(q.get().await, Ok(2));
/// });
/// ```
pub type Queue<T> = GenericQueue<T, Fifo<T>>;

/// A LIFO queue, a stack (asyncio's `LifoQueue`). See [`GenericQueue`] for
/// the methods.
///
/// # Examples
///
/// ```
/// use magpie_sync::LifoQueue;
///
/// let q = LifoQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.try_get(), Ok(2));
/// assert_eq!(q.try_get(), Ok(1));
/// ```
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;

/// A priority queue that hands out its smallest item first (asyncio's
/// `PriorityQueue`). See [`GenericQueue`] for the methods.
///
/// # Examples
///
/// ```
/// use magpie_sync::PriorityQueue;
///
/// let q = PriorityQueue::unbounded();
/// for (priority, job) in [(3, "low"), (1, "urgent"), (2, "normal")] {
///     q.try_put((priority, job)).unwrap();
/// }
/// assert_eq!(q.try_get(), Ok((1, "urgent")));
/// assert_eq!(q.try_get(), Ok((2, "normal")));
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

/// A multi-producer, multi-consumer async queue, bounded or not, whose
/// order is set by `S` (see [`Queue`], [`LifoQueue`], [`PriorityQueue`]).
///
/// A queue is a handle: [`Clone`] is cheap and every clone is the same
/// queue. It stays open when handles are dropped; [`close`](Self::close)
/// it (asyncio's `shutdown`) to make puts fail and let getters drain it.
/// [`task_done`](Self::task_done) and [`join`](Self::join) track items that
/// were taken but not yet fully processed, as in asyncio.
///
/// # Fairness
///
/// Strictly FIFO: getters waiting for items, and putters waiting for room,
/// are served in arrival order; an item put while getters wait is handed
/// to the first of them, and a try-operation does not overtake waiters.
///
/// # Cancellation
///
/// Dropping a [`Get`] at any point loses no item: an item set aside for it
/// goes to the next getter. Dropping a [`Put`] before it completes drops
/// its item, which was never in the queue; a place reserved for it goes to
/// the next putter.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let q = Queue::bounded(8).unwrap();
/// futures::executor::block_on(async {
///     let producer = {
///         let q = q.clone();
///         async move {
///             for i in 0..100 {
///                 q.put(i).await.unwrap();
///             }
///             q.close();
///         }
///     };
///     let consumer = async {
///         let mut sum = 0;
///         while let Ok(i) = q.get().await {
///             sum += i;
///         }
///         sum
///     };
///     let ((), sum) = futures::join!(producer, consumer);
///     assert_eq!(sum, 4950);
/// });
/// ```
pub struct GenericQueue<T, S> {
    shared: Arc<Shared<T, S>>,
}

struct Shared<T, S> {
    /// Unclaimed items, with the storage under its lock.
    items: Permits<Store<S>>,
    /// Free places; `None` when unbounded.
    slots: Option<Permits>,
    capacity: Option<usize>,
    /// Items put and not yet marked done: `count << 1 | WAITERS`.
    unfinished: WaitList,
    _items: PhantomData<fn(T) -> T>,
}

struct Store<S> {
    storage: S,
    closed: bool,
}

const UNFINISHED_ONE: usize = 1 << 1;

impl<T, S: Storage<T>> GenericQueue<T, S> {
    /// A queue that holds at most `capacity` items; [`put`](Self::put)
    /// waits while it is full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] if `capacity` is 0 (nothing could ever be put) or
    /// more than [`MAX_CAPACITY`](crate::queue::MAX_CAPACITY).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::Queue;
    /// assert_eq!(Queue::<u8>::bounded(4).unwrap().capacity(), Some(4));
    /// assert!(Queue::<u8>::bounded(0).is_err());
    /// ```
    pub fn bounded(capacity: usize) -> Result<Self, CapacityError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(CapacityError { capacity });
        }
        Ok(GenericQueue::new(Some(capacity)))
    }

    /// A queue with no bound; [`put`](Self::put) never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::<u8>::unbounded();
    /// assert_eq!(q.capacity(), None);
    /// ```
    pub fn unbounded() -> Self {
        GenericQueue::new(None)
    }

    fn new(capacity: Option<usize>) -> Self {
        let storage = S::with_capacity(capacity.map_or(0, |c| c.min(PREALLOCATE)));
        let store = Store {
            storage,
            closed: false,
        };
        GenericQueue {
            shared: Arc::new(Shared {
                items: Permits::new(0, FAIRNESS, OnClose::Drain, store),
                slots: capacity.map(|c| Permits::new(c, FAIRNESS, OnClose::Fail, ())),
                capacity,
                unfinished: WaitList::new(0, ()),
                _items: PhantomData,
            }),
        }
    }

    /// Puts `item` in the queue, waiting for room if it is bounded and full.
    ///
    /// # Errors
    ///
    /// [`PutError`], with the item, if the queue is or gets closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::bounded(1).unwrap();
    /// futures::executor::block_on(q.put("a")).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put::from_op(PutOp {
            shared: &self.shared,
            item: Some(item),
        })
    }

    /// Takes the next item, waiting for one if the queue is empty.
    ///
    /// # Errors
    ///
    /// [`GetError`] if the queue is closed and empty: after
    /// [`close`](Self::close), items already in the queue are still handed
    /// out, then every get fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::unbounded();
    /// q.try_put(5).unwrap();
    /// assert_eq!(futures::executor::block_on(q.get()), Ok(5));
    /// ```
    pub fn get(&self) -> Get<'_, T, S> {
        Get::from_op(GetOp {
            shared: &self.shared,
        })
    }

    /// Puts `item` if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] if there is no room (or, bounded, putters are
    /// waiting for it), [`TryPutError::Closed`] if closed; both return the
    /// item.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Queue, TryPutError};
    /// let q = Queue::bounded(1).unwrap();
    /// assert_eq!(q.try_put(1), Ok(()));
    /// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let shared = &*self.shared;
        if let Some(slots) = &shared.slots {
            match slots.try_acquire(1) {
                // The place is taken by the item from here on.
                Ok(_slot) => {}
                Err(TryAcquireError::Closed) => return Err(TryPutError::Closed(item)),
                Err(_) => return Err(TryPutError::Full(item)),
            }
        }
        shared.push(item).map_err(TryPutError::Closed)
    }

    /// Takes the next item if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if there is none (or getters are waiting for
    /// it), [`TryGetError::Closed`] if the queue is closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Queue, TryGetError};
    /// let q = Queue::unbounded();
    /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
    /// q.try_put('x').unwrap();
    /// assert_eq!(q.try_get(), Ok('x'));
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let shared = &*self.shared;
        match shared.items.try_acquire(1) {
            Ok(_claim) => Ok(shared.pop_claimed()),
            Err(TryAcquireError::Closed) => Err(TryGetError::Closed),
            Err(_) => Err(TryGetError::Empty),
        }
    }

    /// The number of items in the queue (asyncio's `qsize`).
    pub fn len(&self) -> usize {
        self.shared.items.lock().data().storage.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue holds `capacity` items; never true for an
    /// unbounded one.
    pub fn is_full(&self) -> bool {
        self.shared.capacity.is_some_and(|c| self.len() >= c)
    }

    /// The bound, or `None` (asyncio's `maxsize`, with `None` for 0).
    pub fn capacity(&self) -> Option<usize> {
        self.shared.capacity
    }

    /// Closes the queue (asyncio's `shutdown()`): every put, waiting or
    /// not, fails and returns its item; gets hand out the items already in
    /// the queue, then fail. Closing twice does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Queue, TryGetError, TryPutError};
    /// let q = Queue::unbounded();
    /// q.try_put(1).unwrap();
    /// q.close();
    /// assert_eq!(q.try_put(2), Err(TryPutError::Closed(2)));
    /// assert_eq!(q.try_get(), Ok(1));
    /// assert_eq!(q.try_get(), Err(TryGetError::Closed));
    /// ```
    pub fn close(&self) {
        let shared = &*self.shared;
        {
            let mut locked = shared.items.lock();
            if locked.data().closed {
                return;
            }
            locked.data().closed = true;
            shared.items.close_locked(&mut locked);
        }
        if let Some(slots) = &shared.slots {
            slots.close();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.items.is_closed()
    }

    /// Marks one item taken from the queue as processed (asyncio's
    /// `task_done`). When every item put has been marked,
    /// [`join`](Self::join) returns.
    ///
    /// # Panics
    ///
    /// If called more times than items were put: that is a bug in the
    /// caller, and continuing would let `join` return too early.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::unbounded();
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// q.try_get().unwrap();
    /// q.task_done();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    #[track_caller]
    pub fn task_done(&self) {
        let state = self.shared.unfinished.state();
        let mut s = state.load(Acquire);
        loop {
            if s < UNFINISHED_ONE {
                panic!("Queue::task_done called more times than items were put");
            }
            if s >> 1 == 1 && s & WAITERS != 0 {
                break;
            }
            match state.compare_exchange_weak(s, s - UNFINISHED_ONE, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        // The last one, and somebody joins: decrement with the lock held so
        // that exactly the joiners linked before are woken.
        let locked = self.shared.unfinished.lock();
        let mut s = state.load(Acquire);
        loop {
            if s < UNFINISHED_ONE {
                panic!("Queue::task_done called more times than items were put");
            }
            match state.compare_exchange_weak(s, s - UNFINISHED_ONE, AcqRel, Acquire) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        if s >> 1 == 1 {
            locked.notify_all();
        }
    }

    /// Items put and not yet marked with [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.unfinished.state().load(Acquire) >> 1
    }

    /// Waits until every item put has been marked with
    /// [`task_done`](Self::task_done); returns at once if none is
    /// unfinished. The non-blocking form is
    /// [`unfinished_tasks`](Self::unfinished_tasks)` == 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::Queue;
    ///
    /// let q = Queue::unbounded();
    /// futures::executor::block_on(async {
    ///     q.put("job").await.unwrap();
    ///     let worker = async {
    ///         let _job = q.get().await.unwrap();
    ///         q.task_done();
    ///     };
    ///     futures::join!(q.join(), worker);
    /// });
    /// ```
    pub fn join(&self) -> Join<'_> {
        Join::from_op(JoinOp {
            list: &self.shared.unfinished,
        })
    }

    /// A [`Stream`] of the items: each `next()` is a [`get`](Self::get),
    /// and the stream ends when the queue is closed and empty.
    ///
    /// The stream owns a handle to the queue; it allocates once, when made,
    /// so that it is `Unpin`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let q = magpie_sync::Queue::unbounded();
    /// for i in 0..3 {
    ///     q.try_put(i).unwrap();
    /// }
    /// q.close();
    /// let items: Vec<_> = futures::executor::block_on(q.stream().collect());
    /// assert_eq!(items, [0, 1, 2]);
    /// ```
    pub fn stream(&self) -> QueueStream<T, S> {
        QueueStream {
            get: Box::pin(Waiting::new(GetOwnedOp {
                shared: self.shared.clone(),
            })),
            done: false,
        }
    }
}

impl<T, S> Clone for GenericQueue<T, S> {
    fn clone(&self) -> Self {
        GenericQueue {
            shared: self.shared.clone(),
        }
    }
}

impl<T, S: Storage<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T, S: Storage<T>> Shared<T, S> {
    /// Pushes an item whose place (if bounded) is already taken, or gives
    /// the item and the place back if the queue is closed.
    fn push(&self, item: T) -> Result<(), T> {
        {
            let mut locked = self.items.lock();
            let store = locked.data();
            if !store.closed {
                store.storage.push(item);
                self.unfinished.state().fetch_add(UNFINISHED_ONE, AcqRel);
                self.items.add_locked(&mut locked, 1);
                return Ok(());
            }
        }
        if let Some(slots) = &self.slots {
            slots.add(1);
        }
        Err(item)
    }

    /// Pops the item a getter has claimed, and frees its place.
    fn pop_claimed(&self) -> T {
        let item = self.items.lock().data().storage.pop();
        if let Some(slots) = &self.slots {
            slots.add(1);
        }
        item.expect("a claimed item is in the storage")
    }

    fn poll_get(&self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Result<T, GetError>> {
        match self.items.poll_acquire(me, 1, cx) {
            Poll::Ready(Ok(_claim)) => Poll::Ready(Ok(self.pop_claimed())),
            Poll::Ready(Err(_)) => Poll::Ready(Err(GetError(()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_put(
        &self,
        me: &mut Waiter<'_>,
        item: &mut Option<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        if let Some(slots) = &self.slots {
            match slots.poll_acquire(me, 1, cx) {
                Poll::Ready(Ok(_slot)) => {}
                Poll::Ready(Err(_)) => {
                    let item = item.take().expect("`Put` polled after completion");
                    return Poll::Ready(Err(PutError(item)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let item = item.take().expect("`Put` polled after completion");
        Poll::Ready(self.push(item).map_err(PutError))
    }
}

struct PutOp<'a, T, S> {
    shared: &'a Shared<T, S>,
    item: Option<T>,
}

impl<T, S: Storage<T>> WaitOp for PutOp<'_, T, S> {
    type Output = Result<(), PutError<T>>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll_put(me, &mut self.item, cx)
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if let Some(slots) = &self.shared.slots {
            slots.cancel(me);
        }
    }
}

struct GetOp<'a, T, S> {
    shared: &'a Shared<T, S>,
}

impl<T, S: Storage<T>> WaitOp for GetOp<'_, T, S> {
    type Output = Result<T, GetError>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll_get(me, cx)
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.items.cancel(me);
    }
}

struct GetOwnedOp<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S: Storage<T>> WaitOp for GetOwnedOp<T, S> {
    type Output = Result<T, GetError>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll_get(me, cx)
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.items.cancel(me);
    }
}

struct JoinOp<'a> {
    list: &'a WaitList,
}

impl WaitOp for JoinOp<'_> {
    type Output = ();

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match me.status() {
                Status::Idle => {
                    if self.list.state().load(Acquire) < UNFINISHED_ONE {
                        return Poll::Ready(());
                    }
                    let mut locked = self.list.lock();
                    let linked = locked.enqueue(me, 1, cx.waker(), |s| {
                        if s < UNFINISHED_ONE { None } else { Some(s) }
                    });
                    return if linked {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    };
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    me.take_grant();
                    me.take_closed();
                    return Poll::Ready(());
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting && self.list.lock().remove(me).is_some() {
            return;
        }
        // Woken with every other joiner: nothing to pass on.
        me.take_grant();
    }
}

wait_future! {
    /// The future returned by [`GenericQueue::put`].
    pub struct Put['a, T, S: Storage<T>]['a, T, S](PutOp<'a, T, S>) -> Result<(), PutError<T>>;
}

wait_future! {
    /// The future returned by [`GenericQueue::get`].
    pub struct Get['a, T, S: Storage<T>]['a, T, S](GetOp<'a, T, S>) -> Result<T, GetError>;
}

wait_future! {
    /// The future returned by [`GenericQueue::join`].
    pub struct Join['a]['a](JoinOp<'a>) -> ();
}

/// The [`Stream`] returned by [`GenericQueue::stream`]: yields items until
/// the queue is closed and empty.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let q = magpie_sync::Queue::unbounded();
/// let mut items = q.stream();
/// q.try_put(1).unwrap();
/// assert_eq!(futures::executor::block_on(items.next()), Some(1));
/// ```
pub struct QueueStream<T, S: Storage<T>> {
    get: Pin<Box<Waiting<GetOwnedOp<T, S>>>>,
    done: bool,
}

impl<T, S: Storage<T>> Stream for QueueStream<T, S> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.get.as_mut().poll(cx) {
            Poll::Ready(Ok(item)) => Poll::Ready(Some(item)),
            Poll::Ready(Err(_)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, S: Storage<T>> FusedStream for QueueStream<T, S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T, S: Storage<T>> fmt::Debug for QueueStream<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
