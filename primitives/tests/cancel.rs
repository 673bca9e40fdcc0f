//! Cancellation: a waiting future dropped at any moment (while waiting,
//! after it was granted something it has not seen, or at the same time as
//! a release, set, notify or close) loses and duplicates nothing.
//!
//! The deterministic tests poll by hand with counting wakers; the races
//! run the drop and the release on two threads started together, many
//! times, and check the counts and the wakeups afterwards.

mod support;

use std::sync::Arc;
use std::task::Poll;

use magpie_sync::{
    AcquireError, Barrier, Condition, Event, Fairness, Lock, Queue, QueueItem, RwLock, Semaphore,
    TryGetError,
};
use support::{CountingWaker, poll_noop, poll_once};

/// Iterations of each race. Miri interprets every step, so it runs 20
/// (about a minute for the file); its scheduler preempts the two threads
/// at random points, so each iteration is a different interleaving.
const RACES: usize = if cfg!(miri) { 20 } else { 2_000 };

/// Runs `a` and `b` on two threads released at the same instant.
fn race<A, B>(a: A, b: B)
where
    A: FnOnce() + Send,
    B: FnOnce() + Send,
{
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            a();
        });
        s.spawn(|| {
            start.wait();
            b();
        });
    });
}

// ---- Lock ----------------------------------------------------------------

#[test]
fn lock_waiter_dropped_while_waiting_leaves_the_line_intact() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let lock = Lock::with_fairness(0, fairness);
        let guard = lock.try_lock().unwrap();
        let mut a = Box::pin(lock.lock());
        let mut b = Box::pin(lock.lock());
        let mut c = Box::pin(lock.lock());
        let (cb, wb) = CountingWaker::new();
        assert!(poll_noop(&mut a).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        assert!(poll_noop(&mut c).is_pending());
        drop(a); // the head leaves
        drop(c); // the tail leaves
        drop(guard);
        assert_eq!(
            cb.count(),
            1,
            "{fairness:?}: the remaining waiter was not woken"
        );
        assert!(poll_once(b.as_mut(), &wb).is_ready());
    }
}

#[test]
fn strict_lock_handed_to_a_dropped_future_passes_to_the_next() {
    let lock = Lock::with_fairness(0, Fairness::Strict);
    let guard = lock.try_lock().unwrap();
    let mut a = Box::pin(lock.lock());
    let mut b = Box::pin(lock.lock());
    let (ca, wa) = CountingWaker::new();
    let (cb, wb) = CountingWaker::new();
    assert!(poll_once(a.as_mut(), &wa).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    drop(guard); // handed to `a`
    assert_eq!((ca.count(), cb.count()), (1, 0));
    assert!(lock.try_lock().is_err(), "the lock belongs to `a` now");
    drop(a); // granted but never observed
    assert_eq!(cb.count(), 1, "the grant was not passed on");
    assert!(poll_once(b.as_mut(), &wb).is_ready());
}

#[test]
fn eventual_lock_wake_passes_on_when_the_woken_waiter_is_dropped() {
    let lock = Lock::new(0);
    let guard = lock.try_lock().unwrap();
    let mut a = Box::pin(lock.lock());
    let mut b = Box::pin(lock.lock());
    let (ca, wa) = CountingWaker::new();
    let (cb, wb) = CountingWaker::new();
    assert!(poll_once(a.as_mut(), &wa).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    drop(guard); // `a` is woken to retry
    assert_eq!((ca.count(), cb.count()), (1, 0));
    drop(a); // ...and never does
    assert_eq!(cb.count(), 1, "the wakeup was lost with `a`");
    assert!(poll_once(b.as_mut(), &wb).is_ready());
}

#[test]
fn lock_release_racing_a_dropped_waiter() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        for _ in 0..RACES {
            let lock = Lock::with_fairness(0u32, fairness);
            let guard = lock.try_lock().unwrap();
            let mut a = Box::pin(lock.lock());
            let mut b = Box::pin(lock.lock());
            let (cb, wb) = CountingWaker::new();
            assert!(poll_noop(&mut a).is_pending());
            assert!(poll_once(b.as_mut(), &wb).is_pending());
            race(move || drop(guard), move || drop(a));
            assert!(cb.count() >= 1, "{fairness:?}: lost wakeup");
            match poll_once(b.as_mut(), &wb) {
                Poll::Ready(mut g) => *g += 1,
                Poll::Pending => panic!("{fairness:?}: the lock was lost"),
            }
            drop(b);
            assert_eq!(lock.into_inner(), 1);
        }
    }
}

#[test]
fn rwlock_writer_dropped_with_partial_permits_returns_them() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let r2 = lock.try_read().unwrap();
    let mut w = Box::pin(lock.write());
    assert!(poll_noop(&mut w).is_pending());
    let mut r3 = Box::pin(lock.read());
    let (c3, w3) = CountingWaker::new();
    assert!(
        poll_once(r3.as_mut(), &w3).is_pending(),
        "queued behind the writer"
    );
    drop(r1); // set aside for the writer
    drop(w); // the writer gives up: everything it was given comes back
    assert_eq!(c3.count(), 1);
    assert!(poll_once(r3.as_mut(), &w3).is_ready());
    drop(r3);
    drop(r2);
    assert!(lock.try_write().is_ok(), "permits were lost");
}

// ---- Semaphore -----------------------------------------------------------

#[test]
fn semaphore_partial_assignment_is_returned_on_drop() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let sem = Semaphore::with_fairness(3, fairness);
        let held = sem.try_acquire_many(3).unwrap();
        let mut big = Box::pin(sem.acquire_many(3));
        assert!(poll_noop(&mut big).is_pending());
        let mut small = Box::pin(sem.acquire());
        let (cs, ws) = CountingWaker::new();
        assert!(poll_once(small.as_mut(), &ws).is_pending());
        drop(held); // 3 released: `big` is first and gets them all
        assert!(poll_noop(&mut big).is_ready(), "{fairness:?}");
        drop(big);
        assert_eq!(cs.count(), 1, "{fairness:?}");
        let p = match poll_once(small.as_mut(), &ws) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => panic!("{fairness:?}: small not served"),
        };
        drop(p);
        drop(small);
        assert_eq!(sem.available_permits(), 3, "{fairness:?}");
    }
}

#[test]
fn semaphore_grant_to_a_dropped_future_goes_to_the_next_waiter() {
    let sem = Semaphore::new(0);
    let mut a = Box::pin(sem.acquire_many(2));
    let mut b = Box::pin(sem.acquire());
    let (cb, wb) = CountingWaker::new();
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    sem.add_permits(1); // set aside for `a`
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(1); // `a` granted 2
    drop(a); // never observed
    assert_eq!(cb.count(), 1);
    match poll_once(b.as_mut(), &wb) {
        Poll::Ready(p) => drop(p.unwrap()),
        Poll::Pending => panic!("not passed on"),
    }
    drop(b);
    assert_eq!(sem.available_permits(), 2, "permits lost or duplicated");
}

#[test]
fn semaphore_release_racing_dropped_waiters_conserves_permits() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        for i in 0..RACES {
            let sem = Semaphore::with_fairness(0, fairness);
            let mut a = Box::pin(sem.acquire_many(1 + i % 2));
            let mut b = Box::pin(sem.acquire());
            let (cb, wb) = CountingWaker::new();
            assert!(poll_noop(&mut a).is_pending());
            assert!(poll_once(b.as_mut(), &wb).is_pending());
            race(|| sem.add_permits(2), move || drop(a));
            assert!(cb.count() >= 1, "{fairness:?}: lost wakeup");
            match poll_once(b.as_mut(), &wb) {
                Poll::Ready(p) => p.unwrap().forget(),
                Poll::Pending => panic!("{fairness:?}: b starved"),
            }
            drop(b);
            assert_eq!(sem.available_permits(), 1, "{fairness:?}");
        }
    }
}

#[test]
fn semaphore_close_racing_a_dropped_waiter() {
    for _ in 0..RACES {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let mut a = Box::pin(sem.acquire());
        let mut b = Box::pin(sem.acquire());
        let (cb, wb) = CountingWaker::new();
        assert!(poll_noop(&mut a).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        race(|| sem.close(), move || drop(a));
        assert_eq!(cb.count(), 1);
        assert_eq!(
            poll_once(b.as_mut(), &wb).map(|r| r.map(|_| ())),
            Poll::Ready(Err(AcquireError::Closed))
        );
        drop(held);
        assert_eq!(sem.available_permits(), 1);
    }
}

// ---- Event ---------------------------------------------------------------

#[test]
fn event_set_racing_a_dropped_waiter_wakes_the_others() {
    for _ in 0..RACES {
        let event = Event::new();
        let a = Box::pin(event.wait());
        let mut a = a;
        let mut b = Box::pin(event.wait());
        let (cb, wb) = CountingWaker::new();
        assert!(poll_noop(&mut a).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        race(|| event.set(), move || drop(a));
        assert_eq!(cb.count(), 1);
        assert!(poll_once(b.as_mut(), &wb).is_ready());
    }
}

// ---- Condition -----------------------------------------------------------

#[test]
fn condition_notification_to_a_dropped_waiter_is_passed_on() {
    let lock = Lock::new(());
    let cond = Condition::new();
    let mut a = Box::pin(cond.wait(lock.try_lock().unwrap()));
    assert!(poll_noop(&mut a).is_pending()); // releases the lock
    let mut b = Box::pin(cond.wait(lock.try_lock().unwrap()));
    let (cb, wb) = CountingWaker::new();
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    assert_eq!(cond.notify(1), 1); // to `a`
    assert_eq!(cb.count(), 0);
    drop(a); // never saw it
    assert_eq!(cb.count(), 1, "notify(1) was lost with the dropped waiter");
    assert!(poll_once(b.as_mut(), &wb).is_ready());
}

#[test]
fn condition_waiter_dropped_while_reacquiring_passes_the_lock_on() {
    let lock = Lock::with_fairness(0, Fairness::Strict);
    let cond = Condition::new();
    let mut a = Box::pin(cond.wait(lock.try_lock().unwrap()));
    assert!(poll_noop(&mut a).is_pending());
    let holder = lock.try_lock().unwrap();
    cond.notify_all();
    assert!(poll_noop(&mut a).is_pending(), "waiting for the lock");
    let mut b = Box::pin(lock.lock());
    let (cb, wb) = CountingWaker::new();
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    drop(holder); // handed to `a`
    drop(a); // which leaves
    assert_eq!(cb.count(), 1);
    assert!(poll_once(b.as_mut(), &wb).is_ready());
}

#[test]
fn condition_notify_racing_a_dropped_waiter() {
    for _ in 0..RACES {
        let lock = Lock::new(());
        let cond = Condition::new();
        let mut a = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(poll_noop(&mut a).is_pending());
        let mut b = Box::pin(cond.wait(lock.try_lock().unwrap()));
        let (cb, wb) = CountingWaker::new();
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        race(
            || {
                cond.notify(1);
            },
            move || drop(a),
        );
        assert_eq!(cb.count(), 1, "exactly one wakeup reaches the survivor");
        assert!(poll_once(b.as_mut(), &wb).is_ready());
    }
}

// ---- Barrier -------------------------------------------------------------

#[test]
fn barrier_trip_racing_a_dropped_waiter() {
    for _ in 0..RACES {
        let barrier = Barrier::new(2);
        let mut a = Box::pin(barrier.wait());
        assert!(poll_noop(&mut a).is_pending());
        let mut b = Box::pin(barrier.wait());
        let b_result = std::sync::Mutex::new(None);
        race(
            || *b_result.lock().unwrap() = Some(poll_noop(&mut b).is_ready()),
            move || drop(a),
        );
        if b_result.into_inner().unwrap() == Some(true) {
            // `a` had arrived; the barrier tripped with it.
            assert_eq!(barrier.n_waiting(), 0);
        } else {
            // `a` withdrew first; `b` waits for a partner.
            assert_eq!(barrier.n_waiting(), 1);
            let mut c = Box::pin(barrier.wait());
            assert!(poll_noop(&mut c).is_ready());
            assert!(poll_noop(&mut b).is_ready());
        }
    }
}

// ---- Queue ---------------------------------------------------------------

#[test]
fn item_handed_to_a_dropped_getter_goes_to_the_next() {
    let q = Queue::unbounded();
    let mut a = Box::pin(q.get());
    let mut b = Box::pin(q.get());
    let (cb, wb) = CountingWaker::new();
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    q.try_put("item").unwrap(); // claimed for `a`
    assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
    drop(a);
    assert_eq!(cb.count(), 1);
    assert_eq!(
        poll_once(b.as_mut(), &wb).map_ok(QueueItem::into_inner),
        Poll::Ready(Ok("item"))
    );
}

#[test]
fn place_reserved_for_a_dropped_putter_goes_to_the_next() {
    let q = Queue::bounded(1).unwrap();
    q.try_put(0).unwrap();
    let mut a = Box::pin(q.put(1));
    let mut b = Box::pin(q.put(2));
    let (cb, wb) = CountingWaker::new();
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    assert_eq!(*q.try_get().unwrap(), 0); // the place is handed to `a`
    drop(a); // item 1 is dropped with it: it was never in the queue
    assert_eq!(cb.count(), 1);
    assert_eq!(poll_once(b.as_mut(), &wb), Poll::Ready(Ok(())));
    assert_eq!(*q.try_get().unwrap(), 2);
    assert!(q.is_empty());
}

#[test]
fn put_racing_a_dropped_getter_loses_no_item() {
    for _ in 0..RACES {
        let q = Queue::unbounded();
        let mut a = Box::pin(q.get());
        let mut b = Box::pin(q.get());
        let (cb, wb) = CountingWaker::new();
        assert!(poll_noop(&mut a).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        race(|| q.try_put(7).unwrap(), move || drop(a));
        assert_eq!(cb.count(), 1);
        assert_eq!(
            poll_once(b.as_mut(), &wb).map_ok(QueueItem::into_inner),
            Poll::Ready(Ok(7))
        );
        assert!(q.is_empty());
    }
}

#[test]
fn close_racing_a_dropped_getter() {
    for _ in 0..RACES {
        let q: Queue<u8> = Queue::unbounded();
        let mut a = Box::pin(q.get());
        let mut b = Box::pin(q.get());
        let (cb, wb) = CountingWaker::new();
        assert!(poll_noop(&mut a).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        race(|| q.close(), move || drop(a));
        assert_eq!(cb.count(), 1);
        assert!(matches!(poll_once(b.as_mut(), &wb), Poll::Ready(Err(_))));
    }
}

#[test]
fn close_racing_a_put_never_strands_an_item() {
    for _ in 0..RACES {
        let q = Queue::unbounded();
        let mut getter = Box::pin(q.get());
        let (cg, wg) = CountingWaker::new();
        assert!(poll_once(getter.as_mut(), &wg).is_pending());
        let put = std::sync::Mutex::new(None);
        race(
            || *put.lock().unwrap() = Some(q.try_put(1).is_ok()),
            || q.close(),
        );
        assert_eq!(cg.count(), 1);
        let got = match poll_once(getter.as_mut(), &wg) {
            Poll::Ready(r) => r.map(QueueItem::into_inner),
            Poll::Pending => panic!("getter not woken"),
        };
        let put_ok = put.into_inner().unwrap().unwrap();
        match got {
            Ok(1) => assert!(put_ok),
            Err(_) => {
                // Then the item, if put, must still be there to drain.
                assert_eq!(q.try_get().is_ok(), put_ok, "an accepted item was stranded");
            }
            Ok(other) => panic!("unexpected item {other}"),
        }
        assert_eq!(q.try_get().unwrap_err(), TryGetError::Closed);
    }
}

#[test]
fn dropped_join_and_event_waiters_leave_quietly() {
    let q = Queue::unbounded();
    q.try_put(()).unwrap();
    let mut j1 = Box::pin(q.join());
    let mut j2 = Box::pin(q.join());
    let (c2, w2) = CountingWaker::new();
    assert!(poll_noop(&mut j1).is_pending());
    assert!(poll_once(j2.as_mut(), &w2).is_pending());
    drop(j1);
    drop(q.try_get().unwrap()); // done
    assert_eq!(c2.count(), 1);
    assert!(poll_once(j2.as_mut(), &w2).is_ready());

    let event = Arc::new(Event::new());
    let mut e = Box::pin(event.wait());
    assert!(poll_noop(&mut e).is_pending());
    event.set();
    drop(e); // woken, never observed: nothing to pass on, nothing breaks
    assert!(event.is_set());
}
