//! Exploration: one test, many seeds, the first failure reported with the
//! command that replays it.

use super::choices::Fit;
use super::{Builder, DEFAULT_MAX_STEPS, Schedule, Scheduler};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The environment variable that makes [`Explore`] run one seed only: the
/// replay of a reported failure (`MAGPIE_SEED=0x2a`, or decimal).
pub const SEED_VAR: &str = "MAGPIE_SEED";

/// The environment variable that makes [`Explore`] replay one recorded
/// [`Schedule`] (the shrunk schedule of a failure report:
/// `MAGPIE_SCHEDULE=m1:...`). It wins over [`SEED_VAR`].
pub const SCHEDULE_VAR: &str = "MAGPIE_SCHEDULE";

/// The default [`Explore::shrink_runs`].
pub const DEFAULT_SHRINK_RUNS: u64 = 1_000;

/// Runs a test in a fresh [`Sim`](super::Sim) for each of many seeds, and
/// stops at the first that fails (a panic in the test, in the main future
/// or from a task whose panic the test unwraps, a deadlock, a livelock).
///
/// With the environment variable `MAGPIE_SEED` set, only that seed runs:
/// that is how a reported failure is replayed. On a failure, the schedule
/// is *shrunk*: its preemptions are taken out, greedily, as long as the
/// run still fails, and the report gives the smallest failing schedule
/// found, replayed with `MAGPIE_SCHEDULE=...`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// // A correct counter: every seed passes.
/// magpie::sim::Explore::new().seeds(50).run(|| async {
///     let n = Arc::new(AtomicU32::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let n = n.clone();
///             magpie::spawn(async move {
///                 magpie::task::yield_now().await;
///                 n.fetch_add(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     magpie::gather(tasks).await;
///     assert_eq!(n.load(Ordering::SeqCst), 3);
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Explore {
    seeds: u64,
    first_seed: u64,
    shrink_runs: u64,
    builder: Builder,
}

/// The first failing seed of an exploration ([`Explore::check`]). Its
/// `Display` is the report [`Explore::run`] panics with, replay command
/// included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    seed: u64,
    runs: u64,
    message: String,
    test: String,
    /// Boxed: a `Result<_, Failure>` stays small.
    shrunk: Box<Shrunk>,
}

/// What shrinking found: the schedule, and the run that recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shrunk {
    schedule: Schedule,
    preemptions: u64,
    original_preemptions: u64,
    runs: u64,
    message: String,
}

impl Failure {
    /// The failing seed.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .first_seed(5)
    ///     .check(|| async { panic!("always") })
    ///     .unwrap_err();
    /// assert_eq!(failure.seed(), 5);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many seeds ran, the failing one included.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("always") })
    ///     .unwrap_err();
    /// assert_eq!(failure.runs(), 1);
    /// ```
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The panic message of the failing run.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("broken invariant") })
    ///     .unwrap_err();
    /// assert_eq!(failure.message(), "broken invariant");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The one-line shell command that replays the failing seed.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .first_seed(0x2a)
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert!(failure.replay_command().starts_with("MAGPIE_SEED=0x2a cargo test "));
    /// ```
    pub fn replay_command(&self) -> String {
        format!(
            "{SEED_VAR}={:#x} cargo test {} -- --exact",
            self.seed, self.test
        )
    }

    /// The smallest failing schedule the shrinking found (the failing
    /// seed's own, if no preemption could be taken out).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .first_seed(9)
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert_eq!(failure.schedule().seed(), 9);
    /// ```
    pub fn schedule(&self) -> &Schedule {
        &self.shrunk.schedule
    }

    /// Preemptions in the failing seed's schedule.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert_eq!(failure.original_preemptions(), 0); // nothing ran but the test
    /// ```
    pub fn original_preemptions(&self) -> u64 {
        self.shrunk.original_preemptions
    }

    /// Preemptions in the shrunk [`schedule`](Self::schedule): at most
    /// [`original_preemptions`](Self::original_preemptions).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert!(failure.preemptions() <= failure.original_preemptions());
    /// ```
    pub fn preemptions(&self) -> u64 {
        self.shrunk.preemptions
    }

    /// Runs spent shrinking.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .shrink_runs(0)
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert_eq!(failure.shrink_runs(), 0);
    /// ```
    pub fn shrink_runs(&self) -> u64 {
        self.shrunk.runs
    }

    /// The panic message of the shrunk schedule's run (usually
    /// [`message`](Self::message); a shrunk schedule may fail another way,
    /// a deadlock at another step, say).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert_eq!(failure.shrunk_message(), "boom");
    /// ```
    pub fn shrunk_message(&self) -> &str {
        &self.shrunk.message
    }

    /// The one-line shell command that replays the shrunk schedule.
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert!(failure.schedule_replay_command().starts_with("MAGPIE_SCHEDULE=m1:0:2:r:"));
    /// ```
    pub fn schedule_replay_command(&self) -> String {
        format!(
            "{SCHEDULE_VAR}={} cargo test {} -- --exact",
            self.shrunk.schedule, self.test
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "magpie::sim::explore: seed {:#x} failed (seed {} of this exploration): {}\n\
             replay it with: {}\n\
             shrunk from {} to {} preemption(s) in {} run(s)",
            self.seed,
            self.runs,
            self.message,
            self.replay_command(),
            self.shrunk.original_preemptions,
            self.shrunk.preemptions,
            self.shrunk.runs,
        )?;
        if self.shrunk.message != self.message {
            write!(f, ", failing with: {}", self.shrunk.message)?;
        }
        write!(
            f,
            "; replay the shrunk schedule with: {}",
            self.schedule_replay_command()
        )
    }
}

impl std::error::Error for Failure {}

impl Explore {
    /// 1,000 seeds from 0, simulations as [`Builder::new`] makes them.
    ///
    /// ```
    /// magpie::sim::Explore::new().seeds(10).run(|| async {});
    /// ```
    pub fn new() -> Explore {
        Explore {
            seeds: 1_000,
            first_seed: 0,
            shrink_runs: DEFAULT_SHRINK_RUNS,
            builder: Builder::new().max_steps(DEFAULT_MAX_STEPS),
        }
    }

    /// How many seeds to try.
    ///
    /// ```
    /// let runs = magpie::sim::Explore::new().seeds(25).check(|| async {}).unwrap();
    /// # if std::env::var_os("MAGPIE_SEED").is_none() {
    /// assert_eq!(runs, 25);
    /// # }
    /// ```
    pub fn seeds(mut self, seeds: u64) -> Explore {
        self.seeds = seeds;
        self
    }

    /// The first seed; the others follow it (`first, first + 1, ...`).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .first_seed(100)
    ///     .check(|| async { panic!() })
    ///     .unwrap_err();
    /// assert_eq!(failure.seed(), 100);
    /// ```
    pub fn first_seed(mut self, seed: u64) -> Explore {
        self.first_seed = seed;
        self
    }

    /// At most this many runs spent shrinking a failing schedule (default
    /// [`DEFAULT_SHRINK_RUNS`]; 0 reports the failing seed's schedule as
    /// it is).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .shrink_runs(5)
    ///     .check(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert!(failure.shrink_runs() <= 5);
    /// ```
    pub fn shrink_runs(mut self, runs: u64) -> Explore {
        self.shrink_runs = runs;
        self
    }

    /// Simulated workers per run (see [`Builder::workers`]).
    ///
    /// ```
    /// magpie::sim::Explore::new().workers(3).seeds(5).run(|| async {});
    /// ```
    pub fn workers(mut self, workers: usize) -> Explore {
        self.builder = self.builder.workers(workers);
        self
    }

    /// Steps per run before a livelock is reported (see
    /// [`Builder::max_steps`]).
    ///
    /// ```
    /// let failure = magpie::sim::Explore::new()
    ///     .max_steps(50)
    ///     .check(|| async {
    ///         loop {
    ///             magpie::task::yield_now().await;
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert!(failure.message().contains("livelock"));
    /// ```
    pub fn max_steps(mut self, max_steps: u64) -> Explore {
        self.builder = self.builder.max_steps(max_steps);
        self
    }

    /// Real time one poll may take before the watchdog reports it and
    /// aborts the process (see [`Builder::blocked_after`]).
    ///
    /// ```
    /// magpie::sim::Explore::new()
    ///     .blocked_after(std::time::Duration::from_secs(30))
    ///     .seeds(3)
    ///     .run(|| async {});
    /// ```
    pub fn blocked_after(mut self, bound: std::time::Duration) -> Explore {
        self.builder = self.builder.blocked_after(bound);
        self
    }

    /// The scheduling strategy of every run (see [`Scheduler`]).
    ///
    /// ```
    /// use magpie::sim::{Explore, Scheduler};
    /// Explore::new()
    ///     .scheduler(Scheduler::Pct { depth: 2, steps: 10 })
    ///     .seeds(20)
    ///     .run(|| async { magpie::spawn(async {}).await.unwrap() });
    /// ```
    pub fn scheduler(mut self, scheduler: Scheduler) -> Explore {
        self.builder = self.builder.scheduler(scheduler);
        self
    }

    /// Runs `test`'s future in a fresh simulation per seed; returns how
    /// many seeds passed, or the first failure. `test` is called once per
    /// seed, inside that seed's simulation.
    ///
    /// # Panics
    ///
    /// If `MAGPIE_SEED` is set to something that is not a number, or
    /// `MAGPIE_SCHEDULE` to something that is not a schedule.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// // Check-then-act across an await: some schedules run both.
    /// let failure = magpie::sim::Explore::new()
    ///     .check(|| async {
    ///         let taken = Arc::new(AtomicBool::new(false));
    ///         let claim = |taken: Arc<AtomicBool>| async move {
    ///             if !taken.load(Ordering::SeqCst) {
    ///                 magpie::task::yield_now().await;
    ///                 assert!(!taken.swap(true, Ordering::SeqCst), "claimed twice");
    ///             }
    ///         };
    ///         let a = magpie::spawn(claim(taken.clone()));
    ///         let b = magpie::spawn(claim(taken.clone()));
    ///         a.await.unwrap();
    ///         b.await.unwrap();
    ///     })
    ///     .unwrap_err();
    /// assert!(failure.message().contains("claimed twice"));
    /// ```
    pub fn check<T, F>(&self, test: T) -> Result<u64, Failure>
    where
        T: Fn() -> F,
        F: Future,
    {
        if let Some(schedule) = replay_schedule() {
            let run = run_once(&test, self.builder.clone().replay(schedule));
            return match run.failure.clone() {
                None => Ok(1),
                Some(message) => Err(self.failure(1, message, run, 0)),
            };
        }
        let seeds: Box<dyn Iterator<Item = u64>> = match replay_seed() {
            Some(seed) => Box::new(std::iter::once(seed)),
            None => Box::new((0..self.seeds).map(|i| self.first_seed.wrapping_add(i))),
        };
        let mut runs = 0;
        for seed in seeds {
            runs += 1;
            let run = run_once(&test, self.builder.clone().seed(seed));
            if let Some(message) = run.failure.clone() {
                let (shrunk, attempts) = self.shrink(&test, run);
                return Err(self.failure(runs, message, shrunk, attempts));
            }
        }
        Ok(runs)
    }

    /// Shrinking, in rounds, within [`shrink_runs`](Self::shrink_runs)
    /// runs. Each round tries, in order: every preemption taken out at
    /// once; the schedule cut just after each preemption (the earliest
    /// cut first: the defaults, with no preemption, from there on); each
    /// preemption taken out alone (the last first). Taking a preemption
    /// out changes what every later round sees, so when none of those
    /// fails, the round turns to fresh runs of the same seed that preempt
    /// rarely (aiming at fewer preemptions than the best so far). The
    /// first candidate that fails with fewer preemptions than the best
    /// becomes the best, and a new round starts.
    fn shrink<T, F>(&self, test: &T, first: Run) -> (Run, u64)
    where
        T: Fn() -> F,
        F: Future,
    {
        let original = first.preemptions.len();
        let mut best = first;
        best.original = original;
        let mut attempts = 0;
        let mut stream = 0u64;
        'shrink: while !best.preemptions.is_empty() {
            let preemptions = best.preemptions.clone();
            let all = std::iter::once(Shrink::Remove(preemptions.clone()));
            let cuts = preemptions[..preemptions.len() - 1]
                .iter()
                .map(|&p| Shrink::CutAfter(p));
            let ones = preemptions
                .iter()
                .rev()
                .map(|&p| Shrink::Remove(vec![p]))
                .skip(usize::from(preemptions.len() < 2));
            let rounds = best.schedule.rounds.len();
            // Aim at 1, 2, ..., best - 1 preemptions in turn (with one
            // preemption at best, only taking it out is left to try).
            let aims = preemptions.len() - 1;
            let sparse = (0..usize::from(aims > 0) * usize::MAX).map(|i| {
                let aim = 1 + i % aims.max(1);
                Shrink::Sparse(rounds / aim)
            });
            for attempt in all.chain(cuts).chain(ones).chain(sparse) {
                if attempts >= self.shrink_runs {
                    break 'shrink;
                }
                attempts += 1;
                let mut candidate = best.schedule.clone();
                let builder = match attempt {
                    Shrink::Remove(rounds) => {
                        for round in rounds {
                            // The round's pick, its first choice.
                            candidate.rounds[round][0] = 0;
                        }
                        self.builder.clone().replay_with(candidate, Fit::Lenient)
                    }
                    Shrink::CutAfter(round) => {
                        candidate.rounds.truncate(round + 1);
                        self.builder.clone().replay_with(candidate, Fit::Lenient)
                    }
                    Shrink::Sparse(one_in) => {
                        stream += 1;
                        self.builder
                            .clone()
                            .seed(best.schedule.seed)
                            .sparse(stream, one_in)
                    }
                };
                let mut run = run_once(test, builder);
                if run.failure.is_some() && run.preemptions.len() < preemptions.len() {
                    run.original = original;
                    best = run;
                    continue 'shrink;
                }
            }
            // Nothing left to try.
            break;
        }
        (best, attempts)
    }

    fn failure(&self, runs: u64, message: String, run: Run, attempts: u64) -> Failure {
        let mut schedule = run.schedule;
        if schedule.scheduler == Scheduler::Random {
            // Past its end a replay takes the defaults (0): trailing zeros
            // say nothing.
            while schedule
                .rounds
                .last()
                .is_some_and(|round| round.iter().all(|&c| c == 0))
            {
                schedule.rounds.pop();
            }
        }
        Failure {
            seed: schedule.seed,
            runs,
            message,
            test: test_name(),
            shrunk: Box::new(Shrunk {
                preemptions: run.preemptions.len() as u64,
                original_preemptions: run.original.max(run.preemptions.len()) as u64,
                runs: attempts,
                message: run.failure.unwrap_or_default(),
                schedule,
            }),
        }
    }

    /// [`check`](Self::check), panicking with the [`Failure`] report (the
    /// seed, the panic, and the replay command) if a seed fails: the shape
    /// for a `#[test]`.
    ///
    /// ```
    /// let report = std::panic::catch_unwind(|| {
    ///     magpie::sim::Explore::new().run(|| async { panic!("found it") })
    /// })
    /// .unwrap_err();
    /// let report = report.downcast::<String>().unwrap();
    /// assert!(report.contains("found it") && report.contains("MAGPIE_SEED="));
    /// ```
    #[track_caller]
    pub fn run<T, F>(&self, test: T)
    where
        T: Fn() -> F,
        F: Future,
    {
        if let Err(failure) = self.check(test) {
            panic!("{failure}");
        }
    }
}

impl Default for Explore {
    fn default() -> Explore {
        Explore::new()
    }
}

/// [`Explore::new().run(test)`](Explore::run): 1,000 seeds, panics with a
/// replay command at the first failure.
///
/// ```
/// magpie::sim::explore(|| async {
///     let (a, b) = (magpie::spawn(async { 1 }), magpie::spawn(async { 2 }));
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// });
/// ```
#[track_caller]
pub fn explore<T, F>(test: T)
where
    T: Fn() -> F,
    F: Future,
{
    Explore::new().run(test)
}

/// A shrinking attempt on a failing schedule.
enum Shrink {
    /// The picks of these rounds replaced by the default choice.
    Remove(Vec<usize>),
    /// The schedule cut after this round: defaults from there on.
    CutAfter(usize),
    /// A fresh run of the seed preempting at one preemptible pick in this
    /// many.
    Sparse(usize),
}

/// One run of a test in a simulation: how it failed, if it did, and its
/// record.
struct Run {
    failure: Option<String>,
    schedule: Schedule,
    preemptions: Vec<usize>,
    /// The preemptions of the unshrunk schedule (set by `shrink`).
    original: usize,
}

fn run_once<T, F>(test: &T, builder: Builder) -> Run
where
    T: Fn() -> F,
    F: Future,
{
    let sim = builder.build();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        sim.block_on(test());
    }));
    let schedule = sim.schedule();
    let preemptions = sim.scheduler.preemptions();
    // Dropping the sim drops unfinished tasks' futures: their destructors
    // may panic too.
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(sim)));
    let failure = match (outcome, dropped) {
        (Err(payload), _) | (Ok(()), Err(payload)) => Some(panic_message(payload.as_ref())),
        (Ok(()), Ok(())) => None,
    };
    Run {
        failure,
        schedule,
        original: preemptions.len(),
        preemptions,
    }
}

/// `MAGPIE_SCHEDULE`, if set.
fn replay_schedule() -> Option<Schedule> {
    let raw = std::env::var(SCHEDULE_VAR).ok()?;
    match raw.parse() {
        Ok(schedule) => Some(schedule),
        Err(err) => panic!("magpie::sim: {SCHEDULE_VAR}: {err}"),
    }
}

/// `MAGPIE_SEED`, if set: hexadecimal with `0x`, or decimal.
fn replay_seed() -> Option<u64> {
    let raw = std::env::var(SEED_VAR).ok()?;
    let text = raw.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(seed) => Some(seed),
        Err(err) => panic!(
            "magpie::sim: {SEED_VAR}={raw:?} is not a seed ({err}): give a number, decimal or \
             0x-prefixed hexadecimal"
        ),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic with a non-string payload)".to_string()
    }
}

/// The test being run: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "<test name>".to_string(),
    }
}
