//! `wait`: asyncio's `wait(tasks, return_when=.., timeout=..)`.

use super::completions::Completions;
use crate::task_core::JoinHandle;
use crate::time::{Duration, Sleep};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// When [`wait`] returns: asyncio's `return_when`.
///
/// ```
/// use magpie::WaitFor;
/// assert_ne!(WaitFor::FirstCompleted, WaitFor::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// As soon as any task finishes (`FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as any task panics, or when all have finished
    /// (`FIRST_EXCEPTION`). A task that returns an `Err` value, or is
    /// cancelled, finished normally in this sense, as in asyncio.
    FirstError,
    /// When every task has finished (`ALL_COMPLETED`).
    AllCompleted,
}

/// Waits for tasks without taking their outputs, and returns them split
/// into `(done, pending)`: asyncio's `done, pending = await wait(tasks,
/// return_when=..)`.
///
/// The handles in `done` have finished (awaiting them returns at once);
/// those in `pending` keep running unless the caller cancels them.
/// [`Wait::timeout`] bounds the wait (asyncio's `timeout=`): when it
/// expires, whatever has finished is `done`. An empty set of handles
/// returns at once.
///
/// ```
/// use std::time::Duration;
/// use magpie::WaitFor;
/// magpie::run(async {
///     let tasks: Vec<_> = (1..=5u64)
///         .map(|n| magpie::spawn(async move {
///             magpie::time::sleep(Duration::from_millis(n * 20)).await;
///             n
///         }))
///         .collect();
///     let (done, pending) = magpie::wait(tasks, WaitFor::FirstCompleted).await;
///     for t in done {
///         println!("Task completed with result: {}", t.await.unwrap());
///     }
///     for t in &pending {
///         t.cancel();
///     }
///     assert!(!pending.is_empty());
/// });
/// ```
pub fn wait<T, I>(handles: I, mode: WaitFor) -> Wait<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    Wait {
        set: Completions::new(handles),
        mode,
        done: Vec::new(),
        timeout: None,
        finished: false,
    }
}

/// The future returned by [`wait`]. Dropping it before it completes leaves
/// the tasks running (detached), as asyncio's `wait` does.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    set: Completions<T>,
    mode: WaitFor,
    done: Vec<(usize, JoinHandle<T>)>,
    timeout: Option<Sleep>,
    finished: bool,
}

impl<T> Wait<T> {
    /// Returns after `duration` at the latest, with whatever has finished
    /// by then in `done` (asyncio's `timeout=`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use magpie::WaitFor;
    /// magpie::run(async {
    ///     let slow = magpie::spawn(magpie::time::sleep(Duration::from_secs(3600)));
    ///     let (done, pending) = magpie::wait([slow], WaitFor::AllCompleted)
    ///         .timeout(Duration::from_millis(5))
    ///         .await;
    ///     assert!(done.is_empty());
    ///     assert_eq!(pending.len(), 1);
    /// });
    /// ```
    pub fn timeout(mut self, duration: Duration) -> Wait<T> {
        self.timeout = Some(crate::time::sleep(duration));
        self
    }

    fn split(&mut self) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
        self.finished = true;
        let mut done = std::mem::take(&mut self.done);
        done.sort_by_key(|(index, _)| *index);
        let done = done.into_iter().map(|(_, handle)| handle).collect();
        (done, self.set.take_all())
    }
}

impl<T> Future for Wait<T> {
    type Output = (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.finished, "`Wait` polled after it completed");
        loop {
            match this.set.poll_next(cx) {
                Poll::Ready(Some(index)) => {
                    let handle = this.set.take(index).expect("reported once");
                    let stop = match this.mode {
                        WaitFor::FirstCompleted => true,
                        WaitFor::FirstError => handle.finished_with_panic(),
                        WaitFor::AllCompleted => false,
                    };
                    this.done.push((index, handle));
                    if stop {
                        return Poll::Ready(this.split());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(this.split()),
                Poll::Pending => break,
            }
        }
        if let Some(timeout) = &mut this.timeout {
            if Pin::new(timeout).poll(cx).is_ready() {
                return Poll::Ready(this.split());
            }
        }
        Poll::Pending
    }
}

// Nothing in it is pinned: the outputs are plain values, the handles and
// the sleep are `Unpin`.
impl<T> Unpin for Wait<T> {}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("mode", &self.mode)
            .field("done", &self.done.len())
            .field("pending", &self.set.pending())
            .finish()
    }
}
