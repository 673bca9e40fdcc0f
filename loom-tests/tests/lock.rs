//! Loom models of `Lock`: mutual exclusion, hand-over of the value written
//! under the lock, and a waiting future dropped after the lock was handed to
//! it (the grant must go on to the next waiter).
//!
//! The value inside a `Lock` sits in a loom `UnsafeCell`, so every access
//! through a guard is checked by loom for data races; the models also keep
//! an "inside" flag and a counter to assert exclusion and no lost update.
#![cfg(loom)]

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::{Fairness, Lock};

/// Two tasks increment under the lock: never both inside, no lost update.
fn mutual_exclusion(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(Lock::with_fairness(0usize, fairness));
        let inside = Arc::new(AtomicBool::new(false));
        let critical = |lock: &Lock<usize>, inside: &AtomicBool| {
            block_on(async {
                let mut guard = lock.lock().await;
                assert!(!inside.swap(true, SeqCst), "two holders at once");
                *guard += 1;
                inside.store(false, SeqCst);
            });
        };
        let t = {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || critical(&lock, &inside))
        };
        critical(&lock, &inside);
        t.join().unwrap();
        assert_eq!(*lock.try_lock().expect("free at the end"), 2);
    });
}

#[test]
fn mutual_exclusion_eventual() {
    mutual_exclusion(Fairness::Eventual);
}

#[test]
fn mutual_exclusion_strict() {
    mutual_exclusion(Fairness::Strict);
}

/// A holder writes and unlocks while another task waits: the waiter gets
/// the lock and sees the write (the unlock/lock pair synchronises).
fn unlock_hands_over_to_a_waiter(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(Lock::with_fairness(0usize, fairness));
        let mut guard = lock.try_lock().unwrap();
        let t = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut guard = block_on(lock.lock());
                assert_eq!(*guard, 1, "the holder's write is visible");
                *guard = 2;
            })
        };
        *guard = 1;
        drop(guard);
        t.join().unwrap();
        assert_eq!(*lock.try_lock().unwrap(), 2);
    });
}

#[test]
fn unlock_hands_over_to_a_waiter_eventual() {
    unlock_hands_over_to_a_waiter(Fairness::Eventual);
}

#[test]
fn unlock_hands_over_to_a_waiter_strict() {
    unlock_hands_over_to_a_waiter(Fairness::Strict);
}

/// Two futures wait in line (the first registered first). The holder
/// unlocks while the first future is dropped: whether the lock was handed
/// to it (strict) or it was woken to retry (eventual) before the drop, the
/// second waiter must get the lock, and the lock must be free at the end.
fn dropped_waiter_passes_the_lock_on(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(Lock::with_fairness(0usize, fairness));
        let guard = lock.clone().try_lock_owned().unwrap();
        let mut first = Box::pin(lock.clone().lock_owned());
        let mut second = Box::pin(lock.clone().lock_owned());
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let waiter = thread::spawn(move || {
            // Re-polled with block_on's waker: the registration is updated.
            let mut guard = block_on(second);
            *guard += 1;
        });
        drop(guard);
        dropper.join().unwrap();
        waiter.join().unwrap();
        let guard = lock.try_lock().expect("the lock is free at the end");
        assert_eq!(*guard, 1);
    });
}

#[test]
fn dropped_waiter_passes_the_lock_on_eventual() {
    dropped_waiter_passes_the_lock_on(Fairness::Eventual);
}

#[test]
fn dropped_waiter_passes_the_lock_on_strict() {
    dropped_waiter_passes_the_lock_on(Fairness::Strict);
}

/// `try_lock` barging in (eventual) while the holder unlocks and a waiter
/// is woken: exclusion holds and the waiter still completes.
#[test]
fn try_lock_barging_past_a_woken_waiter() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let guard = lock.try_lock().unwrap();
        let mut waiting = Box::pin(lock.clone().lock_owned());
        assert!(poll_noop(&mut waiting).is_pending());
        let waiter = thread::spawn(move || *block_on(waiting) += 1);
        let barger = {
            let lock = lock.clone();
            thread::spawn(move || {
                if let Ok(mut g) = lock.try_lock() {
                    *g += 10;
                }
            })
        };
        drop(guard);
        waiter.join().unwrap();
        barger.join().unwrap();
        let v = *lock.try_lock().expect("free at the end");
        assert!(v == 1 || v == 11, "value {v}");
    });
}
