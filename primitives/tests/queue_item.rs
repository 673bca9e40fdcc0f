//! `QueueItem` / `OwnedQueueItem`: an item taken from a queue is marked
//! done when its guard drops, on every path (normal, early return, panic,
//! cancellation), so `join` cannot hang on a forgotten `task_done`; the
//! `into_inner` + `task_done` path keeps the count exact. Items are counted
//! as they drop: none is lost or dropped twice.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use magpie_sync::{LifoQueue, PriorityQueue, Queue, QueueItem};
use support::{Rng, or_cancel, poll_noop, run_on_each_executor, stress, yield_now};

/// An item that counts its drops.
#[derive(Debug)]
struct Job {
    n: u64,
    dropped: Arc<AtomicUsize>,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, SeqCst);
    }
}

fn jobs(q: &Queue<Job>, n: u64) -> Arc<AtomicUsize> {
    let dropped = Arc::new(AtomicUsize::new(0));
    for n in 0..n {
        let dropped = dropped.clone();
        q.try_put(Job { n, dropped }).unwrap();
    }
    dropped
}

/// Not `Ready` within a few turns of the executor.
async fn still_pending<F: Future>(fut: F) -> bool {
    or_cancel(fut, 5).await.is_none()
}

#[derive(Debug)]
struct Failed;

fn process(job: &Job) -> Result<(), Failed> {
    if job.n % 2 == 1 { Err(Failed) } else { Ok(()) }
}

/// The worker of the issue: an early `?` between `get` and the end of the
/// work. Its item is marked done anyway, so `join` returns.
async fn worker(q: Queue<Job>) -> Result<(), Failed> {
    while let Ok(job) = q.get().await {
        yield_now().await;
        process(&job)?;
    }
    Ok(())
}

#[test]
fn join_returns_after_workers_return_early_holding_an_item() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 10);
        // Each run returns at the first odd item: 5 runs drain the queue.
        for _ in 0..5 {
            assert!(exec.spawn(worker(q.clone())).await.is_err());
        }
        q.join().await;
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(dropped.load(SeqCst), 10, "every item dropped once");
    });
}

#[test]
fn join_returns_after_a_worker_panics_holding_an_item() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 3);
        let joiner = {
            let q = q.clone();
            exec.spawn(async move { q.join().await })
        };
        let panicker = {
            let q = q.clone();
            exec.spawn(async move {
                std::panic::AssertUnwindSafe(async {
                    let _job = q.get().await.unwrap();
                    yield_now().await;
                    panic!("a worker panics holding its item");
                })
                .catch_unwind()
                .await
            })
        };
        assert!(panicker.await.is_err(), "the worker panicked");
        assert_eq!(dropped.load(SeqCst), 1, "dropped while unwinding");
        assert_eq!(q.unfinished_tasks(), 2);
        drop(q.get().await.unwrap());
        drop(q.get().await.unwrap());
        joiner.await;
        assert_eq!(dropped.load(SeqCst), 3);
    });
}

#[test]
fn join_returns_after_a_worker_is_cancelled_holding_an_item() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 1);
        let holder = {
            let q = q.clone();
            async move {
                let _job = q.get().await.unwrap();
                std::future::pending::<()>().await;
            }
        };
        // Cancelled (dropped) after a few turns, holding the item.
        assert!(exec.spawn(or_cancel(holder, 3)).await.is_none());
        q.join().await;
        assert_eq!(dropped.load(SeqCst), 1);
    });
}

#[test]
fn join_waits_while_a_guard_lives_and_the_item_drops_before_it_is_done() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 1);
        let job = q.get().await.unwrap();
        let joiner = {
            let (q, dropped) = (q.clone(), dropped.clone());
            exec.spawn(async move {
                q.join().await;
                // The item is dropped before it is marked done.
                dropped.load(SeqCst)
            })
        };
        assert!(still_pending(q.join()).await);
        assert_eq!(job.n, 0);
        drop(job);
        assert_eq!(joiner.await, 1);
    });
}

#[test]
fn into_inner_leaves_the_item_unfinished_until_task_done() {
    run_on_each_executor(|_| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 3);
        let guarded = q.get().await.unwrap();
        let bare: Job = q.get().await.unwrap().into_inner();
        let mut streamed = q.stream();
        let owned = streamed.next().await.unwrap().into_inner();
        assert_eq!((guarded.n, bare.n, owned.n), (0, 1, 2));
        assert_eq!(q.unfinished_tasks(), 3);
        drop((bare, owned));
        assert_eq!(q.unfinished_tasks(), 3, "into_inner: not done on drop");
        q.task_done();
        assert_eq!(q.unfinished_tasks(), 2);
        assert!(still_pending(q.join()).await);
        drop(guarded);
        assert_eq!(q.unfinished_tasks(), 1);
        assert!(still_pending(q.join()).await);
        q.task_done();
        q.join().await;
        assert_eq!(dropped.load(SeqCst), 3);
        // No item taken out is left: another `task_done` is a bug.
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done())).unwrap_err();
        assert!(
            err.downcast_ref::<&str>()
                .unwrap()
                .contains("task_done called with no item taken out")
        );
        assert_eq!(
            q.unfinished_tasks(),
            0,
            "a refused task_done counts nothing"
        );
    });
}

#[test]
fn guards_deref_mutably_and_format() {
    let q = Queue::unbounded();
    q.try_put(vec![1]).unwrap();
    let mut item = q.try_get().unwrap();
    item.push(2);
    assert_eq!(*item, [1, 2]);
    assert_eq!(format!("{item:?}"), "QueueItem([1, 2])");
    assert_eq!(item.into_inner(), [1, 2]);
    q.task_done();
    q.try_put(vec![3]).unwrap();
    let owned = futures::executor::block_on(q.stream().next()).unwrap();
    assert_eq!(format!("{owned:?}"), "OwnedQueueItem([3])");
    drop(owned);
    assert_eq!(q.unfinished_tasks(), 0);
    // The other orders hand out the same guards.
    let lifo = LifoQueue::unbounded();
    lifo.try_put(1).unwrap();
    lifo.try_put(2).unwrap();
    assert_eq!(*lifo.try_get().unwrap(), 2);
    let prio = PriorityQueue::unbounded();
    prio.try_put(2).unwrap();
    prio.try_put(1).unwrap();
    assert_eq!(*prio.try_get().unwrap(), 1);
    assert_eq!(lifo.unfinished_tasks() + prio.unfinished_tasks(), 2);
}

/// A get granted an item and dropped before it polls passes the item on:
/// the next getter's guard is the one that marks it done, once.
#[test]
fn a_granted_get_dropped_passes_its_item_on_and_it_is_done_once() {
    let q = Queue::unbounded();
    let mut a = Box::pin(q.get());
    let mut b = Box::pin(q.get());
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_noop(&mut b).is_pending());
    let dropped = jobs(&q, 1); // claimed for `a`
    drop(a);
    let item = match poll_noop(&mut b) {
        std::task::Poll::Ready(item) => item.unwrap(),
        std::task::Poll::Pending => panic!("the item was not passed on"),
    };
    assert_eq!(q.unfinished_tasks(), 1);
    let mut join = Box::pin(q.join());
    assert!(poll_noop(&mut join).is_pending());
    drop(item);
    assert!(poll_noop(&mut join).is_ready());
    assert_eq!(dropped.load(SeqCst), 1);
}

/// A stream consumer that stops early: its items are done.
#[test]
fn stream_items_are_done_when_dropped() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        let dropped = jobs(&q, 4);
        let consumer = {
            let q = q.clone();
            exec.spawn(async move {
                let mut items = q.stream();
                let first = items.next().await.unwrap();
                let second = items.next().await.unwrap();
                (first.n, second.n) // both dropped here
            })
        };
        assert_eq!(consumer.await, (0, 1));
        assert_eq!(q.unfinished_tasks(), 2);
        let rest: Vec<_> = q.stream().take(2).collect().await;
        drop(rest);
        q.join().await;
        assert_eq!(dropped.load(SeqCst), 4);
    });
}

/// Workers finish their items every way there is (guard dropped, early
/// return, panic, cancellation, `into_inner` + `task_done`) while joiners
/// wait and producers put: every `join` returns, no item is lost or
/// dropped twice, and the count ends at 0.
#[test]
#[cfg_attr(miri, ignore)] // a stress test: real time, many threads
fn stress_every_way_of_finishing_an_item() {
    stress(|exec, until| async move {
        let q = Queue::bounded(8).unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (q, dropped) = (q.clone(), dropped.clone());
                exec.spawn(async move {
                    let mut put = 0;
                    while Instant::now() < until {
                        let job = Job {
                            n: p,
                            dropped: dropped.clone(),
                        };
                        q.put(job).await.unwrap();
                        put += 1;
                    }
                    put
                })
            })
            .collect();
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let q = q.clone();
                exec.spawn(async move {
                    let mut rng = Rng::new(900 + w);
                    loop {
                        // 0..5 drop, 5..10 into_inner + task_done, 10
                        // panic, 11.. drop after a yield (15.. cancelled).
                        let way = rng.below(20);
                        let round = {
                            let q = q.clone();
                            std::panic::AssertUnwindSafe(async move {
                                let Ok(job) = q.get().await else {
                                    return false;
                                };
                                match way {
                                    0..5 => drop(job),
                                    5..10 => {
                                        let job: Job = job.into_inner();
                                        yield_now().await;
                                        drop(job);
                                        q.task_done();
                                    }
                                    10 => panic!("worker panics holding job {}", job.n),
                                    _ => {
                                        yield_now().await;
                                        drop(job);
                                    }
                                }
                                true
                            })
                            .catch_unwind()
                        };
                        let more = if way >= 15 {
                            // Cancelled at a random point, maybe holding it.
                            or_cancel(round, rng.below(3) as usize).await
                        } else {
                            Some(round.await)
                        };
                        if let Some(Ok(false)) = more {
                            return;
                        }
                    }
                })
            })
            .collect();
        let joiner = {
            let q = q.clone();
            exec.spawn(async move {
                let mut joins = 0u64;
                while Instant::now() < until {
                    q.join().await;
                    joins += 1;
                    yield_now().await;
                }
                joins
            })
        };
        let put: u64 = futures::future::join_all(producers).await.iter().sum();
        joiner.await;
        q.join().await;
        q.close();
        futures::future::join_all(workers).await;
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.is_empty());
        assert_eq!(
            dropped.load(SeqCst) as u64,
            put,
            "items lost or dropped twice"
        );
    });
}

/// The guard of `get` and `try_get` borrows the queue.
#[test]
fn the_guard_of_get_borrows_the_queue() {
    let q = Queue::unbounded();
    q.try_put(1u8).unwrap();
    let item: QueueItem<'_, u8, magpie_sync::Fifo<u8>> = q.try_get().unwrap();
    assert_eq!(*item, 1);
}
