//! Running a future to completion on the calling (non-worker) thread.

use super::scheduler::park::Parker;
use magpie_sync::coop;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The waker of a `block_on` call: unparks the blocked thread.
///
/// A std `Arc` even under loom: its reference count is not part of any
/// protocol; the `Parker` inside uses the shim's atomics and locks.
struct ThreadWaker(Parker);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, sleeping between polls until its waker is
/// called.
///
/// Each poll gets a cooperative budget, as a task's poll does on a worker:
/// the same future behaves the same in `block_on` and in a task, and a
/// branch of a `join!`/`select!` in the main future that keeps completing
/// at once lets its sibling branches run. A spent budget wakes the future
/// by reference, which unparks this thread at once: the cost is one extra
/// poll per `DEFAULT_BUDGET` operations.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let thread_waker = Arc::new(ThreadWaker(Parker::new()));
    let waker = Waker::from(thread_waker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        let polled = coop::budget(coop::DEFAULT_BUDGET, || future.as_mut().poll(&mut cx));
        if let Poll::Ready(output) = polled {
            return output;
        }
        thread_waker.0.park(None);
    }
}
