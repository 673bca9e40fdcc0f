//! Where a simulation's choices come from, and the record of them: a
//! [`Schedule`], which replays a run exactly and which the explorer
//! shrinks.
//!
//! Every choice the scheduler makes goes through [`Choices`]: a bounded
//! one (`below(n, default)`: which of the `n` candidates runs, LIFO slot
//! or deque, which victim, a timer tie) or a raw one (`raw()`: a PCT
//! priority or change point). A bounded choice is recorded *relative to
//! its default*: 0 is the default (for the pick of what runs next, the
//! worker that ran the previous step, when it can go on), so a schedule
//! made of zeros is the one with no preemption, and shrinking is replacing
//! recorded values by 0.
//!
//! A *preemption* is a pick that switched away from the worker (or the
//! main future) that ran the previous step although it could have gone
//! on: a recorded non-zero value at a pick whose default was "continue".
//!
//! Choices are recorded per *round* of the run loop (one step, or one
//! jump of the clock; round 0 holds what is drawn before the loop, PCT's
//! change points and the main future's priority): a replay reads round `k`'s choices in round `k`,
//! taking the default for any it lacks and leaving out any extra. So when
//! shrinking changes what one round does (a task woken more or fewer
//! times), the rounds after it keep their own choices instead of reading
//! their neighbours'.
//!
//! # The replay string
//!
//! `m1:<seed>:<workers>:<scheduler>:<rounds>:<check>`: the seed in
//! hexadecimal (it seeds `random_u64` and what a replay draws past its
//! record), the worker count, `r` (random) or `p<depth>.<steps>` (PCT),
//! the rounds joined by `_`, each its choices in hexadecimal joined by `.`
//! (`-` for a round without choices; `0r2a` is the round `0` repeated 0x2a
//! times), and a 32-bit FNV-1a check of everything before it, so that a
//! corrupted string is refused rather than replayed as another schedule.

use super::Scheduler;
use std::fmt;
use std::str::FromStr;

/// splitmix64: tiny, fast, and good enough to drive schedules.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32
    /// for the small `n` a schedule needs).
    pub(super) fn below(&mut self, n: usize) -> usize {
        invariant!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// A recorded schedule: the seed, the configuration the choices belong to,
/// and every choice of a run. Its `Display` is the compact replay string
/// that `MAGPIE_SCHEDULE` takes, and `FromStr` reads it back (refusing a
/// malformed or corrupted string with a [`ScheduleError`]).
///
/// ```
/// let sim = magpie::sim::Builder::new().seed(3).build();
/// sim.block_on(async {
///     let a = magpie::spawn(async { magpie::task::yield_now().await });
///     a.await.unwrap();
/// });
/// let schedule = sim.schedule();
/// let text = schedule.to_string();
/// let parsed: magpie::sim::Schedule = text.parse().unwrap();
/// assert_eq!(parsed, schedule);
///
/// // Replaying it takes the same steps.
/// let replay = magpie::sim::Builder::new().replay(parsed).build();
/// replay.block_on(async {
///     let a = magpie::spawn(async { magpie::task::yield_now().await });
///     a.await.unwrap();
/// });
/// assert_eq!(replay.trace(), sim.trace());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub(super) seed: u64,
    pub(super) workers: usize,
    pub(super) scheduler: Scheduler,
    /// Per round of the run loop, its choices.
    pub(super) rounds: Vec<Vec<u64>>,
}

impl Schedule {
    /// The seed of the run that recorded the schedule.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().seed(12).build();
    /// sim.block_on(async {});
    /// assert_eq!(sim.schedule().seed(), 12);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many choices the schedule holds.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// sim.block_on(async {});
    /// assert_eq!(sim.schedule().len(), 0); // only the main future could run
    /// ```
    pub fn len(&self) -> usize {
        self.rounds.iter().map(Vec::len).sum()
    }

    /// Whether the schedule holds no choice.
    ///
    /// ```
    /// let sim = magpie::sim::Builder::new().build();
    /// assert!(sim.schedule().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn body(&self) -> String {
        let mut out = format!("m1:{:x}:{}:", self.seed, self.workers);
        match self.scheduler {
            Scheduler::Random => out.push('r'),
            Scheduler::Pct { depth, steps } => out.push_str(&format!("p{depth}.{steps}")),
        }
        out.push(':');
        let token = |round: &Vec<u64>| -> String {
            if round.is_empty() {
                "-".to_string()
            } else {
                let values: Vec<String> = round.iter().map(|v| format!("{v:x}")).collect();
                values.join(".")
            }
        };
        let mut i = 0;
        while i < self.rounds.len() {
            let round = &self.rounds[i];
            let run = self.rounds[i..].iter().take_while(|r| *r == round).count();
            if i > 0 {
                out.push('_');
            }
            out.push_str(&token(round));
            if run >= 3 {
                out.push_str(&format!("r{run:x}"));
                i += run;
            } else {
                i += 1;
            }
        }
        out
    }
}

/// FNV-1a, 32 bits: the replay string's check.
fn check(text: &str) -> u32 {
    text.bytes().fold(0x811C_9DC5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body();
        write!(f, "{body}:{:08x}", check(&body))
    }
}

/// Why a string is not a [`Schedule`].
///
/// ```
/// let err = "hello".parse::<magpie::sim::Schedule>().unwrap_err();
/// assert!(err.to_string().contains("not a magpie::sim schedule"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    text: String,
    why: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a magpie::sim schedule ({}): copy the whole MAGPIE_SCHEDULE=... value \
             from the failure report",
            self.text, self.why
        )
    }
}

impl std::error::Error for ScheduleError {}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Schedule, ScheduleError> {
        let err = |why: &str| ScheduleError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let trimmed = text.trim();
        let (body, sum) = trimmed
            .rsplit_once(':')
            .ok_or_else(|| err("no check at the end"))?;
        let sum = u32::from_str_radix(sum, 16).map_err(|_| err("the check is not hexadecimal"))?;
        let fields: Vec<&str> = body.split(':').collect();
        if fields.len() != 5 || fields[0] != "m1" {
            return Err(err(
                "expected m1:<seed>:<workers>:<scheduler>:<choices>:<check>",
            ));
        }
        if check(body) != sum {
            return Err(err(
                "the check does not match: the string was altered or cut",
            ));
        }
        let seed = u64::from_str_radix(fields[1], 16).map_err(|_| err("bad seed"))?;
        let workers: usize = fields[2].parse().map_err(|_| err("bad worker count"))?;
        if workers == 0 {
            return Err(err("zero workers"));
        }
        let scheduler = match fields[3] {
            "r" => Scheduler::Random,
            pct => {
                let (depth, steps) = pct
                    .strip_prefix('p')
                    .and_then(|p| p.split_once('.'))
                    .ok_or_else(|| err("bad scheduler"))?;
                Scheduler::Pct {
                    depth: depth.parse().map_err(|_| err("bad PCT depth"))?,
                    steps: steps.parse().map_err(|_| err("bad PCT steps"))?,
                }
            }
        };
        let mut rounds = Vec::new();
        if !fields[4].is_empty() {
            for token in fields[4].split('_') {
                let (round, run) = match token.split_once('r') {
                    Some((round, run)) => (
                        round,
                        usize::from_str_radix(run, 16).map_err(|_| err("bad repeat count"))?,
                    ),
                    None => (token, 1),
                };
                let round: Vec<u64> = match round {
                    "-" => Vec::new(),
                    values => values
                        .split('.')
                        .map(|v| u64::from_str_radix(v, 16))
                        .collect::<Result<_, _>>()
                        .map_err(|_| err("bad choice"))?,
                };
                if run > 1 << 32 {
                    return Err(err("repeat count too large"));
                }
                rounds.extend(std::iter::repeat_n(round, run));
            }
        }
        Ok(Schedule {
            seed,
            workers,
            scheduler,
            rounds,
        })
    }
}

/// How a replay treats a recorded choice that does not fit (a value out
/// of range: the program took another path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// A replay asked for by the user: refuse, with an explanation.
    Strict,
    /// A shrinking attempt: the default choice instead.
    Lenient,
}

/// The source of a sim's choices and their record.
pub(super) struct Choices {
    /// The seed's stream: every choice when not replaying, and raw draws
    /// past the end of a replayed record.
    rng: Rng,
    replay: Option<Replay>,
    /// A preemption-bounded run (for shrinking): each preemptible pick
    /// preempts with probability `1 / one_in`, from its own stream.
    sparse: Option<(Rng, usize)>,
    /// Every choice made, relative to its default, flat (no allocation
    /// per round) ...
    log: Vec<u64>,
    /// ... and where each round's choices start in `log`.
    round_starts: Vec<usize>,
    /// The rounds whose pick switched away from a worker that could go
    /// on: the preemptions. A pick is a round's first choice.
    preemptions: Vec<usize>,
}

struct Replay {
    rounds: Vec<Vec<u64>>,
    /// The next choice of the current round.
    next: usize,
    fit: Fit,
}

impl Choices {
    pub(super) fn new(
        seed: u64,
        replay: Option<(Vec<Vec<u64>>, Fit)>,
        sparse: Option<(u64, usize)>,
    ) -> Choices {
        Choices {
            rng: Rng::new(seed),
            sparse: sparse.map(|(seed, one_in)| (Rng::new(seed), one_in.max(1))),
            replay: replay.map(|(rounds, fit)| Replay {
                rounds,
                next: 0,
                fit,
            }),
            log: Vec::new(),
            // Round 0 holds the choices made before the run loop's first
            // round (PCT's change points and the main future's priority).
            round_starts: vec![0],
            preemptions: Vec::new(),
        }
    }

    /// A new round of the run loop begins.
    pub(super) fn begin_round(&mut self) {
        self.round_starts.push(self.log.len());
        if let Some(replay) = &mut self.replay {
            replay.next = 0;
        }
    }

    /// The current round.
    fn round(&self) -> usize {
        self.round_starts.len() - 1
    }

    /// The next recorded value of this round, if replaying and any is
    /// left.
    fn recorded(&mut self) -> Option<(u64, Fit)> {
        let round = self.round();
        let replay = self.replay.as_mut()?;
        let value = *replay.rounds.get(round)?.get(replay.next)?;
        replay.next += 1;
        Some((value, replay.fit))
    }

    /// One of `0..n`; `default` is what "no change" means at this choice,
    /// and `preemptible` says that picking another is a preemption.
    pub(super) fn below(&mut self, n: usize, default: usize, preemptible: bool) -> usize {
        invariant!(n > 0 && default < n);
        if n == 1 {
            // No choice: nothing to record.
            return 0;
        }
        let offset = match self.recorded() {
            Some((value, _)) if value < n as u64 => value as usize,
            Some((value, Fit::Strict)) => panic!(
                "magpie::sim: the replayed schedule does not fit this program: a choice of \
                 round {} is {value}, but it has only {n} options (a schedule replays the \
                 test, and the code, it was recorded with)",
                self.round()
            ),
            Some((_, Fit::Lenient)) => 0,
            // Where the record has nothing, a replay takes the defaults:
            // no preemption.
            None if self.replay.is_some() => 0,
            None => match &mut self.sparse {
                Some((rng, one_in)) if preemptible => match rng.below(*one_in) {
                    0 => 1 + rng.below(n - 1),
                    _ => 0,
                },
                _ => (self.rng.below(n) + n - default) % n,
            },
        };
        if preemptible && offset != 0 {
            self.preemptions.push(self.round());
        }
        self.log.push(offset as u64);
        (default + offset) % n
    }

    /// A full-range number (PCT's priorities and change points).
    pub(super) fn raw(&mut self) -> u64 {
        let value = match self.recorded() {
            Some((value, _)) => value,
            None => self.rng.next_u64(),
        };
        self.log.push(value);
        value
    }

    /// The choices so far, per round.
    pub(super) fn rounds(&self) -> Vec<Vec<u64>> {
        let ends = self.round_starts[1..]
            .iter()
            .copied()
            .chain([self.log.len()]);
        self.round_starts
            .iter()
            .zip(ends)
            .map(|(&start, end)| self.log[start..end].to_vec())
            .collect()
    }

    /// The rounds of the preemptions.
    pub(super) fn preemptions(&self) -> &[usize] {
        &self.preemptions
    }
}
