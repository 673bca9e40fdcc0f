//! Loom models of `LocalSet` (`executor/src/task/local.rs`): the hand-over
//! between a thread that wakes a local task and the thread that drives the
//! set. The waker pushes the task's entry on the set's queue, then wakes
//! the driver's registered waker; the driver registers its waker before it
//! looks at the queue. A lost wake-up leaves the driver asleep beside a
//! queued task: loom reports the deadlock.
//!
//! The set is driven by loom's own `block_on` (no runtime: a `LocalSet`
//! needs none), so each model has two threads. Every model counts the
//! task's future drops (exactly one, on the driving thread).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use magpie::sync::Event;
use magpie::task::LocalSet;
use std::rc::Rc;

/// Counts its drops, and checks it is dropped on the driving thread.
struct Witness {
    drops: Arc<AtomicUsize>,
    home: thread::ThreadId,
}

impl Drop for Witness {
    fn drop(&mut self) {
        assert_eq!(thread::current().id(), self.home, "dropped off its thread");
        self.drops.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_wake_from_another_thread_reaches_the_driver() {
    loom::model(|| {
        let local = LocalSet::new();
        let event = Arc::new(Event::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let witness = Witness {
            drops: drops.clone(),
            home: thread::current().id(),
        };
        let task = local.spawn_local({
            let event = event.clone();
            async move {
                let _witness = witness;
                event.wait().await;
                Rc::new(7) // not `Send`
            }
        });
        let setter = thread::spawn({
            let event = event.clone();
            move || event.set()
        });
        let out = loom::future::block_on(local.run_until(task));
        assert_eq!(*out.unwrap(), 7);
        setter.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        assert!(local.is_empty());
    });
}

#[test]
fn a_cancel_from_another_thread_drops_the_future_on_the_driver() {
    loom::model(|| {
        let local = LocalSet::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let witness = Witness {
            drops: drops.clone(),
            home: thread::current().id(),
        };
        let task = local.spawn_local(async move {
            let _witness = witness;
            std::future::pending::<()>().await
        });
        let cancel = task.cancel_handle();
        let canceller = thread::spawn(move || cancel.cancel());
        let err = loom::future::block_on(local.run_until(task)).unwrap_err();
        assert!(err.is_cancelled());
        canceller.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        drop(local);
        assert_eq!(drops.load(SeqCst), 1, "dropped once, not again by the set");
    });
}
