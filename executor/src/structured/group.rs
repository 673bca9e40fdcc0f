//! `TaskGroup`: asyncio's `async with TaskGroup() as tg:`.

use super::completions::Completions;
use super::gather::TaskError;
use crate::loom::sync::Mutex;
use crate::runtime::spawn::spawn_current;
use crate::task_core::{CancelHandle, Id, JoinHandle, TaskMeta};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};

/// A set of child tasks that succeed or fail together: asyncio's
/// `TaskGroup`.
///
/// * [`spawn`](Self::spawn) starts a child on the current runtime and
///   returns a [`CancelHandle`] for it (asyncio's `tg.create_task` returns
///   the task): cancelling **one child** that way does not fail the group,
///   as in asyncio; [`join`](Self::join) leaves that child out.
/// * When a child **fails** (it panics, or, spawned with
///   [`spawn_fallible`](Self::spawn_fallible), returns `Err`), the group
///   cancels every other child at once; their destructors run on the
///   workers. Children spawned after that are cancelled straight away.
/// * [`join`](Self::join) waits for every child and returns their outputs
///   in spawn order (less the children cancelled from outside), or a
///   [`GroupError`] with every failure (asyncio's `ExceptionGroup`).
/// * **Dropping the group cancels the children still running**, so no
///   child outlives its group: if the task that owns the group is
///   cancelled, its future (and the group in it) is dropped, and the
///   children with it.
///
/// Unlike asyncio, a failing child does not cancel the task that owns the
/// group: that task learns of the failure from `join`.
///
/// ```
/// use std::time::Duration;
/// use magpie::TaskGroup;
///
/// async fn process_item(item: &'static str) -> String {
///     magpie::time::sleep(Duration::from_millis(5)).await;
///     format!("Processed {item}")
/// }
///
/// magpie::run(async {
///     let group = TaskGroup::new();
///     for item in ["A", "B", "C"] {
///         group.spawn(process_item(item));
///     }
///     let results = group.join().await.unwrap();
///     assert_eq!(results, ["Processed A", "Processed B", "Processed C"]);
/// });
/// ```
pub struct TaskGroup<T, E = Infallible> {
    inner: Arc<Inner<T, E>>,
}

struct Inner<T, E> {
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    /// The children's handles, in spawn order, until `join` takes them.
    handles: Vec<JoinHandle<Result<T, E>>>,
    /// A way to cancel every child, joined or not.
    cancels: Vec<CancelHandle>,
    /// A child failed (or `cancel` was called): the others were cancelled.
    failed: bool,
    /// Children that finished cancelled while the group had not failed:
    /// cancelled from outside (by their `CancelHandle`), so `join` leaves
    /// them out instead of counting them as failures.
    cancelled_from_outside: Vec<Id>,
}

impl<T: Send + 'static> TaskGroup<T, Infallible> {
    /// A group whose children fail only by panicking.
    ///
    /// ```
    /// let group = magpie::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_state()
    }
}

impl<T: Send + 'static> Default for TaskGroup<T, Infallible> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static, E: Send + 'static> TaskGroup<T, E> {
    /// A group whose children may also fail by returning `Err(E)`
    /// (spawn them with [`spawn_fallible`](Self::spawn_fallible)).
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::fallible();
    ///     group.spawn_fallible(async { Ok::<_, String>(1) });
    ///     group.spawn_fallible(async { Err("bad input".to_string()) });
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.errors()[0].error().unwrap(), "bad input");
    /// });
    /// ```
    pub fn fallible() -> Self {
        Self::with_state()
    }

    fn with_state() -> Self {
        TaskGroup {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    handles: Vec::new(),
                    cancels: Vec::new(),
                    failed: false,
                    cancelled_from_outside: Vec::new(),
                }),
            }),
        }
    }

    /// Spawns a child that fails only if it panics. Returns a
    /// [`CancelHandle`] that cancels just this child and tells its id.
    ///
    /// A child cancelled through that handle (before the group failed) is
    /// not a failure: it does not cancel its siblings, and
    /// [`join`](Self::join) leaves it out of both the outputs and the
    /// [`GroupError`], as asyncio's `TaskGroup` ignores a child cancelled
    /// from outside. (Runtime shutdown cancels children the same way; the
    /// task awaiting `join` normally goes with them.)
    ///
    /// # Panics
    ///
    /// Outside a runtime (like [`spawn`](crate::spawn)).
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::new();
    ///     group.spawn(async { 5 });
    ///     let stuck = group.spawn(std::future::pending());
    ///     assert_eq!(group.len(), 2);
    ///     stuck.cancel();
    ///     // Cancelled from outside: left out, not a failure.
    ///     assert_eq!(group.join().await.unwrap(), [5]);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> CancelHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.spawn_child(async move { Ok(future.await) }, Location::caller())
    }

    /// Spawns a child that fails if it panics or returns `Err`. Returns a
    /// [`CancelHandle`] for it, as [`spawn`](Self::spawn) does.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::fallible();
    ///     group.spawn_fallible(async {
    ///         magpie::time::sleep(Duration::from_secs(3600)).await;
    ///         Ok(())
    ///     });
    ///     group.spawn_fallible(async { Err("connection refused") });
    ///     // The failure cancels the sleeping sibling: join returns at once.
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.errors().len(), 1);
    ///     assert_eq!(err.cancelled(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_fallible<F>(&self, future: F) -> CancelHandle
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawn_child(future, Location::caller())
    }

    fn spawn_child<F>(&self, future: F, location: &'static Location<'static>) -> CancelHandle
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let handle = match spawn_current(future, TaskMeta::new(None, location)) {
            Ok(spawned) => spawned.unwrap_or_else(|h| h),
            Err(err) => panic!("TaskGroup::spawn: {err}"),
        };
        let id = handle.id();
        let group: Weak<Inner<T, E>> = Arc::downgrade(&self.inner);
        // Registered before the child is recorded: the callback may run at
        // once, on this thread, and takes the lock itself.
        handle.on_done(move |outcome| {
            let Some(group) = group.upgrade() else { return };
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => group.fail(),
                Err(join) if join.is_panic() => group.fail(),
                Err(_) => group.cancelled(id),
            }
        });
        let cancel = handle.cancel_handle();
        let mut state = self.inner.state.lock();
        if state.failed {
            cancel.cancel();
        }
        state.handles.push(handle);
        state.cancels.push(cancel.clone());
        cancel
    }

    /// Cancels every child (as a failure would). [`join`](Self::join) then
    /// reports the children that had finished with an error, and counts the
    /// cancelled ones (those cancelled earlier from outside stay left out).
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::<()>::new();
    ///     group.spawn(std::future::pending());
    ///     group.cancel();
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.cancelled(), 1);
    /// });
    /// ```
    pub fn cancel(&self) {
        self.inner.fail();
    }

    /// True once a child failed (or [`cancel`](Self::cancel) was called).
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::<()>::new();
    ///     assert!(!group.has_failed());
    ///     group.cancel();
    ///     assert!(group.has_failed());
    /// });
    /// ```
    pub fn has_failed(&self) -> bool {
        self.inner.state.lock().failed
    }

    /// The number of children spawned.
    ///
    /// ```
    /// let group = magpie::TaskGroup::<()>::new();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().cancels.len()
    }

    /// True if no child was spawned.
    ///
    /// ```
    /// assert!(magpie::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for every child. `Ok` with their outputs in spawn order if all
    /// succeeded; otherwise a [`GroupError`] listing every failure.
    ///
    /// A child cancelled from outside (by the [`CancelHandle`] that
    /// [`spawn`](Self::spawn) returned, before the group failed) has no
    /// output and is no failure: it is left out of the `Vec` (which then
    /// holds fewer outputs than children) and of the `GroupError`. When
    /// you cancel children yourself and need to match outputs to children,
    /// have each child return a key with its value.
    ///
    /// Dropping the returned future before it completes drops the group,
    /// which cancels the children still running.
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     group.spawn(async { 2 });
    ///     assert_eq!(group.join().await.unwrap(), [1, 2]);
    /// });
    /// ```
    pub fn join(self) -> GroupJoin<T, E> {
        let handles = std::mem::take(&mut self.inner.state.lock().handles);
        let set = Completions::new(handles);
        let values = (0..set.len()).map(|_| None).collect();
        GroupJoin {
            group: self,
            set,
            values,
            errors: Vec::new(),
            cancelled: 0,
        }
    }
}

impl<T, E> Inner<T, E> {
    /// A child finished cancelled: if the group had not failed, it was
    /// cancelled from outside, and `join` leaves it out.
    fn cancelled(&self, id: Id) {
        let mut state = self.state.lock();
        if !state.failed {
            state.cancelled_from_outside.push(id);
        }
    }

    /// A child failed: cancel every child, once.
    fn fail(&self) {
        let mut state = self.state.lock();
        if std::mem::replace(&mut state.failed, true) {
            return;
        }
        for cancel in &state.cancels {
            cancel.cancel();
        }
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        for cancel in &self.inner.state.lock().cancels {
            cancel.cancel();
        }
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("TaskGroup")
            .field("children", &state.cancels.len())
            .field("failed", &state.failed)
            .finish()
    }
}

/// The future returned by [`TaskGroup::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct GroupJoin<T, E> {
    group: TaskGroup<T, E>,
    set: Completions<Result<T, E>>,
    values: Vec<Option<T>>,
    /// Failures, with the index of the child (for spawn order).
    errors: Vec<(usize, TaskError<E>)>,
    cancelled: usize,
}

impl<T, E> Future for GroupJoin<T, E> {
    type Output = Result<Vec<T>, GroupError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let ControlFlow::<Infallible>::Continue(()) =
            ready!(this.set.poll_outcomes(cx, |index, handle, outcome| {
                match TaskError::from_outcome(handle, outcome) {
                    Ok(value) => this.values[index] = Some(value),
                    Err(err) if err.is_cancelled() => {
                        // The child's done callback ran before its
                        // output was handed off: its verdict is in.
                        let state = this.group.inner.state.lock();
                        if !state.cancelled_from_outside.contains(&err.id()) {
                            this.cancelled += 1;
                        }
                    }
                    Err(err) => this.errors.push((index, err)),
                }
                ControlFlow::Continue(())
            }));
        if this.errors.is_empty() && this.cancelled == 0 {
            let values = std::mem::take(&mut this.values);
            // `None`: a child cancelled from outside.
            return Poll::Ready(Ok(values.into_iter().flatten().collect()));
        }
        let mut errors = std::mem::take(&mut this.errors);
        errors.sort_by_key(|(index, _)| *index);
        Poll::Ready(Err(GroupError {
            errors: errors.into_iter().map(|(_, e)| e).collect(),
            cancelled: this.cancelled,
        }))
    }
}

// Nothing in it is pinned: the outputs are plain values, the handles and
// the sleep are `Unpin`.
impl<T, E> Unpin for GroupJoin<T, E> {}

impl<T, E> fmt::Debug for GroupJoin<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupJoin")
            .field("group", &self.group)
            .field("pending", &self.set.pending())
            .finish()
    }
}

/// Why a [`TaskGroup`] did not succeed: every child that failed (asyncio's
/// `ExceptionGroup`), in spawn order, and how many children were cancelled
/// (by the failure, or by [`TaskGroup::cancel`]; not those cancelled
/// earlier from outside by their [`CancelHandle`]).
///
/// ```
/// magpie::run(async {
///     let group = magpie::TaskGroup::fallible();
///     group.spawn_fallible(async { Err::<(), _>("first") });
///     group.spawn_fallible(async { Err::<(), _>("second") });
///     let err = group.join().await.unwrap_err();
///     // Both may fail before either is cancelled: at least one error.
///     assert!(!err.errors().is_empty());
///     println!("{err}");
/// });
/// ```
pub struct GroupError<E> {
    errors: Vec<TaskError<E>>,
    cancelled: usize,
}

impl<E> GroupError<E> {
    /// The failures, in spawn order.
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::<()>::new();
    ///     group.spawn(async { panic!("bug") });
    ///     let err = group.join().await.unwrap_err();
    ///     assert!(err.errors()[0].is_panic());
    /// });
    /// ```
    pub fn errors(&self) -> &[TaskError<E>] {
        &self.errors
    }

    /// The failures, by value.
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::fallible();
    ///     group.spawn_fallible(async { Err::<(), _>(7) });
    ///     let errors = group.join().await.unwrap_err().into_errors();
    ///     assert_eq!(errors.into_iter().next().unwrap().into_result().unwrap(), 7);
    /// });
    /// ```
    pub fn into_errors(self) -> Vec<TaskError<E>> {
        self.errors
    }

    /// How many children were cancelled.
    ///
    /// ```
    /// magpie::run(async {
    ///     let group = magpie::TaskGroup::<()>::new();
    ///     group.spawn(std::future::pending());
    ///     group.spawn(async { panic!("bug") });
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.cancelled(), 1);
    /// });
    /// ```
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task group failed: {} error(s), {} cancelled",
            self.errors.len(),
            self.cancelled
        )?;
        for err in &self.errors {
            write!(f, "\n  {err}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("errors", &self.errors)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}
