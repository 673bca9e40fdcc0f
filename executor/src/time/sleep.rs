//! `Sleep`: the future behind `sleep` and `sleep_until`.

use crate::runtime::timer::{Key, TimerOwner};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A future that completes at a deadline: returned by [`sleep`](super::sleep)
/// and [`sleep_until`](super::sleep_until).
///
/// It registers a timer with the runtime (or simulation) it is first polled on and removes
/// it when dropped, so an abandoned sleep (a lost `select`, a cancelled
/// task) costs nothing afterwards. `Sleep` is `Unpin`: it can be kept in a
/// struct and polled by `&mut` without pinning.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let start = Instant::now();
///     let mut sleep = magpie::time::sleep(Duration::from_millis(5));
///     (&mut sleep).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
///     assert!(sleep.is_elapsed());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    state: State,
}

enum State {
    /// Not registered yet (never polled, or reset before its first poll).
    Idle,
    /// Filed in the wheel of `owner` (a runtime, or a simulation).
    Registered { owner: TimerOwner, key: Key },
    /// Completed.
    Elapsed,
}

impl Sleep {
    pub(crate) fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            state: State::Idle,
        }
    }

    /// The instant this sleep completes at.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(magpie::time::sleep_until(at).deadline(), at);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the sleep has completed (been polled to `Ready`).
    ///
    /// ```
    /// use std::time::Duration;
    /// magpie::run(async {
    ///     let mut s = magpie::time::sleep(Duration::from_millis(1));
    ///     assert!(!s.is_elapsed());
    ///     (&mut s).await;
    ///     assert!(s.is_elapsed());
    /// });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self.state, State::Elapsed)
    }

    /// Moves the deadline; the sleep is pending again until the new one
    /// (even if it had completed). This is how an [`Interval`] re-arms, and
    /// how a connection's idle timeout is pushed back on every message.
    ///
    /// [`Interval`]: super::Interval
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// magpie::run(async {
    ///     let start = Instant::now();
    ///     let mut idle = magpie::time::sleep(Duration::from_millis(2));
    ///     idle.reset(Instant::now() + Duration::from_millis(10));
    ///     (&mut idle).await;
    ///     assert!(start.elapsed() >= Duration::from_millis(10));
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        match &self.state {
            // Registered lazily at the next poll, with that poll's waker.
            State::Idle | State::Elapsed => self.state = State::Idle,
            State::Registered { owner, key } => {
                // If the new deadline is already due the entry is marked
                // fired, and the next poll observes it.
                let (_due, kick) = owner.driver().reset(*key, deadline);
                owner.kick(kick);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.state {
            State::Elapsed => Poll::Ready(()),
            State::Registered { owner, key } => {
                let ready = owner.driver().poll(*key, cx.waker());
                if ready.is_ready() {
                    // The wheel removed the entry when it reported it fired.
                    this.state = State::Elapsed;
                }
                ready
            }
            State::Idle => {
                let Some(owner) = TimerOwner::current() else {
                    panic!(
                        "magpie::time::Sleep polled outside a magpie runtime: timers are driven \
                         by a runtime, so await them inside `magpie::run`, `Runtime::block_on`, \
                         a `magpie::sim` simulation, or a task spawned on one"
                    );
                };
                if this.deadline <= owner.driver().clock.now() {
                    this.state = State::Elapsed;
                    return Poll::Ready(());
                }
                let (registered, kick) = owner.driver().register(this.deadline, cx.waker());
                owner.kick(kick);
                match registered {
                    Ok(key) => {
                        this.state = State::Registered { owner, key };
                        Poll::Pending
                    }
                    Err(()) => {
                        this.state = State::Elapsed;
                        Poll::Ready(())
                    }
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Registered { owner, key } = &self.state {
            owner.driver().remove(*key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}
