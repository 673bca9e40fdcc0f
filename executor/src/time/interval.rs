//! `Interval`: ticks at a fixed period.

use super::Sleep;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

/// Ticks every `period`, the first tick completing at once: the periodic
/// loop that asyncio code writes as `while True: ...; await sleep(p)`, but
/// without drift (ticks are scheduled from the start, not from when the
/// work between them ended).
///
/// # Panics
///
/// If `period` is zero.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let start = Instant::now();
///     let mut every = magpie::time::interval(Duration::from_millis(5));
///     for _ in 0..3 {
///         every.tick().await; // at 0, 5 and 10 ms
///     }
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(super::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// If `period` is zero.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let start = Instant::now() + Duration::from_millis(5);
///     let mut every = magpie::time::interval_at(start, Duration::from_millis(5));
///     assert_eq!(every.tick().await, start);
/// });
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "magpie::time::interval: the period must be non-zero"
    );
    Interval {
        sleep: Sleep::new(start),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// What an [`Interval`] does when ticks were missed because the task was
/// late to ask for them (it was busy, or the worker was).
///
/// ```
/// use std::time::Duration;
/// use magpie::time::{interval, MissedTickBehavior};
/// let mut every = interval(Duration::from_millis(10));
/// every.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Skip);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Deliver the missed ticks at once, one per call, until caught up: the
    /// number of ticks over a long run stays `elapsed / period`. The default,
    /// as in tokio.
    #[default]
    Burst,
    /// Start over: the next tick is one period after the late one was
    /// delivered.
    Delay,
    /// Drop the missed ticks: the next tick is the next multiple of the
    /// period after now, on the original schedule.
    Skip,
}

/// A periodic timer: see [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled
    /// for. Cancel-safe: dropping the future loses no tick.
    ///
    /// ```
    /// use std::time::Duration;
    /// magpie::run(async {
    ///     let mut every = magpie::time::interval(Duration::from_millis(2));
    ///     let first = every.tick().await;
    ///     let second = every.tick().await;
    ///     assert_eq!(second - first, Duration::from_millis(2));
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick (for hand-written futures and streams).
    ///
    /// ```
    /// use std::time::Duration;
    /// magpie::run(async {
    ///     let mut every = magpie::time::interval(Duration::from_millis(1));
    ///     std::future::poll_fn(|cx| every.poll_tick(cx)).await;
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.sleep).poll(cx));
        let scheduled = self.sleep.deadline();
        let now = super::now();
        let on_time = scheduled + self.period;
        let next = if now < on_time {
            on_time
        } else {
            match self.missed {
                MissedTickBehavior::Burst => on_time,
                MissedTickBehavior::Delay => now + self.period,
                MissedTickBehavior::Skip => {
                    let behind = now.duration_since(scheduled).as_nanos();
                    let periods = behind / self.period.as_nanos() + 1;
                    scheduled + self.period * u32::try_from(periods).unwrap_or(u32::MAX)
                }
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// magpie::run(async {
    ///     let mut every = magpie::time::interval(Duration::from_millis(3));
    ///     every.tick().await;
    ///     let before = Instant::now();
    ///     every.reset();
    ///     // The next tick is scheduled one period after the reset.
    ///     let t = every.tick().await;
    ///     assert!(t >= before + Duration::from_millis(3));
    /// });
    /// ```
    pub fn reset(&mut self) {
        self.sleep.reset(super::now() + self.period);
    }

    /// The period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let every = magpie::time::interval(Duration::from_secs(1));
    /// assert_eq!(every.period(), Duration::from_secs(1));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The policy for missed ticks.
    ///
    /// ```
    /// use std::time::Duration;
    /// let every = magpie::time::interval(Duration::from_secs(1));
    /// assert_eq!(every.missed_tick_behavior(), magpie::time::MissedTickBehavior::Burst);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the policy for missed ticks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use magpie::time::MissedTickBehavior;
    /// let mut every = magpie::time::interval(Duration::from_secs(1));
    /// every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}
