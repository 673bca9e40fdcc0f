//! The watchdog: a poll that blocks the simulation's thread for real (a
//! `std::thread::sleep`, a blocking lock or blocking I/O, a long loop
//! without an `.await`) stops every step, and the virtual clock with them.
//! The simulation cannot take the thread back, and a blocked thread cannot
//! be unwound; so rather than hang, the process reports the poll and
//! aborts.
//!
//! # The protocol
//!
//! One thread for the process (`magpie-sim-watchdog`), started by the
//! first `Sim::block_on`, watches every simulation being driven: each
//! `block_on` registers its sim (a `Weak`, and its `blocked_after` bound)
//! for as long as it runs, and wakes the watchdog. Every quarter of the
//! smallest bound (between 1 ms and 250 ms) the watchdog looks at each
//! registered sim, with a `try_lock` of its state (never waiting on it):
//! the step count and the task in a poll, if any. When the same poll of
//! the same step is seen for longer than the bound, it writes the report
//! (the task's sim number, name and spawn location, the seed, the thread,
//! and the schedule so far) straight to the process's stderr (not through
//! the test harness's capture) and aborts. The cost on the simulation's
//! side is two registry operations per `block_on`; nothing per step
//! beyond the step counter and the running task it records anyway.

use super::scheduler::Shared;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// What the watchdog saw of a sim: a task (its sim number) in a poll at a
/// step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Observed {
    pub(super) steps: u64,
    pub(super) number: u64,
}

struct Watched {
    key: u64,
    sim: Weak<Shared>,
    bound: Duration,
    /// The thread driving the sim (its name names the test).
    thread: Thread,
    /// The poll seen last, and since when.
    seen: Option<(Observed, Instant)>,
}

#[derive(Default)]
struct Registry {
    watched: Vec<Watched>,
    next_key: u64,
    started: bool,
}

struct Watchdog {
    registry: Mutex<Registry>,
    changed: Condvar,
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| Watchdog {
        registry: Mutex::new(Registry::default()),
        changed: Condvar::new(),
    })
}

/// Watches `sim` until the guard drops (the end of its `block_on`).
pub(super) fn watch(sim: &Arc<Shared>, bound: Duration) -> Guard {
    let dog = watchdog();
    let mut registry = dog.registry.lock().unwrap_or_else(|e| e.into_inner());
    if !registry.started {
        registry.started = true;
        std::thread::Builder::new()
            .name("magpie-sim-watchdog".to_string())
            .spawn(run)
            .expect("magpie::sim: cannot start the watchdog thread");
    }
    let key = registry.next_key;
    registry.next_key += 1;
    registry.watched.push(Watched {
        key,
        sim: Arc::downgrade(sim),
        bound,
        thread: std::thread::current(),
        seen: None,
    });
    dog.changed.notify_one();
    Guard { key }
}

pub(super) struct Guard {
    key: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut registry = watchdog()
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        registry.watched.retain(|w| w.key != self.key);
    }
}

/// The watchdog thread.
fn run() {
    let dog = watchdog();
    let mut registry = dog.registry.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Some(smallest) = registry.watched.iter().map(|w| w.bound).min() else {
            registry = dog
                .changed
                .wait(registry)
                .unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let tick = (smallest / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        registry = dog
            .changed
            .wait_timeout(registry, tick)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        let now = Instant::now();
        for watched in &mut registry.watched {
            let Some(sim) = watched.sim.upgrade() else {
                continue;
            };
            match sim.observe() {
                // The state is locked right now: look again next tick.
                Err(()) => {}
                Ok(None) => watched.seen = None,
                Ok(Some(observed)) => match watched.seen {
                    Some((seen, since)) if seen == observed => {
                        if now.duration_since(since) > watched.bound {
                            report_and_abort(&sim, observed, watched);
                        }
                    }
                    _ => watched.seen = Some((observed, now)),
                },
            }
        }
    }
}

fn report_and_abort(sim: &Shared, observed: Observed, watched: &Watched) -> ! {
    let thread = watched.thread.name().unwrap_or("<unnamed>");
    let report = format!(
        "magpie::sim: blocked: {} has been in one poll for more than {:?} of real time \
         (seed {:#x}, step {}, thread {thread:?}): it blocks the simulation's thread \
         (std::thread::sleep, a blocking lock or blocking I/O, a long loop without an \
         .await?). A blocked thread cannot be unwound, so the process aborts. The run up to \
         here replays with MAGPIE_SCHEDULE={}\n",
        sim.describe(observed.number),
        watched.bound,
        sim.config.seed,
        observed.steps,
        sim.schedule_so_far(),
    );
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(report.as_bytes());
    let _ = stderr.flush();
    std::process::abort()
}
