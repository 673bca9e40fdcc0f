//! Stress: many tasks on multi-threaded executors for a while, with random
//! cancellations, checking each primitive's invariants as they run and its
//! counts at the end. Every test fails (rather than hangs) if it stops
//! making progress. Skipped under Miri.

#![cfg(not(miri))]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Instant;

use magpie_sync::{Barrier, Condition, Event, Fairness, Lock, Queue, RwLock, Semaphore};
use support::{Exec, Rng, or_cancel, stress, yield_now};

const TASKS: usize = 8;

async fn join<T>(tasks: Vec<support::BoxFuture<T>>) -> Vec<T> {
    futures::future::join_all(tasks).await
}

fn lock_stress(
    fairness: Fairness,
) -> impl Fn(Exec, Instant) -> support::BoxFuture<()> + Send + Sync {
    move |exec, until| {
        Box::pin(async move {
            let lock = Arc::new(Lock::with_fairness(0u64, fairness));
            let inside = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicU64::new(0));
            let tasks = (0..TASKS)
                .map(|t| {
                    let (lock, inside, done) = (lock.clone(), inside.clone(), done.clone());
                    exec.spawn(async move {
                        let mut rng = Rng::new(t as u64);
                        while Instant::now() < until {
                            let fut = lock.lock();
                            let guard = if rng.below(4) == 0 {
                                or_cancel(fut, rng.below(3) as usize).await
                            } else {
                                Some(fut.await)
                            };
                            let Some(mut guard) = guard else { continue };
                            assert!(!inside.swap(true, SeqCst), "mutual exclusion violated");
                            *guard += 1;
                            if rng.below(8) == 0 {
                                yield_now().await;
                            }
                            inside.store(false, SeqCst);
                            drop(guard);
                            done.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            join(tasks).await;
            assert_eq!(*lock.lock().await, done.load(SeqCst));
            assert!(!lock.is_locked() || lock.try_lock().is_err());
        })
    }
}

#[test]
fn lock_eventual() {
    stress(lock_stress(Fairness::Eventual));
}

#[test]
fn lock_strict() {
    stress(lock_stress(Fairness::Strict));
}

#[test]
fn rwlock() {
    stress(|exec, until| async move {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let writes = Arc::new(AtomicU64::new(0));
        let tasks = (0..TASKS)
            .map(|t| {
                let (lock, writes) = (lock.clone(), writes.clone());
                exec.spawn(async move {
                    let mut rng = Rng::new(100 + t as u64);
                    while Instant::now() < until {
                        let cancel = rng.below(4) == 0;
                        if rng.below(3) == 0 {
                            let fut = lock.write();
                            let g = if cancel {
                                or_cancel(fut, 1).await
                            } else {
                                Some(fut.await)
                            };
                            let Some(mut g) = g else { continue };
                            g.0 += 1;
                            yield_now().await;
                            g.1 += 1;
                            writes.fetch_add(1, SeqCst);
                        } else {
                            let fut = lock.read();
                            let g = if cancel {
                                or_cancel(fut, 1).await
                            } else {
                                Some(fut.await)
                            };
                            let Some(g) = g else { continue };
                            assert_eq!(g.0, g.1, "a reader saw a half-done write");
                            if rng.below(4) == 0 {
                                yield_now().await;
                            }
                        }
                    }
                })
            })
            .collect();
        join(tasks).await;
        let w = writes.load(SeqCst);
        assert_eq!(*lock.read().await, (w, w));
        assert!(lock.try_write().is_ok(), "permits leaked");
    });
}

#[test]
fn semaphore() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        stress(move |exec, until| async move {
            const PERMITS: usize = 5;
            let sem = Arc::new(Semaphore::with_fairness(PERMITS, fairness));
            let in_use = Arc::new(AtomicUsize::new(0));
            let tasks = (0..TASKS)
                .map(|t| {
                    let (sem, in_use) = (sem.clone(), in_use.clone());
                    exec.spawn(async move {
                        let mut rng = Rng::new(200 + t as u64);
                        while Instant::now() < until {
                            let n = 1 + rng.below(PERMITS as u64) as usize;
                            let fut = sem.acquire_many(n);
                            let p = if rng.below(3) == 0 {
                                or_cancel(fut, rng.below(3) as usize).await
                            } else {
                                Some(fut.await)
                            };
                            let Some(p) = p else { continue };
                            let p = p.unwrap();
                            let now = in_use.fetch_add(n, SeqCst) + n;
                            assert!(now <= PERMITS, "{now} permits in use");
                            if rng.below(2) == 0 {
                                yield_now().await;
                            }
                            in_use.fetch_sub(n, SeqCst);
                            drop(p);
                        }
                    })
                })
                .collect();
            join(tasks).await;
            assert_eq!(
                sem.available_permits(),
                PERMITS,
                "{fairness:?}: permits lost or made up"
            );
        });
    }
}

#[test]
fn event() {
    stress(|exec, until| async move {
        let mut round = 0u64;
        while Instant::now() < until {
            round += 1;
            let event = Arc::new(Event::new());
            let woken = Arc::new(AtomicUsize::new(0));
            let expected = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let (event, woken, expected) = (event.clone(), woken.clone(), expected.clone());
                    exec.spawn(async move {
                        let mut rng = Rng::new(round * 31 + t as u64);
                        for _ in 0..4 {
                            if rng.below(3) == 0 {
                                // Wait briefly, maybe give up.
                                if or_cancel(event.wait(), rng.below(4) as usize)
                                    .await
                                    .is_some()
                                {
                                    woken.fetch_add(1, SeqCst);
                                }
                            } else {
                                expected.fetch_add(1, SeqCst);
                                event.wait().await;
                                woken.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            yield_now().await;
            event.clear();
            yield_now().await;
            event.set();
            join(tasks).await;
            assert!(woken.load(SeqCst) >= expected.load(SeqCst));
        }
    });
}

#[test]
fn condition() {
    stress(|exec, until| async move {
        let state = Arc::new(Lock::new(Vec::<u64>::new()));
        let cond = Arc::new(Condition::new());
        let produced = Arc::new(AtomicU64::new(0));
        let consumed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let consumers: Vec<_> = (0..TASKS / 2)
            .map(|t| {
                let (state, cond, consumed, stop) =
                    (state.clone(), cond.clone(), consumed.clone(), stop.clone());
                exec.spawn(async move {
                    let mut rng = Rng::new(300 + t as u64);
                    let mut seen = 0u64;
                    loop {
                        let guard = state.lock().await;
                        let waiting = cond.wait_for(guard, |v| !v.is_empty() || stop.load(SeqCst));
                        let guard = if rng.below(4) == 0 {
                            or_cancel(waiting, 2).await
                        } else {
                            Some(waiting.await)
                        };
                        let Some(mut guard) = guard else { continue };
                        match guard.pop() {
                            Some(item) => {
                                seen += item;
                                consumed.fetch_add(1, SeqCst);
                            }
                            None if stop.load(SeqCst) => return seen,
                            None => {}
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..TASKS / 2)
            .map(|t| {
                let (state, cond, produced) = (state.clone(), cond.clone(), produced.clone());
                exec.spawn(async move {
                    let mut rng = Rng::new(400 + t as u64);
                    let mut sum = 0u64;
                    while Instant::now() < until {
                        let item = 1 + rng.below(10);
                        state.lock().await.push(item);
                        sum += item;
                        produced.fetch_add(1, SeqCst);
                        if rng.below(5) == 0 {
                            cond.notify_all();
                        } else {
                            cond.notify(1);
                        }
                        if rng.below(4) == 0 {
                            yield_now().await;
                        }
                    }
                    sum
                })
            })
            .collect();
        let produced_sum: u64 = join(producers).await.into_iter().sum();
        // Let the consumers drain, then stop them.
        loop {
            let empty = state.lock().await.is_empty();
            if empty {
                break;
            }
            cond.notify_all();
            yield_now().await;
        }
        {
            let _g = state.lock().await;
            stop.store(true, SeqCst);
            cond.notify_all();
        }
        let consumed_sum: u64 = join(consumers).await.into_iter().sum();
        assert_eq!(
            consumed.load(SeqCst),
            produced.load(SeqCst),
            "items lost or duplicated"
        );
        assert_eq!(consumed_sum, produced_sum);
    });
}

#[test]
fn barrier() {
    stress(|exec, until| async move {
        const PARTIES: usize = 4;
        let barrier = Arc::new(Barrier::new(PARTIES));
        let leaders = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // Generations are counted by the leader; every party passes each one.
        let tasks = (0..PARTIES)
            .map(|t| {
                let (barrier, leaders, stop) = (barrier.clone(), leaders.clone(), stop.clone());
                exec.spawn(async move {
                    let mut rng = Rng::new(500 + t as u64);
                    let mut passed = 0usize;
                    loop {
                        // Everyone decides to stop in the same generation:
                        // the flag is read right after a barrier.
                        let last = stop.load(SeqCst);
                        if barrier.wait().await.is_leader() {
                            leaders.fetch_add(1, SeqCst);
                            if Instant::now() >= until {
                                stop.store(true, SeqCst);
                            }
                        }
                        passed += 1;
                        // Second barrier: nobody reads `stop` before the
                        // leader of this generation has written it.
                        barrier.wait().await;
                        passed += 1;
                        if last {
                            return passed;
                        }
                        if rng.below(4) == 0 {
                            yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let passed = join(tasks).await;
        assert!(
            passed.iter().all(|&p| p == passed[0]),
            "parties fell out of step: {passed:?}"
        );
        assert_eq!(leaders.load(SeqCst) * 2, passed[0]);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn queue() {
    stress(|exec, until| async move {
        const PRODUCERS: u64 = 4;
        let q = Queue::bounded(16).unwrap();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                exec.spawn(async move {
                    let mut rng = Rng::new(600 + p);
                    let mut seq = 0u64;
                    while Instant::now() < until {
                        let put = q.put((p, seq));
                        let done = if rng.below(4) == 0 {
                            or_cancel(put, rng.below(2) as usize).await
                        } else {
                            Some(put.await)
                        };
                        match done {
                            Some(Ok(())) => seq += 1,
                            Some(Err(_)) => panic!("queue closed early"),
                            None => {} // cancelled: that item was never put; retry it
                        }
                    }
                    seq
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|c| {
                let q = q.clone();
                exec.spawn(async move {
                    let mut rng = Rng::new(700 + c);
                    let mut got: Vec<(u64, u64)> = Vec::new();
                    let mut last: HashMap<u64, u64> = HashMap::new();
                    loop {
                        let get = q.get();
                        let item = if rng.below(4) == 0 {
                            match or_cancel(get, rng.below(2) as usize).await {
                                Some(item) => item,
                                None => continue,
                            }
                        } else {
                            get.await
                        };
                        let Ok(item) = item else { return got };
                        let (p, seq) = *item;
                        if let Some(&prev) = last.get(&p) {
                            assert!(seq > prev, "producer {p}: {seq} after {prev}");
                        }
                        last.insert(p, seq);
                        got.push((p, seq));
                        // `item` drops here: done.
                    }
                })
            })
            .collect();
        let counts = join(producers).await;
        q.join().await;
        q.close();
        let mut all: Vec<(u64, u64)> = join(consumers).await.into_iter().flatten().collect();
        all.sort_unstable();
        let expected: Vec<(u64, u64)> = (0..PRODUCERS)
            .flat_map(|p| (0..counts[p as usize]).map(move |s| (p, s)))
            .collect();
        assert_eq!(all.len(), expected.len(), "items lost or duplicated");
        assert_eq!(all, expected);
        assert_eq!(q.unfinished_tasks(), 0);
    });
}
