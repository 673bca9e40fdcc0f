//! The poll harness: running a run-queue entry (`Notified`). The owner of
//! `RUNNING` polls the future under a fresh cooperative budget, catches
//! its panic, drops it in place when it is done or cancelled, stores the
//! output and completes the task: publishes `COMPLETE`, runs the done
//! callbacks, wakes the joiner, leaves the owned list and releases its
//! references.

use super::Schedule;
use super::alloc::{Cell, Header, RawTask, Stage};
use super::current::set_current_task;
use super::error::JoinError;
use super::state::{State, ToIdle, ToRunning};
use super::waker::waker_ref;
use magpie_sync::coop;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// A reference to a task that is due to run: a run-queue entry. Owns one
/// reference.
pub(crate) struct Notified(RawTask);

// SAFETY: see `RawTask`; the reference it owns may be released anywhere.
unsafe impl Send for Notified {}

impl Notified {
    /// Wraps a reference the caller owns.
    pub(crate) fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// Gives up ownership of the reference (to put the pointer in an atomic
    /// slot); [`Notified::from_raw`] takes it back.
    pub(crate) fn into_raw(self) -> RawTask {
        ManuallyDrop::new(self).0
    }

    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    /// The task, without the entry's reference.
    pub(crate) fn raw(&self) -> RawTask {
        self.0
    }

    /// Runs the task: polls it (or cancels it), consuming this entry.
    ///
    /// Returns a new entry if the task was woken during its poll: the
    /// caller must queue it as a yield (behind what is already queued).
    /// It is handed back rather than scheduled from inside the task so
    /// that no call borrows from a task another thread may complete and
    /// free meanwhile (a thief may steal the entry at once), and so that a
    /// yield costs no extra reference count: the entry reuses ours.
    #[must_use = "a task woken during its poll must be queued again"]
    pub(crate) fn run(self) -> Option<Notified> {
        let raw = self.into_raw();
        // SAFETY: we pass our run-queue reference on to `run`, which hands
        // it back (as the new entry's) if it returns true.
        unsafe { (raw.vtable().run)(raw.as_ptr()) }.then(|| Notified(raw))
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

/// Typed access to a task's allocation.
pub(super) struct Harness<F: Future, S: Schedule> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    ///
    /// `ptr` must point to the header of a live `Cell<F, S>`.
    pub(super) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    pub(super) fn cell(&self) -> &Cell<F, S> {
        // SAFETY: `from_raw`'s contract: the cell is alive while the harness
        // is used, and it is only ever accessed through shared references
        // (mutation goes through `UnsafeCell`s and atomics).
        unsafe { self.cell.as_ref() }
    }

    pub(super) fn header(&self) -> &Header {
        &self.cell().header
    }

    pub(super) fn raw(&self) -> RawTask {
        RawTask::from_ptr(self.cell.cast())
    }

    pub(super) fn state(&self) -> &State {
        &self.header().state
    }

    /// Polls the future once. Called with `RUNNING` set by this thread.
    fn poll_future(&self) -> std::thread::Result<Poll<F::Output>> {
        let waker = ManuallyDrop::new(waker_ref(self.cell.cast::<Header>()));
        let mut cx = Context::from_waker(&waker);
        let _current = set_current_task(self.cell.cast());
        // Debug mode times every poll of the tasks it spawned.
        let scheduler = &self.cell().scheduler;
        let started = self
            .header()
            .meta
            .spawned_at
            .map(|_| scheduler.clock_micros());
        // Each poll gets a fresh cooperative budget (the outer one, if this
        // thread was inside another budgeted poll, is restored after, also
        // on a panic): a task whose operations keep completing at once is
        // made to yield after `DEFAULT_BUDGET` of them.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            coop::budget(coop::DEFAULT_BUDGET, || {
                self.cell().stage.with_mut(|stage| {
                    // SAFETY: we own `RUNNING`, so nobody else touches the
                    // stage; the future is pinned because the allocation
                    // never moves and the stage is only replaced after the
                    // future is done.
                    match unsafe { &mut *stage } {
                        Stage::Running(future) => {
                            // SAFETY: as above: the future never moves until
                            // dropped.
                            unsafe { Pin::new_unchecked(future) }.poll(&mut cx)
                        }
                        _ => unreachable!("a task in RUNNING state has no future"),
                    }
                })
            })
        }));
        let took = started.map(|started| scheduler.clock_micros().saturating_sub(started));
        self.header().stats.record_poll(took);
        result
    }

    /// Drops the future where it lies, catching a panic from its
    /// destructor, and leaves the stage `Consumed`. Called with `RUNNING`
    /// set by this thread.
    ///
    /// In place, never moved out first: the future is pinned, and `Pin`'s
    /// contract is that a pinned value is dropped at its address. Futures
    /// rely on it: a primitive's waiter node lives inside the future, linked
    /// into a wait list by address, and its destructor unlinks it and hands
    /// on a wakeup it was granted by comparing addresses. Dropped from a
    /// copy on the stack, a cancelled waiter failed to recognise itself as
    /// the head of its list, so the wakeup it held was lost (waiters asleep
    /// while the lock was free), and the list kept pointers into the task.
    fn drop_future(&self) -> std::thread::Result<()> {
        self.cell().stage.with_mut(|stage| {
            // SAFETY: we own `RUNNING`, so nobody else touches the stage.
            // `drop_in_place` runs the future's destructor at its pinned
            // address; if it panics, unwinding still drops the rest of the
            // value, so afterwards the slot holds a dropped value either
            // way, which `write` overwrites without reading or dropping it.
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                std::ptr::drop_in_place(stage)
            }));
            // SAFETY: see above: the slot's old value is dropped.
            unsafe { std::ptr::write(stage, Stage::Consumed) };
            dropped
        })
    }

    /// `true`: woken during the poll; our run-queue reference is now the
    /// new entry's, for the caller to queue.
    fn run(self) -> bool {
        match self.state().transition_to_running() {
            ToRunning::Stale => self.raw().drop_reference(),
            ToRunning::Cancel => self.cancel_and_complete(true),
            ToRunning::Poll => return self.poll(),
        }
        false
    }

    fn poll(self) -> bool {
        let output = match self.poll_future() {
            Ok(Poll::Pending) => {
                match self.state().transition_to_idle() {
                    ToIdle::Idle { dealloc } => {
                        // The owned list holds a reference while the task is
                        // not complete, so ours was never the last.
                        invariant!(!dealloc);
                    }
                    // Our run-queue reference becomes the new entry's; the
                    // caller queues it (see `Notified::run`).
                    ToIdle::Rescheduled => return true,
                    ToIdle::Cancel => self.cancel_and_complete(true),
                }
                return false;
            }
            Ok(Poll::Ready(value)) => match self.drop_future() {
                Ok(()) => Ok(value),
                Err(panic) => {
                    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
                    Err(self.panic_error(panic))
                }
            },
            Err(panic) => {
                // The future panicked; drop what is left of it. A second
                // panic from its destructor is swallowed: the first one is
                // what the joiner needs to see.
                let _ = self.drop_future();
                Err(self.panic_error(panic))
            }
        };
        self.complete(output, true);
        false
    }

    fn panic_error(&self, payload: Box<dyn std::any::Any + Send>) -> JoinError {
        let h = self.header();
        JoinError::panic(h.id, h.meta.name.clone(), payload)
    }

    /// Drops the future (cancellation) and completes the task with a
    /// cancelled error, or with the panic of the future's destructor.
    fn cancel_and_complete(self, from_run_queue: bool) {
        let output = match self.drop_future() {
            Ok(()) => Err(JoinError::cancelled(
                self.header().id,
                self.header().meta.name.clone(),
            )),
            Err(panic) => Err(self.panic_error(panic)),
        };
        self.complete(output, from_run_queue);
    }

    /// Stores the output, publishes `COMPLETE`, wakes the joiner, leaves the
    /// owned list and releases references. `from_run_queue`: the caller
    /// holds a run-queue reference to release too.
    fn complete(self, output: Result<F::Output, JoinError>, from_run_queue: bool) {
        // SAFETY: we own `RUNNING`, and the future was moved out, so the
        // stage is `Consumed`: writing it drops nothing.
        self.cell()
            .stage
            .with_mut(|stage| unsafe { *stage = Stage::Finished(output) });

        let mut prev = self.state().transition_to_complete();
        if prev.has_done_callbacks() {
            prev = self.run_done_callbacks_and_hand_off();
        }
        if !prev.is_join_interested() {
            // Nobody will read the output: it is ours to drop.
            self.drop_output_catching();
        } else if prev.is_join_waker_set() {
            self.wake_joiner();
        }

        let released = self.cell().scheduler.release(self.raw());
        self.raw()
            .drop_references(from_run_queue as usize + released as usize);
    }
}

impl<F: Future, S: Schedule> Harness<F, S> {
    fn drop_output_catching(&self) {
        // SAFETY: after `COMPLETE` without join interest the output belongs
        // to the completing party, which is us; nobody else reads it.
        let stage = self
            .cell()
            .stage
            .with_mut(|stage| unsafe { mem::replace(&mut *stage, Stage::Consumed) });
        if let Stage::Finished(Err(err)) = &stage {
            if err.is_panic() {
                self.cell()
                    .scheduler
                    .unobserved_panic(self.header(), err.panic_message());
            }
        }
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(stage)));
    }
}

pub(super) unsafe fn run<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    unsafe { Harness::<F, S>::from_raw(ptr) }.run()
}

pub(super) unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    if harness.state().transition_to_shutdown() {
        harness.cancel_and_complete(false);
    }
}
