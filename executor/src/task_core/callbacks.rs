//! Done callbacks (`JoinHandle::on_done`): asyncio's
//! `add_done_callback`.
//!
//! The callbacks live in a queue under their own lock (see [`Callbacks`]),
//! which orders the callers of `on_done` among themselves. `DONE_CALLBACKS`
//! (in [`super::state`]) is set, under that lock and only before
//! `COMPLETE`, when the queue gets its first callback; it is never cleared
//! before `COMPLETE`. The party that sets `COMPLETE` while it is set runs
//! the queue (callbacks added meanwhile included) and clears the bit under
//! the lock (the hand off of the output). If the task completes while the
//! bit is clear, the output is handed off at `COMPLETE`, and a caller of
//! `on_done` then runs the callbacks itself, reading the output the handle
//! it borrows holds.

use super::Schedule;
use super::alloc::{Header, Stage};
use super::error::JoinError;
use super::harness::Harness;
use super::state::Snapshot;
use crate::loom::sync::MutexGuard;
use std::future::Future;
use std::mem;
use std::ptr::NonNull;

/// A done callback (`JoinHandle::on_done`), already wrapped so that it
/// catches its own panic.
pub(crate) type DoneCallback<T> = Box<dyn FnOnce(&Result<T, JoinError>) + Send + 'static>;

/// The done callbacks of a task, under the `callbacks` lock.
///
/// `on_done` takes `&JoinHandle`, so several threads may add callbacks at
/// once: the lock orders them. It is never held while a callback runs (a
/// callback may add another through the same handle), and the party that
/// completes the task takes it only if `DONE_CALLBACKS` is set.
///
/// * `queue` holds the callbacks added and not yet run, in order.
/// * `running` is true while a party runs callbacks (unlocking around each
///   one): the completing party, or, once the output was handed off, a
///   caller of `on_done`. Callbacks added meanwhile are queued, and that
///   party runs them too before it clears `running`: each callback runs
///   once, and never two at a time (they read the output by `&`, which
///   must not be shared between threads when `T` is not `Sync`).
/// * `DONE_CALLBACKS` is set (under the lock, while the task is not
///   complete) when the queue gets its first callback, and cleared (under
///   the lock) by the completing party once the queue is empty: the hand
///   off. While it is set after `COMPLETE`, the completing party owns the
///   output and every new callback is queued for it.
pub(super) struct Callbacks<T> {
    queue: Vec<DoneCallback<T>>,
    running: bool,
}

impl<T> Callbacks<T> {
    pub(super) fn new() -> Callbacks<T> {
        Callbacks {
            queue: Vec::new(),
            running: false,
        }
    }
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// The completing party found `DONE_CALLBACKS` set at `COMPLETE`: runs
    /// the queue, then hands the output off by clearing the bit. Returns
    /// the state before the hand off (see `State::hand_off_after_callbacks`).
    #[inline]
    pub(super) fn run_done_callbacks_and_hand_off(&self) -> Snapshot {
        // The output stays ours until we clear the bit, and whoever
        // adds a callback meanwhile queues it for us.
        let mut callbacks = self.cell().callbacks.lock();
        callbacks.running = true;
        callbacks = self.run_done_callbacks(callbacks);
        callbacks.running = false;
        let prev = self.state().hand_off_after_callbacks();
        drop(callbacks);
        prev
    }

    /// Runs the queued callbacks, and those added while they run, until
    /// the queue is empty; returns the lock, held, with the queue empty.
    /// The caller set `running` and owns the output's reading: the
    /// completing party before the hand off, or a caller of `on_done`
    /// after it (whose borrow of the handle keeps the output in place).
    fn run_done_callbacks<'a>(
        &'a self,
        mut callbacks: MutexGuard<'a, Callbacks<F::Output>>,
    ) -> MutexGuard<'a, Callbacks<F::Output>> {
        invariant!(callbacks.running);
        loop {
            let batch = mem::take(&mut callbacks.queue);
            if batch.is_empty() {
                return callbacks;
            }
            drop(callbacks);
            // SAFETY: the caller may read the output (see above), and
            // `running` makes us the only reader of it through callbacks;
            // nobody writes the stage meanwhile.
            self.cell().stage.with(|stage| match unsafe { &*stage } {
                Stage::Finished(output) => {
                    for callback in batch {
                        callback(output);
                    }
                }
                _ => unreachable!("done callbacks run with the output in place"),
            });
            callbacks = self.cell().callbacks.lock();
        }
    }

    /// `JoinHandle::on_done`, through a shared borrow of the handle (see
    /// `RawTask::add_done_callback`). `Err` gives the callback back if the
    /// output was taken.
    fn add_done_callback(
        &self,
        callback: DoneCallback<F::Output>,
    ) -> Result<(), DoneCallback<F::Output>>
    where
        F::Output: 'static,
    {
        let state = self.state();
        let mut callbacks = self.cell().callbacks.lock();
        let s = state.load();
        if callbacks.running || s.has_done_callbacks() {
            // Whoever runs the callbacks (or will: the completing party
            // takes the lock and runs the queue before clearing
            // `DONE_CALLBACKS`) runs ours too, after the earlier ones.
            callbacks.queue.push(callback);
            return Ok(());
        }
        // Nobody runs callbacks and none are queued.
        invariant!(callbacks.queue.is_empty());
        if !s.is_complete() {
            callbacks.queue.push(callback);
            if state.set_done_callbacks().is_ok() {
                // The completing party will run it.
                return Ok(());
            }
            // It completed meanwhile, with the bit clear: the output was
            // handed off to the handle, and ours to run below.
        } else {
            // Handed off with the bit clear. The handle we borrow holds it,
            // unless it took it already.
            // SAFETY: a hand off to the handle, which cannot take the
            // output while we borrow it: reading the stage races nothing.
            let taken = self
                .cell()
                .stage
                .with(|stage| !matches!(unsafe { &*stage }, Stage::Finished(_)));
            if taken {
                return Err(callback);
            }
            callbacks.queue.push(callback);
        }
        callbacks.running = true;
        let mut callbacks = self.run_done_callbacks(callbacks);
        callbacks.running = false;
        Ok(())
    }
}

pub(super) unsafe fn add_done_callback<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    callback: *mut (),
) -> bool
where
    F::Output: 'static,
{
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    // SAFETY: `RawTask::add_done_callback`'s contract: the pointer is to an
    // `Option<DoneCallback<F::Output>>` holding the callback.
    let slot = unsafe { &mut *callback.cast::<Option<DoneCallback<F::Output>>>() };
    let callback = slot.take().expect("a done callback to add");
    match harness.add_done_callback(callback) {
        Ok(()) => true,
        Err(callback) => {
            // Given back to the caller, to drop outside the lock.
            *slot = Some(callback);
            false
        }
    }
}
