//! `Semaphore`: every operation and error, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use magpie_sync::{AcquireError, Fairness, Semaphore, TryAcquireError};
use support::{poll_noop, run_on_each_executor, scaled, yield_now};

#[test]
fn acquire_and_release() {
    run_on_each_executor(|_| async {
        let sem = Semaphore::new(2);
        let a = sem.acquire().await.unwrap();
        let b = sem.acquire().await.unwrap();
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(a.num_permits() + b.num_permits(), 2);
        drop(a);
        assert_eq!(sem.available_permits(), 1);
        drop(b);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn acquire_many_takes_all_at_once() {
    run_on_each_executor(|exec| async move {
        let sem = Arc::new(Semaphore::new(5));
        let three = sem.acquire_many(3).await.unwrap();
        assert_eq!(three.num_permits(), 3);
        let s = sem.clone();
        let waiter =
            exec.spawn(async move { s.acquire_many_owned(4).await.unwrap().num_permits() });
        yield_now().await;
        drop(three);
        assert_eq!(waiter.await, 4);
        assert_eq!(sem.available_permits(), 5);
        assert_eq!(sem.acquire_many(0).await.unwrap().num_permits(), 0);
    });
}

#[test]
fn try_acquire_forms() {
    let sem = Arc::new(Semaphore::new(3));
    let one = sem.try_acquire().unwrap();
    let two = sem.try_acquire_many(2).unwrap();
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop((one, two));
    let owned = sem.clone().try_acquire_owned().unwrap();
    assert!(Arc::ptr_eq(owned.semaphore(), &sem));
    let owned_many = sem.clone().try_acquire_many_owned(2).unwrap();
    assert_eq!(owned_many.num_permits(), 2);
    assert!(sem.clone().try_acquire_owned().is_err());
    drop((owned, owned_many));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn add_permits_wakes_waiters() {
    run_on_each_executor(|exec| async move {
        let sem = Arc::new(Semaphore::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (sem, done) = (sem.clone(), done.clone());
                exec.spawn(async move {
                    sem.acquire().await.unwrap().forget();
                    done.fetch_add(1, SeqCst);
                })
            })
            .collect();
        yield_now().await;
        sem.add_permits(10);
        futures::future::join_all(tasks).await;
        assert_eq!(done.load(SeqCst), 10);
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn forget_removes_permits_for_good() {
    let sem = Arc::new(Semaphore::new(3));
    sem.try_acquire().unwrap().forget();
    sem.clone().try_acquire_many_owned(1).unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn close_fails_waiters_and_later_acquires() {
    run_on_each_executor(|exec| async move {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().acquire_owned().await.unwrap();
        let waiters: Vec<_> = (0..5)
            .map(|i| {
                let sem = sem.clone();
                exec.spawn(async move {
                    if i % 2 == 0 {
                        sem.acquire().await.map(|_| ())
                    } else {
                        sem.acquire_many(1).await.map(|_| ())
                    }
                })
            })
            .collect();
        yield_now().await;
        sem.close();
        assert!(sem.is_closed());
        for w in waiters {
            assert_eq!(w.await, Err(AcquireError::Closed));
        }
        assert_eq!(sem.acquire().await.unwrap_err(), AcquireError::Closed);
        assert_eq!(
            sem.clone().acquire_owned().await.unwrap_err(),
            AcquireError::Closed
        );
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        // Held permits stay valid and still come back.
        drop(held);
        assert_eq!(sem.available_permits(), 1);
        sem.close(); // twice is fine
    });
}

#[test]
fn asking_for_more_than_max_is_an_error_not_a_hang() {
    run_on_each_executor(|_| async {
        let sem = Semaphore::new(1);
        let too_many = Semaphore::MAX_PERMITS + 1;
        assert_eq!(
            sem.acquire_many(too_many).await.unwrap_err(),
            AcquireError::TooMany {
                requested: too_many
            }
        );
        assert_eq!(
            sem.try_acquire_many(usize::MAX).unwrap_err(),
            TryAcquireError::TooMany {
                requested: usize::MAX
            }
        );
        // The maximum itself is a legitimate (if long) wait.
        let mut fut = Box::pin(sem.acquire_many(Semaphore::MAX_PERMITS));
        assert!(poll_noop(&mut fut).is_pending());
    });
}

#[test]
#[should_panic(expected = "exceed Semaphore::MAX_PERMITS")]
fn new_beyond_max_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
#[should_panic(expected = "would exceed the maximum")]
fn add_permits_beyond_max_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.add_permits(1);
}

#[test]
fn semaphore_of_max_permits_works() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let all = sem.try_acquire_many(Semaphore::MAX_PERMITS).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(all);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
fn strict_waiters_are_served_in_order() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..6).map(|_| Box::pin(sem.acquire())).collect();
    for w in &mut waiters {
        assert!(poll_noop(w).is_pending());
    }
    for round in 0..6 {
        sem.add_permits(1);
        // Not even a try may overtake the line.
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        // Later waiters are still waiting...
        for (i, w) in waiters.iter_mut().enumerate().skip(round + 1) {
            assert!(
                poll_noop(w).is_pending(),
                "waiter {i} overtook waiter {round}"
            );
        }
        // ...and the permit went to the first.
        match poll_noop(&mut waiters[round]) {
            Poll::Ready(permit) => permit.unwrap().forget(),
            Poll::Pending => panic!("waiter {round} was not served"),
        }
    }
}

#[test]
fn a_large_request_is_not_starved_by_small_ones() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let sem = Semaphore::with_fairness(4, fairness);
        let mut small = vec![
            sem.try_acquire_many(2).unwrap(),
            sem.try_acquire_many(2).unwrap(),
        ];
        let mut big = Box::pin(sem.acquire_many(4));
        assert!(poll_noop(&mut big).is_pending());
        // A stream of small acquirers keeps releasing and re-acquiring.
        for _ in 0..100 {
            drop(small.remove(0));
            if let Ok(p) = sem.try_acquire_many(2) {
                small.push(p);
            }
            if small.is_empty() {
                break;
            }
        }
        assert!(
            small.is_empty(),
            "{fairness:?}: small requests overtook the large one"
        );
        assert_eq!(
            poll_noop(&mut big).map(|p| p.unwrap().num_permits()),
            Poll::Ready(4),
            "{fairness:?}"
        );
    }
}

#[test]
fn eventual_semaphore_allows_barging_for_small_requests() {
    let sem = Semaphore::with_fairness(1, Fairness::Eventual);
    let held = sem.try_acquire().unwrap();
    let mut waiter = Box::pin(sem.acquire());
    assert!(poll_noop(&mut waiter).is_pending());
    drop(held);
    let barger = sem.try_acquire().expect("barging is allowed");
    assert!(poll_noop(&mut waiter).is_pending());
    drop(barger);
    assert!(poll_noop(&mut waiter).is_ready());
}

#[test]
fn debug_output() {
    let sem = Semaphore::new(2);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 2, closed: false, fairness: Strict }"
    );
    let p = sem.try_acquire().unwrap();
    assert_eq!(format!("{p:?}"), "Permit { permits: 1 }");
    assert!(format!("{:?}", sem.acquire()).starts_with("Acquire"));
}

#[test]
fn permits_never_exceed_the_count_under_contention() {
    run_on_each_executor(|exec| async move {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (sem, inside) = (sem.clone(), inside.clone());
                exec.spawn(async move {
                    for _ in 0..scaled(100) {
                        let n = 1 + (i % 3);
                        let _p = sem.acquire_many(n).await.unwrap();
                        let now = inside.fetch_add(n, SeqCst) + n;
                        assert!(now <= 3, "{now} permits in use");
                        yield_now().await;
                        inside.fetch_sub(n, SeqCst);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        assert_eq!(sem.available_permits(), 3);
    });
}
