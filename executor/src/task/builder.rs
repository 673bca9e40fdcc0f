//! `task::Builder`: spawning with a name (asyncio's `create_task(coro, name=..)`).

use crate::runtime::spawn::{spawn_blocking_current, spawn_current, spawn_on_handle};
use crate::runtime::{Handle, SpawnError};
use crate::task_core::{JoinHandle, TaskMeta};
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// Configures a task before spawning it.
///
/// ```
/// magpie::run(async {
///     let task = magpie::task::Builder::new()
///         .name("fetch-user-42")
///         .spawn(async { 42 });
///     assert_eq!(task.name(), Some("fetch-user-42"));
///     assert_eq!(task.await.unwrap(), 42);
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder for an unnamed task.
    ///
    /// ```
    /// let builder = magpie::task::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Builder {
        Builder { name: None }
    }

    /// Names the task. The name appears in [`JoinError`]'s message, in
    /// [`task::current`](crate::task::current) and in diagnostics.
    ///
    /// [`JoinError`]: crate::task::JoinError
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::task::Builder::new().name("indexer").spawn(async {});
    ///     assert_eq!(t.name(), Some("indexer"));
    /// });
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(Arc::from(name.into()));
        self
    }

    fn meta(self, location: &'static Location<'static>) -> TaskMeta {
        TaskMeta::new(self.name, location)
    }

    /// Spawns the task on the current runtime, like [`crate::spawn`].
    ///
    /// # Panics
    ///
    /// Outside a runtime; see [`try_spawn`](Self::try_spawn).
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::task::Builder::new().name("a").spawn(async { 1 });
    ///     assert_eq!(t.await.unwrap(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        match spawn_current(future, meta) {
            Ok(spawned) => spawned.unwrap_or_else(|h| h),
            Err(err) => panic!("task::Builder::spawn: {err}"),
        }
    }

    /// Spawns the task on the current runtime, or returns why it could not.
    ///
    /// ```
    /// let err = magpie::task::Builder::new().name("x").try_spawn(async {}).unwrap_err();
    /// assert_eq!(err, magpie::SpawnError::NoRuntime);
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        spawn_current(future, meta)?.map_err(|_cancelled| SpawnError::Shutdown)
    }

    /// Spawns the task on the runtime of `handle`, from any thread.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let t = magpie::task::Builder::new().name("remote").spawn_on(rt.handle(), async { 3 });
    /// assert_eq!(rt.block_on(t).unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(self, handle: &Handle, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        spawn_on_handle(handle, future, meta)
    }

    /// Runs a named blocking closure on the current runtime's blocking
    /// pool, like [`task::spawn_blocking`](crate::task::spawn_blocking).
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    ///
    /// ```
    /// magpie::run(async {
    ///     let t = magpie::task::Builder::new().name("hash").spawn_blocking(|| 40 + 2);
    ///     assert_eq!(t.name(), Some("hash"));
    ///     assert_eq!(t.await.unwrap(), 42);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        match spawn_blocking_current(f, meta) {
            Ok(spawned) => spawned.unwrap_or_else(|h| h),
            Err(err) => panic!("task::Builder::spawn_blocking: {err}"),
        }
    }

    /// Runs a named blocking closure on the blocking pool of `handle`'s
    /// runtime, from any thread.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let t = magpie::task::Builder::new()
    ///     .name("fsync")
    ///     .spawn_blocking_on(rt.handle(), || 7);
    /// assert_eq!(rt.block_on(t).unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn spawn_blocking_on<F, R>(self, handle: &Handle, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        handle.spawn_blocking_with(f, meta).unwrap_or_else(|h| h)
    }
}
