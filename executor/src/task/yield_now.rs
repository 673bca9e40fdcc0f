//! `yield_now`: asyncio's `await asyncio.sleep(0)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler: the current task goes to the back of its
/// worker's run queue, so every task already queued there runs before it is
/// polled again (asyncio's `await asyncio.sleep(0)`).
///
/// ```
/// magpie::run(async {
///     for _ in 0..3 {
///         // Let other tasks make progress during a long computation.
///         magpie::task::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking a task while it runs marks it scheduled; when this poll
        // returns the worker puts it at the back of its queue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
