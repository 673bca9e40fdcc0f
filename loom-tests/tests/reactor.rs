//! Loom models of the reactor's park/poll hand-over
//! (`executor/src/runtime/reactor/`, `scheduler/park.rs`'s `POLLING`
//! state). Under loom the OS poller is a stand-in with polling's contract
//! (a wait returns on an event or a notify, and a notify that comes before
//! the wait makes it return at once), and `magpie::net_model::ModelSource`
//! is a fake socket whose readability the model controls.
//!
//! With one worker, the worker that parks always takes the driver and
//! waits in the poller: these models are the park protocol of
//! `scheduler.rs` with `poller.notify()` in place of the condition
//! variable. A lost wakeup is a deadlock (loom reports it).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom_tests::runtime;
use magpie::net_model::ModelSource;
use std::task::Poll;
use std::time::Duration;

/// A task pushed from outside (a spawn from the main thread) while the
/// only worker goes from searching to waiting in the poller: either the
/// worker's re-check sees it, or the pusher's unpark finds the parker
/// `POLLING` and notifies the poller (before or during the wait). The task
/// runs and its output comes back.
#[test]
fn push_while_the_driver_goes_to_wait() {
    loom::model(|| {
        let rt = runtime(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let task = rt.spawn(async move {
            r.fetch_add(1, SeqCst);
            7
        });
        assert_eq!(rt.block_on(task).unwrap(), 7);
        assert_eq!(ran.load(SeqCst), 1, "the task ran exactly once");
    });
}

/// A readiness event delivered (by the main thread, playing the network)
/// while the worker that drives the poller goes to wait, racing the task's
/// registration of its interest (the "system call" first, then the arming
/// of the poller): the task is woken by the worker that collects the event,
/// from its own queue, and completes.
#[test]
fn readiness_while_the_driver_goes_to_wait() {
    loom::model(|| {
        let rt = runtime(1);
        let source = Arc::new(rt.block_on(async { ModelSource::new() }).unwrap());
        let s = source.clone();
        let task = rt.spawn(async move { s.readable().await });
        source.fire();
        rt.block_on(task)
            .unwrap()
            .expect("the source became readable");
        assert_eq!(rt.handle().metrics().registered_sockets, 1);
        drop(source);
        assert_eq!(rt.handle().metrics().registered_sockets, 0);
    });
}

/// A timer registered from outside the worker (in `block_on`) while the
/// worker waits in the poller with no deadline: the kick (under loom, the
/// fallback kick: a notification of the parked worker) must reach it
/// through `poller.notify()`, so that it arms itself and fires the timer.
#[test]
fn timer_kick_reaches_the_worker_in_the_poller() {
    loom::model(|| {
        let rt = runtime(1);
        // A registered source: the worker's periodic look at the poller
        // is on, as in a runtime that serves sockets.
        let _source = rt.block_on(async { ModelSource::new() }).unwrap();
        let mut sleep = magpie::time::sleep(Duration::from_millis(1));
        rt.block_on(&mut sleep);
        assert!(sleep.is_elapsed());
    });
}

/// The runtime is dropped while a task waits for a source and the worker
/// waits in the poller: the shutdown's unpark reaches the worker through
/// the poller, the task's future is dropped, and the source, which
/// outlives its runtime, then reports an error instead of waiting.
#[test]
fn shutdown_while_the_driver_waits() {
    loom::model(|| {
        let rt = runtime(1);
        let source = Arc::new(rt.block_on(async { ModelSource::new() }).unwrap());
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Token(Arc<AtomicUsize>);
        impl Drop for Token {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let token = Token(dropped.clone());
        let s = source.clone();
        let _task = rt.spawn(async move {
            let _token = token;
            let _ = s.readable().await;
        });
        drop(rt);
        assert_eq!(
            dropped.load(SeqCst),
            1,
            "the waiting task's future was dropped"
        );
        // One poll: a source whose runtime is gone must answer at once.
        let mut read = Box::pin(source.readable());
        match loom_tests::poll_noop(&mut read) {
            Poll::Ready(Err(err)) => assert!(err.to_string().contains("shut down"), "{err}"),
            other => panic!("a source outliving its runtime must fail at once, got {other:?}"),
        }
    });
}
