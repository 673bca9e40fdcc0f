//! `watch`: versions, the latest value never missed, closing from both
//! ends, cancellation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use magpie_sync::{coop, watch};
use support::{CountingWaker, poll_noop, poll_once, run_on_each_executor, scaled, stress};

#[test]
fn borrow_send_and_versions() {
    let (tx, mut rx) = watch::channel(1);
    assert_eq!(*rx.borrow(), 1);
    assert!(!rx.borrow().has_changed());
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(2).unwrap();
    assert!(rx.borrow().has_changed());
    assert_eq!(rx.has_changed(), Ok(true));
    let seen = rx.borrow_and_update();
    assert!(seen.has_changed());
    assert_eq!(*seen, 2);
    drop(seen);
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(tx.send_replace(3), 2);
    tx.send_modify(|v| *v += 1);
    assert_eq!(*tx.borrow(), 4);
    assert!(!tx.send_if_modified(|_| false));
    assert_eq!(format!("{:?}", rx.borrow()), "4");
    assert_eq!(format!("{rx:?}"), "Receiver { value: 4 }");
    assert_eq!(format!("{tx:?}"), "Sender { value: 4, receivers: 1 }");
}

#[test]
fn changed_waits_and_two_sends_are_seen_as_the_latest() {
    let (tx, mut rx) = watch::channel(0);
    let (counter, waker) = CountingWaker::new();
    {
        let mut changed = Box::pin(rx.changed());
        assert!(poll_once(changed.as_mut(), &waker).is_pending());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(counter.count(), 1);
        assert_eq!(poll_once(changed.as_mut(), &waker), Poll::Ready(Ok(())));
    }
    assert_eq!(*rx.borrow(), 2);
    // Both sends were one change.
    assert!(poll_noop(&mut Box::pin(rx.changed())).is_pending());
}

#[test]
fn unchanged_sends_do_not_wake() {
    let (tx, mut rx) = watch::channel(0);
    let (counter, waker) = CountingWaker::new();
    let mut changed = Box::pin(rx.changed());
    assert!(poll_once(changed.as_mut(), &waker).is_pending());
    assert!(!tx.send_if_modified(|_| false));
    assert_eq!(counter.count(), 0);
    assert!(poll_once(changed.as_mut(), &waker).is_pending());
}

#[test]
fn a_waiter_that_saw_the_new_version_before_linking_waits_again() {
    // A receiver that links after a send's version but before the send
    // takes the lock is woken by that send; it must wait on, not report a
    // change it has seen. Reproduced by hand: the send happens, then the
    // receiver marks it seen and waits; a second waiter from the old
    // version is woken with it.
    let (tx, mut rx) = watch::channel(0);
    let mut old = rx.clone();
    let mut old_wait = Box::pin(old.changed());
    assert!(poll_noop(&mut old_wait).is_pending());
    tx.send(1).unwrap();
    rx.borrow_and_update();
    let mut fresh = Box::pin(rx.changed());
    assert!(poll_noop(&mut fresh).is_pending());
    assert_eq!(poll_noop(&mut old_wait), Poll::Ready(Ok(())));
    assert!(poll_noop(&mut fresh).is_pending());
    tx.send(2).unwrap();
    assert_eq!(poll_noop(&mut fresh), Poll::Ready(Ok(())));
}

#[test]
fn dropping_the_sender_reports_the_last_value_then_fails() {
    let (tx, mut rx) = watch::channel(0);
    let mut rx2 = rx.clone();
    let (counter, waker) = CountingWaker::new();
    let mut waiting = Box::pin(rx2.changed());
    assert!(poll_once(waiting.as_mut(), &waker).is_pending());
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(poll_once(waiting.as_mut(), &waker), Poll::Ready(Ok(())));
    let err = poll_once(waiting.as_mut(), &waker);
    assert!(matches!(err, Poll::Ready(Err(_))));
    drop(waiting);
    assert!(counter.count() >= 1);
    assert_eq!(poll_noop(&mut Box::pin(rx.changed())), Poll::Ready(Ok(())));
    assert_eq!(*rx.borrow(), 1);
    assert!(rx.has_changed().is_err());
    let err = poll_noop(&mut Box::pin(rx.changed()));
    assert_eq!(
        err.map(|r| r.unwrap_err().to_string()),
        Poll::Ready("the watch sender was dropped".to_string())
    );
}

#[test]
fn a_waiting_receiver_is_woken_by_the_sender_drop() {
    let (tx, mut rx) = watch::channel(());
    let (counter, waker) = CountingWaker::new();
    let mut waiting = Box::pin(rx.changed());
    assert!(poll_once(waiting.as_mut(), &waker).is_pending());
    drop(tx);
    assert_eq!(counter.count(), 1);
    assert!(matches!(poll_noop(&mut waiting), Poll::Ready(Err(_))));
}

#[test]
fn receivers_count_subscribe_and_closed() {
    let (tx, rx) = watch::channel(0);
    assert_eq!(tx.receiver_count(), 1);
    let rx2 = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    let (counter, waker) = CountingWaker::new();
    let mut closed = Box::pin(tx.closed());
    assert!(poll_once(closed.as_mut(), &waker).is_pending());
    drop(rx);
    assert_eq!(counter.count(), 0);
    assert!(!tx.is_closed());
    drop(rx2);
    assert_eq!(counter.count(), 1);
    assert!(poll_noop(&mut closed).is_ready());
    drop(closed);
    assert!(tx.is_closed());
    assert_eq!(tx.send(5).unwrap_err().into_inner(), 5);
    assert_eq!(*tx.borrow(), 0, "a failed send stores nothing");
    assert_eq!(tx.send_replace(6), 0, "send_replace stores anyway");
    let rx3 = tx.subscribe();
    assert_eq!(*rx3.borrow(), 6);
    assert_eq!(
        rx3.has_changed(),
        Ok(false),
        "a subscriber has seen the value"
    );
    tx.send(7).unwrap();
    assert_eq!(rx3.has_changed(), Ok(true));
    // A cancelled `closed` leaves nothing linked.
    let mut a = Box::pin(tx.closed());
    assert!(poll_noop(&mut a).is_pending());
    drop(a);
    drop(rx3);
    assert!(poll_noop(&mut Box::pin(tx.closed())).is_ready());
}

#[test]
fn a_cancelled_woken_waiter_leaves_the_change_unseen() {
    let (tx, mut rx) = watch::channel(0);
    {
        let mut waiting = Box::pin(rx.changed());
        assert!(poll_noop(&mut waiting).is_pending());
        tx.send(1).unwrap();
        // Dropped after it was woken, before it looked.
    }
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(poll_noop(&mut Box::pin(rx.changed())), Poll::Ready(Ok(())));
}

#[test]
fn a_ready_change_spends_budget_and_a_waited_one_does_not() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    {
        let mut changed = Box::pin(rx.changed());
        coop::budget(0, || assert!(poll_noop(&mut changed).is_pending()));
        assert!(poll_noop(&mut changed).is_ready());
    }
    let mut changed = Box::pin(rx.changed());
    assert!(poll_noop(&mut changed).is_pending());
    tx.send(2).unwrap();
    coop::budget(0, || assert!(poll_noop(&mut changed).is_ready()));
}

#[test]
fn every_receiver_sees_the_last_value_on_every_executor() {
    run_on_each_executor(|exec| async move {
        let (receivers, sends) = (scaled(8), scaled(500));
        let (tx, rx) = watch::channel(0usize);
        let changes = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..receivers)
            .map(|_| {
                let mut rx = rx.clone();
                let changes = changes.clone();
                exec.spawn(async move {
                    let mut last = 0;
                    loop {
                        let v = *rx.borrow_and_update();
                        assert!(v >= last, "values go back in time: {v} after {last}");
                        last = v;
                        if v == sends {
                            return;
                        }
                        rx.changed().await.unwrap();
                        changes.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        drop(rx);
        for i in 1..=sends {
            tx.send(i).unwrap();
            if i % 16 == 0 {
                support::yield_now().await;
            }
        }
        futures::future::join_all(tasks).await;
        // (A receiver that starts late may see the last value at once.)
        assert!(changes.load(SeqCst) <= receivers * sends);
        assert_eq!(tx.receiver_count(), 0);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a timed stress run on thread pools: the same interleavings are explored by the loom models"
)]
fn senders_and_receivers_racing_never_miss_the_last_value() {
    stress(|exec, until| async move {
        while std::time::Instant::now() < until {
            let (tx, rx) = watch::channel(0u32);
            let watchers: Vec<_> = (0..3)
                .map(|_| {
                    let mut rx = rx.clone();
                    exec.spawn(async move {
                        // Until the sender is gone: the last value must be
                        // the one seen when `changed` fails.
                        while rx.changed().await.is_ok() {}
                        assert_eq!(*rx.borrow(), 10);
                    })
                })
                .collect();
            drop(rx);
            let sender = exec.spawn(async move {
                for i in 1..=10 {
                    tx.send_replace(i);
                }
            });
            sender.await;
            futures::future::join_all(watchers).await;
        }
    });
}
