//! `Condition`: every operation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use magpie_sync::{Condition, Lock};
use support::{poll_noop, run_on_each_executor, yield_now};

#[test]
fn wait_releases_the_lock_and_reacquires_it() {
    let lock = Lock::new(0);
    let cond = Condition::new();
    let guard = lock.try_lock().unwrap();
    let mut waiting = Box::pin(cond.wait(guard));
    assert!(poll_noop(&mut waiting).is_pending());
    // Released while waiting.
    let mut other = lock.try_lock().expect("wait releases the lock");
    *other = 1;
    assert_eq!(cond.notify(1), 1);
    // Notified, but the lock is held: still waiting, now for the lock.
    assert!(poll_noop(&mut waiting).is_pending());
    drop(other);
    match poll_noop(&mut waiting) {
        Poll::Ready(guard) => assert_eq!(*guard, 1),
        Poll::Pending => panic!("not re-acquired"),
    }
}

#[test]
fn notify_wakes_exactly_n_in_order() {
    let lock = Lock::new(());
    let cond = Condition::new();
    let mut waiters = Vec::new();
    for _ in 0..5 {
        let mut w = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut w).is_pending());
        waiters.push(w);
    }
    assert_eq!(cond.notify(0), 0);
    assert_eq!(cond.notify(2), 2);
    // The first two re-acquire (one after the other); the rest still wait.
    let g0 = match poll_noop(&mut waiters[0]) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("first waiter not notified"),
    };
    assert!(poll_noop(&mut waiters[1]).is_pending()); // lock held by waiter 0
    drop(g0);
    assert!(poll_noop(&mut waiters[1]).is_ready());
    for w in &mut waiters[2..] {
        assert!(poll_noop(w).is_pending());
    }
    assert_eq!(cond.notify_all(), 3);
    for w in &mut waiters[2..] {
        assert!(poll_noop(w).is_ready());
    }
    assert_eq!(cond.notify(1), 0);
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn wait_for_loops_until_the_predicate_holds() {
    run_on_each_executor(|exec| async move {
        let state = Arc::new(Lock::new(0));
        let cond = Arc::new(Condition::new());
        let (s, c) = (state.clone(), cond.clone());
        let waiter = exec.spawn(async move {
            let guard = s.lock().await;
            let guard = c.wait_for(guard, |n| *n >= 10).await;
            *guard
        });
        for _ in 0..10 {
            *state.lock().await += 1;
            cond.notify_all();
            yield_now().await;
        }
        assert_eq!(waiter.await, 10);
    });
}

#[test]
fn producer_consumer_with_notify_one() {
    run_on_each_executor(|exec| async move {
        let items = Arc::new(Lock::new(Vec::new()));
        let nonempty = Arc::new(Condition::new());
        let consumed = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (items, nonempty, consumed) =
                    (items.clone(), nonempty.clone(), consumed.clone());
                exec.spawn(async move {
                    for _ in 0..25 {
                        let guard = items.lock().await;
                        let mut guard = nonempty.wait_for(guard, |v| !v.is_empty()).await;
                        guard.pop().unwrap();
                        consumed.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for i in 0..100 {
            items.lock().await.push(i);
            nonempty.notify(1);
            if i % 10 == 0 {
                yield_now().await;
            }
        }
        futures::future::join_all(consumers).await;
        assert_eq!(consumed.load(SeqCst), 100);
    });
}

#[test]
fn debug_output() {
    let cond = Condition::default();
    assert_eq!(format!("{cond:?}"), "Condition { has_waiters: false }");
}
