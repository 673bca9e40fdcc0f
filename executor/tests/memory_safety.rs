//! Memory-safety regressions of the task core and of shutdown, each first
//! found by Miri or by a crash (`shared/repros/memory_safety.rs`): wake by
//! value against completion, a wake against the runtime's drop, and the
//! shutdown sweep against a worker past the deadline and against the
//! blocking pool.
//!
//! They run as ordinary tests, and under Miri (Tree Borrows), which is
//! what sees the first two:
//!
//! ```sh
//! MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-tree-borrows -Zmiri-ignore-leaks" \
//!     cargo +nightly miri test -p magpie-rt --test memory_safety
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Iterations of the racing tests: Miri interprets every step, so it
/// runs fewer (its scheduler preempts threads at random points, so each
/// iteration explores a different interleaving).
const ITERS: usize = if cfg!(miri) { 200 } else { 500 };

/// Sleeps in its destructor, so that the shutdown sweep is still inside
/// the future's drop (owning `RUNNING`) when another thread pops the
/// task's queue entry.
struct SlowDrop(Duration);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(self.0);
    }
}

/// A future that sends its first waker out, returns `Pending` once, and
/// completes at its second poll (`finish`) or never.
struct SendWaker {
    tx: Option<mpsc::Sender<Waker>>,
    finish: bool,
}

impl Future for SendWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.tx.take() {
            Some(tx) => {
                tx.send(cx.waker().clone()).unwrap();
                Poll::Pending
            }
            None if self.finish => Poll::Ready(()),
            None => Poll::Pending,
        }
    }
}

fn one_worker() -> magpie::Runtime {
    magpie::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap()
}

/// A detached task woken by value from a foreign thread completes on the
/// re-poll that wake causes. The waker's reference used to be the one
/// handed to the run queue, while `Schedule::schedule(&self)` ran with
/// `&self` pointing into the task: the worker could run the task to
/// completion and free it while the waking thread was still inside
/// `schedule` (Miri: a protected tag disabled by a deallocation). The
/// waker now keeps its own reference until the entry is queued.
#[test]
fn wake_by_val_frees_task_inside_schedule() {
    let rt = one_worker();
    for _ in 0..ITERS {
        let (tx, rx) = mpsc::channel();
        let task = rt.spawn(SendWaker {
            tx: Some(tx),
            finish: true,
        });
        let waker = rx.recv().unwrap();
        std::thread::yield_now();
        drop(task);
        waker.wake();
    }
}

/// The same, for a task that wakes itself by value during its poll and so
/// is re-queued by its own worker: the re-queue must not borrow from a
/// task that a thief may complete meanwhile (two workers, so there is a
/// thief).
#[test]
fn self_wake_during_poll_races_a_thief() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..ITERS)
        .map(|_| {
            let mut woke = false;
            rt.spawn(std::future::poll_fn(move |cx| {
                if woke {
                    return Poll::Ready(());
                }
                woke = true;
                #[allow(clippy::waker_clone_wake)] // by value on purpose
                cx.waker().clone().wake();
                Poll::Pending
            }))
        })
        .collect();
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// A foreign thread's `wake()` racing `drop(rt)`: once the sweep (or the
/// injector drain) freed the task, nothing kept the runtime's shared state
/// alive under the waking thread, still inside `schedule_remote`. The
/// waker's reference now keeps the task, and the task's handle on the
/// runtime, alive across the call.
#[test]
fn wake_racing_runtime_drop() {
    for _ in 0..ITERS / 5 {
        let rt = one_worker();
        let (tx, rx) = mpsc::channel();
        drop(rt.spawn(SendWaker {
            tx: Some(tx),
            finish: false,
        }));
        let waker = rx.recv().unwrap();
        std::thread::yield_now();
        let waking = std::thread::spawn(move || waker.wake());
        drop(rt);
        waking.join().unwrap();
    }
}

/// A worker stuck in a poll past the shutdown deadline holds task B in its
/// LIFO slot. The sweep claims B's `RUNNING` and drops its future (slowly);
/// the worker, once its poll returns, pops B. It used to be granted
/// `RUNNING` a second time: a second owner of the future, `COMPLETE`
/// flipped back off, B reported unfinished after its handle resolved. The
/// popped entry is now stale and only releases its reference.
#[test]
fn shutdown_sweep_and_stuck_worker_both_own_running() {
    // Counts worker (and blocking) threads that leave normally: a thread
    // that panicked on a double `RUNNING` never gets there.
    let stopped = Arc::new(AtomicUsize::new(0));
    let counter = stopped.clone();
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .on_thread_stop(move || {
            counter.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let (b_tx, b_rx) = mpsc::channel();
    let h = rt.handle().clone();
    rt.spawn(async move {
        // Spawned from the worker: B goes to this worker's LIFO slot.
        let slow = SlowDrop(Duration::from_millis(600));
        let b = h.spawn(async move {
            let _slow = slow;
            std::future::pending::<()>().await
        });
        b_tx.send(b).unwrap();
        // A stuck poll (it blocks the only worker) past the deadline.
        std::thread::sleep(Duration::from_millis(300));
    });
    let b = b_rx.recv().unwrap();
    let b_id = b.id();
    // A third thread waits on B's handle while the sweep drops B.
    let joiner = std::thread::spawn(move || futures::executor::block_on(b));
    let report = rt.shutdown_timeout(Duration::from_millis(50));
    let outcome = joiner.join().unwrap();
    assert!(outcome.unwrap_err().is_cancelled(), "the sweep cancelled B");
    assert!(
        report.unfinished().iter().all(|t| t.id() != b_id),
        "B completed (its handle resolved), yet the report lists it: {report}"
    );
    // The stuck worker was detached; it returns from its poll at ~300 ms
    // and must then leave its loop normally.
    let waited = std::time::Instant::now();
    while stopped.load(SeqCst) == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the worker past the deadline never left its loop normally"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `drop(rt)` while a blocking task is queued behind a running one: the
/// pool's thread, once free, used to pop the queued task while the sweep
/// owned it (a second owner; a panic on the pool thread; `drop` hanging).
/// It is now cancelled exactly once, and `drop` returns.
#[test]
fn drop_runtime_sweep_races_blocking_pool_pop() {
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let a = rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    started_rx.recv().unwrap();
    let slow = SlowDrop(Duration::from_millis(600));
    // Queued behind A: the only blocking thread is busy.
    let b = rt.spawn_blocking(move || drop(slow));
    let joiner = std::thread::spawn(move || futures::executor::block_on(b));
    drop(rt);
    assert!(a.is_finished());
    let b = joiner.join().unwrap();
    assert!(b.unwrap_err().is_cancelled(), "B never started: cancelled");
}
