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
//!
//! # Files
//!
//! * `mod.rs`: [`GenericQueue`], its aliases and its public methods;
//! * `storage.rs`: the sealed [`Storage`] trait and the three orders;
//! * `shared.rs`: the state under the lock, the hand-off (`push`, `pop`,
//!   serving waiters), the unfinished count and its protocol with `join`,
//!   `close`;
//! * `ops.rs`: the waiting operations (put, get, join) and their futures;
//! * `item.rs`: the [`QueueItem`] / [`OwnedQueueItem`] guards;
//! * `handles.rs`: the channel halves, [`Producer`] and [`Consumer`];
//! * `stream.rs`: [`QueueStream`].

mod handles;
mod item;
mod ops;
mod shared;
mod storage;
mod stream;

use core::fmt;
use std::sync::Arc;

use crate::error::{CapacityError, TryGetError, TryPutError};
use crate::loom::sync::atomic::Ordering::{Acquire, Relaxed};
use crate::wait_list::Waiting;

pub use handles::{Consumer, Producer};
pub use item::{OwnedQueueItem, QueueItem};
pub use ops::{Get, Join, Put};
pub use storage::{Fifo, Lifo, Priority, Storage};
pub use stream::QueueStream;

use crate::flag::FlagWait;
use ops::{GetOp, PutOp, Unfinished};
use shared::{CLOSED, ONE_TASK, Shared, pop, push};

#[cfg(doc)]
use crate::error::{GetError, PutError};
#[cfg(doc)]
use futures_core::Stream;

/// The largest capacity of a bounded queue.
const MAX_CAPACITY: usize = usize::MAX >> 4;

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
        GenericQueue {
            shared: Arc::new(Shared::new(capacity)),
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
        Join::from_op(FlagWait::new(Unfinished {
            list: &self.shared.list,
            tasks: &self.shared.tasks,
        }))
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
            get: Box::pin(Waiting::new(GetOp {
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
