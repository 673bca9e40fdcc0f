//! A waker that panics: the panic reaches whoever woke it, but only after
//! the operation is complete, so no other waiter is stranded and no permit
//! or item is lost.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Wake, Waker};

use magpie_sync::{Event, Fairness, Lock, Queue, Semaphore};
use support::{CountingWaker, poll_once};

struct Panicking;

impl Wake for Panicking {
    fn wake(self: Arc<Self>) {
        panic!("waker panicked on purpose");
    }
}

fn panicking() -> Waker {
    Waker::from(Arc::new(Panicking))
}

fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn event_set_wakes_everyone_else_then_panics() {
    // More waiters than one batch, with the panicking one first.
    let event = Event::new();
    let mut first = Box::pin(event.wait());
    assert!(poll_once(first.as_mut(), &panicking()).is_pending());
    let (counter, waker) = CountingWaker::new();
    let mut rest: Vec<_> = (0..100).map(|_| Box::pin(event.wait())).collect();
    for w in &mut rest {
        assert!(poll_once(w.as_mut(), &waker).is_pending());
    }
    let err = catch_unwind(AssertUnwindSafe(|| event.set())).unwrap_err();
    assert_eq!(message(err), "waker panicked on purpose");
    assert_eq!(
        counter.count(),
        100,
        "waiters after the panicking one were stranded"
    );
    assert!(event.is_set());
    for w in &mut rest {
        assert!(poll_once(w.as_mut(), &waker).is_ready());
    }
}

#[test]
fn semaphore_grants_survive_a_panicking_waker() {
    let sem = Semaphore::new(0);
    let mut a = Box::pin(sem.acquire());
    let mut b = Box::pin(sem.acquire());
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(a.as_mut(), &panicking()).is_pending());
    assert!(poll_once(b.as_mut(), &waker).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| sem.add_permits(3))).is_err());
    assert_eq!(counter.count(), 1);
    assert!(poll_once(a.as_mut(), &waker).is_ready());
    assert!(poll_once(b.as_mut(), &waker).is_ready());
    drop((a, b));
    assert_eq!(sem.available_permits(), 3, "permits lost to the panic");
}

#[test]
fn a_guard_dropped_into_a_panicking_waker_still_hands_the_lock_on() {
    let lock = Lock::with_fairness(0, Fairness::Strict);
    let guard = lock.try_lock().unwrap();
    let mut a = Box::pin(lock.lock());
    assert!(poll_once(a.as_mut(), &panicking()).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| drop(guard))).is_err());
    let (_, waker) = CountingWaker::new();
    match poll_once(a.as_mut(), &waker) {
        std::task::Poll::Ready(mut g) => *g += 1,
        std::task::Poll::Pending => panic!("the lock was lost"),
    }
    drop(a);
    assert_eq!(lock.into_inner(), 1);
}

#[test]
fn queue_items_survive_a_panicking_waker() {
    let q = Queue::unbounded();
    let mut a = Box::pin(q.get());
    assert!(poll_once(a.as_mut(), &panicking()).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| q.try_put(1))).is_err());
    let (_, waker) = CountingWaker::new();
    let item = match poll_once(a.as_mut(), &waker) {
        std::task::Poll::Ready(item) => item.expect("the queue is open"),
        std::task::Poll::Pending => panic!("the item was lost"),
    };
    assert_eq!(*item, 1);
    assert!(q.is_empty());
    assert_eq!(q.unfinished_tasks(), 1);
    drop(item);
    assert_eq!(q.unfinished_tasks(), 0);
}
