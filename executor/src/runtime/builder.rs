//! `Builder`: runtime configuration (asyncio's loop configuration).

use super::Runtime;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Callback = Arc<dyn Fn() + Send + Sync + 'static>;
type NameFn = Arc<dyn Fn(usize) -> String + Send + Sync + 'static>;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let counter = started.clone();
/// let rt = magpie::Runtime::builder()
///     .worker_threads(2)
///     .thread_name("app-worker")
///     .thread_stack_size(4 << 20)
///     .on_thread_start(move || {
///         counter.fetch_add(1, Ordering::SeqCst);
///     })
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 40 + 2 }), 42);
/// drop(rt);
/// assert_eq!(started.load(Ordering::SeqCst), 2);
/// ```
#[derive(Clone)]
pub struct Builder {
    pub(crate) worker_threads: Option<usize>,
    pub(crate) thread_name: NameFn,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Callback>,
    pub(crate) on_thread_stop: Option<Callback>,
    pub(crate) global_queue_interval: u32,
    pub(crate) max_blocking_threads: usize,
    pub(crate) thread_keep_alive: Duration,
    pub(crate) debug: Option<bool>,
    pub(crate) slow_poll_threshold: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with the defaults: one worker per CPU, threads named
    /// `magpie-worker-{index}`, the platform's default stack size.
    ///
    /// ```
    /// let rt = magpie::runtime::Builder::new().build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn new() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: Arc::new(|i| format!("magpie-worker-{i}")),
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            global_queue_interval: if crate::loom::IS_LOOM { 3 } else { 61 },
            max_blocking_threads: if crate::loom::IS_LOOM { 1 } else { 512 },
            thread_keep_alive: Duration::from_secs(10),
            debug: None,
            slow_poll_threshold: Duration::from_millis(100),
        }
    }

    /// The number of worker threads (default: the number of CPUs; 2 under
    /// loom). Zero is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = started.clone();
    /// let rt = magpie::Runtime::builder()
    ///     .worker_threads(3)
    ///     .on_thread_start(move || {
    ///         counter.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// drop(rt);
    /// assert_eq!(started.load(Ordering::SeqCst), 3);
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.worker_threads = Some(n);
        self
    }

    /// Names the worker threads `{name}-{index}`.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder().thread_name("api").build().unwrap();
    /// let name = rt.block_on(async {
    ///     magpie::spawn(async { std::thread::current().name().map(String::from) }).await
    /// });
    /// assert!(name.unwrap().unwrap().starts_with("api-"));
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        let name: String = name.into();
        self.thread_name = Arc::new(move |i| format!("{name}-{i}"));
        self
    }

    /// Names each worker thread with `f(index)`.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder()
    ///     .thread_name_fn(|i| format!("shard{i}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_name_fn(
        mut self,
        f: impl Fn(usize) -> String + Send + Sync + 'static,
    ) -> Builder {
        self.thread_name = Arc::new(f);
        self
    }

    /// The stack size of each worker thread, in bytes.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder().thread_stack_size(8 << 20).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts, before it runs tasks,
    /// and on each blocking-pool thread when it starts. A panic in `f` is
    /// caught (the thread still starts).
    ///
    /// ```
    /// let rt = magpie::Runtime::builder()
    ///     .on_thread_start(|| println!("worker up"))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread and each blocking-pool thread when it
    /// stops, after its last task. A panic in `f` is caught.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder()
    ///     .on_thread_stop(|| println!("worker down"))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// The most threads the blocking pool (`spawn_blocking`) may run at
    /// once (default 512; 1 under loom). Work beyond that waits in a queue
    /// for a thread to come free. Zero is rejected by
    /// [`build`](Self::build).
    ///
    /// ```
    /// let rt = magpie::Runtime::builder().max_blocking_threads(4).build().unwrap();
    /// let tasks: Vec<_> = (0..16).map(|i| rt.spawn_blocking(move || i * 2)).collect();
    /// let total: i32 = rt.block_on(async {
    ///     let mut total = 0;
    ///     for t in tasks {
    ///         total += t.await.unwrap();
    ///     }
    ///     total
    /// });
    /// assert_eq!(total, 240);
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for more work before it
    /// exits (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::builder()
    ///     .thread_keep_alive(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.thread_keep_alive = keep_alive;
        self
    }

    /// Debug mode (asyncio's `debug=True`): reports slow polls, workers
    /// blocked inside a poll (while they are still stuck), and the tasks
    /// still alive at shutdown, through [`tracing`] events with target
    /// `magpie::diagnostics`; stamps every task with its spawn time and
    /// times its polls for [`Handle::tasks`](crate::Handle::tasks). See
    /// [`runtime::diagnostics`](crate::runtime::diagnostics) for the
    /// reports and their cost.
    ///
    /// Unset, debug mode follows the environment variable `MAGPIE_DEBUG`
    /// (`1`, `true`, `yes` or `on` turn it on), read by [`build`](Self::build);
    /// an explicit `debug(false)` wins over the variable.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = magpie::Runtime::builder()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(50))
    ///     .build()
    ///     .unwrap();
    /// // This poll holds a worker for 60 ms: a `WARN` "slow poll" event
    /// // names the task and where it was spawned.
    /// let task = rt.spawn(async { std::thread::sleep(Duration::from_millis(60)) });
    /// rt.block_on(task).unwrap();
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = Some(on);
        self
    }

    /// How long one poll may take before debug mode reports it as slow, and
    /// how long a worker may sit in one poll before the watchdog reports it
    /// as blocked (default 100 ms). Only used in debug mode.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::builder()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll_threshold = threshold;
        self
    }

    /// Starts the runtime's threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a configuration that cannot work (zero workers,
    /// zero blocking threads), or the OS error if a thread could not be
    /// spawned.
    ///
    /// ```
    /// let err = magpie::Runtime::builder().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        if self.worker_threads == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a magpie runtime needs at least one worker thread (worker_threads(0) was given)",
            ));
        }
        if self.max_blocking_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a magpie runtime needs at least one blocking thread (max_blocking_threads(0) \
                 was given)",
            ));
        }
        Runtime::start(self)
    }

    pub(crate) fn resolved_worker_threads(&self) -> usize {
        self.worker_threads.unwrap_or_else(default_worker_threads)
    }
}

#[cfg(not(loom))]
fn default_worker_threads() -> usize {
    num_cpus::get().max(1)
}

#[cfg(loom)]
fn default_worker_threads() -> usize {
    2
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .field("debug", &self.debug)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .finish_non_exhaustive()
    }
}
