//! The queues: asyncio's `Queue`, `PriorityQueue` and `LifoQueue`, as one
//! generic [`GenericQueue`] over a [`Storage`] order.
//!
//! A queue is one wait list whose lock also guards the storage and the
//! counts, so that an uncontended put or get is one lock and one unlock.
//! Getters wait in the list's main line, putters and joiners in two more
//! lines kept with the storage.
//!
//! Hand-off is strict: an item put while getters wait is *claimed* for the
//! first of them (`claimed` counts items in the storage that belong to a
//! granted getter that has not taken it yet), and a place freed while
//! putters wait is *reserved* for the first of them (`reserved`). So:
//!
//! * unclaimed items (`len - claimed > 0`) imply that no getter waits;
//! * free places (`capacity - len - reserved > 0`) imply that no putter waits.
//!
//! A granted getter or putter that is dropped before it polls gives its
//! claim or reservation back, and the next waiter gets it.

use core::fmt;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use futures_core::{FusedStream, Stream};

use crate::coop;
use crate::error::{CapacityError, GetError, PutError, TryGetError, TryPutError};
use crate::loom::sync::atomic::Ordering::{Acquire, Release};
use crate::wait_list::{
    Line, Locked, Outcome, Status, WaitList, WaitOp, Waiter, Waiting, wait_future,
};

/// The largest capacity of a bounded queue.
const MAX_CAPACITY: usize = usize::MAX >> 4;

/// Space preallocated for a bounded queue, at most.
const PREALLOCATE: usize = 4096;

mod sealed {
    pub trait Sealed {}
}

/// The order in which a [`GenericQueue`] hands out its items: [`Fifo`]
/// (first in, first out), [`Lifo`] (last in, first out) or [`Priority`]
/// (smallest first). Sealed: these three are all there is.
///
/// # Examples
///
/// ```
/// use magpie_sync::{GenericQueue, Storage};
///
/// // Code generic over the order.
/// fn drain<T, S: Storage<T>>(q: &GenericQueue<T, S>) -> Vec<T> {
///     std::iter::from_fn(|| q.try_get().ok()).collect()
/// }
/// let q = magpie_sync::LifoQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(drain(&q), [2, 1]);
/// ```
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
///
/// # Examples
///
/// ```
/// use magpie_sync::{Fifo, GenericQueue};
///
/// let q: GenericQueue<u8, Fifo<u8>> = GenericQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.try_get(), Ok(1));
/// ```
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
///
/// # Examples
///
/// ```
/// use magpie_sync::{GenericQueue, Lifo};
///
/// let q: GenericQueue<u8, Lifo<u8>> = GenericQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.try_get(), Ok(2));
/// ```
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
///
/// # Examples
///
/// ```
/// use magpie_sync::{GenericQueue, Priority};
///
/// let q: GenericQueue<u8, Priority<u8>> = GenericQueue::unbounded();
/// q.try_put(2).unwrap();
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_get(), Ok(1));
/// ```
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
    /// Getters wait in the main line; the state word only mirrors `closed`.
    list: WaitList<State<S>>,
    capacity: Option<usize>,
    _items: PhantomData<fn(T) -> T>,
}

/// Everything under the queue's lock.
struct State<S> {
    storage: S,
    /// `usize::MAX` when unbounded.
    capacity: usize,
    closed: bool,
    /// Items in the storage set aside for granted getters.
    claimed: usize,
    /// Places set aside for granted putters.
    reserved: usize,
    /// Items put and not yet marked with `task_done`.
    unfinished: usize,
    putters: Line,
    joiners: Line,
}

/// The state word's bit: closed (a mirror, for `is_closed` without the lock).
const CLOSED: usize = 1 << 1;

fn putters<S>(state: &mut State<S>) -> &mut Line {
    &mut state.putters
}

fn joiners<S>(state: &mut State<S>) -> &mut Line {
    &mut state.joiners
}

impl<S> State<S> {
    fn unclaimed<T>(&self) -> usize
    where
        S: Storage<T>,
    {
        self.storage.len() - self.claimed
    }

    fn free_places<T>(&self) -> usize
    where
        S: Storage<T>,
    {
        self.capacity
            .saturating_sub(self.storage.len() + self.reserved)
    }
}

impl<T, S: Storage<T>> GenericQueue<T, S> {
    /// The largest capacity of a bounded queue (`usize::MAX >> 4`).
    pub const MAX_CAPACITY: usize = MAX_CAPACITY;

    /// A queue that holds at most `capacity` items; [`put`](Self::put)
    /// waits while it is full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] if `capacity` is 0 (nothing could ever be put) or
    /// more than [`MAX_CAPACITY`](Self::MAX_CAPACITY).
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
        let state = State {
            storage,
            capacity: capacity.unwrap_or(usize::MAX),
            closed: false,
            claimed: 0,
            reserved: 0,
            unfinished: 0,
            putters: Line::default(),
            joiners: Line::default(),
        };
        GenericQueue {
            shared: Arc::new(Shared {
                list: WaitList::new(0, state),
                capacity,
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
        let mut locked = self.shared.list.lock();
        let state = locked.data();
        if state.closed {
            return Err(TryPutError::Closed(item));
        }
        if state.free_places() == 0 {
            return Err(TryPutError::Full(item));
        }
        push(&mut locked, item);
        Ok(())
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
        let mut locked = self.shared.list.lock();
        let state = locked.data();
        if state.unclaimed() > 0 {
            Ok(pop(&mut locked))
        } else if state.closed {
            Err(TryGetError::Closed)
        } else {
            Err(TryGetError::Empty)
        }
    }

    /// The number of items in the queue (asyncio's `qsize`).
    pub fn len(&self) -> usize {
        self.shared.list.lock().data().storage.len()
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
        let mut locked = self.shared.list.lock();
        if locked.data().closed {
            return;
        }
        locked.data().closed = true;
        locked.state().fetch_or(CLOSED, Release);
        // Nobody starts waiting from here on; wake everyone who does.
        loop {
            locked.make_room();
            if locked.is_empty_in(putters) {
                break;
            }
            locked.pop_head_in(putters, Outcome::Closed, true);
        }
        loop {
            locked.make_room();
            if locked.is_empty() {
                break;
            }
            locked.pop_head(Outcome::Closed, true);
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.list.state().load(Acquire) & CLOSED != 0
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
        let mut locked = self.shared.list.lock();
        let state = locked.data();
        if state.unfinished == 0 {
            drop(locked);
            panic!("Queue::task_done called more times than items were put");
        }
        state.unfinished -= 1;
        if state.unfinished == 0 {
            locked.notify_all_in(joiners, Outcome::Granted);
        }
    }

    /// Items put and not yet marked with [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.list.lock().data().unfinished
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
    pub fn join(&self) -> Join<'_, S> {
        Join::from_op(JoinOp {
            list: &self.shared.list,
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

/// Pushes `item` into a free place (the caller checked, or a place was
/// reserved for it), counts it as unfinished, and hands unclaimed items to
/// waiting getters.
fn push<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>, item: T) {
    let state = locked.data();
    state.storage.push(item);
    state.unfinished += 1;
    serve_getters(locked);
}

/// Pops an item that is unclaimed, or claimed by the caller, and hands the
/// freed place to a waiting putter.
fn pop<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) -> T {
    let item = locked
        .data()
        .storage
        .pop()
        .expect("an unclaimed or claimed item is in the storage");
    serve_putters(locked);
    item
}

/// Claims unclaimed items for waiting getters, first come first served.
fn serve_getters<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) {
    loop {
        locked.make_room();
        if locked.data().unclaimed() == 0 || locked.is_empty() {
            return;
        }
        locked.data().claimed += 1;
        locked.pop_head(Outcome::Granted, true);
    }
}

/// Reserves free places for waiting putters, first come first served.
fn serve_putters<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) {
    loop {
        locked.make_room();
        if locked.data().free_places() == 0 || locked.is_empty_in(putters) {
            return;
        }
        locked.data().reserved += 1;
        locked.pop_head_in(putters, Outcome::Granted, true);
    }
}

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
        loop {
            match me.status() {
                Status::Idle => return,
                Status::Closed => {
                    me.take_closed();
                    return;
                }
                Status::Waiting => {
                    if self.list.lock().remove(me).is_some() {
                        return;
                    }
                }
                Status::Granted => {
                    // An item was claimed for us: pass it on.
                    me.take_grant();
                    let mut locked = self.list.lock();
                    locked.data().claimed -= 1;
                    serve_getters(&mut locked);
                    return;
                }
            }
        }
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
                        push(&mut locked, take(item));
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
                    push(&mut locked, take(item));
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
        loop {
            match me.status() {
                Status::Idle => return,
                Status::Closed => {
                    me.take_closed();
                    return;
                }
                Status::Waiting => {
                    if self.list.lock().remove_in(putters, me).is_some() {
                        return;
                    }
                }
                Status::Granted => {
                    // A place was reserved for us: pass it on.
                    me.take_grant();
                    let mut locked = self.list.lock();
                    locked.data().reserved -= 1;
                    serve_putters(&mut locked);
                    return;
                }
            }
        }
    }
}

fn take<T>(item: &mut Option<T>) -> T {
    item.take().expect("`Put` polled after completion")
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
        self.shared.cancel_put(me);
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
        self.shared.cancel_get(me);
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
        self.shared.cancel_get(me);
    }
}

struct JoinOp<'a, S> {
    list: &'a WaitList<State<S>>,
}

impl<S> WaitOp for JoinOp<'_, S> {
    type Output = ();

    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before the lock.
                    let proceed = ready!(coop::poll_proceed(cx));
                    let mut locked = self.list.lock();
                    if locked.data().unfinished == 0 {
                        proceed.made_progress();
                        return Poll::Ready(());
                    }
                    locked.enqueue_in(joiners, me, cx.waker());
                    return Poll::Pending;
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    if let Some(mut mine) = locked.mine_in(joiners, me) {
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
        if me.status() == Status::Waiting && self.list.lock().remove_in(joiners, me).is_some() {
            return;
        }
        // Woken with every other joiner: nothing to pass on.
        me.take_grant();
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
    /// assert_eq!(q.try_get(), Ok(7));
    /// ```
    pub struct Put['a, T, S: Storage<T>]['a, T, S](PutOp<'a, T, S>) -> Result<(), PutError<T>>;
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
    /// assert_eq!(futures::executor::block_on(fut), Ok(7));
    /// ```
    pub struct Get['a, T, S: Storage<T>]['a, T, S](GetOp<'a, T, S>) -> Result<T, GetError>;
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
    pub struct Join['a, S]['a, S](JoinOp<'a, S>) -> ();
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
