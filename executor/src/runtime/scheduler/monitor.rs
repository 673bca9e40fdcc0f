//! The monitor: a small thread that watches the workers from outside.
//!
//! Every [`INTERVAL`] while any worker is awake, it looks at each worker's
//! poll counter. A worker whose counter has not moved since the last look
//! is inside one long poll; if work is queued behind it (in its LIFO slot or
//! its deque) the monitor wakes a sleeping worker to steal it. This is what
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
//! The monitor does not run under loom (no clock, and loom's thread limit).

use super::Shared;
use super::park::Parker;
use super::stats::WorkerStats;
use crate::loom::sync::Arc;
use crate::runtime::diagnostics;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How often the monitor looks while workers are busy.
pub(crate) const INTERVAL: Duration = Duration::from_millis(1);

/// How long it sleeps at most while every worker is parked.
pub(crate) const IDLE_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) struct Monitor {
    pub(crate) parker: Parker,
}

impl Monitor {
    pub(crate) fn new() -> Monitor {
        Monitor {
            parker: Parker::new(),
        }
    }
}

/// The blocked-worker watchdog's view of one worker (debug mode).
#[derive(Clone, Copy)]
struct Watch {
    polls: u64,
    task: u64,
    /// When the monitor first saw the worker in this poll.
    since: Instant,
    reported: bool,
}

/// The monitor thread's body.
pub(crate) fn run(shared: Arc<Shared>) {
    let n = shared.remotes.len();
    let mut last_polls = vec![u64::MAX; n];
    let mut watches = vec![
        Watch {
            polls: u64::MAX,
            task: 0,
            since: Instant::now(),
            reported: false,
        };
        n
    ];
    let mut next_look = Instant::now() + INTERVAL;
    while !shared.is_shutdown() {
        let all_parked = shared.idle.num_parked() == n;
        let interval = if all_parked { IDLE_INTERVAL } else { INTERVAL };
        let wake_at = shared.time.arm_fallback(Instant::now() + interval);
        shared.monitor.parker.park(Some(wake_at));
        if shared.is_shutdown() {
            break;
        }
        let now = Instant::now();
        if shared.time.is_due(now) {
            shared.time.fire_due(now);
        }
        // Look for stuck workers once per interval, however often timers
        // wake the monitor.
        if now < next_look {
            continue;
        }
        next_look = now + INTERVAL;
        for (remote, last) in shared.remotes.iter().zip(last_polls.iter_mut()) {
            let polls = WorkerStats::get(&remote.stats.polls);
            let stuck = polls == *last;
            *last = polls;
            if stuck && (!remote.lifo.is_empty() || !remote.stealer.is_empty()) {
                shared.notify_parked();
            }
        }
        if let Some(debug) = &shared.config.debug {
            watch_blocked(&shared, &mut watches, debug.slow_poll_threshold, now);
        }
    }
}

/// Debug mode's watchdog: reports, once per poll, a worker that has been
/// inside the same poll (same poll count, same task) for longer than
/// `threshold`. The duration is measured from the monitor's first sight of
/// the poll, so it is at most one [`INTERVAL`] short.
fn watch_blocked(shared: &Shared, watches: &mut [Watch], threshold: Duration, now: Instant) {
    for (index, (remote, watch)) in shared.remotes.iter().zip(watches.iter_mut()).enumerate() {
        let polls = WorkerStats::get(&remote.stats.polls);
        let task = remote.stats.current_task.load(Relaxed);
        if task != 0 && polls == watch.polls && task == watch.task {
            let stuck = now.saturating_duration_since(watch.since);
            if !watch.reported && stuck >= threshold {
                watch.reported = true;
                diagnostics::report_blocked_worker(shared, index, task, stuck);
            }
        } else {
            *watch = Watch {
                polls,
                task,
                since: now,
                reported: false,
            };
        }
    }
}
