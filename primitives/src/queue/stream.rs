//! [`QueueStream`]: a [`Stream`] whose every `next` is one owned get, kept
//! pinned in one allocation so that the stream is `Unpin`. It ends, and
//! stays ended, at the first get that fails (the queue closed and empty).

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::wait_list::Waiting;

use super::Consumer;
use super::item::OwnedQueueItem;
use super::ops::GetOwnedOp;
use super::storage::Storage;

#[cfg(doc)]
use super::GenericQueue;

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
    pub(super) get: Pin<Box<Waiting<GetOwnedOp<T, S>>>>,
    pub(super) done: bool,
    /// The consumer a stream made by [`Consumer::stream`] counts as.
    pub(super) consumer: Option<Consumer<T, S>>,
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
