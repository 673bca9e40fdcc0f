//! The multi-threaded work-stealing scheduler: the run queues, the workers
//! that run them, and how idle workers sleep and are woken.
//!
//! * [`worker`]: a worker's run loop, its LIFO slot, stealing, and the
//!   fairness rules between local and outside work.
//! * [`queue`]: the run queues (crossbeam-deque, or a loom-visible stand-in).
//! * [`idle`]: the park/unpark protocol and why it loses no wakeup.
//! * [`park`]: putting one worker thread to sleep.
//! * [`monitor`]: the thread that rescues work queued behind a long poll,
//!   fires timers while every worker is busy, and runs debug mode's
//!   watchdog.
//! * [`stats`]: per-worker counters.
//!
//! [`Scheduler`] is the scheduler's part of the runtime's state: the
//! queues, what other threads may touch of each worker, the idle state and
//! the monitor's parker. The runtime's other components (timers, the
//! blocking pool, the lifecycle, the owned-tasks list) are beside it in
//! `runtime::shared::Shared`, each owned by its own module.

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

/// What other threads may touch of a worker.
pub(crate) struct Remote {
    pub(crate) stealer: Stealer,
    pub(crate) lifo: LifoSlot,
    pub(crate) parker: Parker,
    pub(crate) stats: WorkerStats,
}

/// The scheduler's state, shared by the workers, the monitor and every
/// thread that schedules a task.
pub(crate) struct Scheduler {
    pub(crate) remotes: Box<[CachePadded<Remote>]>,
    pub(crate) injector: CachePadded<Injector>,
    pub(crate) idle: Idle,
    pub(crate) monitor: Monitor,
    /// Every this many ticks a busy worker fires due timers.
    pub(crate) global_queue_interval: u32,
}

impl Scheduler {
    /// The scheduler of `workers` workers, and each worker's local queue.
    /// With the `net` feature, each worker's parker may sleep in `reactor`'s
    /// poller (`runtime::reactor`).
    pub(crate) fn new(
        workers: usize,
        global_queue_interval: u32,
        #[cfg(all(feature = "net", unix))] reactor: &crate::loom::sync::Arc<
            crate::runtime::reactor::Reactor,
        >,
    ) -> (Scheduler, Vec<Local>) {
        let mut locals = Vec::with_capacity(workers);
        let mut remotes = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (local, stealer) = Local::new();
            locals.push(local);
            remotes.push(CachePadded::new(Remote {
                stealer,
                lifo: LifoSlot::new(),
                #[cfg(all(feature = "net", unix))]
                parker: Parker::with_reactor(reactor.clone()),
                #[cfg(not(all(feature = "net", unix)))]
                parker: Parker::new(),
                stats: WorkerStats::new(),
            }));
        }
        let scheduler = Scheduler {
            remotes: remotes.into_boxed_slice(),
            injector: CachePadded::new(Injector::new()),
            idle: Idle::new(workers),
            monitor: Monitor::new(),
            global_queue_interval,
        };
        (scheduler, locals)
    }

    /// How many workers the runtime has.
    pub(crate) fn workers(&self) -> usize {
        self.remotes.len()
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
