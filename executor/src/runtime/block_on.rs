//! Running a future to completion on the calling (non-worker) thread.

use super::scheduler::park::Parker;
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
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let thread_waker = Arc::new(ThreadWaker(Parker::new()));
    let waker = Waker::from(thread_waker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread_waker.0.park(None);
    }
}
