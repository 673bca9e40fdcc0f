//! Tasks: spawning them, awaiting them, cancelling them, naming them.
//!
//! | asyncio | magpie |
//! |---|---|
//! | `asyncio.create_task(coro)` | [`spawn`] |
//! | `asyncio.create_task(coro, name=..)` | [`Builder::name`] + [`Builder::spawn`] |
//! | `create_task` of a coroutine that must stay on one thread (`!Send`) | [`LocalSet`] + [`spawn_local`] |
//! | `Task` | [`JoinHandle`] |
//! | `CancelledError`, the task's exception | [`JoinError`] |
//! | `asyncio.current_task()` | [`current`] |
//! | `await asyncio.sleep(0)` | [`yield_now`] |
//! | `await asyncio.to_thread(f)` | [`spawn_blocking`] |
//! | `task.add_done_callback(cb)` | [`JoinHandle::on_done`] |
//! | `gather(*tasks, return_exceptions=True)` | [`gather`] |
//! | `gather(*tasks)` (fail fast) | [`gather_fail_fast`], [`try_gather`] for tasks returning `Result` |
//! | `wait(tasks, return_when=..)` | [`wait`] + [`WaitFor`] |
//! | `as_completed(tasks)` | [`as_completed`] |
//! | `TaskGroup` | [`TaskGroup`] |

mod builder;
mod local;
mod yield_now;

pub use self::builder::Builder;
pub use self::local::{LocalSet, RunUntil, spawn_local};
pub use self::yield_now::{YieldNow, yield_now};
pub use crate::structured::{
    AsCompleted, Gather, GatherFailFast, GroupError, GroupJoin, TaskError, TaskGroup, TryGather,
    Wait, WaitFor, as_completed, gather, gather_fail_fast, try_gather, wait,
};
pub use crate::task_core::{CancelHandle, Id, JoinError, JoinHandle};
/// The cooperative budget (the same module as [`magpie::sync::coop`](crate::sync::coop)):
/// each poll of a task may complete [`coop::DEFAULT_BUDGET`] operations
/// that do not wait before they are made to yield.
pub use magpie_sync::coop;

use crate::runtime::{Handle, SpawnError, context};
use crate::task_core::TaskMeta;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// Spawns a task onto the current runtime: asyncio's `create_task`.
///
/// The task starts running on a worker thread right away, concurrently with
/// the caller; await the returned [`JoinHandle`] for its output, or drop it
/// to let the task run detached.
///
/// The future must be `Send`: any worker may poll it. For one that is not
/// (it holds an `Rc`, or a `RefCell` borrow across an `.await`), use a
/// [`LocalSet`] and [`spawn_local`]: its tasks run on the thread that
/// drives the set.
///
/// # Panics
///
/// Outside a runtime (not inside a task, nor inside `Runtime::block_on` /
/// `magpie::run`); use [`try_spawn`] or [`Handle::spawn`] there. If the
/// runtime is shutting down, the task is cancelled at once rather than
/// panicking: its handle resolves to a cancelled [`JoinError`].
///
/// ```
/// magpie::run(async {
///     let task = magpie::spawn(async { "fetched" });
///     assert_eq!(task.await.unwrap(), "fetched");
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    match spawn_meta(future, TaskMeta::new(None, location)) {
        Ok(handle) => handle,
        Err(SpawnError::NoRuntime) => panic!("magpie::spawn: {}", SpawnError::NoRuntime),
        Err(err) => unreachable!("spawn_meta only fails for a missing runtime: {err}"),
    }
}

/// Like [`spawn`], but returns an error instead of panicking when there is
/// no runtime on this thread, or when the runtime is shutting down.
///
/// ```
/// let err = magpie::try_spawn(async {}).unwrap_err();
/// assert_eq!(err, magpie::SpawnError::NoRuntime);
///
/// magpie::run(async {
///     let task = magpie::try_spawn(async { 1 }).unwrap();
///     assert_eq!(task.await.unwrap(), 1);
/// });
/// ```
#[track_caller]
pub fn try_spawn<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    context::with_handle(|handle| match handle {
        Some(handle) => handle
            .spawn_with(future, TaskMeta::new(None, location))
            .map_err(|_cancelled| SpawnError::Shutdown),
        None => Err(SpawnError::NoRuntime),
    })
}

/// Spawns on the current runtime; a refused spawn (shutdown) gives the
/// cancelled handle.
fn spawn_meta<F>(future: F, meta: TaskMeta) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::with_handle(|handle| match handle {
        Some(handle) => Ok(handle.spawn_with(future, meta).unwrap_or_else(|h| h)),
        None => Err(SpawnError::NoRuntime),
    })
}

/// Runs a blocking closure on the runtime's blocking pool and returns a
/// handle to its result: asyncio's `await asyncio.to_thread(f)`.
///
/// Use it for work that would stall a worker: blocking I/O, a synchronous
/// library call, a long computation. The closure runs on a separate thread
/// (the pool grows up to `Builder::max_blocking_threads`, 512 by default,
/// and queues work beyond that); awaiting the handle gives its result, or a
/// [`JoinError`] if it panicked. [`JoinHandle::cancel`] only prevents a
/// closure that has not started yet: a running one cannot be interrupted.
///
/// Works from a task, from `Runtime::block_on`, and from a blocking closure.
///
/// # Panics
///
/// Outside a runtime; use [`Handle::spawn_blocking`] from other threads.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let report = magpie::task::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(10)); // a blocking call
///         "task completed"
///     });
///     // The workers keep running other tasks meanwhile.
///     assert_eq!(report.await.unwrap(), "task completed");
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    context::with_handle(|handle| match handle {
        Some(handle) => handle
            .spawn_blocking_with(f, TaskMeta::new(None, location))
            .unwrap_or_else(|h| h),
        None => panic!("magpie::task::spawn_blocking: {}", SpawnError::NoRuntime),
    })
}

/// Which task is running: the answer of [`current`].
#[derive(Clone)]
pub struct TaskInfo {
    id: Id,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
}

impl TaskInfo {
    /// The task's id.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async { magpie::task::current().id() });
    ///     let id = task.id();
    ///     assert_eq!(task.await.unwrap(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The task's name, if it has one.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::task::Builder::new()
    ///         .name("poller")
    ///         .spawn(async { magpie::task::current().name().map(String::from) });
    ///     assert_eq!(task.await.unwrap().as_deref(), Some("poller"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (file, line, column).
    ///
    /// ```
    /// magpie::run(async {
    ///     let where_ = magpie::spawn(async { magpie::task::current().location() }).await.unwrap();
    ///     assert!(where_.file().ends_with(".rs"));
    /// });
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("location", &format_args!("{}", self.location))
            .finish()
    }
}

/// The task running this code: asyncio's `current_task()`.
///
/// # Panics
///
/// Outside a task (for example directly in `Runtime::block_on`'s future,
/// which runs on the calling thread rather than as a task); see
/// [`try_current`].
///
/// ```
/// magpie::run(async {
///     let task = magpie::task::Builder::new().name("reporter").spawn(async {
///         let me = magpie::task::current();
///         format!("task {} ({:?})", me.id(), me.name())
///     });
///     println!("{}", task.await.unwrap());
/// });
/// ```
#[track_caller]
pub fn current() -> TaskInfo {
    try_current().expect("magpie::task::current called outside of a task")
}

/// The task running this code, or `None` outside a task.
///
/// ```
/// assert!(magpie::task::try_current().is_none());
/// magpie::run(async {
///     let inside = magpie::spawn(async { magpie::task::try_current().is_some() });
///     assert!(inside.await.unwrap());
/// });
/// ```
pub fn try_current() -> Option<TaskInfo> {
    context::with_current_task(|header| {
        header.map(|h| TaskInfo {
            id: h.id,
            name: h.meta.name.clone(),
            location: h.meta.location,
        })
    })
}

pub(crate) fn spawn_on_handle<F>(
    handle: &Handle,
    future: F,
    meta: TaskMeta,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn_with(future, meta).unwrap_or_else(|h| h)
}
