//! Loom models of `Notify`: a `notify_one` racing the drop of the waiter
//! it picks (the notification is passed on), `notify_waiters` racing a
//! waiter's registration (a `Notified` created before the call is woken
//! however the registration interleaves), `notify_one` racing a fresh
//! waiter (the permit), `notify_one` in the middle of a broadcast's
//! batches (it is not absorbed by a waiter the broadcast already woke),
//! and the drop of an enabled waiter racing `notify_one` (the
//! notification goes back to the permit).
//!
//! The lock-free paths have their own: `notify_waiters` with nobody linked
//! (it only advances the generation, with a compare-and-swap) racing the
//! registration of a `Notified` created before it, and `notify_one`
//! racing the first poll of an enabled waiter (which hands the node its
//! waker without the lock: the wait list's "Early nodes"). So do
//! `notify_waiters` racing that first poll, a broadcast followed by a
//! `notify_one` racing it, the drop and the re-poll (with a new waker) of
//! an enabled waiter that has been polled, each racing `notify_one`, and
//! a re-poll of an ordinary waiter with a *new* waker racing `notify_one`
//! (the new waker, not the old, must be woken).
//!
//! Registrations that find the list's lock taken (pushed on its incoming
//! stack, settled by the next holder: the wait list's "Registration
//! without the lock") have three models at the end, each run in two
//! forms.
#![cfg(loom)]

use std::pin::Pin;
use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{counting_waker, drive, poll_noop, poll_once};
use magpie_sync::{Notified, Notify};

/// `Notify::notified` on an `Arc`, as a `'static` future (which creates
/// its `Notified` when it is first polled).
async fn notified_owned(notify: Arc<Notify>) {
    notify.notified().await;
}

/// A `Notify` that lives for the rest of the model, so that a `Notified`
/// can be created on one thread and polled on another.
fn leaked() -> &'static Notify {
    Box::leak(Box::new(Notify::new()))
}

/// No permit is stored: a fresh `Notified` waits. `why` names the bug.
fn assert_no_permit(notify: &Notify, why: &str) {
    let mut after = Box::pin(notify.notified());
    assert!(poll_noop(&mut after).is_pending(), "{why}");
}

/// Exactly one permit is stored: a fresh `Notified` takes it, the next
/// waits.
fn assert_one_permit(notify: &Notify) {
    let mut first = Box::pin(notify.notified());
    assert!(
        poll_noop(&mut first).is_ready(),
        "the notification was lost"
    );
    assert_no_permit(notify, "one notification, two permits");
}

/// Polls `waiter` once, with a fresh counting waker, on another thread
/// while `release` runs on this one. Returns the waiter, whether that poll
/// was `Pending`, and how many times its waker had been woken once both
/// were done.
fn poll_racing(
    mut waiter: Pin<Box<Notified<'static>>>,
    release: impl FnOnce(),
) -> (Pin<Box<Notified<'static>>>, bool, usize) {
    let (counter, waker) = counting_waker();
    let poller = thread::spawn(move || {
        let pending = poll_once(&mut waiter, &waker).is_pending();
        (waiter, pending)
    });
    release();
    let (waiter, pending) = poller.join().unwrap();
    (waiter, pending, counter.wakes())
}

/// Two waiters in line; `notify_one` races the drop of the first. Either
/// the drop comes first (the second is picked) or the first is picked
/// and its drop passes the notification on: the second always completes,
/// and no permit is left over.
#[test]
fn notify_one_racing_the_drop_of_the_waiter_it_picks() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut first = Box::pin(notified_owned(notify.clone()));
        let mut second = Box::pin(notified_owned(notify.clone()));
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let notifier = {
            let notify = notify.clone();
            thread::spawn(move || notify.notify_one())
        };
        block_on(second);
        dropper.join().unwrap();
        notifier.join().unwrap();
        let mut fresh = Box::pin(notified_owned(notify));
        assert!(poll_noop(&mut fresh).is_pending(), "a permit was made up");
    });
}

/// A `Notified` created before `notify_waiters` registers (on another
/// thread) while the broadcast runs, with another waiter linked so that
/// the broadcast takes the slow path: it is woken whether it linked
/// before the broadcast (woken in the line) or after (it sees the new
/// generation). The broadcast stores no permit.
#[test]
fn notify_waiters_racing_a_registration() {
    loom::model(|| {
        let notify = leaked();
        let mut linked = Box::pin(notify.notified());
        assert!(poll_noop(&mut linked).is_pending());
        // Created here, before the broadcast; registers on the thread.
        let notified = notify.notified();
        let registering = thread::spawn(move || block_on(notified));
        notify.notify_waiters();
        registering.join().unwrap();
        assert!(poll_noop(&mut linked).is_ready());
        assert_no_permit(notify, "the broadcast left a permit");
    });
}

/// `notify_one` races a fresh waiter's registration: it either picks the
/// linked waiter or leaves the permit the waiter then takes.
#[test]
fn notify_one_racing_a_registration() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waiter = {
            let notify = notify.clone();
            thread::spawn(move || block_on(notify.notified()))
        };
        notify.notify_one();
        waiter.join().unwrap();
        let mut after = Box::pin(notified_owned(notify));
        assert!(
            poll_noop(&mut after).is_pending(),
            "one notification, two wake-ups"
        );
    });
}

/// Three waiters of the old generation (more than loom's batch of 2, so
/// the broadcast releases the lock with one still linked) while, on
/// another thread, a new waiter registers, and then `notify_one` runs:
/// the new waiter must end up notified (by the broadcast, if it was
/// created before it, or else by the `notify_one`), never lose the
/// `notify_one` to an old waiter the broadcast has woken already.
#[test]
fn notify_one_in_the_middle_of_a_broadcast() {
    loom::model(|| {
        let notify = leaked();
        let mut old: Vec<_> = (0..3).map(|_| Box::pin(notify.notified())).collect();
        for o in &mut old {
            assert!(poll_noop(o).is_pending());
        }
        let broadcaster = thread::spawn(move || notify.notify_waiters());
        let registering = thread::spawn(move || {
            let mut late = Box::pin(notify.notified());
            let _ = poll_noop(&mut late);
            late
        });
        let mut late = registering.join().unwrap();
        notify.notify_one();
        broadcaster.join().unwrap();
        assert!(
            poll_noop(&mut late).is_ready(),
            "the notify_one was absorbed"
        );
        for o in &mut old {
            assert!(poll_noop(o).is_ready());
        }
    });
}

/// An enabled (never polled) waiter is dropped on one thread while
/// `notify_one` runs on another: the notification ends up as the stored
/// permit either way (stored at once, or passed back by the picked
/// waiter's drop), exactly one of it.
#[test]
fn notify_one_racing_the_drop_of_an_enabled_waiter_ends_as_the_permit() {
    loom::model(|| {
        let notify = leaked();
        let mut enabled = Box::pin(notify.notified());
        assert!(!enabled.as_mut().enable());
        let dropper = thread::spawn(move || drop(enabled));
        notify.notify_one();
        dropper.join().unwrap();
        assert_one_permit(notify);
    });
}

/// `notify_waiters` finds nobody linked and takes its lock-free path while
/// a `Notified` created before it registers on another thread: the
/// registration either sees the new generation or links first, and then
/// the broadcast sees `WAITERS` and wakes it under the lock. Either way
/// it completes, and no permit is left.
#[test]
fn notify_waiters_fast_path_racing_a_registration() {
    loom::model(|| {
        let notify = leaked();
        let notified = notify.notified();
        let registering = thread::spawn(move || block_on(notified));
        notify.notify_waiters();
        registering.join().unwrap();
        assert_no_permit(notify, "the broadcast left a permit");
    });
}

/// An enabled waiter (linked with a `noop` waker) is first polled on one
/// thread while `notify_one` runs on another: either the poll sees the
/// notification, or it installs its waker before `notify_one` takes it,
/// and is woken. The notification is not lost to the `noop` waker, and
/// it is used once.
#[test]
fn notify_one_racing_the_first_poll_of_an_enabled_waiter() {
    loom::model(|| {
        let notify = leaked();
        let mut enabled = Box::pin(notify.notified());
        assert!(!enabled.as_mut().enable());
        let (mut enabled, pending, wakes) = poll_racing(enabled, || notify.notify_one());
        if pending {
            assert_eq!(wakes, 1, "the notification went to the noop waker");
        }
        assert!(poll_noop(&mut enabled).is_ready());
        assert_no_permit(notify, "one notification, two wake-ups");
    });
}

/// `notify_waiters` races the first poll of an enabled waiter, which hands
/// the node its waker without the lock (`enable` linked it with a no-op
/// one). Whichever comes first (the broadcast stores the outcome before
/// the hand-over, or takes the handed-over waker after it), a poll that
/// returned `Pending` has its waker woken once.
#[test]
fn notify_waiters_racing_the_first_poll_of_an_enabled_waiter() {
    loom::model(|| {
        let notify = leaked();
        let mut enabled = Box::pin(notify.notified());
        assert!(!enabled.as_mut().enable());
        let (mut enabled, pending, wakes) = poll_racing(enabled, || notify.notify_waiters());
        if pending {
            assert_eq!(wakes, 1, "the broadcast went to the noop waker");
        }
        assert!(poll_noop(&mut enabled).is_ready());
    });
}

/// A waiter polled with one waker is re-polled with another (the task
/// moved, or a `select!` polls it from a new place) while `notify_one`
/// runs. If the re-poll returns `Pending`, the *new* waker is woken (the
/// node was linked by a poll, so the new waker is given under the lock).
#[test]
fn notify_one_racing_a_re_poll_with_a_new_waker() {
    loom::model(|| {
        let notify = leaked();
        let mut waiter = Box::pin(notify.notified());
        let (old_counter, old_waker) = counting_waker();
        assert!(poll_once(&mut waiter, &old_waker).is_pending());
        let (mut waiter, pending, new_wakes) = poll_racing(waiter, || notify.notify_one());
        if pending {
            assert_eq!(new_wakes, 1, "the notification went to the old waker only");
        }
        assert!(old_counter.wakes() <= 1);
        assert!(poll_noop(&mut waiter).is_ready());
        assert_no_permit(notify, "one notification, two wake-ups");
    });
}

/// Two enabled waiters; the first is polled (handing over its waker)
/// while `notify_waiters` wakes both and a `notify_one` follows for the
/// next waiter. The first's waker is woken if its poll was
/// `Pending`, both complete, and the `notify_one` is kept as the permit
/// (it found nobody of the new generation waiting).
#[test]
fn a_broadcast_and_a_notify_one_racing_the_first_poll_of_an_enabled_waiter() {
    loom::model(|| {
        let notify = leaked();
        let mut first = Box::pin(notify.notified());
        let mut second = Box::pin(notify.notified());
        assert!(!first.as_mut().enable());
        assert!(!second.as_mut().enable());
        let (mut first, pending, wakes) = poll_racing(first, || {
            notify.notify_waiters();
            notify.notify_one();
        });
        if pending {
            assert_eq!(wakes, 1, "the broadcast went to the noop waker");
        }
        assert!(poll_noop(&mut first).is_ready());
        assert!(poll_noop(&mut second).is_ready());
        let mut after = Box::pin(notify.notified());
        assert!(
            poll_noop(&mut after).is_ready(),
            "the notify_one after the broadcast is the permit"
        );
    });
}

/// An enabled waiter has been polled (its waker given to the node
/// without the lock) and is dropped on another thread while `notify_one`
/// runs. Either the drop unlinks it first (the notification becomes the
/// permit) or the notification picks it and the drop passes it on: one
/// permit either way, and no clone of its waker is left behind.
#[test]
fn notify_one_racing_the_drop_of_a_polled_enabled_waiter() {
    loom::model(|| {
        let notify = leaked();
        let (counter, waker) = counting_waker();
        let mut enabled = Box::pin(notify.notified());
        assert!(!enabled.as_mut().enable());
        assert!(poll_once(&mut enabled, &waker).is_pending());
        let dropper = thread::spawn(move || drop(enabled));
        notify.notify_one();
        dropper.join().unwrap();
        assert!(counter.wakes() <= 1);
        drop(waker);
        assert_eq!(
            std::sync::Arc::strong_count(&counter),
            1,
            "a clone of the waker was leaked"
        );
        assert_one_permit(notify);
    });
}

/// An enabled waiter has been polled once (its waker given without the
/// lock) and is re-polled with a new waker while `notify_one` runs. The
/// re-poll takes the lock and moves the node's waker back under it: if it
/// returns `Pending`, the new waker is woken; the notification is used
/// once.
#[test]
fn notify_one_racing_a_re_poll_of_a_polled_enabled_waiter() {
    loom::model(|| {
        let notify = leaked();
        let (old_counter, old_waker) = counting_waker();
        let mut enabled = Box::pin(notify.notified());
        assert!(!enabled.as_mut().enable());
        assert!(poll_once(&mut enabled, &old_waker).is_pending());
        let (mut enabled, pending, new_wakes) = poll_racing(enabled, || notify.notify_one());
        if pending {
            assert_eq!(new_wakes, 1, "the notification went to the old waker only");
        }
        assert!(old_counter.wakes() <= 1);
        assert!(poll_noop(&mut enabled).is_ready());
        drop(enabled);
        drop(old_waker);
        assert_eq!(
            std::sync::Arc::strong_count(&old_counter),
            1,
            "a clone of the old waker was leaked"
        );
        assert_no_permit(notify, "one notification, two wake-ups");
    });
}

// ---- Registration without the lock ----------------------------------------
//
// A waiter registers while another registration holds the lock, so that
// it may find the lock taken and push its node on the incoming stack (the
// wait list's "Registration without the lock"): it is *pending* until a
// lock holder settles it, while a notification runs. The waiter is driven
// on the model's main thread, and must be woken once the other threads
// are done: a pending node that nobody settles, while the word says it
// need not wait, is a lost wakeup `drive` reports.

/// A waiter registers while another (enabled, never polled) registers
/// and is dropped at once; `notify_one` runs meanwhile. The notification
/// reaches the waiter, or the dropped one, which passes it on if it was
/// picked. Only an `enable` that reported the notification (it took the
/// stored permit) keeps it; then a second `notify_one` is owed to the
/// waiter. The waiter always completes and no permit is left over.
///
/// Loom reaches different interleavings with the waiter driven on the
/// main thread (the notifier and the dropped registration on others) and
/// with the notifier on the main thread (the waiter blocking on another):
/// each form catches deliberate breaks the other misses (`docs/loom.md`),
/// so both run.
fn notify_one_racing_a_dropped_registration(enable_the_waiter: bool, notify_from_main: bool) {
    loom::model(move || {
        let notify = leaked();
        let register = move || {
            let mut notified = Box::pin(notify.notified());
            if enable_the_waiter {
                notified.as_mut().enable();
            }
            notified
        };
        let notify_around_a_drop = move || {
            let dropped = thread::spawn(move || {
                let mut notified = Box::pin(notify.notified());
                notified.as_mut().enable()
            });
            notify.notify_one();
            if dropped.join().unwrap() {
                notify.notify_one();
            }
        };
        if notify_from_main {
            let waiter = thread::spawn(move || block_on(register()));
            notify_around_a_drop();
            waiter.join().unwrap();
        } else {
            let notifier = thread::spawn(notify_around_a_drop);
            drive(register(), notifier);
        }
        assert_no_permit(notify, "one notification, two wake-ups");
    });
}

#[test]
fn notify_one_reaches_a_registration_that_found_the_lock_taken() {
    notify_one_racing_a_dropped_registration(false, false);
    notify_one_racing_a_dropped_registration(false, true);
}

/// The same with an enabled waiter: if it is pending, it is an early
/// node, whose first poll hands it a waker without the lock while it may
/// still be on the stack.
#[test]
fn notify_one_reaches_an_enabled_registration_that_found_the_lock_taken() {
    notify_one_racing_a_dropped_registration(true, false);
    notify_one_racing_a_dropped_registration(true, true);
}

/// Two `Notified`s created before a `notify_waiters` register at once
/// (either may be pending behind the other's lock) while the broadcast
/// runs: both are woken (by the broadcast's line, by being settled
/// against the new generation, or by settling themselves when the load
/// after their push sees it), and no permit is stored. As above, in both
/// forms: one waiter driven here and the broadcast and the other waiter on
/// other threads, and the broadcast here with both waiters on threads.
#[test]
fn notify_waiters_reaches_registrations_that_found_the_lock_taken() {
    loom::model(|| {
        let notify = leaked();
        let mine = notify.notified();
        let theirs = notify.notified();
        let broadcaster = thread::spawn(move || {
            let registering = thread::spawn(move || block_on(theirs));
            notify.notify_waiters();
            registering.join().unwrap();
        });
        drive(mine, broadcaster);
        assert_no_permit(notify, "the broadcast left a permit");
    });
    loom::model(|| {
        let notify = leaked();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let notified = notify.notified();
                thread::spawn(move || block_on(notified))
            })
            .collect();
        notify.notify_waiters();
        for w in waiters {
            w.join().unwrap();
        }
        assert_no_permit(notify, "the broadcast left a permit");
    });
}

/// A waiter is linked, so that `notify_waiters` (on another thread) takes
/// its lock; meanwhile another thread creates one `Notified` and then a
/// second, which it enables (so it may find the lock taken and be
/// settled by the broadcast's own re-check). The broadcast wakes what was
/// created before it: if it woke the second, it must have woken the
/// first, created earlier on the same thread.
#[test]
fn notify_waiters_does_not_wake_a_registration_created_after_it() {
    loom::model(|| {
        let notify = leaked();
        let mut linked = Box::pin(notify.notified());
        assert!(poll_noop(&mut linked).is_pending());
        let broadcaster = thread::spawn(move || notify.notify_waiters());
        let creator = thread::spawn(move || {
            let first = Box::pin(notify.notified());
            let mut second = Box::pin(notify.notified());
            second.as_mut().enable();
            (first, second)
        });
        let (mut first, mut second) = creator.join().unwrap();
        broadcaster.join().unwrap();
        assert!(poll_noop(&mut linked).is_ready());
        let second_woken = poll_noop(&mut second).is_ready();
        let first_woken = poll_noop(&mut first).is_ready();
        assert!(
            first_woken || !second_woken,
            "the broadcast woke a waiter created after one it did not wake"
        );
    });
}
