//! What the current thread is doing for magpie: which runtime it has
//! entered, and whether it is one of that runtime's workers or blocking
//! threads. (Which task it is polling is the task core's business:
//! `task_core::current`.)

use super::Handle;
use super::scheduler::worker::Worker;
use super::shared::Shared;
use crate::loom::sync::Arc;
use std::cell::{Cell, RefCell};
use std::ptr;

struct Context {
    /// The runtime entered by this thread: by a worker for its whole life,
    /// by `block_on` for its duration.
    handle: RefCell<Option<Handle>>,
    /// The worker running on this thread, if it is a worker thread. Set and
    /// cleared by the worker itself around its run loop.
    worker: Cell<*const Worker>,
    /// The runtime this thread is a blocking-pool thread of.
    blocking_pool: RefCell<Option<Arc<Shared>>>,
}

impl Context {
    const fn new() -> Context {
        Context {
            handle: RefCell::new(None),
            worker: Cell::new(ptr::null()),
            blocking_pool: RefCell::new(None),
        }
    }
}

#[cfg(not(loom))]
crate::loom::thread_local! {
    static CONTEXT: Context = const { Context::new() };
}

#[cfg(loom)]
crate::loom::thread_local! {
    static CONTEXT: Context = Context::new();
}

/// A clone of the handle of the runtime entered on this thread.
pub(crate) fn current_handle() -> Option<Handle> {
    CONTEXT
        .try_with(|cx| cx.handle.borrow().clone())
        .ok()
        .flatten()
}

/// Runs `f` with the handle of the runtime entered on this thread, without
/// cloning it.
pub(crate) fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    CONTEXT
        .try_with(|cx| (f.take().expect("called once"))(cx.handle.borrow().as_ref()))
        .unwrap_or_else(|_| (f.take().expect("called once"))(None))
}

/// Enters `handle` on this thread until the guard is dropped (nested enters
/// restore the previous runtime).
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let prev = CONTEXT.with(|cx| cx.handle.replace(Some(handle)));
    EnterGuard { prev }
}

pub(crate) struct EnterGuard {
    prev: Option<Handle>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CONTEXT.try_with(|cx| cx.handle.replace(prev));
    }
}

/// Runs `f` with the worker running on this thread, if any.
#[inline]
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let ptr = CONTEXT
        .try_with(|cx| cx.worker.get())
        .unwrap_or(ptr::null());
    // SAFETY: the pointer is set by the worker on its own thread to a
    // `Worker` that outlives its run loop, and cleared before the worker is
    // dropped; only this thread reads it.
    f(unsafe { ptr.as_ref() })
}

/// True on a worker thread of any magpie runtime.
pub(crate) fn is_worker_thread() -> bool {
    with_worker(|w| w.is_some())
}

/// Marks this thread as running `worker` until the guard is dropped.
pub(crate) fn set_worker(worker: &Worker) -> WorkerGuard {
    CONTEXT.with(|cx| cx.worker.set(worker));
    WorkerGuard(())
}

pub(crate) struct WorkerGuard(());

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|cx| cx.worker.set(ptr::null()));
    }
}

/// Marks this thread as a blocking-pool thread of `shared` until the guard
/// is dropped.
pub(crate) fn set_blocking_pool(shared: Arc<Shared>) -> BlockingGuard {
    CONTEXT.with(|cx| *cx.blocking_pool.borrow_mut() = Some(shared));
    BlockingGuard(())
}

pub(crate) struct BlockingGuard(());

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|cx| cx.blocking_pool.borrow_mut().take());
    }
}

/// Runs `f` with the runtime this thread is a blocking-pool thread of.
pub(crate) fn with_blocking_pool<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    let mut f = Some(f);
    CONTEXT
        .try_with(|cx| (f.take().expect("called once"))(cx.blocking_pool.borrow().as_ref()))
        .unwrap_or_else(|_| (f.take().expect("called once"))(None))
}
