//! The cooperative budget on magpie's runtime: a task looping on operations
//! that complete at once (an uncontended `Lock`, a `Queue` that always has
//! items, finished `JoinHandle`s) yields its worker, so a sibling on the
//! same worker runs. Without the budget these tests hang; the watchdog
//! turns a hang into a failure.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use magpie::sync::{Lock, Queue, Semaphore, coop};
use support::{rt, with_timeout};

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `looper` (given the flag) on a 1-worker runtime beside a sibling
/// spawned first on the same worker that sets the flag; returns how many
/// iterations the looper made before it saw the flag.
fn looper_beside_a_sibling<F, Fut>(looper: F) -> u64
where
    F: FnOnce(Arc<AtomicBool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    with_timeout(LIMIT, move || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async move {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            // Same worker: the sibling waits behind the looper.
            let sibling = magpie::spawn(async move { f.store(true, SeqCst) });
            let n = looper(flag).await;
            sibling.await.unwrap();
            n
        }))
        .unwrap()
    })
}

#[test]
fn a_task_looping_on_an_uncontended_lock_does_not_starve_its_sibling() {
    let n = looper_beside_a_sibling(|flag| async move {
        let lock = Lock::new(0u64);
        while !flag.load(SeqCst) {
            *lock.lock().await += 1;
        }
        lock.into_inner()
    });
    // It yielded within a few budgets.
    assert!(n <= 4 * u64::from(coop::DEFAULT_BUDGET), "{n} iterations");
}

#[test]
fn a_task_looping_on_a_ready_queue_does_not_starve_its_sibling() {
    let n = looper_beside_a_sibling(|flag| async move {
        let queue = Queue::unbounded();
        queue.try_put(0u64).unwrap();
        let mut n = 0;
        while !flag.load(SeqCst) {
            let x = *queue.get().await.unwrap();
            queue.put(x + 1).await.unwrap();
            n += 1;
        }
        n
    });
    assert!(n <= 4 * u64::from(coop::DEFAULT_BUDGET), "{n} iterations");
}

#[test]
fn a_task_looping_on_a_semaphore_does_not_starve_its_sibling() {
    let n = looper_beside_a_sibling(|flag| async move {
        let sem = Semaphore::new(1);
        let mut n = 0;
        while !flag.load(SeqCst) {
            drop(sem.acquire().await.unwrap());
            n += 1;
        }
        n
    });
    assert!(n <= 4 * u64::from(coop::DEFAULT_BUDGET), "{n} iterations");
}

#[test]
fn a_task_awaiting_finished_handles_yields_too() {
    with_timeout(LIMIT, || {
        let rt = rt(1);
        // Finished handles, made before the looper runs.
        let handles: Vec<_> = (0..2_000u32).map(|i| rt.spawn(async move { i })).collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seen = rt
            .block_on(rt.spawn(async move {
                let flag = Arc::new(AtomicBool::new(false));
                let f = flag.clone();
                let sibling = magpie::spawn(async move { f.store(true, SeqCst) });
                let mut awaited = 0u32;
                for h in handles {
                    if flag.load(SeqCst) {
                        break;
                    }
                    h.await.unwrap();
                    awaited += 1;
                }
                sibling.await.unwrap();
                awaited
            }))
            .unwrap();
        assert!(
            seen <= 4 * coop::DEFAULT_BUDGET,
            "awaited {seen} finished handles before the sibling ran"
        );
    });
}

#[test]
fn each_poll_of_a_task_gets_the_default_budget_and_block_on_one_too() {
    with_timeout(LIMIT, || {
        let rt = rt(1);
        let in_task = rt.block_on(rt.spawn(async { coop::remaining() })).unwrap();
        assert_eq!(in_task, Some(coop::DEFAULT_BUDGET));
        assert_eq!(
            rt.block_on(async { coop::remaining() }),
            Some(coop::DEFAULT_BUDGET)
        );
        // Restored once `block_on` returns.
        assert_eq!(coop::remaining(), None);
    });
}

/// In `block_on`, a `join!` branch looping on a ready queue lets its
/// sibling branch run (both are in the main future).
#[test]
fn block_on_budgets_its_future_too() {
    with_timeout(LIMIT, || {
        let rt = rt(1);
        let flag = AtomicBool::new(false);
        let queue = Queue::unbounded();
        queue.try_put(()).unwrap();
        rt.block_on(async {
            let looper = async {
                while !flag.load(SeqCst) {
                    queue.get().await.unwrap();
                    queue.put(()).await.unwrap();
                }
            };
            let setter = async { flag.store(true, SeqCst) };
            futures::join!(looper, setter);
        });
    });
}

/// An executor that does not drive the budget, nested inside a budgeted
/// poll (`futures::executor::block_on` in a task), sees the task's spent
/// budget; it must still make progress (one operation per
/// `coop::REFUSALS` refusals), not livelock.
#[test]
fn a_nested_executor_that_ignores_the_budget_does_not_livelock() {
    with_timeout(LIMIT, || {
        let rt = rt(1);
        let started = Instant::now();
        let n = rt
            .block_on(rt.spawn(async {
                let queue = Queue::unbounded();
                queue.try_put(0u32).unwrap();
                futures::executor::block_on(async {
                    for _ in 0..2_000 {
                        let x = *queue.get().await.unwrap();
                        queue.put(x + 1).await.unwrap();
                    }
                });
                *queue.try_get().unwrap()
            }))
            .unwrap();
        assert_eq!(n, 2_000);
        eprintln!("2 000 nested round trips in {:?}", started.elapsed());
    });
}

/// `coop::unconstrained` turns the budget off for what it runs, and the
/// task's budget is back afterwards.
#[test]
fn unconstrained_inside_a_task() {
    with_timeout(LIMIT, || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async {
            let queue = Queue::unbounded();
            for i in 0..1_000 {
                queue.try_put(i).unwrap();
            }
            coop::unconstrained(|| {
                futures::executor::block_on(async {
                    for _ in 0..1_000 {
                        queue.get().await.unwrap();
                    }
                })
            });
            assert_eq!(coop::remaining(), Some(coop::DEFAULT_BUDGET));
        }))
        .unwrap();
    });
}
