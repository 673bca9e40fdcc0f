//! The runtime: its threads, its lifetime and its entry points.

mod block_on;
pub(crate) mod blocking;
mod builder;
pub(crate) mod context;
pub mod diagnostics;
mod handle;
mod lifecycle;
#[cfg(all(feature = "net", unix))]
pub(crate) mod reactor;
pub(crate) mod scheduler;
pub(crate) mod shared;
mod shutdown;
#[cfg(not(loom))]
pub mod sim;
pub(crate) mod spawn;
pub(crate) mod timer;

pub use self::builder::Builder;
pub use self::diagnostics::{RuntimeMetrics, TaskInfo, TaskState, WorkerMetrics};
pub use self::handle::{Handle, SpawnError};
pub use self::shutdown::{ShutdownReport, UnfinishedTask};

use self::lifecycle::{ExitGuard, ExitLatch, Threads};
use self::scheduler::worker::Worker;
use self::shared::Shared;
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::task_core::JoinHandle;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// A multi-threaded work-stealing runtime: asyncio's event loop, with one
/// worker thread per core.
///
/// Dropping the runtime shuts it down: no new tasks are accepted, the
/// workers finish the poll they are in and stop, every unfinished task's
/// future is dropped (its destructors run), and the worker threads are
/// joined. [`shutdown_timeout`](Self::shutdown_timeout) bounds the wait.
///
/// ```
/// let rt = magpie::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let task = magpie::spawn(async { 21 * 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Threads,
    shut_down: bool,
}

impl Runtime {
    /// A runtime with the default configuration (one worker per CPU).
    ///
    /// # Errors
    ///
    /// If a worker thread could not be spawned.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// # drop(rt);
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder().worker_threads(2).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn start(builder: Builder) -> io::Result<Runtime> {
        let n = builder.resolved_worker_threads();
        let (shared, locals) = Shared::new(
            n,
            builder.global_queue_interval,
            builder
                .debug
                .unwrap_or_else(diagnostics::debug_from_env)
                .then_some(diagnostics::DebugConfig {
                    slow_poll_threshold: builder.slow_poll_threshold,
                }),
            blocking::BlockingConfig {
                max_threads: builder.max_blocking_threads,
                keep_alive: builder.thread_keep_alive,
                stack_size: builder.thread_stack_size,
                on_start: builder.on_thread_start.clone(),
                on_stop: builder.on_thread_stop.clone(),
            },
        )?;
        let exits = Arc::new(ExitLatch::new(n));
        let mut runtime = Runtime {
            handle: Handle::from_shared(shared.clone()),
            threads: Threads {
                workers: Vec::with_capacity(n),
                monitor: None,
                exits: exits.clone(),
            },
            shut_down: false,
        };
        for (index, local) in locals.into_iter().enumerate() {
            let worker = Worker::new(shared.clone(), index, local);
            let on_start = builder.on_thread_start.clone();
            let on_stop = builder.on_thread_stop.clone();
            let exits = exits.clone();
            let mut thread = thread::Builder::new().name((builder.thread_name)(index));
            if let Some(size) = builder.thread_stack_size {
                thread = thread.stack_size(size);
            }
            let spawned = thread.spawn(move || {
                let _exit = ExitGuard(exits);
                if let Some(f) = on_start {
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| f()));
                }
                worker.run();
                drop(worker);
                if let Some(f) = on_stop {
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| f()));
                }
            });
            match spawned {
                Ok(handle) => runtime.threads.workers.push(handle),
                Err(err) => {
                    // Workers that never started will never exit: count
                    // them out, then shut down what did start.
                    for _ in index..n {
                        runtime.threads.exits.count_down();
                    }
                    drop(runtime);
                    return Err(err);
                }
            }
        }
        if !crate::loom::IS_LOOM {
            let shared = shared.clone();
            let monitor = thread::Builder::new()
                .name("magpie-monitor".to_owned())
                .spawn(move || scheduler::monitor::run(shared));
            match monitor {
                Ok(handle) => runtime.threads.monitor = Some(handle),
                Err(err) => {
                    drop(runtime);
                    return Err(err);
                }
            }
        }
        Ok(runtime)
    }

    /// The runtime's [`Handle`], for spawning from other threads.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let handle = rt.handle().clone();
    /// std::thread::spawn(move || {
    ///     handle.spawn(async { println!("hello from a plain thread's spawn") });
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task onto this runtime (see [`Handle::spawn`]).
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let task = rt.spawn(async { 5 });
    /// assert_eq!(rt.block_on(task).unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on this runtime's blocking pool (see
    /// [`task::spawn_blocking`](crate::task::spawn_blocking)).
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let task = rt.spawn_blocking(|| std::fs::metadata(".").is_ok());
    /// assert!(rt.block_on(task).unwrap());
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Runs `future` to completion on the current thread, with this runtime
    /// entered (so `magpie::spawn` works inside it), and returns its output.
    /// Tasks it spawns run on the worker threads.
    ///
    /// # Panics
    ///
    /// On a worker thread of any magpie runtime: blocking a worker would
    /// stall every task queued on it (and deadlock if the future waits for
    /// one of them). Inside async code, `.await` the future instead.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let n = rt.block_on(async {
    ///     let tasks: Vec<_> = (0..10).map(|i| magpie::spawn(async move { i })).collect();
    ///     let mut sum = 0;
    ///     for t in tasks {
    ///         sum += t.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(n, 45);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_worker_thread() {
            panic!(
                "Runtime::block_on called from a magpie worker thread: blocking a worker stalls \
                 every task queued on it and can deadlock. Inside async code, `.await` the \
                 future instead; for blocking work use `magpie::task::spawn_blocking`."
            );
        }
        let _enter = context::enter(self.handle.clone());
        block_on::block_on(future)
    }

    /// Shuts the runtime down gracefully, waiting at most `timeout` in all,
    /// and reports what it could not finish.
    ///
    /// 1. No new task is accepted ([`SpawnError::Shutdown`]).
    /// 2. The workers finish the poll they are in and stop.
    /// 3. Every unfinished task is cancelled: its future is dropped, so its
    ///    destructors run (asyncio's `CancelledError` cleanup); a task whose
    ///    poll is still running is dropped when that poll returns.
    ///    Blocking work that has not started is cancelled too.
    /// 4. Blocking work that is running is waited for.
    ///
    /// Whatever is still running when `timeout` is up (a worker stuck in a
    /// poll, a blocking closure) is left behind, detached, and listed in
    /// the returned [`ShutdownReport`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::new().unwrap();
    /// let waiting = rt.spawn(std::future::pending::<()>());
    /// let stuck = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
    /// std::thread::sleep(Duration::from_millis(20)); // let the blocking work start
    /// let report = rt.shutdown_timeout(Duration::from_millis(50));
    /// assert!(waiting.is_finished());
    /// assert!(!report.is_complete());
    /// assert_eq!(report.unfinished()[0].id(), stuck.id());
    /// println!("{report}");
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ShutdownReport {
        self.shutdown(Some(Instant::now() + timeout))
    }

    fn shutdown(&mut self, deadline: Option<Instant>) -> ShutdownReport {
        if std::mem::replace(&mut self.shut_down, true) {
            return ShutdownReport::default();
        }
        lifecycle::shut_down(&self.handle.shared, &mut self.threads, deadline)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _report = self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// Runs `future` on a new runtime with the default configuration, then shuts
/// the runtime down: asyncio's `asyncio.run(main())`.
///
/// # Panics
///
/// If the runtime cannot start (a worker thread could not be spawned), or
/// if called on a magpie worker thread (see [`Runtime::block_on`]).
///
/// ```
/// let out = magpie::run(async {
///     let a = magpie::spawn(async { "fetched" });
///     let b = magpie::spawn(async { "processed" });
///     (a.await.unwrap(), b.await.unwrap())
/// });
/// assert_eq!(out, ("fetched", "processed"));
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let rt =
        Runtime::new().unwrap_or_else(|err| panic!("magpie::run: cannot start the runtime: {err}"));
    rt.block_on(future)
}
