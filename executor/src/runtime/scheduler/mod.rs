//! The multi-threaded work-stealing scheduler.
//!
//! * [`worker`]: a worker's run loop, its LIFO slot, stealing.
//! * [`queue`]: the run queues (crossbeam-deque, or a loom-visible stand-in).
//! * [`idle`]: the park/unpark protocol and why it loses no wakeup.
//! * [`park`]: putting one worker thread to sleep.
//! * [`monitor`]: the thread that rescues work queued behind a long poll.
//! * [`stats`]: per-worker counters.
//!
//! [`Shared`] is what every worker, every task and every `Handle` points to.

pub(crate) mod idle;
pub(crate) mod monitor;
pub(crate) mod park;
pub(crate) mod queue;
pub(crate) mod stats;
pub(crate) mod worker;

use self::idle::Idle;
use self::monitor::Monitor;
use self::park::Parker;
use self::queue::{Injector, Local, Stealer};
use self::stats::WorkerStats;
use self::worker::LifoSlot;
use crate::loom::CachePadded;
use crate::loom::sync::Arc;
use crate::runtime::blocking::{BlockingConfig, BlockingPool};
use crate::runtime::context;
use crate::runtime::diagnostics::{self, DebugConfig};
use crate::runtime::lifecycle::{self, Lifecycle};
use crate::runtime::timer;
use crate::task_core::{Header, Notified, OwnedTasks, RawTask, Schedule};

/// Scheduler settings fixed at build time.
pub(crate) struct Config {
    pub(crate) worker_threads: usize,
    /// Every this many ticks a worker looks at the injector before its own
    /// queue.
    pub(crate) global_queue_interval: u32,
    /// Debug mode's settings, if it is on.
    pub(crate) debug: Option<DebugConfig>,
}

/// What other threads may touch of a worker.
pub(crate) struct Remote {
    pub(crate) stealer: Stealer,
    pub(crate) lifo: LifoSlot,
    pub(crate) parker: Parker,
    pub(crate) stats: WorkerStats,
}

/// State shared by the workers, the tasks and the handles of one runtime.
pub(crate) struct Shared {
    pub(crate) remotes: Box<[CachePadded<Remote>]>,
    pub(crate) injector: CachePadded<Injector>,
    pub(crate) idle: Idle,
    pub(crate) owned: OwnedTasks,
    pub(crate) config: Config,
    pub(crate) monitor: Monitor,
    pub(crate) time: timer::Driver,
    pub(crate) blocking: BlockingPool,
    /// When the runtime was built (metrics' uptime and busy time).
    pub(crate) started: std::time::Instant,
    /// Microseconds since `started`, advanced by the monitor at each look
    /// and by workers waking up: debug mode's cheap clock.
    pub(crate) coarse_clock: CachePadded<std::sync::atomic::AtomicU64>,
    /// Running, closed or swept: owned by `runtime::lifecycle`.
    pub(crate) lifecycle: Lifecycle,
}

impl Shared {
    /// Builds the shared state and each worker's local queue.
    pub(crate) fn new(config: Config, blocking: BlockingConfig) -> (Arc<Shared>, Vec<Local>) {
        let n = config.worker_threads;
        let mut locals = Vec::with_capacity(n);
        let mut remotes = Vec::with_capacity(n);
        for _ in 0..n {
            let (local, stealer) = Local::new();
            locals.push(local);
            remotes.push(CachePadded::new(Remote {
                stealer,
                lifo: LifoSlot::new(),
                parker: Parker::new(),
                stats: WorkerStats::new(),
            }));
        }
        let shards = if crate::loom::IS_LOOM { 2 } else { 4 * n };
        let shared = Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            injector: CachePadded::new(Injector::new()),
            idle: Idle::new(n),
            owned: OwnedTasks::new(shards),
            config,
            monitor: Monitor::new(),
            time: timer::Driver::new(),
            blocking: BlockingPool::new(blocking),
            started: timer::now(),
            coarse_clock: CachePadded::new(std::sync::atomic::AtomicU64::new(0)),
            lifecycle: Lifecycle::new(),
        });
        (shared, locals)
    }

    /// True once shutdown has begun (see `runtime::lifecycle`).
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.lifecycle.is_closed()
    }

    /// Schedules from a thread that is not one of this runtime's workers.
    pub(crate) fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        // `notify_parked` starts with a `SeqCst` fence (see `idle.rs`),
        // which also orders the push before the lifecycle's check of the
        // flag: a push racing the shutdown sweep is drained by whichever
        // side comes second (see `runtime::lifecycle`).
        self.notify_parked();
        lifecycle::after_remote_push(self);
    }

    /// Microseconds from `started` to `now`.
    pub(crate) fn micros_since_start(&self, now: std::time::Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// Advances the coarse clock to `now` (never backwards). Only debug
    /// mode reads it, so otherwise this does nothing.
    pub(crate) fn advance_coarse_clock(&self, now: std::time::Instant) {
        if self.config.debug.is_none() {
            return;
        }
        self.coarse_clock.fetch_max(
            self.micros_since_start(now),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Rule 1 of the park protocol: wake a sleeper if nobody is searching.
    #[inline]
    pub(crate) fn notify_parked(&self) {
        if let Some((index, all_were_parked)) = self.idle.worker_to_notify() {
            self.remotes[index].parker.unpark();
            if all_were_parked {
                // The monitor sleeps long while nobody works; work resumes.
                self.monitor.parker.unpark();
            }
        }
    }

    /// Wakes whoever must take account of a new, earlier timer deadline
    /// (see `time::driver`).
    pub(crate) fn kick_timer(&self, kick: timer::Kick) {
        match kick {
            timer::Kick::Nobody => {}
            timer::Kick::Worker(index) => self.remotes[index].parker.unpark(),
            // Under loom there is no monitor: wake a parked worker, which
            // finds nothing to run and arms itself for the deadline.
            timer::Kick::Fallback if crate::loom::IS_LOOM => self.notify_parked(),
            timer::Kick::Fallback => self.monitor.parker.unpark(),
        }
    }

    /// The last searcher's re-check before parking (rule 4).
    pub(crate) fn notify_if_work_pending(&self) {
        let pending = self
            .remotes
            .iter()
            .any(|r| !r.stealer.is_empty() || !r.lifo.is_empty())
            || !self.injector.is_empty();
        if pending {
            self.notify_parked();
        }
    }
}

impl Schedule for Arc<Shared> {
    #[inline]
    fn schedule(&self, task: Notified) {
        context::with_worker(|worker| match worker {
            Some(worker) if Arc::ptr_eq(&worker.shared, self) => worker.schedule_local(task, false),
            _ => self.schedule_remote(task),
        })
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unobserved_panic(&self, header: &Header, message: Option<&str>) {
        diagnostics::report_unobserved_panic(header, message);
    }

    #[inline]
    fn clock_micros(&self) -> u64 {
        self.coarse_clock.load(std::sync::atomic::Ordering::Relaxed)
    }
}
