//! Wakers: a task's waker is a pointer to its header with this vtable.
//! `clone` takes a reference, `drop` releases one, `wake` consumes one:
//! none allocates.

use super::alloc::{Header, RawTask};
use super::state::ToScheduled;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A waker for the task that does not own a reference: only valid while the
/// caller holds one (the worker polling the task does).
///
/// It takes the allocation's own pointer, not a `&Header`: clones of this
/// waker may outlive the poll and end up releasing the last reference,
/// which frees the whole allocation through this pointer, so it must carry
/// the provenance of the allocation (a pointer derived from `&Header` only
/// covers the header, read-only outside its cells; Miri rejects the free).
pub(super) fn waker_ref(header: NonNull<Header>) -> Waker {
    let raw = RawWaker::new(header.as_ptr() as *const (), &WAKER_VTABLE);
    // SAFETY: the vtable functions uphold the `RawWaker` contract; this
    // instance is wrapped in `ManuallyDrop` by the caller, so it never
    // releases the reference it does not own.
    unsafe { Waker::from_raw(raw) }
}

fn header_raw(ptr: *const ()) -> RawTask {
    // SAFETY: wakers are only built from non-null header pointers.
    RawTask::from_ptr(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
}

unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
    header_raw(ptr).header().state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn waker_wake(ptr: *const ()) {
    let raw = header_raw(ptr);
    match raw.header().state.transition_to_scheduled_by_val() {
        ToScheduled::Submit => {
            // The transition took the entry's reference and left ours: it
            // keeps the task alive until the entry is queued (see
            // `RawTask::schedule`), then it is released.
            raw.schedule();
            raw.drop_reference();
        }
        ToScheduled::Nothing => {}
        // SAFETY: the waker's reference was the last one.
        ToScheduled::Dealloc => unsafe { (raw.vtable().dealloc)(raw.as_ptr()) },
    }
}

unsafe fn waker_wake_by_ref(ptr: *const ()) {
    let raw = header_raw(ptr);
    if raw.header().state.transition_to_scheduled_by_ref() == ToScheduled::Submit {
        raw.schedule();
    }
}

unsafe fn waker_drop(ptr: *const ()) {
    header_raw(ptr).drop_reference();
}
