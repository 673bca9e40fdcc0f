//! Loom models of `Condition` with a `Lock`: a notification racing a
//! waiter that checks its predicate and registers (no lost wakeup), a
//! notified waiter dropped before it saw the notification (it is passed
//! on), and `notify_all` followed by exclusive re-acquisition.
#![cfg(loom)]

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::{Condition, Lock};

/// A lock and a condition that live for the whole model iteration, so
/// that waiting futures (which borrow both) can move between threads.
fn leaked() -> (&'static Lock<usize>, &'static Condition) {
    (
        Box::leak(Box::new(Lock::new(0))),
        Box::leak(Box::new(Condition::new())),
    )
}

/// The classic lost-wakeup race: the notifier changes the state under the
/// lock and notifies one; the waiter checks the predicate under the lock
/// and waits. The waiter always completes and sees the state.
#[test]
fn notify_racing_wait() {
    loom::model(|| {
        let pair = Arc::new((Lock::new(false), Condition::new()));
        let waiter = {
            let pair = pair.clone();
            thread::spawn(move || {
                block_on(async {
                    let (lock, cond) = &*pair;
                    let guard = cond.wait_for(lock.lock().await, |ready| *ready).await;
                    assert!(*guard);
                });
            })
        };
        block_on(async {
            let (lock, cond) = &*pair;
            let mut guard = lock.lock().await;
            *guard = true;
            cond.notify(1);
        });
        waiter.join().unwrap();
    });
}

/// Two waiters; the first is notified and dropped before it polls again
/// (or is dropped before the notification arrives): either way the second
/// must be woken and get the lock.
#[test]
fn dropped_notified_waiter_passes_the_notification_on() {
    loom::model(|| {
        let (lock, cond) = leaked();
        let mut first = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut first).is_pending());
        let mut second = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let waiter = thread::spawn(move || *block_on(second) += 1);
        cond.notify(1);
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(*lock.try_lock().unwrap(), 1);
    });
}

/// `notify_all` wakes both waiters; they re-acquire the lock one at a time
/// (loom checks the value's cell for races) and both complete.
#[test]
fn notify_all_then_exclusive_reacquire() {
    loom::model(|| {
        let (lock, cond) = leaked();
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let mut wait = Box::pin(cond.wait(lock.try_lock().unwrap()));
            assert!(poll_noop(&mut wait).is_pending());
            waiters.push(thread::spawn(move || *block_on(wait) += 1));
        }
        assert_eq!(cond.notify_all(), 2);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*lock.try_lock().unwrap(), 2);
    });
}
