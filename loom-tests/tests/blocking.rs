//! Loom models of the blocking pool (`executor/src/runtime/blocking.rs`):
//! `spawn_blocking` from a task and from outside, an idle thread's
//! keep-alive running out just as new work arrives, and shutdown with
//! blocking work queued.
//!
//! The pool is capped at one thread (`max_blocking_threads(1)`), so work
//! queues behind a busy thread; loom has at most 5 threads (main, one
//! worker, and the pool's threads: an exited pool thread is replaced by a
//! new one). A thread's keep-alive is a timed condvar wait, which under loom
//! may time out at any moment the thread is scheduled
//! (`primitives/src/loom.rs`): loom explores the thread leaving at every
//! point relative to the pushes.
//!
//! Every closure owns a [`DropToken`], so a closure that runs (consumed by
//! its call) and one that is cancelled (dropped by the shutdown sweep) are
//! both counted: each exactly once.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom_tests::{Counts, DropToken, Output};
use std::time::Duration;

fn runtime() -> magpie::Runtime {
    magpie::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .thread_keep_alive(Duration::from_millis(1))
        .build()
        .unwrap()
}

/// A blocking closure that counts its run and returns a counted output.
fn closure(
    counts: &Arc<Counts>,
    ran: &Arc<AtomicUsize>,
) -> impl FnOnce() -> Output + Send + 'static {
    let (token, counts, ran) = (DropToken::new(counts), counts.clone(), ran.clone());
    move || {
        let _token = token;
        ran.fetch_add(1, SeqCst);
        Output::new(&counts)
    }
}

/// `spawn_blocking` from inside a task (the pool is found through the
/// worker's context, the push comes from the worker thread), while the
/// worker goes on to search and park: the closure runs exactly once on the
/// pool's thread and its output reaches its handle. (Awaiting the handle in
/// the task as well, so that the pool's thread wakes it through the
/// injector, makes a model of minutes: the wake from a foreign thread is
/// `scheduler.rs`'s subject.) (`spawn_blocking` from outside the runtime is
/// `keep_alive_exit_races_new_work`'s subject.)
#[test]
#[allow(clippy::async_yields_async)] // the task hands its blocking handle out
fn spawn_blocking_from_a_task() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = runtime();
        let task = rt.spawn({
            let f = closure(&counts, &ran);
            async move { magpie::task::spawn_blocking(f) }
        });
        let blocking = rt.block_on(task).expect("the task ran");
        drop(rt.block_on(blocking).expect("the closure ran"));
        drop(rt);
        assert_eq!(ran.load(SeqCst), 1);
        counts.assert_settled();
    });
}

/// The pool's only thread finishes a closure and waits for more; its
/// keep-alive may run out at any moment, in particular exactly when a
/// second closure is pushed. The second closure must still run: a push
/// must never count on a thread that has decided to exit (the cap would
/// then keep it from starting one, and the work would wait forever: loom
/// reports the deadlock).
#[test]
fn keep_alive_exit_races_new_work() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = runtime();
        let first = rt.spawn_blocking(closure(&counts, &ran));
        drop(rt.block_on(first).expect("the first closure ran"));
        let second = rt.spawn_blocking(closure(&counts, &ran));
        drop(rt.block_on(second).expect("the second closure ran"));
        drop(rt);
        assert_eq!(ran.load(SeqCst), 2);
        counts.assert_settled();
    });
}

/// Dropping the runtime while blocking work is queued behind the one
/// thread (or running, or not yet picked up): the close stops the pool from
/// popping, so each closure either runs (its handle gives the output) or
/// is cancelled by the sweep (its handle says so), exactly once; every
/// handle resolves, and nothing leaks (an entry left in the pool's queue
/// would keep its task and the runtime alive).
#[test]
fn shutdown_with_queued_blocking_work() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = runtime();
        let handles = [
            rt.spawn_blocking(closure(&counts, &ran)),
            rt.spawn_blocking(closure(&counts, &ran)),
        ];
        drop(rt);
        let mut cancelled = 0;
        for handle in handles {
            assert!(handle.is_finished(), "every handle resolves");
            match futures::FutureExt::now_or_never(handle).expect("finished") {
                Ok(output) => drop(output),
                Err(e) => {
                    assert!(e.is_cancelled(), "{e:?}");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(
            ran.load(SeqCst) + cancelled,
            2,
            "each closure ran or was cancelled, once"
        );
        counts.assert_settled();
    });
}
