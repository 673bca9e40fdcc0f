//! The join protocol: handing the output and the joiner's waker between
//! the task and its `JoinHandle` (the `JOIN_INTEREST` and `JOIN_WAKER` bits
//! of [`super::state`]).
//!
//! * The **output** is handed off at `COMPLETE` (or after the done
//!   callbacks ran, see [`super::callbacks`]); it then belongs to the handle
//!   if `JOIN_INTEREST` is set, otherwise to the completing party.
//! * The **join waker** slot belongs to the handle while `JOIN_WAKER` is
//!   clear; while it is set the runtime may read it (to wake the joiner
//!   right after the hand off) and the handle must not write it. The
//!   runtime clears the bit once it has woken the joiner, handing the slot
//!   back.

use super::Schedule;
use super::alloc::{Header, Stage};
use super::error::JoinError;
use super::harness::Harness;
use super::state::Snapshot;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Poll, Waker};

impl<F: Future, S: Schedule> Harness<F, S> {
    /// Wakes the joiner after completion, then hands the waker slot back.
    pub(super) fn wake_joiner(&self) {
        let header = self.header();
        // SAFETY: `JOIN_WAKER` is set and `COMPLETE` is published, so the
        // handle will not write the slot until we clear `JOIN_WAKER`; a
        // shared read is allowed.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            header.join_waker.with(|waker| {
                // SAFETY: shared read while `JOIN_WAKER` is set (see above).
                if let Some(waker) = unsafe { &*waker } {
                    waker.wake_by_ref();
                }
            })
        }));
        let prev = header.state.unset_join_waker_after_complete();
        if !prev.is_join_interested() {
            // The handle was dropped while we held the slot and left the
            // waker to us.
            // SAFETY: `JOIN_WAKER` is now clear and the handle is gone, so we
            // are the only party that can reach the slot.
            let waker = header.join_waker.with_mut(|w| unsafe { (*w).take() });
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(waker)));
        }
    }

    /// Takes the output after `COMPLETE`, for the `JoinHandle`.
    fn take_output(&self) -> Result<F::Output, JoinError> {
        // SAFETY: called by the `JoinHandle` after observing `COMPLETE` with
        // join interest, which makes the output the handle's.
        let stage = self
            .cell()
            .stage
            .with_mut(|stage| unsafe { mem::replace(&mut *stage, Stage::Consumed) });
        match stage {
            Stage::Finished(output) => output,
            _ => panic!("`JoinHandle` polled again after it returned `Poll::Ready`"),
        }
    }
}

/// Registers the joiner's waker. Returns `true` if the output was handed off
/// (it can be read), `false` if the waker is registered. Only the
/// `JoinHandle` calls this.
pub(super) fn register_join_waker(header: &Header, snapshot: Snapshot, waker: &Waker) -> bool {
    if snapshot.is_join_waker_set() {
        // SAFETY: while `JOIN_WAKER` is set the runtime only reads the slot,
        // so a shared read here is allowed.
        let same = header.join_waker.with(|w| {
            // SAFETY: shared read while `JOIN_WAKER` is set (see above).
            unsafe { &*w }
                .as_ref()
                .is_some_and(|current| current.will_wake(waker))
        });
        if same {
            return false;
        }
        if header.state.unset_join_waker().is_err() {
            return true;
        }
    }
    // `JOIN_WAKER` is clear: the slot is ours.
    // SAFETY: with `JOIN_WAKER` clear and no hand off seen yet, the runtime
    // never touches the slot.
    let old = header
        .join_waker
        .with_mut(|w| unsafe { (*w).replace(waker.clone()) });
    drop(old);
    header.state.set_join_waker().is_err()
}

pub(super) unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    let snapshot = harness.state().load();
    if !snapshot.is_output_handed_off() && !register_join_waker(harness.header(), snapshot, waker) {
        return;
    }
    let output = harness.take_output();
    // SAFETY: `RawTask::try_read_output`'s contract: `dst` points to a
    // `Poll<Result<F::Output, JoinError>>`.
    unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
}

pub(super) unsafe fn drop_join_handle_slow<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    let header = harness.header();
    let prev = header.state.drop_join_interest();
    let mut output = None;
    let mut waker = None;
    if prev.is_output_handed_off() {
        // The output is ours (the handle's); the waker slot too, unless the
        // runtime still holds it, in which case it will drop the waker.
        // SAFETY: a hand off with join interest makes the output ours.
        output = Some(
            harness
                .cell()
                .stage
                .with_mut(|stage| unsafe { mem::replace(&mut *stage, Stage::Consumed) }),
        );
        if !prev.is_join_waker_set() {
            // SAFETY: `JOIN_WAKER` is clear: the slot is ours.
            waker = header.join_waker.with_mut(|w| unsafe { (*w).take() });
        }
    } else {
        // SAFETY: the transition cleared `JOIN_WAKER` before the hand off,
        // so the runtime will never read the slot: it is ours.
        waker = header.join_waker.with_mut(|w| unsafe { (*w).take() });
    }
    if let Some(Stage::Finished(Err(err))) = &output {
        if err.is_panic() {
            harness
                .cell()
                .scheduler
                .unobserved_panic(header, err.panic_message());
        }
    }
    // Release our reference before running destructors, so that a panicking
    // destructor cannot leak the task.
    harness.raw().drop_reference();
    drop(waker);
    drop(output);
}

pub(super) unsafe fn output_is_panic<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    // SAFETY: `RawTask::output_is_panic`'s contract: the output was handed
    // off to the handle, which only reads it here, through `&self`.
    harness
        .cell()
        .stage
        .with(|stage| matches!(unsafe { &*stage }, Stage::Finished(Err(err)) if err.is_panic()))
}
