//! Loom models of `Semaphore`: permit conservation across partial
//! multi-permit acquisition and cancellation, `close` racing acquires,
//! `add_permits` waking every waiter it satisfies, and the in-use bound.
//!
//! Conservation is checked the same way everywhere: once every thread is
//! done and every permit dropped, `available_permits()` equals the
//! permits the model created, and every waiter finished (a waiter left
//! hanging makes loom report a deadlock).
#![cfg(loom)]

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::{AcquireError, Fairness, Semaphore};

/// A request for 2 waits first (it gets part of what is released), one for
/// 1 behind it; the big one is dropped while a permit is added. The small
/// one must be served, and nothing may leak.
fn partial_acquire_then_cancel(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(0, fairness));
        let mut big = Box::pin(sem.clone().acquire_many_owned(2));
        let mut small = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut big).is_pending());
        assert!(poll_noop(&mut small).is_pending());
        let dropper = thread::spawn(move || drop(big));
        let waiter = thread::spawn(move || {
            let permit = block_on(small).unwrap();
            assert_eq!(permit.num_permits(), 1);
        });
        sem.add_permits(1);
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 1, "permits lost or made up");
    });
}

#[test]
fn partial_acquire_then_cancel_strict() {
    partial_acquire_then_cancel(Fairness::Strict);
}

#[test]
fn partial_acquire_then_cancel_eventual() {
    partial_acquire_then_cancel(Fairness::Eventual);
}

/// `close` races an acquire of 2 that is partly satisfied and a release
/// of the missing permit: the acquire ends (granted or closed), and every
/// permit is accounted for.
fn close_racing_acquire(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(1, fairness));
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || match block_on(sem.acquire_many(2)) {
                Ok(permit) => assert_eq!(permit.num_permits(), 2),
                Err(e) => assert_eq!(e, AcquireError::Closed),
            })
        };
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        sem.close();
        acquirer.join().unwrap();
        adder.join().unwrap();
        assert!(sem.is_closed());
        assert_eq!(sem.available_permits(), 2, "permits lost or made up");
        assert!(sem.try_acquire().is_err());
    });
}

#[test]
fn close_racing_acquire_strict() {
    close_racing_acquire(Fairness::Strict);
}

#[test]
fn close_racing_acquire_eventual() {
    close_racing_acquire(Fairness::Eventual);
}

/// `close` alone must wake a waiter that is partly assigned (nobody else
/// touches the semaphore afterwards), and give back its share.
fn close_wakes_a_partly_assigned_waiter(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(1, fairness));
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire_many(2)).map(drop))
        };
        sem.close();
        assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        assert_eq!(sem.available_permits(), 1, "the assigned permit is back");
    });
}

#[test]
fn close_wakes_a_partly_assigned_waiter_strict() {
    close_wakes_a_partly_assigned_waiter(Fairness::Strict);
}

#[test]
fn close_wakes_a_partly_assigned_waiter_eventual() {
    close_wakes_a_partly_assigned_waiter(Fairness::Eventual);
}

/// Two waiters of 1 and one `add_permits(2)`: both are served (each keeps
/// its permit until the end, so neither can pass it on to the other).
fn add_permits_serves_every_waiter_it_can(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(0, fairness));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || block_on(sem.acquire_owned()).unwrap())
            })
            .collect();
        sem.add_permits(2);
        let permits: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(sem.available_permits(), 0);
        drop(permits);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn add_permits_serves_every_waiter_it_can_strict() {
    add_permits_serves_every_waiter_it_can(Fairness::Strict);
}

#[test]
fn add_permits_serves_every_waiter_it_can_eventual() {
    add_permits_serves_every_waiter_it_can(Fairness::Eventual);
}

/// Two permits; a task takes 2 and another 1, concurrently: the permits in
/// use never exceed 2, and both get their turn.
fn in_use_never_exceeds_the_permits(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(2, fairness));
        let in_use = Arc::new(AtomicUsize::new(0));
        let take = |sem: &Semaphore, in_use: &AtomicUsize, n: usize| {
            block_on(async {
                let permit = sem.acquire_many(n).await.unwrap();
                let before = in_use.fetch_add(n, SeqCst);
                assert!(before + n <= 2, "{} permits in use", before + n);
                in_use.fetch_sub(n, SeqCst);
                drop(permit);
            });
        };
        let t = {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || take(&sem, &in_use, 2))
        };
        take(&sem, &in_use, 1);
        t.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn in_use_never_exceeds_the_permits_strict() {
    in_use_never_exceeds_the_permits(Fairness::Strict);
}

#[test]
fn in_use_never_exceeds_the_permits_eventual() {
    in_use_never_exceeds_the_permits(Fairness::Eventual);
}

/// Eventual: a released permit wakes the waiter while a barger takes and
/// returns it; the woken waiter is dropped. Nothing lost, the line moves.
#[test]
fn woken_waiter_dropped_while_a_barger_releases() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::with_fairness(1, Fairness::Eventual));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut first = Box::pin(sem.clone().acquire_owned());
        let mut second = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let barger = {
            let sem = sem.clone();
            thread::spawn(move || {
                drop(sem.try_acquire());
                drop(block_on(second).unwrap());
            })
        };
        drop(held);
        dropper.join().unwrap();
        barger.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Eventual fairness under loom starves a waiter after one bypass: a
/// barger takes the released permit twice while the woken waiter retries.
/// The waiter must still get a permit (handed to it once it starves), the
/// permit is never used twice at once, and none is lost.
#[test]
fn bypassed_waiter_is_eventually_served() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::with_fairness(1, Fairness::Eventual));
        let in_use = Arc::new(AtomicUsize::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut waiting = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut waiting).is_pending());
        let waiter = {
            let in_use = in_use.clone();
            thread::spawn(move || {
                let permit = block_on(waiting).unwrap();
                assert_eq!(in_use.fetch_add(1, SeqCst), 0, "permit used twice");
                in_use.fetch_sub(1, SeqCst);
                drop(permit);
            })
        };
        let barger = {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Ok(permit) = sem.try_acquire() {
                        assert_eq!(in_use.fetch_add(1, SeqCst), 0, "permit used twice");
                        in_use.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                }
            })
        };
        in_use.fetch_sub(1, SeqCst);
        drop(held);
        waiter.join().unwrap();
        barger.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}
