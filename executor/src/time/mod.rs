//! Time: sleeping, timeouts and intervals (asyncio's `sleep`, `wait_for`
//! and `timeout`).
//!
//! | asyncio | magpie |
//! |---|---|
//! | `await asyncio.sleep(d)` | [`sleep(d).await`](sleep) |
//! | `loop.call_at` / sleeping until a time | [`sleep_until(t).await`](sleep_until) |
//! | `await asyncio.wait_for(aw, d)`, `async with asyncio.timeout(d)` | [`timeout(d, fut).await`](timeout) `→ Result<T, Elapsed>` |
//! | a `while True: ...; await asyncio.sleep(p)` loop | [`interval(p)`](interval) and [`Interval::tick`] |
//!
//! Timers live in a hierarchical timing wheel owned by the runtime, with a
//! resolution of 16 µs; a deadline is rounded up to it, so a timer never
//! fires early. There is no timer thread: a worker that is about to go idle
//! sleeps until the next deadline and fires it (the woken tasks then run on
//! that worker straight away), and the runtime's monitor thread fires
//! timers when every worker is busy. A dropped sleep removes its timer at
//! once.
//!
//! Timers must be polled inside a magpie runtime (in a task, or in
//! `Runtime::block_on`) or a [`magpie::sim`](crate::sim) simulation, whose
//! virtual clock jumps to the next deadline when no task can run; they
//! panic with an explanation otherwise, and after their runtime shut down.
//! Deadlines are taken from [`now`], which is that virtual clock inside a
//! simulation.

mod interval;
mod sleep;
mod timeout;

pub use self::interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use self::sleep::Sleep;
pub use self::timeout::{Elapsed, Timeout, timeout, timeout_at};
pub use std::time::{Duration, Instant};

/// Waits until `duration` has elapsed: asyncio's `await asyncio.sleep(d)`.
///
/// The deadline is taken when `sleep` is called, not when it is first
/// polled. A zero duration completes at its first poll without registering
/// a timer; to let other tasks run, use
/// [`task::yield_now`](crate::task::yield_now) instead.
///
/// # Panics
///
/// When polled outside a magpie runtime, or after its runtime shut down.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let start = Instant::now();
///     magpie::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = now();
    // Durations too long to represent are treated as "practically never".
    let deadline = now
        .checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
    Sleep::new(deadline)
}

/// Waits until `deadline`.
///
/// # Panics
///
/// When polled outside a magpie runtime, or after its runtime shut down.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let at = Instant::now() + Duration::from_millis(5);
///     magpie::time::sleep_until(at).await;
///     assert!(Instant::now() >= at);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// The current instant, as magpie's timers see it: the simulation's
/// virtual clock inside a [`magpie::sim`](crate::sim) simulation, real time
/// (`Instant::now()`) everywhere else.
///
/// [`sleep()`] and [`interval()`] take their deadlines from it. Code that is
/// meant to run under simulation must read time through this function:
/// `std::time::Instant::now()` is real time, which a simulation neither
/// controls nor advances.
///
/// ```
/// use std::time::Duration;
/// magpie::sim::run(7, async {
///     let start = magpie::time::now();
///     magpie::time::sleep(Duration::from_secs(3600)).await;
///     // An hour passed in virtual time, at once in real time.
///     assert!(magpie::time::now() - start >= Duration::from_secs(3600));
/// });
/// ```
pub fn now() -> Instant {
    #[cfg(not(loom))]
    if let Some(now) = crate::runtime::sim::virtual_now() {
        return now;
    }
    crate::runtime::timer::now()
}
