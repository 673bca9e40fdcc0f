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
//!
//! # Items that cannot be forgotten
//!
//! asyncio's `task_done` is a call the worker must remember, on every
//! path: an early `return`, a `?` or a panic between `get` and `task_done`
//! leaves the item unfinished and `join` waits forever. Here `get`,
//! `try_get` and the stream hand out a guard ([`QueueItem`], or
//! [`OwnedQueueItem`] from a stream) that marks its item done when it
//! drops, so every path marks it exactly once. `into_inner` gives the bare
//! item back and the duty to call `task_done` with it (asyncio's protocol,
//! kept for code that needs the item by value); `task_done` is accepted
//! only for such items, so calling it for an item still in a guard (which
//! would count it twice and let `join` return early) panics instead.
//!
//! The unfinished count is the one value kept outside the lock (`tasks`),
//! so that dropping a guard costs one compare-and-swap rather than a second
//! lock/unlock per item: see [`Shared::task_done_one`] for the protocol
//! with `join`.
//!
//! # Two forms
//!
//! A [`GenericQueue`] handle is asyncio's queue: shared, open until someone
//! calls `close`. [`GenericQueue::split`] gives tokio's channel halves
//! instead, [`Producer`] and [`Consumer`], which count themselves: the last
//! producer to drop closes the queue (consumers drain it, then see the
//! end), the last consumer to drop closes and empties it (puts fail and
//! give their item back; nothing waits for items nobody will take). Both
//! forms are the same queue, so they mix.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use futures_core::{FusedStream, Stream};

use crate::coop;
use crate::error::{CapacityError, GetError, PutError, TryGetError, TryPutError};
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
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
///     std::iter::from_fn(|| q.try_get().ok().map(|item| item.into_inner())).collect()
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
/// assert_eq!(*q.try_get().unwrap(), 1);
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
/// assert_eq!(*q.try_get().unwrap(), 2);
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
/// assert_eq!(*q.try_get().unwrap(), 1);
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
///     assert_eq!(*q.get().await.unwrap(), 1);
///     assert_eq!(*q.get().await.unwrap(), 2);
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
/// assert_eq!(*q.try_get().unwrap(), 2);
/// assert_eq!(*q.try_get().unwrap(), 1);
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
/// assert_eq!(*q.try_get().unwrap(), (1, "urgent"));
/// assert_eq!(*q.try_get().unwrap(), (2, "normal"));
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

/// A multi-producer, multi-consumer async queue, bounded or not, whose
/// order is set by `S` (see [`Queue`], [`LifoQueue`], [`PriorityQueue`]).
///
/// A queue is a handle: [`Clone`] is cheap and every clone is the same
/// queue. It stays open when handles are dropped; [`close`](Self::close)
/// it (asyncio's `shutdown`) to make puts fail and let getters drain it,
/// or [`split`](Self::split) it into a [`Producer`] and a [`Consumer`] that
/// close it when the last of either drops (tokio's channels).
///
/// [`join`](Self::join) waits for every item put to be done, as in
/// asyncio; an item taken with [`get`](Self::get) comes in a
/// [`QueueItem`] guard that marks it done when it drops, so no path
/// (an early return, a `?`, a panic) can forget asyncio's `task_done`.
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
///             sum += *i;
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
    /// Items put and not yet marked done, times [`ONE_TASK`], plus
    /// [`JOINERS`]. See [`Shared::task_done_one`] for the protocol.
    tasks: AtomicUsize,
    /// Items taken out of their [`QueueItem`] by `into_inner` and not yet
    /// marked with [`GenericQueue::task_done`].
    loose: AtomicUsize,
    /// Live [`Producer`]s; the last one to drop closes the queue.
    producers: AtomicUsize,
    /// Live [`Consumer`]s; the last one to drop closes the queue.
    consumers: AtomicUsize,
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
    putters: Line,
    joiners: Line,
}

/// The state word's bit: closed (a mirror, for `is_closed` without the lock).
const CLOSED: usize = 1 << 1;

/// `tasks` bit: joiners may be waiting. Set under the lock by a joiner
/// that found unfinished items; cleared under the lock when the count
/// reaches 0 and the joiners are woken. While it is set, the count only
/// reaches 0 under the lock.
const JOINERS: usize = 1;

/// `tasks` unit: one unfinished item.
const ONE_TASK: usize = 2;

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
            putters: Line::default(),
            joiners: Line::default(),
        };
        GenericQueue {
            shared: Arc::new(Shared {
                list: WaitList::new(0, state),
                capacity,
                tasks: AtomicUsize::new(0),
                loose: AtomicUsize::new(0),
                producers: AtomicUsize::new(0),
                consumers: AtomicUsize::new(0),
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
    /// The item comes in a [`QueueItem`] that dereferences to it and marks
    /// it done (asyncio's `task_done`) when it drops;
    /// [`into_inner`](QueueItem::into_inner) takes it out.
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
    /// assert_eq!(*futures::executor::block_on(q.get()).unwrap(), 5);
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
        push(&self.shared.tasks, &mut locked, item);
        Ok(())
    }

    /// Takes the next item if that needs no waiting, in a [`QueueItem`]
    /// as [`get`](Self::get) does.
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
    /// assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
    /// q.try_put('x').unwrap();
    /// assert_eq!(*q.try_get().unwrap(), 'x');
    /// ```
    pub fn try_get(&self) -> Result<QueueItem<'_, T, S>, TryGetError> {
        let mut locked = self.shared.list.lock();
        let state = locked.data();
        if state.unclaimed() > 0 {
            let item = pop(&mut locked);
            drop(locked);
            Ok(QueueItem::new(item, &self.shared))
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
    /// assert_eq!(*q.try_get().unwrap(), 1);
    /// assert_eq!(q.try_get().unwrap_err(), TryGetError::Closed);
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.list.state().load(Acquire) & CLOSED != 0
    }

    /// Marks one item taken with [`QueueItem::into_inner`] as processed
    /// (asyncio's `task_done`). When every item put has been marked done,
    /// [`join`](Self::join) returns.
    ///
    /// A [`QueueItem`] marks its item done by itself when it drops (on an
    /// early return, a `?` or a panic too), so this is only for items taken
    /// out of their guard with [`into_inner`](QueueItem::into_inner).
    ///
    /// # Panics
    ///
    /// If no item taken with `into_inner` is left unmarked: calling it for
    /// an item still held in a `QueueItem` (which will mark it again when
    /// it drops), or more often than items were taken out, is a bug in the
    /// caller, and continuing would let `join` return too early.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::unbounded();
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// let item: i32 = q.try_get().unwrap().into_inner();
    /// assert_eq!(q.unfinished_tasks(), 1, "into_inner leaves it unfinished");
    /// # let _ = item;
    /// q.task_done();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    #[track_caller]
    pub fn task_done(&self) {
        let taken_out = self
            .shared
            .loose
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        if taken_out.is_err() {
            panic!(
                "Queue::task_done called with no item taken out by QueueItem::into_inner \
                 left to mark (a QueueItem marks its item done when it drops)"
            );
        }
        self.shared.task_done_one();
    }

    /// Items put and not yet marked done: in the queue, held in a
    /// [`QueueItem`], or taken out with [`QueueItem::into_inner`] and not
    /// yet marked with [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.tasks.load(Acquire) / ONE_TASK
    }

    /// Waits until every item put has been marked done (each
    /// [`QueueItem`] dropped, each item taken out with
    /// [`into_inner`](QueueItem::into_inner) marked with
    /// [`task_done`](Self::task_done)); returns at once if none is
    /// unfinished. The non-blocking form is
    /// [`unfinished_tasks`](Self::unfinished_tasks)` == 0`.
    ///
    /// Whatever a worker did before its item was marked done happens
    /// before `join` returns.
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
    ///         let job = q.get().await.unwrap();
    ///         assert_eq!(*job, "job");
    ///         // `job` drops here: the item is done.
    ///     };
    ///     futures::join!(q.join(), worker);
    /// });
    /// ```
    pub fn join(&self) -> Join<'_, S> {
        Join::from_op(JoinOp {
            list: &self.shared.list,
            tasks: &self.shared.tasks,
        })
    }

    /// A [`Stream`] of the items: each `next()` is a [`get`](Self::get),
    /// and the stream ends when the queue is closed and empty. It yields
    /// [`OwnedQueueItem`]s, which mark their item done when they drop.
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
    /// let items: Vec<_> = futures::executor::block_on(q.stream().map(|i| *i).collect());
    /// assert_eq!(items, [0, 1, 2]);
    /// ```
    pub fn stream(&self) -> QueueStream<T, S> {
        QueueStream {
            get: Box::pin(Waiting::new(GetOwnedOp {
                shared: self.shared.clone(),
            })),
            done: false,
            consumer: None,
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

/// An item taken from a queue by [`get`](GenericQueue::get),
/// [`try_get`](GenericQueue::try_get) or a [`stream`](GenericQueue::stream):
/// it dereferences to the item, and marks it done (asyncio's `task_done`)
/// when it drops.
///
/// So [`join`](GenericQueue::join) cannot hang because a worker forgot
/// `task_done`: an early `return`, a `?` or a panic between the get and the
/// end of the work drops the guard, and the item counts as done. The item
/// itself drops first, then it is marked done, so whatever its drop does
/// happens before `join` returns.
///
/// Queues that nobody joins pay one compare-and-swap per item for this,
/// no lock.
///
/// * [`into_inner`](Self::into_inner) returns the bare item and leaves it
///   unfinished: mark it with [`GenericQueue::task_done`] yourself, when
///   its work is over (asyncio's way), or never, if nobody joins.
/// * [`OwnedQueueItem`] (from a [`stream`](GenericQueue::stream)) is the
///   same guard holding a handle to the queue instead of a borrow.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// #[derive(Debug)]
/// struct Bad;
/// fn process(job: &u32) -> Result<(), Bad> {
///     if *job == 2 { Err(Bad) } else { Ok(()) }
/// }
///
/// async fn worker(q: &Queue<u32>) -> Result<(), Bad> {
///     while let Ok(job) = q.get().await {
///         process(&job)?; // an early return still marks `job` done
///     }
///     Ok(())
/// }
///
/// let q = Queue::unbounded();
/// for job in 1..=3 {
///     q.try_put(job).unwrap();
/// }
/// futures::executor::block_on(async {
///     assert!(worker(&q).await.is_err());
///     assert_eq!(q.unfinished_tasks(), 1); // job 3, still queued
///     let job = q.get().await.unwrap();
///     assert_eq!(*job, 3);
///     drop(job);
///     q.join().await; // returns: every item was marked done
/// });
/// ```
pub struct QueueItem<'a, T, S> {
    // Declared first, so dropped before `done` marks it done.
    item: T,
    done: TaskDone<&'a Shared<T, S>>,
}

/// A [`QueueItem`] that holds a handle to its queue instead of borrowing
/// it: what a [`QueueStream`] yields (a stream cannot lend). The same
/// guard otherwise: it marks its item done when it drops.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use magpie_sync::{Fifo, OwnedQueueItem, Queue};
///
/// let q = Queue::unbounded();
/// q.try_put(1).unwrap();
/// let mut items = q.stream();
/// futures::executor::block_on(async {
///     let item: OwnedQueueItem<i32, Fifo<i32>> = items.next().await.unwrap();
///     assert_eq!(*item, 1);
///     assert_eq!(q.unfinished_tasks(), 1);
///     drop(item);
///     assert_eq!(q.unfinished_tasks(), 0);
/// });
/// ```
pub struct OwnedQueueItem<T, S> {
    // Declared first, so dropped before `done` marks it done.
    item: T,
    done: TaskDone<Arc<Shared<T, S>>>,
}

/// What a [`TaskDone`] marks: a borrowed or owned queue.
trait DoneMark {
    fn task_done(&self);
    fn taken_out(&self);
}

impl<T, S> DoneMark for &Shared<T, S> {
    fn task_done(&self) {
        self.task_done_one();
    }
    fn taken_out(&self) {
        self.loose.fetch_add(1, Relaxed);
    }
}

impl<T, S> DoneMark for Arc<Shared<T, S>> {
    fn task_done(&self) {
        self.task_done_one();
    }
    fn taken_out(&self) {
        self.loose.fetch_add(1, Relaxed);
    }
}

/// A guard's mark: marks the item done when it drops, unless disarmed by
/// `into_inner` (which takes `queue`).
struct TaskDone<Q: DoneMark> {
    queue: Option<Q>,
}

impl<Q: DoneMark> Drop for TaskDone<Q> {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.task_done();
        }
    }
}

/// The methods and traits shared by [`QueueItem`] and [`OwnedQueueItem`].
macro_rules! item_guard {
    ($name:ident [$($gen:tt)*] [$($arg:tt)*], $queue:ty, $doc_get:literal) => {
        impl<$($gen)*> $name<$($arg)*> {
            fn new(item: T, queue: $queue) -> Self {
                $name {
                    item,
                    done: TaskDone { queue: Some(queue) },
                }
            }

            /// The bare item, *not* marked done: the queue still counts it
            /// in [`unfinished_tasks`](GenericQueue::unfinished_tasks), and
            /// [`join`](GenericQueue::join) waits for it until you call
            /// [`task_done`](GenericQueue::task_done) once for it
            /// (asyncio's protocol). If nobody joins the queue, there is
            /// nothing to do.
            ///
            /// # Examples
            ///
            /// ```
            /// # use futures::StreamExt;
            /// let q = magpie_sync::Queue::unbounded();
            /// q.try_put(String::from("job")).unwrap();
            #[doc = $doc_get]
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// drop(job); // the work
            /// q.task_done();
            /// assert_eq!(q.unfinished_tasks(), 0);
            /// ```
            pub fn into_inner(self) -> T {
                let $name { item, mut done } = self;
                if let Some(queue) = done.queue.take() {
                    queue.taken_out();
                }
                item
            }
        }

        impl<$($gen)*> Deref for $name<$($arg)*> {
            type Target = T;

            fn deref(&self) -> &T {
                &self.item
            }
        }

        impl<$($gen)*> DerefMut for $name<$($arg)*> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.item
            }
        }

        impl<$($gen)*> fmt::Debug for $name<$($arg)*>
        where
            T: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.item).finish()
            }
        }
    };
}

item_guard!(
    QueueItem['a, T, S]['a, T, S],
    &'a Shared<T, S>,
    " let job: String = q.try_get().unwrap().into_inner();"
);
item_guard!(
    OwnedQueueItem[T, S][T, S],
    Arc<Shared<T, S>>,
    " let job: String = futures::executor::block_on(q.stream().next()).unwrap().into_inner();"
);

/// Pushes `item` into a free place (the caller checked, or a place was
/// reserved for it), counts it as unfinished, and hands unclaimed items to
/// waiting getters.
fn push<T, S: Storage<T>>(tasks: &AtomicUsize, locked: &mut Locked<'_, State<S>>, item: T) {
    locked.data().storage.push(item);
    // Under the lock, so a count of 0 seen under the lock stays 0 there.
    let before = tasks.fetch_add(ONE_TASK, Relaxed);
    invariant!(
        before <= usize::MAX - ONE_TASK,
        "unfinished item count overflow"
    );
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

impl<T, S> Shared<T, S> {
    /// Marks one unfinished item done, waking the joiners if it was the
    /// last one.
    ///
    /// The count lives outside the lock so that dropping a [`QueueItem`]
    /// is one compare-and-swap, not a second lock/unlock per item. The
    /// count only goes up under the lock ([`push`]), and reaches 0 under
    /// the lock whenever [`JOINERS`] is set; a joiner sets that bit under
    /// the lock before it waits, and waits only if the count it saw when
    /// setting it was not 0. So a joiner either sees 0 or is linked before
    /// the last item's done takes the lock to wake it: no lost wake-up.
    /// Each decrement is a release and every write to `tasks` is a
    /// read-modify-write, so a joiner that reads 0 (acquire) sees what
    /// every worker did before marking its item done.
    fn task_done_one(&self) {
        let mut word = self.tasks.load(Relaxed);
        loop {
            invariant!(word >= ONE_TASK, "an item was marked done twice");
            if word == ONE_TASK | JOINERS {
                return self.last_task_done();
            }
            match self
                .tasks
                .compare_exchange_weak(word, word - ONE_TASK, Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// [`task_done_one`](Self::task_done_one) when it may be the last item
    /// while joiners wait: decrement under the lock, and wake them at 0.
    #[cold]
    fn last_task_done(&self) {
        let locked = self.list.lock();
        // A put may have raced in before the lock: count again.
        let before = self.tasks.fetch_sub(ONE_TASK, AcqRel);
        invariant!(before >= ONE_TASK, "an item was marked done twice");
        if before / ONE_TASK == 1 {
            self.tasks.fetch_and(!JOINERS, Relaxed);
            locked.notify_all_in(joiners, Outcome::Granted);
        }
    }
}

impl<T, S: Storage<T>> Shared<T, S> {
    /// [`GenericQueue::close`].
    fn close(&self) {
        let mut locked = self.list.lock();
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

    /// Drops every item left in the queue (but those claimed for granted
    /// getters), each marked done: the last consumer is gone.
    fn discard(&self) {
        let mut items = Vec::new();
        {
            let mut locked = self.list.lock();
            while locked.data().unclaimed() > 0 {
                items.push(QueueItem::new(pop(&mut locked), self));
            }
        }
        // Outside the lock: the items' destructors may do anything.
        drop(items);
    }

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

impl<'a, T, S: Storage<T>> WaitOp for GetOp<'a, T, S> {
    type Output = Result<QueueItem<'a, T, S>, GetError>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self.shared;
        self.shared
            .poll_get(me, cx)
            .map_ok(|item| QueueItem::new(item, shared))
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.cancel_get(me);
    }
}

struct GetOwnedOp<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S: Storage<T>> WaitOp for GetOwnedOp<T, S> {
    type Output = Result<OwnedQueueItem<T, S>, GetError>;

    #[inline]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let item = ready!(self.shared.poll_get(me, cx))?;
        Poll::Ready(Ok(OwnedQueueItem::new(item, self.shared.clone())))
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.shared.cancel_get(me);
    }
}

struct JoinOp<'a, S> {
    list: &'a WaitList<State<S>>,
    tasks: &'a AtomicUsize,
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
                    // Announce a joiner, under the lock (see
                    // `Shared::task_done_one`), unless nothing is unfinished.
                    let mut word = self.tasks.load(Acquire);
                    if word >= ONE_TASK && word & JOINERS == 0 {
                        word = self.tasks.fetch_or(JOINERS, Acquire);
                        if word < ONE_TASK {
                            // Done before the bit was set: take it back (no
                            // joiner waits while the count is 0).
                            self.tasks.fetch_and(!JOINERS, Relaxed);
                        }
                    }
                    if word < ONE_TASK {
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

/// The sending half of a queue made by [`GenericQueue::split`] (or
/// [`GenericQueue::producer`]): [`put`](Self::put) and
/// [`try_put`](Self::try_put), and the whole queue through
/// [`queue`](Self::queue). Clones are producers of the same queue.
///
/// **When the last producer drops, the queue is closed** (tokio's
/// behaviour): consumers drain what is left, then their gets fail and
/// their streams end. A queue used only through plain [`GenericQueue`]
/// handles never closes by itself (asyncio's behaviour).
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let (tx, rx) = Queue::bounded(4).unwrap().split();
/// futures::executor::block_on(async {
///     let producer = async move {
///         for i in 0..10 {
///             tx.put(i).await.unwrap();
///         }
///         // `tx` drops here: the queue closes.
///     };
///     let consumer = async {
///         let mut sum = 0;
///         while let Ok(i) = rx.get().await {
///             sum += *i;
///         }
///         sum
///     };
///     let ((), sum) = futures::join!(producer, consumer);
///     assert_eq!(sum, 45);
/// });
/// ```
pub struct Producer<T, S: Storage<T>> {
    queue: GenericQueue<T, S>,
}

/// The receiving half of a queue made by [`GenericQueue::split`] (or
/// [`GenericQueue::consumer`]): [`get`](Self::get),
/// [`try_get`](Self::try_get), [`stream`](Self::stream), and the whole
/// queue through [`queue`](Self::queue). Clones are consumers of the same
/// queue.
///
/// Once every [`Producer`] has dropped, gets drain the queue and then
/// fail with [`GetError`]; a stream ends.
///
/// **When the last consumer (or stream made from one) drops, the queue is
/// closed and emptied**: nobody is left to take the items, so puts fail
/// and give their item back (tokio's behaviour), and the items left in the
/// queue are dropped and marked done (asyncio's `shutdown(immediate=True)`),
/// so a [`join`](GenericQueue::join) does not wait for items nobody will
/// process.
///
/// # Examples
///
/// ```
/// use magpie_sync::{PutError, Queue};
///
/// let (tx, rx) = Queue::unbounded().split();
/// tx.try_put(1).unwrap();
/// drop(rx); // the last consumer
/// assert!(tx.is_closed());
/// assert_eq!(tx.queue().unfinished_tasks(), 0); // item 1 was dropped
/// assert_eq!(futures::executor::block_on(tx.put(2)), Err(PutError(2)));
/// ```
pub struct Consumer<T, S: Storage<T>> {
    queue: GenericQueue<T, S>,
}

impl<T, S: Storage<T>> GenericQueue<T, S> {
    /// Splits the queue into a [`Producer`] and a [`Consumer`], tokio's
    /// channel halves: the queue closes when the last producer drops, and
    /// closes and empties itself when the last consumer drops. Other
    /// handles to the queue still work, but do not count as either.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::Queue;
    ///
    /// let (tx, rx) = Queue::unbounded().split();
    /// let tx2 = tx.clone();
    /// tx.try_put(1).unwrap();
    /// tx2.try_put(2).unwrap();
    /// drop((tx, tx2));
    /// futures::executor::block_on(async {
    ///     assert_eq!(*rx.get().await.unwrap(), 1);
    ///     assert_eq!(*rx.get().await.unwrap(), 2);
    ///     assert!(rx.get().await.is_err(), "every producer is gone");
    /// });
    /// ```
    pub fn split(self) -> (Producer<T, S>, Consumer<T, S>) {
        (self.producer(), self.consumer())
    }

    /// A new [`Producer`] of this queue, for mixing the two forms: the
    /// queue closes when the last producer drops, whichever way producers
    /// were made. Made after that, a producer's puts fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::unbounded();
    /// let tx = q.producer();
    /// tx.try_put(1).unwrap();
    /// drop(tx);
    /// assert!(q.is_closed());
    /// assert_eq!(*q.try_get().unwrap(), 1);
    /// ```
    pub fn producer(&self) -> Producer<T, S> {
        self.shared.producers.fetch_add(1, Relaxed);
        Producer {
            queue: self.clone(),
        }
    }

    /// A new [`Consumer`] of this queue: the queue closes and empties
    /// itself when the last consumer drops, whichever way consumers were
    /// made.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = magpie_sync::Queue::unbounded();
    /// let rx = q.consumer();
    /// q.try_put(1).unwrap();
    /// assert_eq!(*rx.try_get().unwrap(), 1);
    /// drop(rx);
    /// assert!(q.is_closed());
    /// ```
    pub fn consumer(&self) -> Consumer<T, S> {
        self.shared.consumers.fetch_add(1, Relaxed);
        Consumer {
            queue: self.clone(),
        }
    }
}

impl<T, S: Storage<T>> Producer<T, S> {
    /// [`GenericQueue::put`].
    ///
    /// # Errors
    ///
    /// [`PutError`], with the item, if the queue is or gets closed (every
    /// consumer dropped, or someone called `close`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::bounded(1).unwrap().split();
    /// futures::executor::block_on(tx.put(1)).unwrap();
    /// assert_eq!(*rx.try_get().unwrap(), 1);
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        self.queue.put(item)
    }

    /// [`GenericQueue::try_put`].
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] or [`TryPutError::Closed`], with the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Queue, TryPutError};
    /// let (tx, _rx) = Queue::bounded(1).unwrap().split();
    /// assert_eq!(tx.try_put(1), Ok(()));
    /// assert_eq!(tx.try_put(2), Err(TryPutError::Full(2)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.queue.try_put(item)
    }

    /// Whether the queue is closed: puts fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::<u8>::unbounded().split();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// The queue itself: `join`, `len`, `close`, and the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::unbounded().split();
    /// tx.try_put(1).unwrap();
    /// drop(rx.try_get().unwrap()); // done
    /// futures::executor::block_on(tx.queue().join());
    /// ```
    pub fn queue(&self) -> &GenericQueue<T, S> {
        &self.queue
    }
}

impl<T, S: Storage<T>> Consumer<T, S> {
    /// [`GenericQueue::get`].
    ///
    /// # Errors
    ///
    /// [`GetError`] once the queue is closed (every producer dropped, or
    /// someone called `close`) and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::unbounded().split();
    /// tx.try_put(1).unwrap();
    /// drop(tx);
    /// futures::executor::block_on(async {
    ///     assert_eq!(*rx.get().await.unwrap(), 1);
    ///     assert!(rx.get().await.is_err());
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, T, S> {
        self.queue.get()
    }

    /// [`GenericQueue::try_get`].
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`], or [`TryGetError::Closed`] once the queue is
    /// closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Queue, TryGetError};
    /// let (tx, rx) = Queue::<u8>::unbounded().split();
    /// assert_eq!(rx.try_get().unwrap_err(), TryGetError::Empty);
    /// drop(tx);
    /// assert_eq!(rx.try_get().unwrap_err(), TryGetError::Closed);
    /// ```
    pub fn try_get(&self) -> Result<QueueItem<'_, T, S>, TryGetError> {
        self.queue.try_get()
    }

    /// [`GenericQueue::stream`]; the stream counts as a consumer while it
    /// lives, and ends once every producer has dropped and the queue is
    /// empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let (tx, rx) = magpie_sync::Queue::unbounded().split();
    /// let items = rx.stream();
    /// drop(rx); // the stream is still a consumer
    /// futures::executor::block_on(async move {
    ///     for i in 0..3 {
    ///         tx.put(i).await.unwrap();
    ///     }
    ///     drop(tx);
    ///     let items: Vec<i32> = items.map(|item| item.into_inner()).collect().await;
    ///     assert_eq!(items, [0, 1, 2]);
    /// });
    /// ```
    pub fn stream(&self) -> QueueStream<T, S> {
        let mut stream = self.queue.stream();
        stream.consumer = Some(self.clone());
        stream
    }

    /// Whether the queue is closed: once it is also empty, gets fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::<u8>::unbounded().split();
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// The queue itself: `len`, `task_done`, and the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::Queue::unbounded().split();
    /// tx.try_put(1).unwrap();
    /// assert_eq!(rx.queue().len(), 1);
    /// ```
    pub fn queue(&self) -> &GenericQueue<T, S> {
        &self.queue
    }
}

impl<T, S: Storage<T>> Clone for Producer<T, S> {
    fn clone(&self) -> Self {
        self.queue.shared.producers.fetch_add(1, Relaxed);
        Producer {
            queue: self.queue.clone(),
        }
    }
}

impl<T, S: Storage<T>> Clone for Consumer<T, S> {
    fn clone(&self) -> Self {
        self.queue.shared.consumers.fetch_add(1, Relaxed);
        Consumer {
            queue: self.queue.clone(),
        }
    }
}

impl<T, S: Storage<T>> Drop for Producer<T, S> {
    fn drop(&mut self) {
        // AcqRel: the last producer's close follows every other producer's
        // puts (they are ordered by the lock anyway; this keeps the count
        // itself exact).
        if self.queue.shared.producers.fetch_sub(1, AcqRel) == 1 {
            self.queue.shared.close();
        }
    }
}

impl<T, S: Storage<T>> Drop for Consumer<T, S> {
    fn drop(&mut self) {
        if self.queue.shared.consumers.fetch_sub(1, AcqRel) == 1 {
            self.queue.shared.close();
            self.queue.shared.discard();
        }
    }
}

impl<T, S: Storage<T>> fmt::Debug for Producer<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Producer").field(&self.queue).finish()
    }
}

impl<T, S: Storage<T>> fmt::Debug for Consumer<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Consumer").field(&self.queue).finish()
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
    /// assert_eq!(*futures::executor::block_on(fut).unwrap(), 7);
    /// ```
    pub struct Get['a, T, S: Storage<T>]['a, T, S](GetOp<'a, T, S>) -> Result<QueueItem<'a, T, S>, GetError>;
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
/// let item = futures::executor::block_on(items.next()).unwrap();
/// assert_eq!(*item, 1);
/// ```
pub struct QueueStream<T, S: Storage<T>> {
    get: Pin<Box<Waiting<GetOwnedOp<T, S>>>>,
    done: bool,
    /// The consumer a stream made by [`Consumer::stream`] counts as.
    consumer: Option<Consumer<T, S>>,
}

impl<T, S: Storage<T>> Stream for QueueStream<T, S> {
    type Item = OwnedQueueItem<T, S>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
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
