//! Loom models of the cooperative budget meeting the wait list: every
//! future here is polled under a budget of 1 (`loom_tests::budgeted`), so
//! an operation that would complete within a poll that has already
//! completed one is refused, and loom explores the refusal racing the
//! releases, grants and wake-ups of the other thread.
//!
//! What must hold: a refused operation took and linked nothing (the
//! counts and items add up), a waiter that was granted completes (it never
//! refuses what it was handed), and no wakeup is lost (a lost one leaves a
//! thread blocked forever, which loom reports as a deadlock).
#![cfg(loom)]

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::budgeted;
use magpie_sync::{Event, Fairness, Lock, Queue, Semaphore, coop};

/// Two threads each take an uncontended-or-contended lock twice, under a
/// budget of 1: the second lock of a poll is refused, possibly just as the
/// other thread releases (eventual: wakes the head to retry; strict: hands
/// it over). No update is lost and nobody is left waiting.
fn lock_twice_each(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(Lock::with_fairness(0usize, fairness));
        let twice = |lock: &Lock<usize>| {
            block_on(budgeted(1, async {
                for _ in 0..2 {
                    *lock.lock().await += 1;
                }
            }));
        };
        let t = {
            let lock = lock.clone();
            thread::spawn(move || twice(&lock))
        };
        twice(&lock);
        t.join().unwrap();
        assert_eq!(*lock.try_lock().expect("free at the end"), 4);
    });
}

#[test]
fn lock_twice_each_eventual() {
    lock_twice_each(Fairness::Eventual);
}

#[test]
fn lock_twice_each_strict() {
    lock_twice_each(Fairness::Strict);
}

/// The grant arrives while the budget is spent: within one poll, a ready
/// operation spends the only unit, then the lock the other thread was
/// holding is handed over (strict) or freed for a retry (eventual). The
/// granted waiter completes in that same poll or the next, never refusing.
fn grant_while_spent(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(Lock::with_fairness(0usize, fairness));
        let ready = Event::new();
        ready.set();
        let guard = lock.clone().try_lock_owned().unwrap();
        let holder = thread::spawn(move || drop(guard));
        block_on(budgeted(1, async {
            let take = async {
                *lock.lock().await += 1;
            };
            let spend = async {
                // Completes at once and spends the unit.
                ready.wait().await;
            };
            futures::join!(spend, take);
        }));
        holder.join().unwrap();
        assert_eq!(*lock.try_lock().expect("free at the end"), 1);
    });
}

#[test]
fn grant_while_spent_eventual() {
    grant_while_spent(Fairness::Eventual);
}

#[test]
fn grant_while_spent_strict() {
    grant_while_spent(Fairness::Strict);
}

/// A semaphore of one permit, eventual: the releaser wakes the head to
/// retry while the head's thread is refused on a second acquire. Permits
/// are conserved.
#[test]
fn semaphore_acquire_twice_each() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let twice = |sem: &Semaphore| {
            block_on(budgeted(1, async {
                for _ in 0..2 {
                    drop(sem.acquire().await.unwrap());
                }
            }));
        };
        let t = {
            let sem = sem.clone();
            thread::spawn(move || twice(&sem))
        };
        twice(&sem);
        t.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A queue of capacity 1, both ends under a budget of 1: the producer puts
/// 1 then 2, the consumer gets two items. Each end is refused at times and
/// blocks at times (full, empty); the items arrive once each, in order.
#[test]
fn queue_put_and_get_under_budget() {
    loom::model(|| {
        let queue = Queue::bounded(1).unwrap();
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                block_on(budgeted(1, async {
                    queue.put(1).await.unwrap();
                    queue.put(2).await.unwrap();
                }));
            })
        };
        let got = block_on(budgeted(1, async {
            [*queue.get().await.unwrap(), *queue.get().await.unwrap()]
        }));
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
        assert!(queue.is_empty());
    });
}

/// A waiter on an event under a budget of 1 waits twice: the second wait is
/// refused if the first completed in the same poll, racing `set`.
#[test]
fn event_wait_twice_under_budget() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        block_on(budgeted(1, async {
            event.wait().await;
            event.wait().await;
            assert_eq!(coop::remaining().map(|r| r <= 1), Some(true));
        }));
        setter.join().unwrap();
    });
}
