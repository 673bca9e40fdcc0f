//! `as_completed`: asyncio's `for aw in as_completed(tasks)`.

use super::completions::Completions;
use crate::task_core::{JoinError, JoinHandle};
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The tasks' outcomes in the order they finish: asyncio's `as_completed`.
///
/// `AsCompleted` is a [`Stream`]; [`AsCompleted::next`] also awaits the
/// next outcome without any extension trait. Dropping it leaves the tasks
/// that have not finished running (detached), as asyncio does.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let tasks: Vec<_> = [30u64, 10, 20]
///         .into_iter()
///         .map(|ms| magpie::spawn(async move {
///             magpie::time::sleep(Duration::from_millis(ms)).await;
///             ms
///         }))
///         .collect();
///     let mut in_order = Vec::new();
///     let mut completed = magpie::as_completed(tasks);
///     while let Some(outcome) = completed.next().await {
///         in_order.push(outcome.unwrap());
///     }
///     assert_eq!(in_order, [10, 20, 30]);
/// });
/// ```
pub fn as_completed<T, I>(handles: I) -> AsCompleted<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    AsCompleted {
        set: Completions::new(handles),
    }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<T> {
    set: Completions<T>,
}

impl<T> AsCompleted<T> {
    /// The next outcome to finish, or `None` when every task's was given.
    ///
    /// ```
    /// magpie::run(async {
    ///     let mut c = magpie::as_completed([magpie::spawn(async { 1 })]);
    ///     assert_eq!(c.next().await.unwrap().unwrap(), 1);
    ///     assert!(c.next().await.is_none());
    /// });
    /// ```
    pub async fn next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Tasks whose outcome has not been given yet.
    ///
    /// ```
    /// let c = magpie::as_completed(Vec::<magpie::JoinHandle<()>>::new());
    /// assert_eq!(c.remaining(), 0);
    /// ```
    pub fn remaining(&self) -> usize {
        self.set.pending()
    }
}

impl<T> Stream for AsCompleted<T> {
    type Item = Result<T, JoinError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // A finished task handed out at once spends a unit of the
        // cooperative budget, as awaiting its `JoinHandle` would.
        let proceed = std::task::ready!(magpie_sync::coop::poll_proceed(cx));
        let next = match self.set.poll_next(cx) {
            Poll::Ready(Some(index)) => {
                let mut handle = self.set.take(index).expect("reported once");
                Poll::Ready(Some(handle.take_finished()))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        };
        if next.is_ready() {
            proceed.made_progress();
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.set.pending();
        (n, Some(n))
    }
}

// Nothing in it is pinned: the outputs are plain values, the handles and
// the sleep are `Unpin`.
impl<T> Unpin for AsCompleted<T> {}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.set.pending())
            .finish()
    }
}
