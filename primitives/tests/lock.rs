//! `Lock`: every operation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use magpie_sync::{Fairness, Lock, TryLockError};
use support::{Exec, poll_noop, run_on_each_executor, scaled, yield_now};

#[test]
fn lock_gives_access_and_releases_on_drop() {
    run_on_each_executor(|_| async {
        let lock = Lock::new(vec![1]);
        {
            let mut guard = lock.lock().await;
            guard.push(2);
            assert!(lock.is_locked());
        }
        assert!(!lock.is_locked());
        assert_eq!(*lock.lock().await, [1, 2]);
    });
}

#[test]
fn try_lock_fails_while_held_and_succeeds_after() {
    let lock = Lock::new(0);
    let guard = lock.try_lock().unwrap();
    let err: TryLockError = lock.try_lock().unwrap_err();
    assert_eq!(err.to_string(), "the lock is held by another guard");
    drop(guard);
    *lock.try_lock().unwrap() += 1;
    assert_eq!(lock.into_inner(), 1);
}

#[test]
fn get_mut_and_into_inner_need_no_locking() {
    let mut lock = Lock::new(String::from("a"));
    lock.get_mut().push('b');
    assert_eq!(lock.into_inner(), "ab");
    assert_eq!(Lock::<u8>::default().into_inner(), 0);
    assert_eq!(Lock::from(3).into_inner(), 3);
}

#[test]
fn owned_guards_keep_the_lock_alive() {
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(Lock::new(0));
        let guard = lock.clone().lock_owned().await;
        assert!(Arc::ptr_eq(guard.lock(), &lock));
        assert!(lock.clone().try_lock_owned().is_err());
        let waiter = exec.spawn(lock.clone().lock_owned());
        drop(guard);
        let mut guard = waiter.await;
        *guard += 1;
        drop(guard);
        let mut guard = lock.clone().try_lock_owned().unwrap();
        *guard += 1;
        drop(guard);
        assert_eq!(*lock.lock().await, 2);
    });
}

#[test]
fn guard_held_across_await_excludes_others() {
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(Lock::new(()));
        let inside = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                exec.spawn(async move {
                    for _ in 0..50 {
                        let _g = lock.lock().await;
                        assert!(!inside.swap(true, SeqCst), "two holders at once");
                        yield_now().await;
                        inside.store(false, SeqCst);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
    });
}

async fn counts_to(exec: Exec, fairness: Fairness) {
    {
        let lock = Arc::new(Lock::with_fairness(0u64, fairness));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                exec.spawn(async move {
                    for i in 0..scaled(2_000) {
                        *lock.lock().await += 1;
                        if i % 100 == 0 {
                            yield_now().await;
                        }
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        assert_eq!(*lock.lock().await, 8 * scaled(2_000) as u64);
    }
}

#[test]
fn contended_increments_are_all_counted_eventual() {
    run_on_each_executor(|exec| counts_to(exec, Fairness::Eventual));
}

#[test]
fn contended_increments_are_all_counted_strict() {
    run_on_each_executor(|exec| counts_to(exec, Fairness::Strict));
}

#[test]
fn strict_lock_is_granted_in_arrival_order() {
    let lock = Lock::with_fairness(Vec::new(), Fairness::Strict);
    let guard = lock.try_lock().unwrap();
    let mut waiters: Vec<_> = (0..10).map(|_| Box::pin(lock.lock())).collect();
    for w in &mut waiters {
        assert!(poll_noop(w).is_pending());
    }
    // A newcomer may not overtake the queue.
    assert!(lock.try_lock().is_err());
    drop(guard);
    for (i, w) in waiters.iter_mut().enumerate() {
        let mut guard = match poll_noop(w) {
            std::task::Poll::Ready(g) => g,
            std::task::Poll::Pending => panic!("waiter {i} was not handed the lock"),
        };
        guard.push(i);
    }
    drop(waiters);
    assert_eq!(lock.into_inner(), (0..10).collect::<Vec<_>>());
}

#[test]
fn eventual_lock_lets_a_newcomer_take_a_free_lock() {
    let lock = Lock::new(());
    let guard = lock.try_lock().unwrap();
    let mut waiter = Box::pin(lock.lock());
    assert!(poll_noop(&mut waiter).is_pending());
    drop(guard);
    // Barging: the lock is free, the waiter was only woken to retry.
    let barger = lock.try_lock().expect("eventual fairness allows barging");
    assert!(poll_noop(&mut waiter).is_pending());
    drop(barger);
    assert!(poll_noop(&mut waiter).is_ready());
}

#[test]
fn fairness_is_reported() {
    assert_eq!(Lock::new(()).fairness(), Fairness::Eventual);
    assert_eq!(
        Lock::with_fairness((), Fairness::Strict).fairness(),
        Fairness::Strict
    );
}

#[test]
fn debug_and_display() {
    let lock = Lock::new(5);
    assert_eq!(format!("{lock:?}"), "Lock { value: 5, fairness: Eventual }");
    let guard = lock.try_lock().unwrap();
    assert_eq!(format!("{guard:?} {guard}"), "5 5");
    assert_eq!(
        format!("{lock:?}"),
        "Lock { value: <locked>, fairness: Eventual }"
    );
    let fut = lock.lock();
    assert!(format!("{fut:?}").starts_with("LockFuture"));
}

#[test]
fn futures_and_guards_are_send_and_sync_as_expected() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Sync>(_: &T) {}
    let lock = Lock::new(0);
    send(&lock);
    sync(&lock);
    let fut = lock.lock();
    send(&fut);
    let guard = lock.try_lock().unwrap();
    send(&guard);
    sync(&guard);
    // A `Cell` may be locked and sent, but a guard to it is not `Sync`.
    let cell_lock = Lock::new(std::cell::Cell::new(0));
    sync(&cell_lock);
    let owned = Arc::new(Lock::new(0)).try_lock_owned().unwrap();
    send(&owned);
}

#[test]
fn many_waiters_are_all_served() {
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(Lock::new(0usize));
        let served = Arc::new(AtomicUsize::new(0));
        let guard = lock.clone().lock_owned().await;
        let tasks: Vec<_> = (0..scaled(200))
            .map(|_| {
                let (lock, served) = (lock.clone(), served.clone());
                exec.spawn(async move {
                    *lock.lock().await += 1;
                    served.fetch_add(1, SeqCst);
                })
            })
            .collect();
        yield_now().await;
        drop(guard);
        futures::future::join_all(tasks).await;
        assert_eq!(served.load(SeqCst), scaled(200));
        assert_eq!(*lock.lock().await, scaled(200));
    });
}
