//! Task memory: one allocation per task holding the header, the scheduler
//! handle and the stage (the future, then its output), plus the type-erased
//! vtable and the `RawWakerVTable` that point into it.
//!
//! Everything here is `unsafe` bookkeeping driven by the state word
//! ([`super::state`]): each function states which bit or which reference
//! gives it the right to touch which field.

use super::error::JoinError;
use super::list::Pointers;
use super::state::{Snapshot, State, ToIdle, ToRunning, ToScheduled};
use super::{Id, TaskMeta, TaskStats};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::{Mutex, MutexGuard};
use magpie_sync::coop;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// What a task needs from whoever runs it.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Puts the task in a run queue (a wake, a spawn, a cancel). A task
    /// woken during its own poll is not scheduled through here: `run`
    /// hands its entry back to the caller, which queues it as a yield.
    fn schedule(&self, task: Notified);

    /// Removes the task from the owned-tasks list. Returns `true` if it was
    /// there: the list's reference then passes to the caller.
    fn release(&self, task: RawTask) -> bool;

    /// A task panicked and nobody will ever look at the panic: its
    /// `JoinHandle` was dropped before or after completion without reading
    /// the output. Diagnostics hook; must not panic.
    fn unobserved_panic(&self, _header: &Header, _message: Option<&str>) {}

    /// The clock debug mode times polls with, in microseconds since the
    /// runtime started. The runtime's is coarse (advanced by the monitor
    /// every millisecond while workers run, and by workers waking up), so
    /// that timing a poll costs two relaxed loads rather than two clock
    /// reads; summed over many polls it is an unbiased estimate.
    fn clock_micros(&self) -> u64 {
        0
    }
}

/// The type-independent part of a task, at the start of the allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    vtable: &'static Vtable,
    pub(crate) id: Id,
    pub(crate) meta: TaskMeta,
    /// Poll counters for the task dump.
    pub(crate) stats: TaskStats,
    /// Links in the owned-tasks list, guarded by the list shard's lock.
    pub(crate) owned: Pointers,
    /// The joiner's waker. Access is governed by `JOIN_WAKER` (see
    /// [`super::state`]).
    join_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: every field of `Header` is either immutable after creation (`id`,
// `meta`, `vtable`), atomic (`state`), or an `UnsafeCell` whose access is
// serialised by a protocol: `owned` by the list shard's lock, `join_waker`
// by the `JOIN_WAKER`/`COMPLETE` bits. The `Waker` inside is `Send + Sync`.
unsafe impl Send for Header {}
// SAFETY: see `Send` above.
unsafe impl Sync for Header {}

/// The stage a task's future is in.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

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
struct Callbacks<T> {
    queue: Vec<DoneCallback<T>>,
    running: bool,
}

/// The whole allocation.
#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    /// Done callbacks (see [`Callbacks`] and [`super::state`]).
    callbacks: Mutex<Callbacks<F::Output>>,
}

/// The operations that need the concrete future and scheduler types.
struct Vtable {
    /// Consumes one run-queue reference and runs (or cancels) the task;
    /// `true` hands the reference back for a yield's new entry.
    run: unsafe fn(NonNull<Header>) -> bool,
    /// Consumes one reference and hands the task to its scheduler.
    schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation (reference count reached zero).
    dealloc: unsafe fn(NonNull<Header>),
    /// `JoinHandle::poll`.
    try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// `JoinHandle` drop when the fast path did not apply.
    drop_join_handle_slow: unsafe fn(NonNull<Header>),
    /// Runtime shutdown: cancel the task if nobody is polling it.
    shutdown: unsafe fn(NonNull<Header>),
    /// `JoinHandle::on_done`: takes the `DoneCallback<F::Output>` out of the
    /// `Option` the pointer points to; `false` if the output was taken.
    add_done_callback: unsafe fn(NonNull<Header>, *mut ()) -> bool,
    /// Whether the handed-off output is a panic (`wait(FirstError)`).
    output_is_panic: unsafe fn(NonNull<Header>) -> bool,
}

const fn vtable<F: Future, S: Schedule>() -> &'static Vtable
where
    F::Output: 'static,
{
    &Vtable {
        run: run::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle_slow: drop_join_handle_slow::<F, S>,
        shutdown: shutdown::<F, S>,
        add_done_callback: add_done_callback::<F, S>,
        output_is_panic: output_is_panic::<F, S>,
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
            callbacks: Mutex::new(Callbacks {
                queue: Vec::new(),
                running: false,
            }),
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

    fn vtable(&self) -> &'static Vtable {
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
        unsafe { (raw.vtable().run)(raw.ptr) }.then(|| Notified(raw))
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

/// Typed access to a task's allocation.
struct Harness<F: Future, S: Schedule> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    ///
    /// `ptr` must point to the header of a live `Cell<F, S>`.
    unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    fn cell(&self) -> &Cell<F, S> {
        // SAFETY: `from_raw`'s contract: the cell is alive while the harness
        // is used, and it is only ever accessed through shared references
        // (mutation goes through `UnsafeCell`s and atomics).
        unsafe { self.cell.as_ref() }
    }

    fn header(&self) -> &Header {
        &self.cell().header
    }

    fn raw(&self) -> RawTask {
        RawTask {
            ptr: self.cell.cast(),
        }
    }

    fn state(&self) -> &State {
        &self.header().state
    }

    /// Polls the future once. Called with `RUNNING` set by this thread.
    fn poll_future(&self) -> std::thread::Result<Poll<F::Output>> {
        let waker = ManuallyDrop::new(waker_ref(self.cell.cast::<Header>()));
        let mut cx = Context::from_waker(&waker);
        let _current = crate::runtime::context::set_current_task(self.cell.cast());
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
            // The output stays ours until we clear the bit, and whoever
            // adds a callback meanwhile queues it for us.
            let mut callbacks = self.cell().callbacks.lock();
            callbacks.running = true;
            callbacks = self.run_done_callbacks(callbacks);
            callbacks.running = false;
            prev = self.state().hand_off_after_callbacks();
            drop(callbacks);
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

    /// Wakes the joiner after completion, then hands the waker slot back.
    fn wake_joiner(&self) {
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
fn register_join_waker(header: &Header, snapshot: Snapshot, waker: &Waker) -> bool {
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

unsafe fn run<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    unsafe { Harness::<F, S>::from_raw(ptr) }.run()
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

unsafe fn try_read_output<F: Future, S: Schedule>(
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

unsafe fn drop_join_handle_slow<F: Future, S: Schedule>(ptr: NonNull<Header>) {
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

unsafe fn add_done_callback<F: Future, S: Schedule>(ptr: NonNull<Header>, callback: *mut ()) -> bool
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

unsafe fn output_is_panic<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    // SAFETY: `RawTask::output_is_panic`'s contract: the output was handed
    // off to the handle, which only reads it here, through `&self`.
    harness
        .cell()
        .stage
        .with(|stage| matches!(unsafe { &*stage }, Stage::Finished(Err(err)) if err.is_panic()))
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only installed on a `Cell<F, S>`.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    if harness.state().transition_to_shutdown() {
        harness.cancel_and_complete(false);
    }
}

// ---- Wakers ---------------------------------------------------------------
//
// A task's waker is a pointer to its header with this vtable. `clone` takes a
// reference, `drop` releases one, `wake` consumes one: none allocates.

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
fn waker_ref(header: NonNull<Header>) -> Waker {
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
        ToScheduled::Dealloc => unsafe { (raw.vtable().dealloc)(raw.ptr) },
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
