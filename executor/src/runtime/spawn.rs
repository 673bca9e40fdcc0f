//! The spawn functions: putting a future on the runtime entered on this
//! thread (`magpie::spawn`, `magpie::task::spawn_blocking`, ...). They live
//! with the runtime, not in the task core: the core allocates a task for
//! any `Schedule`, the runtime decides where it runs.

use super::{Handle, SpawnError, context};
use crate::task_core::{JoinHandle, TaskMeta};
use std::future::Future;
use std::panic::Location;

/// Spawns a task onto the current runtime: asyncio's `create_task`.
///
/// The task starts running on a worker thread right away, concurrently with
/// the caller; await the returned [`JoinHandle`] for its output, or drop it
/// to let the task run detached.
///
/// The future must be `Send`: any worker may poll it. For one that is not
/// (it holds an `Rc`, or a `RefCell` borrow across an `.await`), use a
/// [`LocalSet`](crate::task::LocalSet) and [`spawn_local`](crate::task::spawn_local): its tasks run on the thread that
/// drives the set.
///
/// # Panics
///
/// Outside a runtime (not inside a task, nor inside `Runtime::block_on` /
/// `magpie::run`); use [`try_spawn`] or [`Handle::spawn`] there. If the
/// runtime is shutting down, the task is cancelled at once rather than
/// panicking: its handle resolves to a cancelled [`JoinError`](crate::task::JoinError).
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
    spawn_current(future, TaskMeta::new(None, location))?.map_err(|_cancelled| SpawnError::Shutdown)
}

/// Spawns on the current runtime; a refused spawn (shutdown) gives the
/// cancelled handle.
fn spawn_meta<F>(future: F, meta: TaskMeta) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(spawn_current(future, meta)?.unwrap_or_else(|h| h))
}

/// A spawn's handle: `Err` holds the handle of a task refused at shutdown
/// (already cancelled).
pub(crate) type Spawned<T> = Result<JoinHandle<T>, JoinHandle<T>>;

/// Spawns on the simulation running on this thread (`runtime::sim`), else
/// on the runtime entered on it. The inner `Err` is the handle of a task
/// refused at shutdown (already cancelled).
pub(crate) fn spawn_current<F>(future: F, meta: TaskMeta) -> Result<Spawned<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(not(loom))]
    if let Some(sim) = super::sim::current() {
        return Ok(sim.spawn(future, meta));
    }
    context::with_handle(|handle| match handle {
        Some(handle) => Ok(handle.spawn_with(future, meta)),
        None => Err(SpawnError::NoRuntime),
    })
}

/// [`spawn_current`] for a blocking closure: the runtime's blocking pool,
/// or inside a simulation a simulated task that calls it in one poll.
pub(crate) fn spawn_blocking_current<F, R>(f: F, meta: TaskMeta) -> Result<Spawned<R>, SpawnError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[cfg(not(loom))]
    if let Some(sim) = super::sim::current() {
        return Ok(sim.spawn_blocking(f, meta));
    }
    context::with_handle(|handle| match handle {
        Some(handle) => Ok(handle.spawn_blocking_with(f, meta)),
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
/// [`JoinError`](crate::task::JoinError) if it panicked. [`JoinHandle::cancel`] only prevents a
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
    match spawn_blocking_current(f, TaskMeta::new(None, location)) {
        Ok(spawned) => spawned.unwrap_or_else(|h| h),
        Err(err) => panic!("magpie::task::spawn_blocking: {err}"),
    }
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
