//! The guards an item is taken in: [`QueueItem`] (borrowing the queue)
//! and [`OwnedQueueItem`] (holding a handle to it). Each marks its item
//! done when it drops, after the item itself has dropped; `into_inner`
//! disarms it and moves the duty to `GenericQueue::task_done`, counted in
//! `loose` so that a `task_done` for an item still in a guard panics.

use core::fmt;
use core::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::loom::sync::atomic::Ordering::Relaxed;

use super::shared::Shared;

#[cfg(doc)]
use super::{GenericQueue, QueueStream};

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

/// A handle to a queue that an item guard holds: a borrow (in a
/// [`QueueItem`]) or a counted handle (in an [`OwnedQueueItem`]). A get
/// is written once, for both (`ops.rs`'s `GetOp`).
pub(super) trait QueueRef<T, S>: Deref<Target = Shared<T, S>> {
    /// The guard that holds an item with this handle.
    type Item;
    /// `item`, in a guard holding a copy of this handle.
    fn guard(&self, item: T) -> Self::Item;
}

impl<'a, T, S> QueueRef<T, S> for &'a Shared<T, S> {
    type Item = QueueItem<'a, T, S>;

    #[inline]
    fn guard(&self, item: T) -> QueueItem<'a, T, S> {
        QueueItem::new(item, *self)
    }
}

impl<T, S> QueueRef<T, S> for Arc<Shared<T, S>> {
    type Item = OwnedQueueItem<T, S>;

    #[inline]
    fn guard(&self, item: T) -> OwnedQueueItem<T, S> {
        OwnedQueueItem::new(item, self.clone())
    }
}

/// What a [`TaskDone`] marks: the queue behind a borrow or a handle.
trait DoneMark {
    fn task_done(&self);
    fn taken_out(&self);
}

impl<T, S, Q: Deref<Target = Shared<T, S>>> DoneMark for Q {
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
            pub(super) fn new(item: T, queue: $queue) -> Self {
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
