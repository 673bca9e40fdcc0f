//! Loom models of `Event`: `set` racing a waiter's registration (no lost
//! wakeup, and what was written before `set` is visible after `wait`),
//! `clear` right after `set` (a waiter registered before `set` is still
//! woken), and `set`/`clear`/`set` racing a fresh waiter.
#![cfg(loom)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::Event;

/// A value written before `set` and read after `wait` returns.
struct Published(UnsafeCell<usize>);

// SAFETY: the models only read the cell after `wait` returned and only
// write it before `set`; loom checks that this ordering is a real
// happens-before edge (that is the point of the model).
unsafe impl Sync for Published {}

/// `Event::wait` on an `Arc`, as a `'static` future.
async fn wait_owned(event: Arc<Event>) {
    event.wait().await;
}

/// `set` races the registration of a waiter: the waiter always completes,
/// and sees what the setter wrote before `set`.
#[test]
fn set_racing_wait_registration() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let data = Arc::new(Published(UnsafeCell::new(0)));
        let waiter = {
            let (event, data) = (event.clone(), data.clone());
            thread::spawn(move || {
                block_on(event.wait());
                // SAFETY: written before `set`, which `wait` synchronised with.
                data.0.with(|p| assert_eq!(unsafe { *p }, 42));
            })
        };
        // SAFETY: nobody reads before `set`.
        data.0.with_mut(|p| unsafe { *p = 42 });
        event.set();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}

/// A waiter registered before `set` is woken even if `clear` follows at
/// once; a waiter that starts after the `clear` waits.
#[test]
fn clear_after_set_still_wakes_registered_waiters() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let mut registered = Box::pin(wait_owned(event.clone()));
        assert!(poll_noop(&mut registered).is_pending());
        let waiter = thread::spawn(move || block_on(registered));
        event.set();
        event.clear();
        waiter.join().unwrap();
        assert!(!event.is_set());
        let mut late = Box::pin(wait_owned(event.clone()));
        assert!(poll_noop(&mut late).is_pending());
        event.set();
        assert!(poll_noop(&mut late).is_ready());
    });
}

/// `set`, `clear`, `set` race a fresh waiter: whenever it registers, the
/// last `set` releases it.
#[test]
fn set_clear_set_racing_a_fresh_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = {
            let event = event.clone();
            thread::spawn(move || block_on(event.wait()))
        };
        event.set();
        event.clear();
        event.set();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}

/// `clear` on an event that is not set, racing a waiter's registration,
/// then `set`: `clear` must not make `set` miss the waiter (a miss is a
/// deadlock), and the waiter must not return before `set` (nothing clears
/// the event after it, so a waiter that returns sees it set).
#[test]
fn clear_racing_a_waiter_then_set() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = {
            let event = event.clone();
            thread::spawn(move || {
                block_on(event.wait());
                assert!(event.is_set(), "the waiter returned before `set`");
            })
        };
        event.clear();
        event.set();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}
