//! The primitives on magpie's runtime with tasks cancelled at random
//! moments (`shared/repros/{event_cancel_set,lock_eventual_cancel,
//! semaphore_cancel}.rs`). Before issue 11's fixes, a cancelled task's
//! future was moved out of the task before it was dropped: a waiter that
//! had been granted the lock or the permits, or notified, failed to hand
//! the grant on (waiters asleep while the lock was free, within ~50
//! iterations), and the Event program crashed in `JoinHandle::poll`
//! through a freed task (4 runs in 5).
//!
//! Iterations are small by default so that the suite stays quick; the
//! issue's full runs are
//!
//! ```sh
//! MAGPIE_REPRO_ITERS=100000 cargo test -p magpie-rt --release --test cancel_races
//! ```
//!
//! A hang fails the iteration after 10 s and names the primitive's state.

use magpie::sync::{Event, Fairness, Lock, Semaphore};
use magpie::time::{self, Duration};
use std::cell::Cell;
use std::sync::Arc;

fn iters(default: u64) -> u64 {
    if cfg!(miri) {
        return 2;
    }
    std::env::var("MAGPIE_REPRO_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Tasks per iteration.
const N: usize = if cfg!(miri) { 8 } else { 64 };

/// Tasks per iteration of the lock tests: more contention, so that the
/// eventual hand-over's bypass and starvation paths are taken.
const LOCK_TASKS: usize = if cfg!(miri) { 8 } else { 200 };

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        // Different per thread; printed on failure is not needed: every
        // iteration is independent and the failure names the state.
        let here = &() as *const () as u64;
        (0x2545_f491_4f6c_dd1d ^ here.rotate_left(17)) | 1
    });
}

/// xorshift64: a number below `n`.
fn below(n: u64) -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x % n
    })
}

/// Nothing, a yield, or a short sleep.
async fn jitter() {
    match below(4) {
        0 => {}
        1 => magpie::task::yield_now().await,
        _ => time::sleep(Duration::from_micros(below(200))).await,
    }
}

/// Cancels about 15% of `tasks` at random moments.
async fn cancel_some<T>(tasks: &[magpie::task::JoinHandle<T>]) {
    for _ in 0..tasks.len() * 15 / 100 {
        if below(3) == 0 {
            jitter().await;
        }
        tasks[below(tasks.len() as u64) as usize].cancel();
    }
}

/// Awaits every task; a hang fails with `what()`.
async fn settle<T>(tasks: Vec<magpie::task::JoinHandle<T>>, what: impl Fn() -> String) {
    for task in tasks {
        if time::timeout(Duration::from_secs(10), task).await.is_err() {
            panic!("a task never finished (lost wakeup): {}", what());
        }
    }
}

fn lock_cancel(fairness: Fairness) {
    magpie::run(async move {
        for iter in 0..iters(100) {
            let lock = Arc::new(Lock::with_fairness(0u64, fairness));
            let tasks: Vec<_> = (0..LOCK_TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    magpie::spawn(async move {
                        let mut guard = lock.lock().await;
                        jitter().await; // held across an await
                        *guard += 1;
                    })
                })
                .collect();
            cancel_some(&tasks).await;
            settle(tasks, || format!("iteration {iter}: {lock:?}")).await;
            assert!(
                !lock.is_locked(),
                "iteration {iter}: the lock is free at the end"
            );
            assert!(*lock.lock().await <= LOCK_TASKS as u64);
        }
    });
}

#[test]
fn lock_eventual_with_random_cancellation_loses_no_wakeup() {
    lock_cancel(Fairness::Eventual);
}

#[test]
fn lock_strict_with_random_cancellation_loses_no_wakeup() {
    lock_cancel(Fairness::Strict);
}

#[test]
fn semaphore_with_random_cancellation_loses_no_permit() {
    magpie::run(async move {
        for iter in 0..iters(40) {
            let permits = 1 + below(7) as usize;
            let fairness = if below(2) == 0 {
                Fairness::Strict
            } else {
                Fairness::Eventual
            };
            let sem = Arc::new(Semaphore::with_fairness(permits, fairness));
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let sem = sem.clone();
                    let k = 1 + below(permits as u64) as usize;
                    let try_it = below(5) == 0;
                    magpie::spawn(async move {
                        let _permit = if try_it {
                            match sem.try_acquire_many(k) {
                                Ok(p) => p,
                                Err(_) => return,
                            }
                        } else {
                            sem.acquire_many(k).await.unwrap()
                        };
                        jitter().await;
                    })
                })
                .collect();
            cancel_some(&tasks).await;
            settle(tasks, || format!("iteration {iter}: {sem:?}")).await;
            assert_eq!(
                sem.available_permits(),
                permits,
                "iteration {iter}: every permit is back"
            );
        }
    });
}

#[test]
fn event_set_racing_cancelled_waiters() {
    magpie::run(async move {
        for _ in 0..iters(200) {
            let ev = Arc::new(Event::new());
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let ev = ev.clone();
                    magpie::spawn(async move {
                        if below(2) == 0 {
                            magpie::task::yield_now().await;
                        }
                        ev.wait().await;
                        Box::new([0u8; 64])
                    })
                })
                .collect();
            cancel_some(&tasks).await;
            // `set` from this task, from another task, or from a blocking
            // thread, racing the cancellations.
            let setter = ev.clone();
            match below(3) {
                0 => ev.set(),
                1 => magpie::spawn(async move { setter.set() }).await.unwrap(),
                _ => magpie::task::spawn_blocking(move || setter.set())
                    .await
                    .unwrap(),
            }
            let mut completed = 0;
            for task in tasks {
                match time::timeout(Duration::from_secs(10), task).await {
                    Err(_) => panic!("an Event waiter never woke after set()"),
                    Ok(Ok(out)) => {
                        assert_eq!(*out, [0u8; 64]);
                        completed += 1;
                    }
                    Ok(Err(e)) => assert!(e.is_cancelled(), "{e}"),
                }
            }
            assert!(completed <= N);
        }
    });
}
