//! The channel halves of a queue, [`Producer`] and [`Consumer`]: the same
//! queue, counted. The last producer to drop closes it; the last consumer
//! to drop closes it and discards what is left (marked done), since nobody
//! will take it.

use core::fmt;

use crate::error::{TryGetError, TryPutError};
use crate::loom::sync::atomic::Ordering::{AcqRel, Relaxed};

use super::{GenericQueue, Get, Put, QueueItem, QueueStream, Storage};

#[cfg(doc)]
use crate::error::{GetError, PutError};

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
        self.queue.producer()
    }
}

impl<T, S: Storage<T>> Clone for Consumer<T, S> {
    fn clone(&self) -> Self {
        self.queue.consumer()
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
