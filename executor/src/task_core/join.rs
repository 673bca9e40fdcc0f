//! `JoinHandle`: asyncio's `Task` object, seen from the spawner.

use super::{DoneCallback, RawTask};
use super::{Id, JoinError};
use magpie_sync::coop;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// An owned permission to await a spawned task's output, cancel it, or ask
/// about it; asyncio's `Task`.
///
/// * `.await` gives `Ok(output)`, or `Err(JoinError)` if the task panicked
///   or was cancelled.
/// * Dropping the handle **detaches** the task: it keeps running, and its
///   output is dropped when it finishes.
/// * [`cancel`](Self::cancel) asks the runtime to drop the task's future at
///   its next poll boundary, on a worker; its destructors run there (Rust's
///   counterpart of asyncio's `CancelledError` cleanup).
///
/// ```
/// magpie::run(async {
///     let task = magpie::spawn(async { 6 * 7 });
///     assert_eq!(task.await.unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle gives access to the task's output only by value (in
// `poll`, through `&mut self`), so `T: Send` suffices to send it.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&JoinHandle` one can read the atomic state word, request
// cancellation, and add done callbacks, which read the output by `&` on
// whichever thread runs them; the task's callback lock lets only one party
// run callbacks at a time, and nobody can take the output while a `&` borrow
// exists, so the output is never reached from two threads at once and
// `T: Send` suffices (as for a `Mutex<T>`).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Wraps the handle's reference; the task's output type must be `T`.
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation: the task's future is dropped at its next poll
    /// boundary (at once if it is waiting), on a worker thread, and awaiting
    /// the handle then gives a [`JoinError`] for which
    /// [`is_cancelled`](JoinError::is_cancelled) is true. Cancelling a task
    /// that already finished does nothing: its output stays available.
    ///
    /// ```
    /// use std::time::Duration;
    /// magpie::run(async {
    ///     let task = magpie::spawn(async {
    ///         magpie::time::sleep(Duration::from_secs(3600)).await;
    ///     });
    ///     task.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        self.raw.cancel();
    }

    /// True once the task has finished: returned, panicked or been
    /// cancelled (asyncio's `Task.done()`).
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async {});
    ///     while !task.is_finished() {
    ///         magpie::task::yield_now().await;
    ///     }
    ///     task.await.unwrap();
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_output_handed_off()
    }

    /// `Ready` once the task has finished and its output can be taken, like
    /// `poll` but without taking it: for waiting on many handles at once.
    pub(crate) fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raw.poll_finished(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// True if the task finished by panicking (the output is still there).
    pub(crate) fn finished_with_panic(&self) -> bool {
        // SAFETY: we are the handle; the caller checked the output was
        // handed off (`is_finished`), and `&self` cannot take it.
        self.is_finished() && unsafe { self.raw.output_is_panic() }
    }

    /// A [`CancelHandle`] for this task: a cloneable handle that can only
    /// cancel it and ask whether it finished (for code that must be able to
    /// cancel a task whose output belongs to someone else).
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(std::future::pending::<()>());
    ///     let canceller = task.cancel_handle();
    ///     canceller.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    ///     assert!(canceller.is_finished());
    /// });
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        self.raw.ref_inc();
        CancelHandle { raw: self.raw }
    }

    /// The output of a finished task.
    ///
    /// # Panics
    ///
    /// If the task has not finished ([`poll_finished`](Self::poll_finished)
    /// is `Ready` first), or the output was taken.
    pub(crate) fn take_finished(&mut self) -> Result<T, JoinError> {
        // Not through `poll`: the caller learnt that the task finished from
        // an operation of its own (which answers to the budget itself).
        match self.read_output(Waker::noop()) {
            Poll::Ready(output) => output,
            Poll::Pending => unreachable!("take_finished on a task that has not finished"),
        }
    }

    /// The task's id.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async { magpie::task::current().id() });
    ///     let id = task.id();
    ///     assert_eq!(task.await.unwrap(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.raw.header().id
    }

    /// The task's name, if it was spawned with one through
    /// [`task::Builder`](crate::task::Builder).
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::task::Builder::new().name("worker-1").spawn(async {});
    ///     assert_eq!(task.name(), Some("worker-1"));
    ///     assert_eq!(magpie::spawn(async {}).name(), None);
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.raw.header().meta.name.as_deref()
    }

    /// Runs `callback` with the task's outcome when it finishes, or at
    /// once (on this thread) if it already has: asyncio's
    /// `task.add_done_callback(cb)`. Takes `&self`, so any holder of a
    /// shared reference (several threads at once, or a callback) can add
    /// callbacks.
    ///
    /// The callback sees `Ok(&output)` or `Err(&JoinError)` by reference:
    /// the handle can still be awaited for the output afterwards. Each
    /// callback runs exactly once, in the order they were added, never two
    /// at a time, and all before the handle can return the output; they
    /// should be quick. Added before the task finishes, they run on the
    /// thread that completes it (a worker, or the thread that cancels it
    /// at shutdown); added after, they run on the calling thread, or, if
    /// another thread is running this task's callbacks at that moment, on
    /// that thread right after its own (a callback that adds another runs
    /// it that way too, after it returns). A panicking callback is caught,
    /// and the others still run.
    ///
    /// Returns `true` if the callback ran or will run. Returns `false` if
    /// the handle has already returned the output (it was polled to
    /// completion): there is nothing left to show the callback, so it is
    /// dropped without being called (its captures' destructors run, which
    /// a receiver can observe). This is the only way to get `false`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// magpie::run(async {
    ///     let (tx, rx) = mpsc::channel();
    ///     let task = magpie::spawn(async { 6 * 7 });
    ///     task.on_done(move |outcome| {
    ///         match outcome {
    ///             Ok(value) => tx.send(format!("task completed with {value}")).unwrap(),
    ///             Err(err) => tx.send(format!("task failed: {err}")).unwrap(),
    ///         }
    ///     });
    ///     assert_eq!(task.await.unwrap(), 42);
    ///     assert_eq!(rx.recv().unwrap(), "task completed with 42");
    /// });
    /// ```
    ///
    /// After the output was taken:
    ///
    /// ```
    /// magpie::run(async {
    ///     let mut task = magpie::spawn(async { 1 });
    ///     assert_eq!((&mut task).await.unwrap(), 1);
    ///     assert!(!task.on_done(|_| unreachable!("not called")));
    /// });
    /// ```
    pub fn on_done<F>(&self, callback: F) -> bool
    where
        F: FnOnce(Result<&T, &JoinError>) + Send + 'static,
        T: 'static,
    {
        let wrapped: DoneCallback<T> = Box::new(move |outcome: &Result<T, JoinError>| {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                callback(outcome.as_ref())
            }));
        });
        let mut slot = Some(wrapped);
        // SAFETY: `slot` is an `Option<DoneCallback<T>>` holding a callback,
        // `T` is the task's output type (the handle was created for it), and
        // we borrow the handle for the whole call.
        let added = unsafe {
            self.raw
                .add_done_callback(&mut slot as *mut Option<DoneCallback<T>> as *mut ())
        };
        // A callback given back (the output was taken) is dropped here,
        // outside the task's callback lock.
        drop(slot);
        added
    }
}

/// Cancels a task, without access to its output: see
/// [`JoinHandle::cancel_handle`]. Cloneable; holding one keeps only the
/// task's bookkeeping alive, not its future or output.
///
/// ```
/// magpie::run(async {
///     let task = magpie::spawn(std::future::pending::<()>());
///     let a = task.cancel_handle();
///     let b = a.clone();
///     assert_eq!(a.id(), task.id());
///     b.cancel();
///     assert!(task.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct CancelHandle {
    raw: RawTask,
}

impl CancelHandle {
    /// Requests cancellation, like [`JoinHandle::cancel`].
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(std::future::pending::<()>());
    ///     task.cancel_handle().cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        self.raw.cancel();
    }

    /// True once the task has finished, with the same meaning as
    /// [`JoinHandle::is_finished`]: its outcome is ready to be read, and its
    /// done callbacks have run.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async {});
    ///     let c = task.cancel_handle();
    ///     task.await.unwrap();
    ///     assert!(c.is_finished());
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_output_handed_off()
    }

    /// The task's id.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async {});
    ///     assert_eq!(task.cancel_handle().id(), task.id());
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.raw.header().id
    }

    /// The task's name, if it was spawned with one, like
    /// [`JoinHandle::name`].
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::task::Builder::new().name("poller").spawn(async {});
    ///     assert_eq!(task.cancel_handle().name(), Some("poller"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.raw.header().meta.name.as_deref()
    }
}

impl Clone for CancelHandle {
    fn clone(&self) -> CancelHandle {
        self.raw.ref_inc();
        CancelHandle { raw: self.raw }
    }
}

impl Drop for CancelHandle {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A finished task's output is an operation that completes at once:
        // it spends a unit of the cooperative budget, so that a task looping
        // on finished handles yields too. Consulted before anything is read
        // or registered; a handle that has to wait gives the unit back.
        let proceed = std::task::ready!(coop::poll_proceed(cx));
        let out = self.get_mut().read_output(cx.waker());
        if out.is_ready() {
            proceed.made_progress();
        }
        out
    }
}

impl<T> JoinHandle<T> {
    /// The output if the task finished, else registers `waker`.
    fn read_output(&mut self, waker: &Waker) -> Poll<Result<T, JoinError>> {
        let mut out = Poll::Pending;
        // SAFETY: `out` is a `Poll<Result<T, JoinError>>` and `T` is the
        // task's output type (the handle was created for it); we are the
        // handle.
        unsafe {
            self.raw.try_read_output(
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                waker,
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}
