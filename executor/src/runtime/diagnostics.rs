//! Diagnostics: debug mode's reports, the task dump and the metrics.
//!
//! # Debug mode
//!
//! Turned on by [`Builder::debug`](super::Builder::debug) or by the
//! environment variable `MAGPIE_DEBUG=1` (read when the runtime is built).
//! Every report is a [`tracing`] event with target `magpie::diagnostics`,
//! carrying the task's id, name and spawn location as fields, so it lands
//! wherever the application's subscriber sends its logs (and costs one
//! branch when no subscriber listens):
//!
//! | report | level | when |
//! |---|---|---|
//! | blocked worker | `WARN` | a worker *is still* inside one poll after the threshold (once per poll) |
//! | slow poll | `WARN` | that poll returned, after how long |
//! | unobserved panic | `ERROR` | a task panicked and its `JoinHandle` was dropped unread (always on, as in asyncio) |
//! | alive at shutdown | `WARN` | each task still alive when the runtime shuts down |
//!
//! Both come from one watchdog in the monitor thread, which looks at every
//! worker each millisecond: the workers never read the clock for it. A
//! poll is caught when it lasts longer than the threshold plus one look
//! (1 ms); durations are accurate to that millisecond.
//!
//! Debug mode also stamps each task with its spawn time and times each poll
//! for [`Handle::tasks`] with the runtime's coarse clock (a microsecond
//! counter the monitor advances every millisecond while workers run):
//! two relaxed loads per poll, no clock read. One poll's duration is
//! rounded to the clock's steps, but the sum over many polls is an
//! unbiased estimate. With debug mode off, a poll costs two relaxed stores
//! (the id of the running task, for the dump and the watchdog) and a
//! counter increment.
//!
//! # Why `tracing`
//!
//! It is the logging facade of the async ecosystem (tokio, hyper, tonic and
//! most servers that would embed magpie already install a subscriber), it
//! has structured fields (a report's task id and location are fields, not
//! text to parse) and an event with no subscriber listening is a cheap
//! check. `log` has no structured fields in its stable API, and a callback
//! of our own would make every user write the plumbing.

use super::Handle;
use super::scheduler::stats::WorkerStats;
use super::shared::Shared;
use crate::task_core::{Header, Id};
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// The target of every report, for filtering (`RUST_LOG=magpie::diagnostics=warn`).
///
/// ```
/// // In a subscriber's filter, or an event-capturing layer:
/// assert_eq!(magpie::runtime::diagnostics::TARGET, "magpie::diagnostics");
/// ```
pub const TARGET: &str = "magpie::diagnostics";

/// Debug mode's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DebugConfig {
    pub(crate) slow_poll_threshold: Duration,
}

/// Debug mode's part of the runtime's state: its settings and its clocks.
pub(crate) struct Diag {
    /// Debug mode's settings, if it is on.
    pub(crate) debug: Option<DebugConfig>,
    /// When the runtime was built (metrics' uptime and busy time).
    pub(crate) started: Instant,
    /// Microseconds since `started`, advanced by the monitor at each look
    /// and by workers waking up: debug mode's cheap clock.
    coarse_clock: crate::loom::CachePadded<std::sync::atomic::AtomicU64>,
}

impl Diag {
    pub(crate) fn new(debug: Option<DebugConfig>) -> Diag {
        Diag {
            debug,
            started: crate::runtime::timer::now(),
            coarse_clock: crate::loom::CachePadded::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Microseconds from `started` to `now`.
    pub(crate) fn micros_since_start(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// Advances the coarse clock to `now` (never backwards). Only debug
    /// mode reads it, so otherwise this does nothing.
    pub(crate) fn advance_coarse_clock(&self, now: Instant) {
        if self.debug.is_none() {
            return;
        }
        self.coarse_clock
            .fetch_max(self.micros_since_start(now), Relaxed);
    }

    /// The coarse clock, in microseconds since the runtime started.
    #[inline]
    pub(crate) fn clock_micros(&self) -> u64 {
        self.coarse_clock.load(Relaxed)
    }
}

/// Whether `MAGPIE_DEBUG` asks for debug mode (`1`, `true`, `yes`, `on`).
pub(crate) fn debug_from_env() -> bool {
    std::env::var("MAGPIE_DEBUG").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// How a report names a task: `task 42 "fetch" spawned at src/main.rs:10:5`.
#[derive(Clone)]
pub(crate) struct TaskLabel {
    id: u64,
    name: Option<Arc<str>>,
    /// `None` if the task was gone before it could be looked up.
    location: Option<&'static Location<'static>>,
}

impl TaskLabel {
    fn of(header: &Header) -> TaskLabel {
        TaskLabel {
            id: header.id.as_u64(),
            name: header.meta.name.clone(),
            location: Some(header.meta.location),
        }
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn location(&self) -> Option<tracing::field::DisplayValue<&'static Location<'static>>> {
        self.location.map(tracing::field::display)
    }
}

impl fmt::Display for TaskLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if let Some(location) = self.location {
            write!(f, " spawned at {location}")?;
        }
        Ok(())
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Milliseconds for an event field, rounded to 0.01 ms: the clock behind
/// them is accurate to about a millisecond, and a subscriber prints a
/// field's `f64` in full (`40.363541000000005` rather than `40.36`).
fn field_ms(d: Duration) -> f64 {
    (millis(d) * 100.0).round() / 100.0
}

/// The watchdog's second report: the poll it reported as blocked returned
/// after `took`.
pub(crate) fn report_slow_poll(label: &TaskLabel, took: Duration) {
    tracing::warn!(
        target: TARGET,
        task_id = label.id,
        task_name = label.name(),
        task_location = label.location(),
        poll_ms = field_ms(took),
        "slow poll: {label} held its worker for {:.1} ms in one poll",
        millis(took),
    );
}

pub(crate) fn report_unobserved_panic(header: &Header, message: Option<&str>) {
    let label = TaskLabel::of(header);
    let message = message.unwrap_or("<non-string panic payload>");
    tracing::error!(
        target: TARGET,
        task_id = label.id,
        task_name = label.name(),
        task_location = label.location(),
        panic = message,
        "unobserved panic: {label} panicked and its JoinHandle was dropped without reading \
         the error: {message}",
    );
}

/// The watchdog's first report: `worker` has been inside one poll of task
/// `id` for `stuck` and still is. Returns the task's label for the second.
pub(crate) fn report_blocked_worker(
    shared: &Shared,
    worker: usize,
    id: u64,
    stuck: Duration,
) -> TaskLabel {
    // Found unless it completed between the look and the lookup.
    let label = shared.owned.find(id, TaskLabel::of).unwrap_or(TaskLabel {
        id,
        name: None,
        location: None,
    });
    tracing::warn!(
        target: TARGET,
        worker,
        task_id = id,
        task_name = label.name(),
        task_location = label.location(),
        blocked_ms = field_ms(stuck),
        "blocked worker: worker {worker} has been inside one poll of {label} for {:.1} ms \
         and is still there (a blocking call or a deadlock in async code?)",
        millis(stuck),
    );
    label
}

/// Debug mode, at shutdown: every task still alive.
pub(crate) fn report_alive_at_shutdown(shared: &Shared) {
    // Collect first, report after: the subscriber's code must not run
    // under the task list's locks.
    let mut alive = Vec::new();
    shared.owned.for_each(|header| {
        if !header.state.load().is_complete() {
            alive.push(TaskLabel::of(header));
        }
    });
    for label in &alive {
        tracing::warn!(
            target: TARGET,
            task_id = label.id,
            task_name = label.name(),
            task_location = label.location(),
            "alive at shutdown: {label} had not finished; it is cancelled now",
        );
    }
    if !alive.is_empty() {
        let count = alive.len();
        tracing::warn!(
            target: TARGET,
            alive = count,
            "shutdown: {count} task(s) were still alive and are cancelled"
        );
    }
}

/// What a task is doing at the moment of a [`Handle::tasks`] snapshot.
///
/// ```
/// use magpie::runtime::TaskState;
///
/// let rt = magpie::Runtime::builder().worker_threads(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// // A task inside a poll (blocking its worker until we send).
/// let busy = rt.spawn(async move { rx.recv().unwrap() });
/// while !rt.handle().tasks().iter().any(|t| t.id == busy.id()
///     && t.state == TaskState::Running { worker: Some(0) })
/// {
///     std::thread::yield_now();
/// }
/// tx.send(()).unwrap();
/// rt.block_on(busy).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a wake-up (its waker is held somewhere).
    Idle,
    /// Woken, waiting in a run queue for a worker.
    Scheduled,
    /// Inside a poll: on worker `worker`, or on a blocking thread (`None`
    /// for `spawn_blocking` work, or when the snapshot caught the worker
    /// between two polls).
    Running {
        /// The worker's index, if it is one of the runtime's workers.
        worker: Option<usize>,
    },
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Idle => f.write_str("idle"),
            TaskState::Scheduled => f.write_str("scheduled"),
            TaskState::Running { worker: Some(w) } => write!(f, "running on worker {w}"),
            TaskState::Running { worker: None } => f.write_str("running"),
        }
    }
}

/// One live task in a [`Handle::tasks`] snapshot.
///
/// ```
/// let rt = magpie::Runtime::new().unwrap();
/// let task = magpie::task::Builder::new()
///     .name("forever")
///     .spawn_on(rt.handle(), std::future::pending::<()>());
/// let info = rt.handle().tasks().into_iter().find(|t| t.id == task.id()).unwrap();
/// assert_eq!(info.name.as_deref(), Some("forever"));
/// assert!(info.location.file().ends_with(".rs"));
/// assert!(!info.is_blocking);
/// println!("{info}");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: Id,
    /// Its name, if it was given one ([`task::Builder::name`](crate::task::Builder::name)).
    pub name: Option<Arc<str>>,
    /// What it is doing.
    pub state: TaskState,
    /// Where it was spawned.
    pub location: &'static Location<'static>,
    /// Whether it is `spawn_blocking` work.
    pub is_blocking: bool,
    /// Its polls so far.
    pub polls: u64,
    /// How long ago it was spawned (debug mode only; `None` otherwise).
    pub age: Option<Duration>,
    /// Total time spent in its polls (debug mode only; `None` otherwise).
    pub poll_time: Option<Duration>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " [{}] spawned at {}, {} polls",
            self.state, self.location, self.polls
        )?;
        if let Some(age) = self.age {
            write!(f, ", age {:.1} ms", millis(age))?;
        }
        if let Some(t) = self.poll_time {
            write!(f, ", {:.1} ms in polls", millis(t))?;
        }
        Ok(())
    }
}

/// One worker's counters in a [`RuntimeMetrics`] snapshot. Counters count
/// since the runtime was built.
///
/// ```
/// let rt = magpie::Runtime::builder().worker_threads(2).build().unwrap();
/// rt.block_on(async { magpie::spawn(async {}).await.unwrap() });
/// let m = rt.handle().metrics();
/// for (i, w) in m.workers.iter().enumerate() {
///     println!("worker {i}: {} polls, busy {:?}, parked: {}", w.polls, w.busy_time, w.is_parked);
/// }
/// assert!(m.workers.iter().map(|w| w.polls).sum::<u64>() >= 1);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Polls run by this worker (cancellations it ran included).
    pub polls: u64,
    /// Polls of tasks taken from its LIFO slot (a task woken by the task
    /// before it).
    pub lifo_hits: u64,
    /// Tasks it stole from other workers.
    pub steals: u64,
    /// Steal operations that got something (one operation moves a batch).
    pub steal_operations: u64,
    /// Times it went to sleep.
    pub parks: u64,
    /// Tasks waiting in its local queue now.
    pub local_queue_depth: usize,
    /// Time it was awake (running, searching or about to park) since the
    /// runtime was built.
    pub busy_time: Duration,
    /// Whether it is asleep now.
    pub is_parked: bool,
}

/// A snapshot of a runtime's counters: [`Handle::metrics`].
///
/// ```
/// let rt = magpie::Runtime::new().unwrap();
/// let t = rt.spawn(async { 1 });
/// assert_eq!(rt.block_on(t).unwrap(), 1);
/// let m = rt.handle().metrics();
/// assert_eq!(m.spawned_tasks, 1);
/// assert_eq!(m.pending_timers, 0);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Per worker, by index.
    pub workers: Vec<WorkerMetrics>,
    /// Tasks alive now (spawned, not finished).
    pub live_tasks: usize,
    /// Tasks spawned since the runtime was built (blocking work included).
    pub spawned_tasks: u64,
    /// Tasks waiting in the shared injector queue.
    pub injector_depth: usize,
    /// Workers looking for work to steal now.
    pub searching_workers: usize,
    /// Workers asleep now.
    pub parked_workers: usize,
    /// Blocking-pool threads running a closure now.
    pub blocking_threads_busy: usize,
    /// Blocking-pool threads waiting for work now.
    pub blocking_threads_idle: usize,
    /// Blocking closures waiting for a thread (the pool is at its cap).
    pub blocking_queue_depth: usize,
    /// Timers (sleeps, timeouts, intervals) waiting for their deadline.
    pub pending_timers: usize,
    /// Sockets of `magpie::net` registered with the runtime's reactor
    /// (feature `net`).
    #[cfg(all(feature = "net", unix))]
    pub registered_sockets: usize,
    /// Time since the runtime was built.
    pub uptime: Duration,
}

impl RuntimeMetrics {
    /// Polls summed over the workers.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// rt.block_on(async { magpie::spawn(async {}).await.unwrap() });
    /// assert!(rt.handle().metrics().total_polls() >= 1);
    /// ```
    pub fn total_polls(&self) -> u64 {
        self.workers.iter().map(|w| w.polls).sum()
    }

    /// Tasks stolen, summed over the workers.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let _ = rt.handle().metrics().total_steals();
    /// ```
    pub fn total_steals(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }
}

impl Handle {
    /// A snapshot of every live task: id, name, state (idle, scheduled,
    /// running on which worker), spawn location, polls so far, and in debug
    /// mode its age and time spent in polls: asyncio's `all_tasks()`, with
    /// what a task dump needs.
    ///
    /// The snapshot visits the task list one shard at a time; workers keep
    /// running, spawns and completions only wait for the shard being read.
    /// It costs about one small allocation per task (its `TaskInfo`), so a
    /// monitoring task may call it every second with 100,000 live tasks.
    ///
    /// ```
    /// use magpie::runtime::TaskState;
    ///
    /// let rt = magpie::Runtime::new().unwrap();
    /// let (tx, rx) = futures::channel::oneshot::channel::<()>();
    /// let waiter = magpie::task::Builder::new()
    ///     .name("waiter")
    ///     .spawn_on(rt.handle(), async { rx.await.ok(); });
    /// # while rt.handle().tasks().iter().all(|t| t.polls == 0 || t.state != TaskState::Idle) { std::thread::yield_now(); }
    /// let tasks = rt.handle().tasks();
    /// let info = tasks.iter().find(|t| t.id == waiter.id()).unwrap();
    /// assert_eq!(info.name.as_deref(), Some("waiter"));
    /// assert_eq!(info.state, TaskState::Idle);
    /// println!("{info}");
    /// tx.send(()).unwrap();
    /// rt.block_on(waiter).unwrap();
    /// ```
    pub fn tasks(&self) -> Vec<TaskInfo> {
        let shared = &self.shared;
        let running: Vec<u64> = shared
            .scheduler
            .remotes
            .iter()
            .map(|r| r.stats.current_task.load(Relaxed))
            .collect();
        let now = shared.diag.micros_since_start(Instant::now());
        let mut out = Vec::with_capacity(shared.owned.len());
        shared.owned.for_each(|header| {
            let snapshot = header.state.load();
            if snapshot.is_complete() {
                return;
            }
            let id = header.id.as_u64();
            let state = if snapshot.is_running() {
                TaskState::Running {
                    worker: running.iter().position(|&r| r == id),
                }
            } else if snapshot.is_scheduled() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
            let spawned_at = header.meta.spawned_at;
            out.push(TaskInfo {
                id: header.id,
                name: header.meta.name.clone(),
                state,
                location: header.meta.location,
                is_blocking: header.meta.blocking,
                polls: header.stats.polls(),
                age: spawned_at.map(|t| Duration::from_micros(now.saturating_sub(t))),
                poll_time: spawned_at.map(|_| header.stats.poll_time()),
            });
        });
        out
    }

    /// A snapshot of the runtime's counters: workers, live and spawned
    /// tasks, and per worker polls, steals, parks, LIFO hits, queue depth
    /// and busy time; the injector's depth; the blocking pool's threads.
    ///
    /// Reading never stops the workers: each counter is a relaxed atomic
    /// its worker writes on its own cache line. Counters read at slightly
    /// different moments may not add up exactly while the runtime is busy.
    ///
    /// ```
    /// let rt = magpie::Runtime::builder().worker_threads(2).build().unwrap();
    /// rt.block_on(async {
    ///     let tasks: Vec<_> = (0..10).map(|i| magpie::spawn(async move { i })).collect();
    ///     for t in tasks {
    ///         t.await.unwrap();
    ///     }
    /// });
    /// let m = rt.handle().metrics();
    /// assert_eq!(m.workers.len(), 2);
    /// assert!(m.spawned_tasks >= 10);
    /// println!("{} polls, {} steals", m.total_polls(), m.total_steals());
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let shared = &self.shared;
        let now = Instant::now();
        let uptime = now.saturating_duration_since(shared.diag.started);
        let workers: Vec<WorkerMetrics> = shared
            .scheduler
            .remotes
            .iter()
            .map(|remote| {
                let s = &remote.stats;
                let parked_since = s.parked_since.load(Relaxed);
                let mut asleep = Duration::from_nanos(WorkerStats::get(&s.parked_nanos));
                if parked_since != 0 {
                    let since = Duration::from_nanos(parked_since - 1);
                    asleep += uptime.saturating_sub(since);
                }
                WorkerMetrics {
                    polls: WorkerStats::get(&s.polls),
                    lifo_hits: WorkerStats::get(&s.lifo_hits),
                    steals: WorkerStats::get(&s.steals),
                    steal_operations: WorkerStats::get(&s.steal_operations),
                    parks: WorkerStats::get(&s.parks),
                    local_queue_depth: remote.stealer.len(),
                    busy_time: uptime.saturating_sub(asleep),
                    is_parked: parked_since != 0,
                }
            })
            .collect();
        let pool = shared.blocking.counts();
        RuntimeMetrics {
            live_tasks: shared.owned.len(),
            spawned_tasks: shared.owned.inserted(),
            injector_depth: shared.scheduler.injector.len(),
            searching_workers: shared.scheduler.idle.num_searching(),
            parked_workers: shared.scheduler.idle.num_parked(),
            blocking_threads_busy: pool.busy,
            blocking_threads_idle: pool.idle,
            blocking_queue_depth: pool.queued,
            pending_timers: shared.time.pending(),
            #[cfg(all(feature = "net", unix))]
            registered_sockets: shared.reactor.registered(),
            uptime,
            workers,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn duration_fields_print_as_a_person_writes_them() {
        // What a subscriber prints for the field: the `f64`'s `Debug`.
        assert_eq!(
            format!("{:?}", field_ms(Duration::from_nanos(40_363_541))),
            "40.36"
        );
        assert_eq!(
            format!("{:?}", field_ms(Duration::from_millis(120))),
            "120.0"
        );
    }
}
