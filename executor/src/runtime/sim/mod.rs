//! Deterministic simulation: run async code on one OS thread with every
//! scheduling choice taken from a seed, on a virtual clock, so that a
//! concurrency bug is found by exploring seeds and replayed from one.
//!
//! A [`Sim`] simulates the runtime's workers (two by default), their LIFO
//! slots, deques, the injector and work stealing, on the thread that calls
//! [`Sim::block_on`]. Inside it, unchanged code works: [`spawn`](crate::spawn),
//! [`try_spawn`](crate::try_spawn), [`task::Builder`](crate::task::Builder),
//! [`spawn_blocking`](crate::task::spawn_blocking), [`JoinHandle`](crate::JoinHandle)
//! (await, cancel, `on_done`), [`TaskGroup`](crate::TaskGroup),
//! [`gather`](crate::gather) / [`wait`](crate::wait) / [`as_completed`](crate::as_completed),
//! [`yield_now`](crate::task::yield_now), [`task::current`](crate::task::current),
//! [`magpie::time`](crate::time) and every [`magpie::sync`](crate::sync)
//! primitive.
//!
//! * **Same seed, same schedule.** Which worker runs next, whether a wake
//!   goes to the LIFO slot or the deque, which victim is robbed, the order
//!   of timers due at the same instant: all come from the seed.
//!   [`Sim::trace`] lists what ran; two runs with one seed give one trace.
//! * **Virtual time.** When no task can run, the clock jumps to the next
//!   timer deadline: a 10-minute timeout takes microseconds. Read time with
//!   [`magpie::time::now`](crate::time::now); `std::time::Instant::now()`
//!   is real time.
//! * **Failures are reported, not hung**: a deadlock (nothing can run, no
//!   timer pending, the main future unfinished) and a livelock (more than
//!   [`Builder::max_steps`] steps) panic with every unfinished task's
//!   number, name and spawn location.
//! * **Exploration**: [`Explore`] runs a test over many seeds and reports
//!   the first failing one with a replay command (`MAGPIE_SEED=...`).
//! * **Shrinking**: a run's choices are recorded ([`Sim::schedule`]); a
//!   failing one is shrunk to fewer preemptions and reported with a
//!   replay string ([`Schedule`], `MAGPIE_SCHEDULE=...`).
//!
//! What is not simulated: real OS threads (a waker called from another
//! thread is honoured, but when it comes is not under the seed's control,
//! and the simulation does not wait for it: with nothing else to do it
//! reports a deadlock), real I/O, and real time. `spawn_blocking` runs its
//! closure as a simulated task, in one poll, when the simulation picks it:
//! a closure (or a poll) that blocks for real blocks the whole simulation,
//! and after [`Builder::blocked_after`] a watchdog reports it and aborts
//! the process rather than hang. See
//! `docs/deterministic.md`.
//!
//! ```
//! use magpie::sync::Lock;
//! use std::sync::Arc;
//!
//! let sim = magpie::sim::Builder::new().seed(42).build();
//! let total = sim.block_on(async {
//!     let counter = Arc::new(Lock::new(0));
//!     let tasks: Vec<_> = (0..4)
//!         .map(|_| {
//!             let counter = counter.clone();
//!             magpie::spawn(async move {
//!                 let mut n = counter.lock().await;
//!                 magpie::task::yield_now().await;
//!                 *n += 1;
//!             })
//!         })
//!         .collect();
//!     magpie::gather(tasks).await;
//!     *counter.lock().await
//! });
//! assert_eq!(total, 4);
//! ```

mod choices;
mod explore;
mod scheduler;
mod watchdog;

pub use self::choices::{Schedule, ScheduleError};
pub use self::explore::{DEFAULT_SHRINK_RUNS, Explore, Failure, SCHEDULE_VAR, SEED_VAR, explore};

use self::choices::Fit;
use self::scheduler::SimScheduler;
pub(crate) use self::scheduler::current;
use crate::runtime::timer::Driver;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// The default [`Builder::blocked_after`].
pub const DEFAULT_BLOCKED_AFTER: Duration = Duration::from_secs(5);

/// The default [`Builder::max_steps`].
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) seed: u64,
    pub(crate) workers: usize,
    pub(crate) max_steps: u64,
    pub(crate) scheduler: Scheduler,
    /// A recorded schedule to replay instead of drawing from the seed.
    pub(crate) replay: Option<(Vec<Vec<u64>>, Fit)>,
    /// Shrinking's preemption-bounded runs: a stream's seed, and one
    /// preemptible pick in how many preempts.
    pub(crate) sparse: Option<(u64, usize)>,
    /// Real time one poll may take before the watchdog aborts.
    pub(crate) blocked_after: Duration,
}

/// How a [`Sim`] picks what runs next.
///
/// ```
/// use magpie::sim::{Builder, Scheduler};
/// let sim = Builder::new()
///     .scheduler(Scheduler::Pct { depth: 3, steps: 100 })
///     .build();
/// assert_eq!(sim.block_on(async { magpie::spawn(async { 5 }).await.unwrap() }), 5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheduler {
    /// The default: the runtime's own rules (LIFO slot, deque, injector,
    /// stealing) on simulated workers, with the seed choosing which worker
    /// takes a turn, where a wake goes, which victim is robbed and the
    /// order of simultaneous timers.
    #[default]
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010):
    /// every task (and the main future) gets a random priority when it is
    /// spawned, the highest-priority runnable one always runs, and at
    /// `depth - 1` random steps among the first `steps` the running task's
    /// priority drops below all others. A bug that needs `depth` ordering
    /// constraints among `n` tasks is found by one run with probability at
    /// least `1 / (n * steps^(depth - 1))`, so few seeds find shallow bugs.
    /// Worker queues still hold the entries, but not their order: PCT
    /// looks at every queued entry. Take `steps` from the
    /// [`Sim::steps`] of a passing run.
    Pct {
        /// The bug depth searched for: 1 means no priority change.
        depth: u32,
        /// The expected length of a run, in steps: change points are drawn
        /// among the first `steps` steps.
        steps: u64,
    },
}

/// Configures a [`Sim`].
///
/// ```
/// let sim = magpie::sim::Builder::new()
///     .seed(0xC0FFEE)
///     .workers(4)
///     .max_steps(10_000)
///     .build();
/// assert_eq!(sim.block_on(async { magpie::spawn(async { 2 }).await.unwrap() }), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// Seed 0, two simulated workers, [`DEFAULT_MAX_STEPS`] steps.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// assert_eq!(sim.seed(), 0);
    /// ```
    pub fn new() -> Builder {
        Builder {
            config: Config {
                seed: 0,
                workers: 2,
                max_steps: DEFAULT_MAX_STEPS,
                scheduler: Scheduler::Random,
                replay: None,
                sparse: None,
                blocked_after: DEFAULT_BLOCKED_AFTER,
            },
        }
    }

    /// The seed every scheduling choice derives from.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().seed(7).build();
    /// assert_eq!(sim.seed(), 7);
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.config.seed = seed;
        self
    }

    /// How many workers to simulate (default 2). With one, there is no
    /// stealing, and tasks run in the order of the LIFO slot, the deque
    /// and the injector.
    ///
    /// # Panics
    ///
    /// If `workers` is 0.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().workers(1).build();
    /// assert_eq!(sim.block_on(async { 1 }), 1);
    /// ```
    pub fn workers(mut self, workers: usize) -> Builder {
        assert!(
            workers > 0,
            "magpie::sim::Builder::workers: at least one worker"
        );
        self.config.workers = workers;
        self
    }

    /// Steps (polls of a task or of the main future) after which the run
    /// is declared a livelock and panics with a report of the unfinished
    /// tasks.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().max_steps(100).build();
    /// let spinning = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     sim.block_on(async {
    ///         loop {
    ///             magpie::task::yield_now().await;
    ///         }
    ///     })
    /// }));
    /// let message = *spinning.unwrap_err().downcast::<String>().unwrap();
    /// assert!(message.contains("livelock"), "{message}");
    /// ```
    pub fn max_steps(mut self, max_steps: u64) -> Builder {
        self.config.max_steps = max_steps;
        self
    }

    /// Real time a single poll may take (default
    /// [`DEFAULT_BLOCKED_AFTER`], 5 s). A task that blocks the
    /// simulation's thread for real (`std::thread::sleep`, a blocking lock
    /// or I/O, a long loop without an `.await`) stops the simulation and
    /// its virtual clock; after this long in one poll a watchdog thread
    /// writes a report to stderr (the task's number, name and spawn
    /// location, the seed, the thread, and a `MAGPIE_SCHEDULE` replay of
    /// the run so far) and **aborts the process**: a blocked thread cannot
    /// be unwound. `Duration::MAX` turns the watchdog off.
    ///
    /// ```
    /// use std::time::Duration;
    /// // A poll that takes a real millisecond is well within the bound.
    /// let sim = magpie::sim::Builder::new()
    ///     .blocked_after(Duration::from_secs(10))
    ///     .build();
    /// sim.block_on(async {
    ///     magpie::spawn(async { std::thread::sleep(Duration::from_millis(1)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    pub fn blocked_after(mut self, bound: Duration) -> Builder {
        self.config.blocked_after = bound;
        self
    }

    /// The scheduling strategy (default [`Scheduler::Random`]).
    ///
    /// ```
    /// use magpie::sim::{Builder, Scheduler};
    /// let sim = Builder::new().seed(4).scheduler(Scheduler::Pct { depth: 2, steps: 20 }).build();
    /// sim.block_on(async {
    ///     let a = magpie::spawn(async { magpie::task::yield_now().await });
    ///     a.await.unwrap();
    /// });
    /// ```
    pub fn scheduler(mut self, scheduler: Scheduler) -> Builder {
        self.config.scheduler = scheduler;
        self
    }

    /// Replays a recorded [`Schedule`] (from [`Sim::schedule`], or parsed
    /// from a failure report's `MAGPIE_SCHEDULE=...`): its seed, worker
    /// count, scheduler and every choice, so that the same program takes
    /// the same steps. Past the end of the record, each choice is the
    /// default one (no preemption). A recorded choice that does not fit
    /// the program (another test, other code) makes the run panic with an
    /// explanation.
    ///
    /// ```
    /// let program = || async {
    ///     let a = magpie::spawn(async { magpie::task::yield_now().await });
    ///     let b = magpie::spawn(async { magpie::task::yield_now().await });
    ///     let _ = (a.await, b.await);
    /// };
    /// let sim = magpie::sim::Builder::new().seed(77).build();
    /// sim.block_on(program());
    /// let replay = magpie::sim::Builder::new().replay(sim.schedule()).build();
    /// replay.block_on(program());
    /// assert_eq!(replay.trace(), sim.trace());
    /// ```
    pub fn replay(self, schedule: Schedule) -> Builder {
        self.replay_with(schedule, Fit::Strict)
    }

    pub(super) fn replay_with(mut self, schedule: Schedule, fit: Fit) -> Builder {
        self.config.seed = schedule.seed;
        self.config.workers = schedule.workers;
        self.config.scheduler = schedule.scheduler;
        self.config.replay = Some((schedule.rounds, fit));
        self
    }

    /// A run that preempts rarely: one preemptible pick in `one_in`, drawn
    /// from `stream` (the seed still drives every other choice).
    pub(super) fn sparse(mut self, stream: u64, one_in: usize) -> Builder {
        self.config.sparse = Some((stream, one_in));
        self
    }

    /// Creates the simulation.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().seed(1).build();
    /// # drop(sim);
    /// ```
    pub fn build(self) -> Sim {
        Sim {
            scheduler: SimScheduler::new(self.config),
            _not_sync: PhantomData,
        }
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

/// A deterministic simulated runtime: see the [module](self) docs.
///
/// Tasks still unfinished when [`block_on`](Self::block_on) returns stay
/// in the sim for its next `block_on`; dropping the sim drops their
/// futures, on this thread, and their `JoinHandle`s resolve to a cancelled
/// [`JoinError`](crate::task::JoinError).
///
/// ```
/// let sim = magpie::sim::Builder::new().seed(3).build();
/// let pending = sim.block_on(async { magpie::spawn(std::future::pending::<()>()) });
/// assert_eq!(sim.len(), 1);
/// drop(sim);
/// assert!(pending.is_finished());
/// ```
pub struct Sim {
    scheduler: SimScheduler,
    /// `!Sync`: one thread drives a sim at a time.
    _not_sync: PhantomData<Cell<()>>,
}

impl Sim {
    /// Runs `future` to completion, with the sim's tasks, on this thread.
    ///
    /// # Panics
    ///
    /// If `future` panics (the panic propagates); on a deadlock or a
    /// livelock (with a report naming the unfinished tasks); inside another
    /// simulation's `block_on`.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// let stuck = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     sim.block_on(async {
    ///         let event = std::sync::Arc::new(magpie::sync::Event::new());
    ///         let waiter = magpie::task::Builder::new()
    ///             .name("waiter")
    ///             .spawn(async move { event.wait().await });
    ///         waiter.await.unwrap(); // nobody ever sets the event
    ///     })
    /// }));
    /// let report = *stuck.unwrap_err().downcast::<String>().unwrap();
    /// assert!(report.contains("deadlock") && report.contains("\"waiter\""), "{report}");
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.scheduler
            .block_on(future, std::panic::Location::caller())
    }

    /// The seed of this simulation.
    ///
    /// ```
    /// assert_eq!(magpie::sim::Builder::new().seed(9).build().seed(), 9);
    /// ```
    pub fn seed(&self) -> u64 {
        self.scheduler.0.config.seed
    }

    /// Every step so far, in order: `(task, run)`, where `task` numbers
    /// the sim's tasks in spawn order from 1 (0 is the future given to
    /// `block_on`) and `run` counts that task's polls from 1. Two sims
    /// with the same seed, workers and program give the same trace.
    ///
    /// ```
    /// let trace = |seed| {
    ///     let sim = magpie::sim::Builder::new().seed(seed).build();
    ///     sim.block_on(async {
    ///         let a = magpie::spawn(async { magpie::task::yield_now().await });
    ///         let b = magpie::spawn(async { magpie::task::yield_now().await });
    ///         let _ = (a.await, b.await);
    ///     });
    ///     sim.trace()
    /// };
    /// assert_eq!(trace(5), trace(5));
    /// assert_eq!(trace(5)[0], (0, 1)); // the main future's first poll
    /// ```
    pub fn trace(&self) -> Vec<(u64, u64)> {
        self.scheduler.trace()
    }

    /// Steps taken so far (the trace's length).
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// sim.block_on(async {});
    /// assert_eq!(sim.steps(), 1);
    /// ```
    pub fn steps(&self) -> u64 {
        self.scheduler.steps()
    }

    /// The choices made so far, as a [`Schedule`] that
    /// [`Builder::replay`] replays (its `Display` is the string
    /// `MAGPIE_SCHEDULE` takes).
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().seed(5).build();
    /// sim.block_on(async { magpie::spawn(async {}).await.unwrap() });
    /// assert!(sim.schedule().to_string().starts_with("m1:5:2:r:"));
    /// ```
    pub fn schedule(&self) -> Schedule {
        self.scheduler.schedule()
    }

    /// Preemptions so far: steps that switched away from the simulated
    /// worker (or the main future) that ran the step before although it
    /// could have gone on.
    ///
    /// ```
    /// // One worker and a single task: nothing to switch to.
    /// let sim = magpie::sim::Builder::new().workers(1).build();
    /// sim.block_on(async {});
    /// assert_eq!(sim.preemptions(), 0);
    /// ```
    pub fn preemptions(&self) -> u64 {
        self.scheduler.preemptions().len() as u64
    }

    /// Virtual time elapsed since the sim was built.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sim = magpie::sim::Builder::new().build();
    /// sim.block_on(magpie::time::sleep(Duration::from_secs(60)));
    /// assert!(sim.elapsed() >= Duration::from_secs(60));
    /// assert!(sim.elapsed() < Duration::from_secs(61));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.scheduler.elapsed()
    }

    /// Tasks spawned in this sim and not finished yet.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// sim.block_on(async { magpie::spawn(async {}).await.unwrap() });
    /// assert_eq!(sim.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.scheduler.len()
    }

    /// Whether every task of the sim has finished.
    ///
    /// ```
    /// assert!(magpie::sim::Builder::new().build().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed())
            .field("tasks", &self.len())
            .field("steps", &self.steps())
            .finish()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.scheduler.shutdown();
    }
}

/// Runs `future` in a new simulation with seed `seed` and the default
/// configuration ([`Builder::new`]).
///
/// ```
/// let out = magpie::sim::run(11, async {
///     let t = magpie::spawn(async { 20 });
///     t.await.unwrap() + 1
/// });
/// assert_eq!(out, 21);
/// ```
#[track_caller]
pub fn run<F: Future>(seed: u64, future: F) -> F::Output {
    Builder::new().seed(seed).build().block_on(future)
}

/// A random number for the program's own use: inside a simulation, the
/// next number of a stream derived from its seed, so that a replay draws
/// the same numbers (the stream is separate from the schedule's: drawing
/// does not change which task runs next); elsewhere, a number from the
/// standard library's randomly keyed hasher, different on every call.
///
/// Code meant to run under simulation should take its randomness (backoff
/// jitter, random choices, generated test data) from here.
///
/// ```
/// let draws = |seed| magpie::sim::run(seed, async {
///     let jitter = magpie::spawn(async { magpie::sim::random_u64() % 100 });
///     (magpie::sim::random_u64(), jitter.await.unwrap())
/// });
/// assert_eq!(draws(8), draws(8));
/// assert_ne!(draws(8), draws(9));
/// ```
pub fn random_u64() -> u64 {
    match current() {
        Some(sim) => sim.random_u64(),
        None => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    }
}

/// A simulation's timers, for `Sleep` (see `runtime::timer::TimerOwner`).
pub(crate) struct SimTimers(SimScheduler);

impl SimTimers {
    pub(crate) fn driver(&self) -> &Driver {
        &self.0.0.driver
    }
}

/// The timers of the simulation driven on this thread.
pub(crate) fn current_timers() -> Option<SimTimers> {
    current().map(SimTimers)
}

/// The virtual time of the simulation driven on this thread.
pub(crate) fn virtual_now() -> Option<Instant> {
    current().map(|sim| sim.0.driver.clock.now())
}
