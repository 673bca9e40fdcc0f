//! `timeout`: asyncio's `wait_for` and `async with timeout(..)`.

use super::Sleep;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Runs `future` for at most `duration`: `Ok(output)` if it finishes in
/// time, `Err(Elapsed)` if not, in which case the future is dropped (its
/// destructors run, as asyncio's `wait_for` cancels the awaitable).
///
/// The future is polled before the deadline is checked, so a future that is
/// ready at once succeeds even with a zero timeout.
///
/// Wrapping a [`JoinHandle`](crate::task::JoinHandle) does not cancel the
/// task on timeout (dropping a handle detaches); call
/// [`cancel`](crate::task::JoinHandle::cancel) if that is what you want.
///
/// # Panics
///
/// When polled outside a magpie runtime (see [`sleep`](super::sleep)).
///
/// ```
/// use std::time::Duration;
/// use magpie::time::{sleep, timeout};
/// magpie::run(async {
///     let quick = timeout(Duration::from_secs(1), async { 7 }).await;
///     assert_eq!(quick, Ok(7));
///
///     let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await;
///     let err = slow.unwrap_err();
///     println!("{err}"); // deadline has elapsed
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future,
        sleep: super::sleep(duration),
    }
    .pinned_fields()
}

/// Like [`timeout`], with an absolute deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// magpie::run(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     let r = magpie::time::timeout_at(deadline, std::future::pending::<()>()).await;
///     assert!(r.is_err());
/// });
/// ```
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future,
        sleep: super::sleep_until(deadline),
    }
    .pinned_fields()
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F: IntoFuture> Timeout<F> {
    fn pinned_fields(self) -> Timeout<F::IntoFuture> {
        Timeout {
            future: self.future.into_future(),
            sleep: self.sleep,
        }
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = magpie::time::timeout(Duration::from_secs(1), async { 1 });
    /// let _inner = t.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The instant the timeout expires at.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// let t = magpie::time::timeout_at(at, async {});
    /// assert_eq!(t.deadline(), at);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Unwraps the future, abandoning the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = magpie::time::timeout(Duration::from_secs(1), async { 1 });
    /// assert_eq!(futures::executor::block_on(t.into_inner()), 1);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("future", &self.future)
            .field("deadline", &self.sleep.deadline())
            .finish()
    }
}

/// The error of a [`timeout`] whose deadline passed: asyncio's
/// `TimeoutError`.
///
/// ```
/// use std::time::Duration;
/// magpie::run(async {
///     let err = magpie::time::timeout(Duration::ZERO, std::future::pending::<()>())
///         .await
///         .unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
///     let io: std::io::Error = err.into();
///     assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(err: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, err)
    }
}
