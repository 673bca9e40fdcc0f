//! Loom models of the intrusive wait list, through the public primitives
//! that use it most directly (the list itself is private): `Event` (wake
//! all), `Semaphore` (wake one, grant), `Condition` (notify one).
//!
//! * a waiter dropped while it is being woken: the node is unlinked exactly
//!   once (a node dropped while linked aborts the process), and the waiters
//!   behind it are still served;
//! * wake-all wakes every waiter, wake-one exactly one, in FIFO order;
//! * a waiter re-polled with a new waker while the wake races it: the waker
//!   registered last is the one woken, exactly once.
#![cfg(loom)]

use std::sync::Arc;
use std::task::{Poll, Waker};

use loom::future::block_on;
use loom::thread;
use loom_tests::{counting_waker, poll_noop, poll_once};
use magpie_sync::{Condition, Event, Lock, Semaphore};

/// A registered waiter is dropped while `set` wakes the list; a second
/// registered waiter behind it must still complete.
#[test]
fn waiter_dropped_concurrently_with_wake_all() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let mut first = Box::pin(wait_owned(event.clone()));
        let mut second = Box::pin(wait_owned(event.clone()));
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let waiter = thread::spawn(move || block_on(second));
        event.set();
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}

/// A waiter that was granted a permit is dropped as the grant lands; the
/// permit must go to the waiter behind it (strict hand-off), and the
/// permits are conserved.
#[test]
fn waiter_dropped_concurrently_with_wake_one() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut first = Box::pin(sem.clone().acquire_owned());
        let mut second = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let waiter = thread::spawn(move || block_on(second).unwrap());
        sem.add_permits(1);
        dropper.join().unwrap();
        let permit = waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Wake-all: every waiter of an event completes after one `set`.
#[test]
fn wake_all_wakes_every_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let event = event.clone();
                thread::spawn(move || block_on(event.wait()))
            })
            .collect();
        event.set();
        for w in waiters {
            w.join().unwrap();
        }
    });
}

/// Wake-one: `notify(1)` with two waiters lets exactly one through, the
/// first in line, while the second re-registers concurrently and is not
/// woken.
#[test]
fn wake_one_wakes_exactly_the_first() {
    loom::model(|| {
        let lock: &'static Lock<()> = Box::leak(Box::new(Lock::new(())));
        let cond: &'static Condition = Box::leak(Box::new(Condition::new()));
        let mut first = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut first).is_pending());
        let mut second = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut second).is_pending());
        let notifier = thread::spawn(move || assert_eq!(cond.notify(1), 1));
        let (woken, waker) = counting_waker();
        assert!(poll_once(&mut second, &waker).is_pending());
        notifier.join().unwrap();
        assert_eq!(woken.wakes(), 0, "the second waiter was woken");
        match poll_noop(&mut first) {
            Poll::Ready(guard) => drop(guard),
            Poll::Pending => panic!("the first waiter was not notified"),
        }
        assert!(poll_once(&mut second, &waker).is_pending());
        assert_eq!(cond.notify(1), 1, "the second is still waiting");
    });
}

/// A waiter re-polled with a new waker on another thread while `set`
/// runs: if that poll returns `Pending`, the new waker (and only it) is
/// woken; if it returns `Ready`, the old one was.
#[test]
fn re_registration_with_a_new_waker() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let (old, old_waker) = counting_waker();
        let (new, new_waker) = counting_waker();
        let mut fut = Box::pin(wait_owned(event.clone()));
        assert!(poll_once(&mut fut, &old_waker).is_pending());
        let poller = thread::spawn(move || {
            let pending = poll_once(&mut fut, &new_waker).is_pending();
            (pending, fut)
        });
        event.set();
        let (pending, mut fut) = poller.join().unwrap();
        if pending {
            assert_eq!((old.wakes(), new.wakes()), (0, 1), "wrong waker woken");
            assert!(poll_noop(&mut fut).is_ready());
        } else {
            assert_eq!((old.wakes(), new.wakes()), (1, 0));
        }
    });
}

/// `Event::wait` on an `Arc`, as a `'static` future.
async fn wait_owned(event: Arc<Event>) {
    event.wait().await;
}

/// `notify_all` with more waiters than one batch of wakers (2 under loom):
/// the lock is released between batches, and a waiter that registers in
/// that window is not woken; every earlier waiter is.
#[test]
fn notify_all_in_batches_skips_late_waiters() {
    loom::model(|| {
        let lock: &'static Lock<()> = Box::leak(Box::new(Lock::new(())));
        let cond: &'static Condition = Box::leak(Box::new(Condition::new()));
        // The first waiter's waker tells when `notify_all` has started.
        let (started, first_waker) = counting_waker();
        let mut early: Vec<_> = (0..3)
            .map(|i| {
                let mut wait = Box::pin(cond.wait(lock.try_lock().unwrap()));
                let waker = if i == 0 { &first_waker } else { Waker::noop() };
                assert!(poll_once(&mut wait, waker).is_pending());
                wait
            })
            .collect();
        let notifier = thread::spawn(move || cond.notify_all());
        let (late_woken, late_waker) = counting_waker();
        let mut late = Box::pin(cond.wait(lock.try_lock().unwrap()));
        let after_start = started.wakes() > 0;
        assert!(poll_once(&mut late, &late_waker).is_pending());
        let notified = notifier.join().unwrap();
        // The late waiter may have registered before `notify_all` started,
        // but not if the first batch was already woken.
        assert!(notified == 3 || notified == 4, "notified {notified}");
        if after_start {
            assert_eq!(
                notified, 3,
                "a waiter that came during notify_all was notified"
            );
        }
        for wait in &mut early {
            match poll_noop(wait) {
                Poll::Ready(guard) => drop(guard),
                Poll::Pending => panic!("an early waiter was not notified"),
            }
        }
        let late_ready = match poll_once(&mut late, &late_waker) {
            Poll::Ready(guard) => {
                drop(guard);
                true
            }
            Poll::Pending => false,
        };
        assert_eq!(late_ready, notified == 4);
        assert_eq!(late_woken.wakes(), usize::from(notified == 4));
    });
}
