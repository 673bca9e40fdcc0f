//! Loom's teeth on the two bug classes planted in
//! `executor/tests/planted/mod.rs` (the same file the simulation's teeth
//! tests use, `executor/tests/deterministic.rs`): a lost wakeup in an
//! eventual-fairness hand-over, and a wake racing completion (with and
//! without a yield in the window). The waiter is polled by hand: when it
//! parks, the other thread (which always finishes without it) is joined,
//! and then the waiter must have been woken: a parked waiter nobody will
//! wake is a lost wakeup, reported with a panic (a loom deadlock would
//! abort the process instead of failing the model). Each buggy copy must
//! make its model fail, and the printed count of interleavings loom
//! explored until then goes to docs/deterministic.md's "Teeth"; each fixed
//! copy must pass.
#![cfg(loom)]

/// What `planted` builds on: loom's.
mod shim {
    pub(crate) use loom::sync::Mutex;
    pub(crate) use loom::sync::atomic::AtomicBool;
}

#[path = "../../executor/tests/planted/mod.rs"]
mod planted;

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use loom_tests::drive;
use planted::{Completion, FairLock};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

/// Every interleaving, with no preemption bound: the whole space of each
/// model is under a thousand interleavings (well under a second), and the
/// fair hand-over's bug needs three preemptions (the holder stopped while
/// it holds the lock, the waiter stopped between its look and its park,
/// the holder letting go twice in between), which the suite's usual
/// `LOOM_MAX_PREEMPTIONS=2` would not explore.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    builder.check(f);
}

/// A holder takes the lock twice (its first unlock passes the waiter
/// over, its second hands the lock over), a waiter once; nobody holds it
/// together, and both finish.
fn fair_lock_model(buggy: bool, interleavings: &'static StdAtomicUsize) {
    model(move || {
        interleavings.fetch_add(1, SeqCst);
        let lock = Arc::new(FairLock::new(buggy));
        let inside = Arc::new(AtomicUsize::new(0));
        let critical = |id: usize, times: usize| {
            let (lock, inside) = (lock.clone(), inside.clone());
            async move {
                for _ in 0..times {
                    lock.lock(id).await;
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    inside.fetch_sub(1, SeqCst);
                    lock.unlock();
                }
            }
        };
        let holder = critical(1, 2);
        let holder = thread::spawn(move || block_on(holder));
        drive(critical(2, 1), holder);
    });
}

/// A waiter and a completer on two threads: the waiter always returns.
fn completion_model(buggy: bool, yield_in_window: bool, interleavings: &'static StdAtomicUsize) {
    model(move || {
        interleavings.fetch_add(1, SeqCst);
        let done = Arc::new(Completion::new(buggy, yield_in_window));
        let completer = {
            let done = done.clone();
            thread::spawn(move || done.complete())
        };
        drive(async move { done.wait().await }, completer);
    });
}

/// Runs a model of a buggy copy: it must fail with the lost wakeup.
fn must_find(name: &str, interleavings: &'static StdAtomicUsize, model: impl FnOnce()) {
    let found = catch_unwind(AssertUnwindSafe(model)).expect_err("loom missed the planted bug");
    let message = found
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| found.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(message.contains("lost wakeup"), "{name}: {message}");
    println!(
        "teeth: loom: {name}: found after {} interleaving(s)",
        interleavings.load(SeqCst)
    );
}

#[test]
fn loom_finds_a_lost_wakeup_in_a_fair_hand_over() {
    static INTERLEAVINGS: StdAtomicUsize = StdAtomicUsize::new(0);
    must_find("lost wakeup in a fair hand-over", &INTERLEAVINGS, || {
        fair_lock_model(true, &INTERLEAVINGS)
    });
}

#[test]
fn the_fixed_fair_hand_over_passes() {
    static INTERLEAVINGS: StdAtomicUsize = StdAtomicUsize::new(0);
    fair_lock_model(false, &INTERLEAVINGS);
    println!(
        "teeth: loom: fixed fair hand-over: {} interleaving(s)",
        INTERLEAVINGS.load(SeqCst)
    );
}

#[test]
fn loom_finds_a_wake_racing_completion_with_a_yield_in_the_window() {
    static INTERLEAVINGS: StdAtomicUsize = StdAtomicUsize::new(0);
    must_find(
        "wake racing completion, yield in the window",
        &INTERLEAVINGS,
        || completion_model(true, true, &INTERLEAVINGS),
    );
}

#[test]
fn loom_finds_a_wake_racing_completion_inside_one_poll() {
    // The window the simulation cannot see (no await in it).
    static INTERLEAVINGS: StdAtomicUsize = StdAtomicUsize::new(0);
    must_find(
        "wake racing completion, inside one poll",
        &INTERLEAVINGS,
        || completion_model(true, false, &INTERLEAVINGS),
    );
}

#[test]
fn the_fixed_completion_passes() {
    static INTERLEAVINGS: StdAtomicUsize = StdAtomicUsize::new(0);
    completion_model(false, true, &INTERLEAVINGS);
    completion_model(false, false, &INTERLEAVINGS);
    println!(
        "teeth: loom: fixed completion: {} interleaving(s)",
        INTERLEAVINGS.load(SeqCst)
    );
}
