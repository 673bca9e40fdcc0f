//! The allocation: one `Cell` per task holding the header, the scheduler
//! handle, the stage (the future, then its output) and the done-callback
//! queue, behind a type-erased pointer to its header (`RawTask`) and a
//! vtable of the operations that need the concrete future and scheduler
//! types.
//!
//! # References
//!
//! Every `RawTask` operation is used by a party that holds one of the
//! task's references (counted in the state word): the `JoinHandle`, a
//! waker, a run-queue entry (`Notified`), the owned list. The allocation is
//! freed (`dealloc`) by whoever releases the last one.

use super::Id;
use super::Schedule;
use super::callbacks::{self, Callbacks};
use super::error::JoinError;
use super::harness::{self, Harness, Notified};
use super::join_waker::{self, register_join_waker};
use super::list::Pointers;
use super::meta::{TaskMeta, TaskStats};
use super::state::State;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Mutex;
use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

/// The type-independent part of a task, at the start of the allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(super) vtable: &'static Vtable,
    pub(crate) id: Id,
    pub(crate) meta: TaskMeta,
    /// Poll counters for the task dump.
    pub(crate) stats: TaskStats,
    /// Links in the owned-tasks list, guarded by the list shard's lock.
    pub(crate) owned: Pointers,
    /// The joiner's waker. Access is governed by `JOIN_WAKER` (see
    /// [`super::state`]).
    pub(super) join_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: every field of `Header` is either immutable after creation (`id`,
// `meta`, `vtable`), atomic (`state`), or an `UnsafeCell` whose access is
// serialised by a protocol: `owned` by the list shard's lock, `join_waker`
// by the `JOIN_WAKER`/`COMPLETE` bits. The `Waker` inside is `Send + Sync`.
unsafe impl Send for Header {}
// SAFETY: see `Send` above.
unsafe impl Sync for Header {}

/// The stage a task's future is in.
pub(super) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The whole allocation.
#[repr(C)]
pub(super) struct Cell<F: Future, S> {
    pub(super) header: Header,
    pub(super) scheduler: S,
    pub(super) stage: UnsafeCell<Stage<F>>,
    /// Done callbacks (see [`Callbacks`] and [`super::state`]).
    pub(super) callbacks: Mutex<Callbacks<F::Output>>,
}

/// The operations that need the concrete future and scheduler types.
pub(super) struct Vtable {
    /// Consumes one run-queue reference and runs (or cancels) the task;
    /// `true` hands the reference back for a yield's new entry.
    pub(super) run: unsafe fn(NonNull<Header>) -> bool,
    /// Consumes one reference and hands the task to its scheduler.
    pub(super) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation (reference count reached zero).
    pub(super) dealloc: unsafe fn(NonNull<Header>),
    /// `JoinHandle::poll`.
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// `JoinHandle` drop when the fast path did not apply.
    pub(super) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    /// Runtime shutdown: cancel the task if nobody is polling it.
    pub(super) shutdown: unsafe fn(NonNull<Header>),
    /// `JoinHandle::on_done`: takes the `DoneCallback<F::Output>` out of the
    /// `Option` the pointer points to; `false` if the output was taken.
    pub(super) add_done_callback: unsafe fn(NonNull<Header>, *mut ()) -> bool,
    /// Whether the handed-off output is a panic (`wait(FirstError)`).
    pub(super) output_is_panic: unsafe fn(NonNull<Header>) -> bool,
}

const fn vtable<F: Future, S: Schedule>() -> &'static Vtable
where
    F::Output: 'static,
{
    &Vtable {
        run: harness::run::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: join_waker::try_read_output::<F, S>,
        drop_join_handle_slow: join_waker::drop_join_handle_slow::<F, S>,
        shutdown: harness::shutdown::<F, S>,
        add_done_callback: callbacks::add_done_callback::<F, S>,
        output_is_panic: join_waker::output_is_panic::<F, S>,
    }
}

/// A pointer to a task, without a reference of its own. The caller must
/// hold a reference (or otherwise know the task is alive) while using it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a `RawTask` is a pointer to a `Header`, which is `Send + Sync`;
// every operation on it goes through the state word's protocol.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task in its initial state (scheduled, joinable, three
    /// references: the returned `JoinHandle`'s, the first run-queue entry's
    /// and the owned list's).
    pub(crate) fn new<F, S>(future: F, scheduler: S, id: Id, meta: TaskMeta) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        RawTask::allocate(future, scheduler, id, meta)
    }

    /// [`RawTask::new`] for a future or an output that is not `Send`: a
    /// `LocalSet`'s task.
    ///
    /// Everything else about the task is thread-safe (its state word, its
    /// wakers, its run-queue entries, its `JoinHandle` when the output is
    /// `Send`); only the future, and the output while it sits in the task,
    /// must stay on one thread. They are touched in exactly four places:
    /// `Notified::run` (polls, cancels, completes, drops an unread output),
    /// `RawTask::shutdown` (drops the future), the `JoinHandle` (takes or
    /// drops the output: it is `!Send` when the output is) and the
    /// deallocation (which finds the future gone: a task not complete is
    /// kept alive by its owned list's reference, and is completed before
    /// that reference is released).
    ///
    /// # Safety
    ///
    /// The caller must make sure that the task's entries are only ever run
    /// (`Notified::run`), and the task only ever shut down
    /// (`RawTask::shutdown`), on the calling thread: `scheduler` queues
    /// them where only this thread runs them, and the task is completed
    /// (run to the end, or shut down) on this thread before the reference
    /// that keeps it from completing elsewhere (its owned list's) is
    /// released.
    pub(crate) unsafe fn new_local<F, S>(future: F, scheduler: S, id: Id, meta: TaskMeta) -> RawTask
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        RawTask::allocate(future, scheduler, id, meta)
    }

    /// The allocation itself. Private: the `Send` bounds of the two public
    /// constructors (or the contract of `new_local`) are what make sending
    /// the task's pointers between threads sound.
    fn allocate<F, S>(future: F, scheduler: S, id: Id, meta: TaskMeta) -> RawTask
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: vtable::<F, S>(),
                id,
                meta,
                stats: TaskStats::new(),
                owned: Pointers::new(),
                join_waker: UnsafeCell::new(None),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            callbacks: Mutex::new(Callbacks::new()),
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    pub(crate) fn from_ptr(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn as_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the caller of every `RawTask` method holds a reference to
        // the task, so the allocation is alive; the header is only read
        // through shared references.
        unsafe { self.ptr.as_ref() }
    }

    pub(super) fn vtable(&self) -> &'static Vtable {
        self.header().vtable
    }

    /// Releases one reference, freeing the task if it was the last.
    pub(crate) fn drop_reference(self) {
        if self.header().state.ref_dec(1) {
            // SAFETY: that was the last reference: nobody else can reach the
            // task any more.
            unsafe { (self.vtable().dealloc)(self.ptr) }
        }
    }

    /// Releases `n` references at once.
    pub(crate) fn drop_references(self, n: usize) {
        if n > 0 && self.header().state.ref_dec(n) {
            // SAFETY: those were the last references.
            unsafe { (self.vtable().dealloc)(self.ptr) }
        }
    }

    /// Consumes one reference (taken by the caller via a state transition)
    /// and submits the task to its scheduler.
    ///
    /// The caller must hold a reference of its own besides the one it
    /// passes, until this returns: `Schedule::schedule` runs with `&self`
    /// pointing into the task's allocation (the scheduler is stored there),
    /// and once the entry is queued a worker may run the task to completion
    /// and release the entry's reference before `schedule` returns. The
    /// caller's reference keeps the allocation, and so the scheduler and
    /// the runtime it points to, alive until then. Every caller does: a
    /// `JoinHandle` (spawn, cancel) and a waker (wake by reference, or by
    /// value, which releases its reference only afterwards). A task woken
    /// during its own poll is not re-queued through here at all (see
    /// [`Notified::run`]).
    pub(crate) fn schedule(self) {
        // SAFETY: the caller passes the reference it took for the entry to
        // the scheduler, and holds another one across the call (see above).
        unsafe { (self.vtable().schedule)(self.ptr) }
    }

    /// `JoinHandle::poll`: writes `Poll::Ready(output)` to `dst` if the task
    /// completed, otherwise registers `waker`.
    ///
    /// # Safety
    ///
    /// `dst` must point to a `Poll<Result<T, JoinError>>` where `T` is the
    /// task's output type, and the caller must be the `JoinHandle`.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.vtable().try_read_output)(self.ptr, dst, waker) }
    }

    /// `JoinHandle`: true once the output is handed off; otherwise registers
    /// `waker` to be woken when it is (without taking the output).
    pub(crate) fn poll_finished(self, waker: &Waker) -> bool {
        let header = self.header();
        let snapshot = header.state.load();
        snapshot.is_output_handed_off() || register_join_waker(header, snapshot, waker)
    }

    /// `JoinHandle` drop: clears join interest and releases the handle's
    /// reference.
    pub(crate) fn drop_join_handle(self) {
        if self.header().state.drop_join_handle_fast() {
            return;
        }
        // SAFETY: only the `JoinHandle` calls this, once, with its reference.
        unsafe { (self.vtable().drop_join_handle_slow)(self.ptr) }
    }

    /// Runtime shutdown: cancels the task if nobody is polling it (its
    /// future is dropped on this thread). Does not release any reference.
    pub(crate) fn shutdown(self) {
        // SAFETY: the caller holds a reference (the owned list's).
        unsafe { (self.vtable().shutdown)(self.ptr) }
    }

    /// `JoinHandle::on_done`: runs `callback` with the task's outcome when it
    /// completes, or at once if it has. `false` (and the callback is left
    /// in the `Option`) if the handle already took the output.
    ///
    /// # Safety
    ///
    /// `callback` must point to an `Option<DoneCallback<T>>` holding a
    /// callback, where `T` is the task's output type, and the caller must
    /// hold a shared borrow of the `JoinHandle` for the whole call (so the
    /// handle is alive, keeps its join interest, and cannot take the
    /// output meanwhile; other holders of `&JoinHandle` may call this at the
    /// same time).
    pub(crate) unsafe fn add_done_callback(self, callback: *mut ()) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { (self.vtable().add_done_callback)(self.ptr, callback) }
    }

    /// Whether the output is a panic.
    ///
    /// # Safety
    ///
    /// The caller must be the `JoinHandle`, after the output was handed off
    /// and before it is taken.
    pub(crate) unsafe fn output_is_panic(self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { (self.vtable().output_is_panic)(self.ptr) }
    }

    /// Takes one more reference (for a `CancelHandle`).
    pub(crate) fn ref_inc(self) {
        self.header().state.ref_inc();
    }

    /// `JoinHandle::cancel`.
    pub(crate) fn cancel(self) {
        if self.header().state.transition_to_cancelled() {
            // The transition took a reference for the run-queue entry.
            self.schedule();
        }
    }
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`. The `&S`
    // formed below (the `&self` of `Schedule::schedule`) points into the
    // allocation and must stay valid for the whole call, after the entry
    // it is given has been queued and perhaps run to completion elsewhere:
    // `RawTask::schedule`'s caller holds a second reference until we
    // return, so the allocation is not freed under it.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness
        .cell()
        .scheduler
        .schedule(Notified::from_raw(harness.raw()));
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the reference count reached zero, so this is the only pointer
    // to the allocation, which was made by `Box::new` in `RawTask::new`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}
