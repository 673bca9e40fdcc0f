//! Which task this thread is polling: set by the harness around each poll
//! (`Harness::poll_future`), read by `task::current()` and diagnostics.
//! It is the task core's own thread-local, so that polling a task needs
//! nothing from the runtime.

use super::Header;
use std::cell::Cell;
use std::ptr::NonNull;

#[cfg(not(loom))]
crate::loom::thread_local! {
    static CURRENT_TASK: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
}

#[cfg(loom)]
crate::loom::thread_local! {
    static CURRENT_TASK: Cell<Option<NonNull<Header>>> = Cell::new(None);
}

/// Records that `task` is being polled on this thread until the guard is
/// dropped.
#[inline]
pub(crate) fn set_current_task(task: NonNull<Header>) -> CurrentTaskGuard {
    let prev = CURRENT_TASK
        .try_with(|current| current.replace(Some(task)))
        .ok()
        .flatten();
    CurrentTaskGuard { prev }
}

pub(crate) struct CurrentTaskGuard {
    prev: Option<NonNull<Header>>,
}

impl Drop for CurrentTaskGuard {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|current| current.set(self.prev));
    }
}

/// Runs `f` with the header of the task being polled on this thread.
pub(crate) fn with_current_task<R>(f: impl FnOnce(Option<&Header>) -> R) -> R {
    let task = CURRENT_TASK
        .try_with(|current| current.get())
        .ok()
        .flatten();
    // SAFETY: the pointer is set only while the task is being polled on this
    // thread, during which the poller holds a reference to it.
    f(task.map(|t| unsafe { t.as_ref() }))
}
