//! `Handle`: a cloneable, `Send` reference to a runtime, for spawning from
//! any thread.

use super::blocking::{BlockingSchedule, BlockingTask};
use super::context;
use super::shared::Shared;
use crate::loom::sync::Arc;
use crate::task_core::{Id, JoinHandle, RawTask, Schedule, TaskMeta};
use std::fmt;
use std::future::Future;
use std::panic::Location;

/// A handle to a runtime: cheap to clone, `Send + Sync`, usable from any
/// thread to spawn tasks onto that runtime.
///
/// ```
/// let rt = magpie::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 1 + 1 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(from_thread).unwrap(), 2);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// There is no runtime on this thread: `spawn` was called outside a
    /// task and outside `Runtime::block_on`.
    NoRuntime,
    /// The runtime is shutting down (or has shut down) and accepts no new
    /// tasks. The future was dropped.
    Shutdown,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::NoRuntime => {
                "there is no magpie runtime on this thread: call `spawn` from inside a task or \
                 `Runtime::block_on`/`magpie::run`, or use `Handle::spawn` from other threads"
            }
            SpawnError::Shutdown => "the magpie runtime is shutting down and accepts no new tasks",
        })
    }
}

impl std::error::Error for SpawnError {}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime this code runs on (inside a task, or inside
    /// `Runtime::block_on`).
    ///
    /// # Panics
    ///
    /// Outside a runtime; see [`try_current`](Self::try_current).
    ///
    /// ```
    /// magpie::run(async {
    ///     let handle = magpie::Handle::current();
    ///     handle.spawn(async {}).await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        Self::try_current().unwrap_or_else(|err| panic!("Handle::current: {err}"))
    }

    /// The handle of the runtime this code runs on, or
    /// [`SpawnError::NoRuntime`].
    ///
    /// ```
    /// assert!(magpie::Handle::try_current().is_err());
    /// magpie::run(async {
    ///     assert!(magpie::Handle::try_current().is_ok());
    /// });
    /// ```
    pub fn try_current() -> Result<Handle, SpawnError> {
        context::current_handle().ok_or(SpawnError::NoRuntime)
    }

    /// Spawns a task onto this runtime, from any thread.
    ///
    /// If the runtime is shutting down, the future is dropped and the
    /// returned handle resolves to a cancelled [`JoinError`]
    /// ([`try_spawn`](Self::try_spawn) reports it as an error instead).
    ///
    /// [`JoinError`]: crate::task::JoinError
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let task = rt.handle().spawn(async { "hello" });
    /// assert_eq!(rt.block_on(task).unwrap(), "hello");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, TaskMeta::new(None, Location::caller()))
            .unwrap_or_else(|handle| handle)
    }

    /// Spawns a task onto this runtime, or returns
    /// [`SpawnError::Shutdown`] (dropping the future) if it is shutting
    /// down.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let handle = rt.handle().clone();
    /// drop(rt);
    /// let err = handle.try_spawn(async {}).unwrap_err();
    /// assert_eq!(err, magpie::SpawnError::Shutdown);
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, TaskMeta::new(None, Location::caller()))
            .map_err(|_cancelled| SpawnError::Shutdown)
    }

    /// Creates the task, registers it and schedules it. On shutdown the task
    /// is cancelled at once and its (already finished) handle comes back as
    /// the error.
    pub(crate) fn spawn_with<F>(
        &self,
        future: F,
        meta: TaskMeta,
    ) -> Result<JoinHandle<F::Output>, JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.bind(future, self.shared.clone(), meta)
    }

    /// Like [`spawn_with`](Self::spawn_with), for a closure run on the
    /// blocking pool.
    pub(crate) fn spawn_blocking_with<F, R>(
        &self,
        f: F,
        mut meta: TaskMeta,
    ) -> Result<JoinHandle<R>, JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        meta.blocking = true;
        self.bind(
            BlockingTask::new(f),
            BlockingSchedule(self.shared.clone()),
            meta,
        )
    }

    /// Allocates a task run by `scheduler`, links it into the runtime's
    /// list of tasks and submits it.
    fn bind<F, S>(
        &self,
        future: F,
        scheduler: S,
        mut meta: TaskMeta,
    ) -> Result<JoinHandle<F::Output>, JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        if self.shared.diag.debug.is_some() {
            meta.spawned_at = Some(self.shared.clock_micros());
        }
        let raw = RawTask::new(future, scheduler, Id::next(), meta);
        let handle = JoinHandle::new(raw);
        // Refused from the lifecycle's close on; the owned list's close (at
        // the sweep) is what makes it exact: a spawn that passes this check
        // just before the close is linked before the sweep, which cancels
        // it, or refused by the closed list.
        let inserted = if self.shared.is_shutdown() {
            raw.cancel_unlisted();
            Err(crate::task_core::Closed)
        } else {
            raw.insert_or_cancel(&self.shared.owned)
        };
        match inserted {
            Ok(()) => {
                raw.schedule();
                Ok(handle)
            }
            // Cancelled: the handle resolves to a cancelled error.
            Err(_closed) => Err(handle),
        }
    }

    /// Runs a blocking closure on the runtime's blocking pool, from any
    /// thread (see [`task::spawn_blocking`](crate::task::spawn_blocking)).
    ///
    /// If the runtime is shutting down, the closure is dropped and the
    /// handle resolves to a cancelled [`JoinError`](crate::task::JoinError).
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let sum = rt.handle().spawn_blocking(|| (1..=100u64).sum::<u64>());
    /// assert_eq!(rt.block_on(sum).unwrap(), 5050);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_blocking_with(f, TaskMeta::new(None, Location::caller()))
            .unwrap_or_else(|handle| handle)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.scheduler.workers())
            .field("shutdown", &self.shared.is_shutdown())
            .finish()
    }
}
