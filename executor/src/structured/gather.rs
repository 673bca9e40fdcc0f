//! `gather`, `gather_fail_fast` and `try_gather`: asyncio's
//! `gather(*aws, return_exceptions=..)`.

use super::completions::Completions;
use crate::task_core::{Id, JoinError, JoinHandle};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// Waits for every task and returns every outcome, in the order the handles
/// were given: asyncio's `await gather(*tasks, return_exceptions=True)`.
///
/// A task that panicked or was cancelled gives `Err(JoinError)` in its
/// place; nothing is cancelled because another task failed (see
/// [`try_gather`] for that). Dropping the `Gather` before it completes
/// cancels the tasks that have not finished, as cancelling asyncio's
/// `gather` cancels its children.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let fetch = magpie::spawn(async {
///         magpie::time::sleep(Duration::from_millis(2)).await;
///         "data fetched"
///     });
///     let process = magpie::spawn(async { "data processed" });
///     let results = magpie::gather([fetch, process]).await;
///     let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
///     assert_eq!(results, ["data fetched", "data processed"]);
/// });
/// ```
pub fn gather<T, I>(handles: I) -> Gather<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    let set = Completions::new(handles);
    let results = (0..set.len()).map(|_| None).collect();
    Gather { set, results }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<T> {
    set: Completions<T>,
    results: Vec<Option<Result<T, JoinError>>>,
}

impl<T> Future for Gather<T> {
    type Output = Vec<Result<T, JoinError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let ControlFlow::<Infallible>::Continue(()) =
            ready!(this.set.poll_outcomes(cx, |index, _, outcome| {
                this.results[index] = Some(outcome);
                ControlFlow::Continue(())
            }));
        let results = std::mem::take(&mut this.results);
        Poll::Ready(
            results
                .into_iter()
                .map(|r| r.expect("every task finished"))
                .collect(),
        )
    }
}

impl<T> Drop for Gather<T> {
    fn drop(&mut self) {
        for (_, handle) in self.set.handles() {
            handle.cancel();
        }
    }
}

// Nothing in it is pinned: the outputs are plain values, the handles and
// the sleep are `Unpin`.
impl<T> Unpin for Gather<T> {}

impl<T> fmt::Debug for Gather<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("tasks", &self.set.len())
            .field("pending", &self.set.pending())
            .finish()
    }
}

/// Waits for every task, failing fast: the first task that returns `Err`,
/// panics or is cancelled makes `try_gather` return that error at once and
/// cancel the others (their destructors run on the workers). asyncio's
/// `await gather(*tasks)`, with the cancellation a `TaskGroup` would add.
///
/// The tasks return `Result<T, E>`; on success the values come back in the
/// order the handles were given.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let ok = magpie::spawn(async {
///         magpie::time::sleep(Duration::from_secs(3600)).await;
///         Ok(1)
///     });
///     let failing = magpie::spawn(async { Err::<i32, _>("Task error") });
///     let err = magpie::try_gather([ok, failing]).await.unwrap_err();
///     assert_eq!(err.error(), Some(&"Task error"));
///     println!("Caught an exception: {err}");
/// });
/// ```
pub fn try_gather<T, E, I>(handles: I) -> TryGather<T, E>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    TryGather {
        inner: FailFast::new(handles),
    }
}

/// The future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<T, E> {
    inner: FailFast<Result<T, E>, T>,
}

impl<T, E> Future for TryGather<T, E> {
    type Output = Result<Vec<T>, TaskError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.poll(cx, TaskError::from_outcome)
    }
}

impl<T, E> fmt::Debug for TryGather<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("tasks", &self.inner.set.len())
            .field("pending", &self.inner.set.pending())
            .finish()
    }
}

/// Waits for every task, failing fast on the first panic or cancellation:
/// asyncio's default `await gather(*tasks)` for tasks that return plain
/// values (use [`try_gather`] for tasks returning `Result`).
///
/// On success the outputs come back in the order the handles were given.
/// The first task that panics or is cancelled makes it return that task's
/// [`JoinError`] at once, which names the task ([`JoinError::id`],
/// [`JoinError::name`]) and carries the panic payload
/// ([`JoinError::into_panic`]); the tasks still running are then cancelled
/// (their futures are dropped on the workers), where asyncio would leave
/// them running. Dropping the future before it completes cancels the
/// unfinished tasks too.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let slow = magpie::spawn(async {
///         magpie::time::sleep(Duration::from_secs(3600)).await;
///         1
///     });
///     let crashing = magpie::task::Builder::new()
///         .name("parser")
///         .spawn(async { if true { panic!("bad input") } 2 });
///     let err = magpie::gather_fail_fast([slow, crashing]).await.unwrap_err();
///     assert_eq!(err.name(), Some("parser"));
///     assert_eq!(err.panic_message(), Some("bad input"));
///
///     let ok = [magpie::spawn(async { 1 }), magpie::spawn(async { 2 })];
///     assert_eq!(magpie::gather_fail_fast(ok).await.unwrap(), [1, 2]);
/// });
/// ```
pub fn gather_fail_fast<T, I>(handles: I) -> GatherFailFast<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    GatherFailFast {
        inner: FailFast::new(handles),
    }
}

/// The future returned by [`gather_fail_fast`].
#[must_use = "futures do nothing unless awaited"]
pub struct GatherFailFast<T> {
    inner: FailFast<T, T>,
}

impl<T> Future for GatherFailFast<T> {
    type Output = Result<Vec<T>, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.poll(cx, |_, outcome| outcome)
    }
}

impl<T> fmt::Debug for GatherFailFast<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherFailFast")
            .field("tasks", &self.inner.set.len())
            .field("pending", &self.inner.set.pending())
            .finish()
    }
}

/// Why a task of a [`try_gather`] or a [`TaskGroup`](crate::TaskGroup)
/// failed: it returned `Err(E)`, or it panicked, or it was cancelled (by
/// something other than its siblings' failure, such as runtime shutdown).
///
/// ```
/// magpie::run(async {
///     let t = magpie::spawn(async { Err::<(), _>(std::io::Error::other("disk full")) });
///     let err = magpie::try_gather([t]).await.unwrap_err();
///     assert!(err.is_err());
///     assert_eq!(err.error().unwrap().to_string(), "disk full");
/// });
/// ```
pub struct TaskError<E> {
    id: Id,
    name: Option<Arc<str>>,
    kind: Kind<E>,
}

enum Kind<E> {
    Err(E),
    Join(JoinError),
}

impl<E> TaskError<E> {
    /// Sorts a finished task's outcome into a value or a `TaskError`.
    pub(crate) fn from_outcome<T, H>(
        handle: &JoinHandle<H>,
        outcome: Result<Result<T, E>, JoinError>,
    ) -> Result<T, TaskError<E>> {
        let (id, name) = (handle.id(), handle.name().map(Arc::from));
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(TaskError {
                id,
                name,
                kind: Kind::Err(error),
            }),
            Err(join) => Err(TaskError {
                id,
                name,
                kind: Kind::Join(join),
            }),
        }
    }

    /// The failed task's id.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { Err::<(), _>("no") });
    ///     let id = t.id();
    ///     assert_eq!(magpie::try_gather([t]).await.unwrap_err().id(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The failed task's name, if it has one.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::task::Builder::new().name("fetch").spawn(async { Err::<(), _>("no") });
    ///     assert_eq!(magpie::try_gather([t]).await.unwrap_err().name(), Some("fetch"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True if the task returned `Err`.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { Err::<(), _>("no") });
    ///     assert!(magpie::try_gather([t]).await.unwrap_err().is_err());
    /// });
    /// ```
    pub fn is_err(&self) -> bool {
        matches!(self.kind, Kind::Err(_))
    }

    /// True if the task panicked.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { if true { panic!("bug") } Ok::<(), ()>(()) });
    ///     assert!(magpie::try_gather([t]).await.unwrap_err().is_panic());
    /// });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(&self.kind, Kind::Join(j) if j.is_panic())
    }

    /// True if the task was cancelled.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(std::future::pending::<Result<(), ()>>());
    ///     t.cancel();
    ///     assert!(magpie::try_gather([t]).await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(&self.kind, Kind::Join(j) if j.is_cancelled())
    }

    /// The error the task returned, if it returned one.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { Err::<(), _>(404) });
    ///     assert_eq!(magpie::try_gather([t]).await.unwrap_err().error(), Some(&404));
    /// });
    /// ```
    pub fn error(&self) -> Option<&E> {
        match &self.kind {
            Kind::Err(e) => Some(e),
            Kind::Join(_) => None,
        }
    }

    /// The panic or cancellation, if that is how the task failed.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { if true { panic!("bug") } Ok::<(), ()>(()) });
    ///     let err = magpie::try_gather([t]).await.unwrap_err();
    ///     assert_eq!(err.join_error().unwrap().panic_message(), Some("bug"));
    /// });
    /// ```
    pub fn join_error(&self) -> Option<&JoinError> {
        match &self.kind {
            Kind::Join(j) => Some(j),
            Kind::Err(_) => None,
        }
    }

    /// The error the task returned, or the `JoinError` if it panicked or
    /// was cancelled.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::spawn(async { Err::<(), _>("no") });
    ///     let err = magpie::try_gather([t]).await.unwrap_err();
    ///     assert_eq!(err.into_result().unwrap(), "no");
    /// });
    /// ```
    pub fn into_result(self) -> Result<E, JoinError> {
        match self.kind {
            Kind::Err(e) => Ok(e),
            Kind::Join(j) => Err(j),
        }
    }
}

impl TaskError<std::convert::Infallible> {
    /// The panic or cancellation of a task that could fail no other way
    /// (a [`TaskGroup::new`](crate::TaskGroup::new) child).
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::<()>::new();
    ///     group.spawn(async { panic!("bug") });
    ///     let err = group.join().await.unwrap_err();
    ///     let join = err.into_errors().remove(0).into_join_error();
    ///     assert_eq!(join.panic_message(), Some("bug"));
    /// });
    /// ```
    pub fn into_join_error(self) -> JoinError {
        match self.kind {
            Kind::Join(j) => j,
            Kind::Err(never) => match never {},
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Join(join) => join.fmt(f),
            Kind::Err(error) => {
                write!(f, "task {}", self.id)?;
                if let Some(name) = &self.name {
                    write!(f, " ({name:?})")?;
                }
                write!(f, " failed: {error}")
            }
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TaskError");
        d.field("id", &self.id).field("name", &self.name);
        match &self.kind {
            Kind::Err(e) => d.field("error", e),
            Kind::Join(j) => d.field("join", j),
        };
        d.finish()
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Err(e) => Some(e),
            Kind::Join(j) => Some(j),
        }
    }
}

/// What [`GatherFailFast`] and [`TryGather`] share: the outputs in handle
/// order until the first failure, which cancels the tasks still running.
/// Dropping it before it completes cancels them too.
struct FailFast<O, T> {
    set: Completions<O>,
    results: Vec<Option<T>>,
}

impl<O, T> FailFast<O, T> {
    fn new(handles: impl IntoIterator<Item = JoinHandle<O>>) -> FailFast<O, T> {
        let set = Completions::new(handles);
        let results = (0..set.len()).map(|_| None).collect();
        FailFast { set, results }
    }

    /// `split` tells a task's value from its failure.
    #[inline]
    fn poll<Err>(
        &mut self,
        cx: &mut Context<'_>,
        split: impl Fn(&JoinHandle<O>, Result<O, JoinError>) -> Result<T, Err>,
    ) -> Poll<Result<Vec<T>, Err>> {
        let results = &mut self.results;
        let flow = ready!(self.set.poll_outcomes(cx, |index, handle, outcome| {
            match split(handle, outcome) {
                Ok(value) => {
                    results[index] = Some(value);
                    ControlFlow::Continue(())
                }
                Err(err) => ControlFlow::Break(err),
            }
        }));
        match flow {
            ControlFlow::Continue(()) => {
                let results = std::mem::take(&mut self.results);
                Poll::Ready(Ok(results
                    .into_iter()
                    .map(|r| r.expect("every task succeeded"))
                    .collect()))
            }
            ControlFlow::Break(err) => {
                self.cancel_rest();
                // Leave nothing to cancel again on drop.
                drop(self.set.take_all());
                Poll::Ready(Err(err))
            }
        }
    }

    fn cancel_rest(&self) {
        for (_, handle) in self.set.handles() {
            handle.cancel();
        }
    }
}

impl<O, T> Drop for FailFast<O, T> {
    fn drop(&mut self) {
        self.cancel_rest();
    }
}

// Nothing in it is pinned: the outputs are plain values, the handles are
// `Unpin`.
impl<O, T> Unpin for FailFast<O, T> {}
