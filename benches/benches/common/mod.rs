//! Pieces the bench files share (each `mod common;` uses part of it).

#![allow(dead_code)]

pub(crate) mod harness;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

/// smol's multi-threaded setup: an `async-executor` run by `workers`
/// threads until dropped.
pub(crate) struct SmolPool {
    pub(crate) ex: Arc<async_executor::Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl SmolPool {
    pub(crate) fn new(workers: usize) -> SmolPool {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..workers)
            .map(|_| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                std::thread::spawn(move || {
                    // Runs until `stop` is dropped (recv then fails).
                    let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        SmolPool {
            ex,
            stop: Some(stop),
            threads,
        }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Yields once: wakes itself and returns `Pending`, the same way on every
/// runtime (so that a bench compares schedulers, not yield helpers).
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}
