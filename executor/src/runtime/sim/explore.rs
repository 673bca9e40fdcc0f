//! Exploration: one test, many seeds, the first failure reported with the
//! command that replays it.

use super::{Builder, DEFAULT_MAX_STEPS, Scheduler};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The environment variable that makes [`Explore`] run one seed only: the
/// replay of a reported failure (`MAGPIE_SEED=0x2a`, or decimal).
pub const SEED_VAR: &str = "MAGPIE_SEED";

/// Runs a test in a fresh [`Sim`](super::Sim) for each of many seeds, and
/// stops at the first that fails (a panic in the test, in the main future
/// or from a task whose panic the test unwraps, a deadlock, a livelock).
///
/// With the environment variable `MAGPIE_SEED` set, only that seed runs:
/// that is how a reported failure is replayed.
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
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "magpie::sim::explore: seed {:#x} failed (seed {} of this exploration): {}\n\
             replay it with: {}",
            self.seed,
            self.runs,
            self.message,
            self.replay_command()
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
    /// If `MAGPIE_SEED` is set to something that is not a number.
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
        let seeds: Box<dyn Iterator<Item = u64>> = match replay_seed() {
            Some(seed) => Box::new(std::iter::once(seed)),
            None => Box::new((0..self.seeds).map(|i| self.first_seed.wrapping_add(i))),
        };
        let mut runs = 0;
        for seed in seeds {
            runs += 1;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let sim = self.builder.clone().seed(seed).build();
                sim.block_on(test());
            }));
            if let Err(payload) = outcome {
                return Err(Failure {
                    seed,
                    runs,
                    message: panic_message(payload.as_ref()),
                    test: test_name(),
                });
            }
        }
        Ok(runs)
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
