//! Loom models of `Semaphore`: permit conservation across partial
//! multi-permit acquisition and cancellation, `close` racing acquires,
//! `add_permits` waking every waiter it satisfies, and the in-use bound.
//!
//! Conservation is checked the same way everywhere: once every thread is
//! done and every permit dropped, `available_permits()` equals the
//! permits the model created, and every waiter finished (a waiter left
//! hanging makes loom report a deadlock).
#![cfg(loom)]

use std::pin::Pin;
use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::{AcquireError, AcquireOwned, Fairness, OwnedPermit, Semaphore};

/// A request for 2 waits first (it gets part of what is released), one for
/// 1 behind it; the big one is dropped while a permit is added. The small
/// one must be served, and nothing may leak.
fn partial_acquire_then_cancel(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(0, fairness));
        let mut big = Box::pin(sem.clone().acquire_many_owned(2));
        let mut small = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut big).is_pending());
        assert!(poll_noop(&mut small).is_pending());
        let dropper = thread::spawn(move || drop(big));
        let waiter = thread::spawn(move || {
            let permit = block_on(small).unwrap();
            assert_eq!(permit.num_permits(), 1);
        });
        sem.add_permits(1);
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 1, "permits lost or made up");
    });
}

#[test]
fn partial_acquire_then_cancel_strict() {
    partial_acquire_then_cancel(Fairness::Strict);
}

#[test]
fn partial_acquire_then_cancel_eventual() {
    partial_acquire_then_cancel(Fairness::Eventual);
}

/// `close` races an acquire of 2 that is partly satisfied and a release
/// of the missing permit: the acquire ends (granted or closed), and every
/// permit is accounted for.
fn close_racing_acquire(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(1, fairness));
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || match block_on(sem.acquire_many(2)) {
                Ok(permit) => assert_eq!(permit.num_permits(), 2),
                Err(e) => assert_eq!(e, AcquireError::Closed),
            })
        };
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        sem.close();
        acquirer.join().unwrap();
        adder.join().unwrap();
        assert!(sem.is_closed());
        assert_eq!(sem.available_permits(), 2, "permits lost or made up");
        assert!(sem.try_acquire().is_err());
    });
}

#[test]
fn close_racing_acquire_strict() {
    close_racing_acquire(Fairness::Strict);
}

#[test]
fn close_racing_acquire_eventual() {
    close_racing_acquire(Fairness::Eventual);
}

/// `close` alone must wake a waiter that is partly assigned (nobody else
/// touches the semaphore afterwards), and give back its share.
fn close_wakes_a_partly_assigned_waiter(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(1, fairness));
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire_many(2)).map(drop))
        };
        sem.close();
        assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        assert_eq!(sem.available_permits(), 1, "the assigned permit is back");
    });
}

#[test]
fn close_wakes_a_partly_assigned_waiter_strict() {
    close_wakes_a_partly_assigned_waiter(Fairness::Strict);
}

#[test]
fn close_wakes_a_partly_assigned_waiter_eventual() {
    close_wakes_a_partly_assigned_waiter(Fairness::Eventual);
}

/// Two waiters of 1 and one `add_permits(2)`: both are served (each keeps
/// its permit until the end, so neither can pass it on to the other).
fn add_permits_serves_every_waiter_it_can(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(0, fairness));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || block_on(sem.acquire_owned()).unwrap())
            })
            .collect();
        sem.add_permits(2);
        let permits: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(sem.available_permits(), 0);
        drop(permits);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn add_permits_serves_every_waiter_it_can_strict() {
    add_permits_serves_every_waiter_it_can(Fairness::Strict);
}

#[test]
fn add_permits_serves_every_waiter_it_can_eventual() {
    add_permits_serves_every_waiter_it_can(Fairness::Eventual);
}

/// Two permits; a task takes 2 and another 1, concurrently: the permits in
/// use never exceed 2, and both get their turn.
fn in_use_never_exceeds_the_permits(fairness: Fairness) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::with_fairness(2, fairness));
        let in_use = Arc::new(AtomicUsize::new(0));
        let take = |sem: &Semaphore, in_use: &AtomicUsize, n: usize| {
            block_on(async {
                let permit = sem.acquire_many(n).await.unwrap();
                let before = in_use.fetch_add(n, SeqCst);
                assert!(before + n <= 2, "{} permits in use", before + n);
                in_use.fetch_sub(n, SeqCst);
                drop(permit);
            });
        };
        let t = {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || take(&sem, &in_use, 2))
        };
        take(&sem, &in_use, 1);
        t.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn in_use_never_exceeds_the_permits_strict() {
    in_use_never_exceeds_the_permits(Fairness::Strict);
}

#[test]
fn in_use_never_exceeds_the_permits_eventual() {
    in_use_never_exceeds_the_permits(Fairness::Eventual);
}

/// Eventual: a released permit wakes the waiter while a barger takes and
/// returns it; the woken waiter is dropped. Nothing lost, the line moves.
#[test]
fn woken_waiter_dropped_while_a_barger_releases() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::with_fairness(1, Fairness::Eventual));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut first = Box::pin(sem.clone().acquire_owned());
        let mut second = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let barger = {
            let sem = sem.clone();
            thread::spawn(move || {
                drop(sem.try_acquire());
                drop(block_on(second).unwrap());
            })
        };
        drop(held);
        dropper.join().unwrap();
        barger.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Eventual fairness under loom starves a waiter after two bypasses: a
/// barger takes the released permit twice while the woken waiter retries.
/// The waiter must still get a permit (handed to it once it starves), the
/// permit is never used twice at once, and none is lost.
#[test]
fn bypassed_waiter_is_eventually_served() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::with_fairness(1, Fairness::Eventual));
        let in_use = Arc::new(AtomicUsize::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut waiting = Box::pin(sem.clone().acquire_owned());
        assert!(poll_noop(&mut waiting).is_pending());
        let waiter = {
            let in_use = in_use.clone();
            thread::spawn(move || {
                let permit = block_on(waiting).unwrap();
                assert_eq!(in_use.fetch_add(1, SeqCst), 0, "permit used twice");
                in_use.fetch_sub(1, SeqCst);
                drop(permit);
            })
        };
        let barger = {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Ok(permit) = sem.try_acquire() {
                        assert_eq!(in_use.fetch_add(1, SeqCst), 0, "permit used twice");
                        in_use.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                }
            })
        };
        in_use.fetch_sub(1, SeqCst);
        drop(held);
        waiter.join().unwrap();
        barger.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

// ---- The eventual-fairness hand-over, with cancellation at every point ----
//
// As in `lock.rs`: a release wakes the first waiter to retry, a barger may
// take the permits first (the waiter is *bypassed*), and a waiter bypassed
// `MAX_BYPASS` times (2 under loom, 8 in production) is *starving* and is
// handed permits directly, fair mode lasting until nobody waits. Here the
// first waiter asks for 2 of 2 permits, the second for 1, so a hand-off
// may also split what is released. Invariant: every permit comes back and
// every surviving waiter completes.

type Waiting = Pin<Box<AcquireOwned>>;

/// Two permits, both held; a waiter for 2 and then one for 1 in line.
fn two_waiters() -> (Arc<Semaphore>, OwnedPermit, Waiting, Waiting) {
    let sem = Arc::new(Semaphore::with_fairness(2, Fairness::Eventual));
    let holder = sem.clone().try_acquire_many_owned(2).unwrap();
    let mut first = Box::pin(sem.clone().acquire_many_owned(2));
    let mut second = Box::pin(sem.clone().acquire_owned());
    assert!(poll_noop(&mut first).is_pending());
    assert!(poll_noop(&mut second).is_pending());
    (sem, holder, first, second)
}

/// The head `first` is bypassed once: the holder releases (it is woken to
/// retry), a barger takes both permits, and the retry finds none.
fn bypass(sem: &Arc<Semaphore>, first: &mut Waiting, holder: OwnedPermit) -> OwnedPermit {
    drop(holder);
    let barger = sem
        .clone()
        .try_acquire_many_owned(2)
        .expect("eventual: free permits may be taken past a woken waiter");
    assert!(
        poll_noop(first).is_pending(),
        "bypassed: the barger has them"
    );
    barger
}

/// Drops `first`, runs `second` to completion and releases `holder`, on
/// three threads; then checks that every permit is back.
fn drop_first_release_and_serve_second(
    sem: Arc<Semaphore>,
    holder: OwnedPermit,
    first: Waiting,
    second: Waiting,
) {
    let dropper = thread::spawn(move || drop(first));
    let waiter = thread::spawn(move || drop(block_on(second).expect("not closed")));
    drop(holder);
    dropper.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(sem.available_permits(), 2, "every permit is back");
}

/// Bypassed once, the first waiter is not starving: the next release wakes
/// it instead of setting the permits aside for it, so a barger may take
/// them again (with loom's old bypass limit of 1 this path was unreachable
/// and the model fails at that `expect`). Then it is dropped while the
/// barger releases and the second waiter waits.
#[test]
fn once_bypassed_waiter_is_not_reserved_and_its_drop_passes_the_wake_on() {
    loom::model(|| {
        let (sem, holder, mut first, second) = two_waiters();
        let barger = bypass(&sem, &mut first, holder);
        drop(barger); // wakes `first` to retry: not reserved yet
        let barger = sem
            .clone()
            .try_acquire_many_owned(2)
            .expect("a waiter bypassed once is not starving: nothing is set aside for it");
        drop_first_release_and_serve_second(sem, barger, first, second);
    });
}

/// Bypassed twice, the first waiter is starving: the release hands it both
/// permits directly. It is dropped while that happens and the second waiter
/// waits: whichever comes first, the second waiter is served and every
/// permit comes back.
#[test]
fn starving_waiter_dropped_racing_the_direct_hand_off() {
    loom::model(|| {
        let (sem, holder, mut first, second) = two_waiters();
        let barger = bypass(&sem, &mut first, holder);
        drop(barger);
        let barger = sem.clone().try_acquire_many_owned(2).unwrap();
        assert!(poll_noop(&mut first).is_pending(), "bypassed twice");
        drop_first_release_and_serve_second(sem, barger, first, second);
    });
}

/// A starving waiter's permits are released one at a time (the first is
/// set aside for it: it is partly assigned) while it is dropped and the
/// second waiter waits: its share must go on, not leak.
#[test]
fn starving_waiter_dropped_while_partly_assigned() {
    loom::model(|| {
        let (sem, holder, mut first, second) = two_waiters();
        let barger = bypass(&sem, &mut first, holder);
        drop(barger);
        let one = sem.clone().try_acquire_owned().unwrap();
        let other = sem.clone().try_acquire_owned().unwrap();
        assert!(poll_noop(&mut first).is_pending(), "bypassed twice");
        drop(one); // set aside for the starving `first`
        assert_eq!(
            sem.available_permits(),
            0,
            "reserved for the starving waiter"
        );
        drop_first_release_and_serve_second(sem, other, first, second);
    });
}

/// The starving waiter was handed both permits (granted, not yet polled)
/// and is dropped while a barger tries `try_acquire` and the second waiter
/// waits: fair mode is on, so its permits go to the second waiter, never to
/// the barger while the second waits.
#[test]
fn granted_starving_waiter_dropped_passes_permits_on_in_fair_mode() {
    loom::model(|| {
        let (sem, holder, mut first, second) = two_waiters();
        let barger = bypass(&sem, &mut first, holder);
        drop(barger);
        let barger = sem.clone().try_acquire_many_owned(2).unwrap();
        assert!(poll_noop(&mut first).is_pending(), "bypassed twice");
        drop(barger); // handed to the starving `first`
        assert_eq!(sem.available_permits(), 0, "handed off, not free");
        let served = Arc::new(AtomicUsize::new(0));
        let dropper = thread::spawn(move || drop(first));
        let waiter = {
            let served = served.clone();
            thread::spawn(move || {
                let permit = block_on(second).expect("not closed");
                served.store(1, SeqCst);
                drop(permit);
            })
        };
        if let Ok(permit) = sem.try_acquire() {
            // One of the two permits may be free once the second waiter
            // has its one, but never before.
            assert_eq!(
                served.load(SeqCst),
                1,
                "a barger overtook a waiter in fair mode"
            );
            drop(permit);
        }
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 2, "every permit is back");
    });
}

/// On magpie's runtime: the `lock.rs` model of the same name with a
/// semaphore (the first task asks for 2 of 2 permits, the second for 1).
/// Fails until magpie's task harness drops futures in place (see there).
#[test]
fn woken_waiter_cancelled_on_magpies_runtime_passes_the_wake_on() {
    use loom_tests::{runtime, set_when_pending};
    use magpie_sync::Event;
    loom::model(|| {
        let rt = runtime(1);
        let sem = Arc::new(Semaphore::with_fairness(2, Fairness::Eventual));
        let holder = sem.clone().try_acquire_many_owned(2).unwrap();
        let linked = [Arc::new(Event::new()), Arc::new(Event::new())];
        let spawn_waiter = |i: usize, n: usize| {
            let (sem, linked) = (sem.clone(), linked[i].clone());
            rt.spawn(async move {
                drop(
                    set_when_pending(sem.acquire_many(n), &linked)
                        .await
                        .unwrap(),
                );
            })
        };
        let first = spawn_waiter(0, 2);
        rt.block_on(linked[0].wait());
        let second = spawn_waiter(1, 1);
        rt.block_on(linked[1].wait());
        drop(holder); // wakes `first` to retry
        first.cancel();
        rt.block_on(second).expect("the second waiter completes");
        let first = rt.block_on(first);
        assert!(first.is_ok() || first.unwrap_err().is_cancelled());
        drop(rt);
        assert_eq!(sem.available_permits(), 2, "every permit is back");
    });
}
