//! The monitor: a small thread that watches the workers from outside.
//!
//! Every [`INTERVAL`] while any worker is awake, it looks at each worker's
//! poll counter. A worker whose counter has not moved since the last look
//! is inside one long poll; if work is queued behind it (in its LIFO slot or
//! its deque), or the injector holds work, the monitor wakes a sleeping
//! worker to take it. This is what
//! keeps the LIFO slot from hiding a task behind a CPU-bound poll
//! (tokio-rs/tokio#4941) without waking a sleeper every time the slot is
//! filled, which would cost every message-passing workload a thread wakeup.
//!
//! When every worker is asleep the monitor sleeps too, for at most
//! [`IDLE_INTERVAL`], and the notifier that wakes the first worker wakes the
//! monitor as well.
//!
//! The monitor is also the timers' fallback driver (see `time::driver`):
//! while no parked worker is armed for the next deadline, it sleeps no
//! later than that deadline and fires the timers itself.
//!
//! At shutdown the monitor leaves its loop as soon as it sees the flag; in
//! debug mode it then waits until the lifecycle says the workers have left
//! their loops ([`Monitor::workers_stopped`]) and takes a last look, so that
//! a poll reported as blocked that returned meanwhile gets its slow-poll
//! report.
//!
//! It is the reactor's fallback too (feature `net`, see `runtime::reactor`):
//! when every worker is parked or inside one long poll, at least one of
//! them busy, so that nobody waits in the poller, it polls with a zero
//! timeout and the tasks it wakes go to the injector.
//!
//! The monitor does not run under loom (no clock, and loom's thread limit).

use super::park::Parker;
use super::stats::WorkerStats;
use crate::loom::sync::Arc;
use crate::runtime::diagnostics::{self, TaskLabel};
use crate::runtime::shared::Shared;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

/// How often the monitor looks while workers are busy.
pub(crate) const INTERVAL: Duration = Duration::from_millis(1);

/// How long it sleeps at most while every worker is parked.
pub(crate) const IDLE_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) struct Monitor {
    pub(crate) parker: Parker,
    /// Set by the shutdown once the workers have left their loops (or its
    /// deadline passed): the monitor's last look may run.
    workers_stopped: AtomicBool,
}

impl Monitor {
    pub(crate) fn new() -> Monitor {
        Monitor {
            parker: Parker::new(),
            workers_stopped: AtomicBool::new(false),
        }
    }

    /// The shutdown's word that the workers are out of their polls (every
    /// one that will ever return has), so the last look sees each of them
    /// as it ended.
    pub(crate) fn workers_stopped(&self) {
        self.workers_stopped.store(true, Release);
        self.parker.unpark();
    }
}

/// The monitor's view of one worker at its last look.
#[derive(Clone)]
struct Watch {
    polls: u64,
    /// The task in the poll (0 between polls).
    task: u64,
    /// When the monitor first saw the worker in this poll.
    since: Instant,
    /// Debug mode: set once this poll was reported as blocked; who it was,
    /// for the slow-poll report when the poll returns.
    reported: Option<TaskLabel>,
}

/// The monitor thread's body.
pub(crate) fn run(shared: Arc<Shared>) {
    let n = shared.scheduler.remotes.len();
    let threshold = shared.diag.debug.map(|d| d.slow_poll_threshold);
    let mut watches = vec![
        Watch {
            polls: u64::MAX,
            task: 0,
            since: Instant::now(),
            reported: None,
        };
        n
    ];
    let mut next_look = Instant::now() + INTERVAL;
    while !shared.is_shutdown() {
        let all_parked = shared.scheduler.idle.num_parked() == n;
        // A blocked poll being watched keeps the looks frequent even if
        // every worker parks, so that its end is timed to the interval.
        let watching = watches.iter().any(|w| w.reported.is_some());
        let interval = if all_parked && !watching {
            IDLE_INTERVAL
        } else {
            INTERVAL
        };
        let wake_at = shared.time.arm_fallback(Instant::now() + interval);
        shared.scheduler.monitor.parker.park(Some(wake_at));
        if shared.is_shutdown() {
            break;
        }
        let now = Instant::now();
        shared.diag.advance_coarse_clock(now);
        if shared.time.is_due(now) {
            shared.time.fire_due(now);
        }
        // Look for stuck workers once per interval, however often timers
        // wake the monitor.
        if now < next_look {
            continue;
        }
        next_look = now + INTERVAL;
        look(&shared, &mut watches, threshold, now);
    }
    if threshold.is_some() {
        // A last look on the way out: a reported poll that returned since
        // the previous look still gets its slow-poll report. Only once the
        // workers have left their loops: a worker that completed a task
        // (whose joiner may be the thread shutting down) has not always
        // cleared its current task yet, and a look then would take the poll
        // for one still running and never report it.
        while !shared.scheduler.monitor.workers_stopped.load(Acquire) {
            shared.scheduler.monitor.parker.park(None);
        }
        look(&shared, &mut watches, threshold, Instant::now());
    }
}

/// One look at every worker.
///
/// A worker whose poll count has not moved since the last look is inside
/// one long poll (or idle): work queued behind it is rescued by waking a
/// sleeper to steal it.
///
/// In debug mode (`threshold` set), this is also the watchdog: a worker
/// that has been inside the same poll (same poll count, same task) for
/// longer than `threshold` is reported as blocked, once, while it still
/// is; when that poll returns, it is reported again as a slow poll, with
/// how long it took. Durations are measured from the monitor's first sight
/// of the poll, so they are up to one [`INTERVAL`] short, and a poll only
/// slightly longer than `threshold` (by less than an interval) may go
/// unreported. In exchange, the workers never read the clock for it.
fn look(shared: &Shared, watches: &mut [Watch], threshold: Option<Duration>, now: Instant) {
    // Outside work nobody is taking: a spawn that saw a searcher, whose
    // search then found other work, leaves the injector non-empty beside
    // a parked worker. Wake one (if nobody searches); awake workers serve
    // the injector at their next poll boundary anyway.
    if !shared.scheduler.injector.is_empty() {
        shared.scheduler.notify_parked();
    }
    // The reactor's fallback (feature `net`): nobody waits in the poller
    // while every worker is parked off it or inside one long poll.
    let mut busy_stuck = 0;
    let mut parked = 0;
    for (index, (remote, watch)) in shared
        .scheduler
        .remotes
        .iter()
        .zip(watches.iter_mut())
        .enumerate()
    {
        let polls = WorkerStats::get(&remote.stats.polls);
        let task = remote.stats.current_task.load(Relaxed);
        let no_new_poll = polls == watch.polls;
        if no_new_poll && (!remote.lifo.is_empty() || !remote.stealer.is_empty()) {
            shared.scheduler.notify_parked();
        }
        if no_new_poll && task != 0 && task == watch.task {
            busy_stuck += 1;
        } else if remote.stats.parked_since.load(Relaxed) != 0 {
            parked += 1;
        }
        let stuck = now.saturating_duration_since(watch.since);
        if no_new_poll && task == watch.task {
            let blocked = task != 0 && threshold.is_some_and(|t| stuck >= t);
            if blocked && watch.reported.is_none() {
                watch.reported = Some(diagnostics::report_blocked_worker(
                    shared, index, task, stuck,
                ));
            }
            continue;
        }
        if let Some(label) = watch.reported.take() {
            diagnostics::report_slow_poll(&label, stuck);
        }
        *watch = Watch {
            polls,
            task,
            since: now,
            reported: None,
        };
    }
    #[cfg(all(feature = "net", unix))]
    if busy_stuck > 0 && busy_stuck + parked == watches.len() && shared.reactor.has_sources() {
        if let Some(mut driver) = shared.reactor.try_drive() {
            driver.poll_now();
            // Not a worker: the woken tasks go to the injector, and a
            // parked worker is notified.
            driver.dispatch();
            // A worker that parked while the monitor held the driver sleeps
            // on its condvar, and nobody may be left to wait in the
            // poller: nudge a sleeper (a spurious wakeup, which keeps it on
            // the sleeper list) so that it parks again and takes the
            // driver.
            if let Some(index) = shared.scheduler.idle.a_sleeper() {
                shared.scheduler.remotes[index].parker.unpark();
            }
        }
    }
    #[cfg(not(all(feature = "net", unix)))]
    let _ = (busy_stuck, parked);
}
