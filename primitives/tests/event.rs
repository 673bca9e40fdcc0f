//! `Event`: every operation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use magpie_sync::Event;
use support::{CountingWaker, poll_noop, poll_once, run_on_each_executor, scaled, yield_now};

#[test]
fn set_clear_is_set() {
    let event = Event::default();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    assert_eq!(format!("{event:?}"), "Event { set: false }");
}

#[test]
fn wait_returns_at_once_when_set() {
    let event = Event::new();
    event.set();
    let mut w = Box::pin(event.wait());
    assert!(poll_noop(&mut w).is_ready());
}

#[test]
fn set_wakes_every_waiter() {
    run_on_each_executor(|exec| async move {
        let event = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..scaled(100))
            .map(|_| {
                let (event, woken) = (event.clone(), woken.clone());
                exec.spawn(async move {
                    event.wait().await;
                    woken.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for _ in 0..5 {
            yield_now().await;
        }
        event.set();
        futures::future::join_all(tasks).await;
        assert_eq!(woken.load(SeqCst), scaled(100));
    });
}

#[test]
fn a_waiter_registered_just_before_set_is_woken_even_if_cleared_after() {
    let event = Event::new();
    let (counter, waker) = CountingWaker::new();
    let mut w = Box::pin(event.wait());
    assert!(poll_once(w.as_mut(), &waker).is_pending());
    event.set();
    event.clear();
    assert_eq!(counter.count(), 1);
    assert!(poll_once(w.as_mut(), &waker).is_ready());
}

#[test]
fn after_clear_waiters_wait_for_the_next_set() {
    let event = Event::new();
    event.set();
    event.clear();
    let (counter, waker) = CountingWaker::new();
    let mut w = Box::pin(event.wait());
    assert!(poll_once(w.as_mut(), &waker).is_pending());
    assert!(poll_once(w.as_mut(), &waker).is_pending());
    assert_eq!(counter.count(), 0);
    event.set();
    assert_eq!(counter.count(), 1);
    assert!(poll_once(w.as_mut(), &waker).is_ready());
}

#[test]
fn the_latest_waker_is_the_one_woken() {
    let event = Event::new();
    let (first, waker1) = CountingWaker::new();
    let (second, waker2) = CountingWaker::new();
    let mut w = Box::pin(event.wait());
    assert!(poll_once(w.as_mut(), &waker1).is_pending());
    assert!(poll_once(w.as_mut(), &waker2).is_pending());
    event.set();
    assert_eq!((first.count(), second.count()), (0, 1));
}

#[test]
fn set_and_wait_race_across_threads() {
    // Many rounds of a set racing a fresh waiter: the waiter always returns.
    run_on_each_executor(|exec| async move {
        for _ in 0..scaled(200) {
            let event = Arc::new(Event::new());
            let e = event.clone();
            let waiter = exec.spawn(async move { e.wait().await });
            let e = event.clone();
            let setter = exec.spawn(async move { e.set() });
            setter.await;
            waiter.await;
        }
    });
}
