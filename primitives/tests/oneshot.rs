//! `oneshot`: every operation, the value dropped exactly once in every
//! ending, cancellation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Waker;

use magpie_sync::coop;
use magpie_sync::oneshot::{self, TryRecvError};
use support::{CountingWaker, Rng, poll_noop, poll_once, run_on_each_executor, scaled, stress};

/// A value that counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counted() -> (Arc<AtomicUsize>, Counted) {
    let drops = Arc::new(AtomicUsize::new(0));
    (drops.clone(), Counted(drops))
}

#[test]
fn send_then_receive() {
    let (tx, mut rx) = oneshot::channel();
    assert!(!tx.is_closed());
    tx.send(5).unwrap();
    assert_eq!(
        poll_once(std::pin::Pin::new(&mut rx), Waker::noop()),
        std::task::Poll::Ready(Ok(5))
    );
}

#[test]
fn a_waiting_receiver_is_woken_by_send() {
    let (tx, rx) = oneshot::channel();
    let (counter, waker) = CountingWaker::new();
    let mut rx = Box::pin(rx);
    assert!(poll_once(rx.as_mut(), &waker).is_pending());
    assert!(poll_once(rx.as_mut(), &waker).is_pending()); // same waker kept
    assert_eq!(counter.count(), 0);
    tx.send("v").unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(
        poll_once(rx.as_mut(), &waker),
        std::task::Poll::Ready(Ok("v"))
    );
}

#[test]
fn the_last_waker_is_the_one_woken() {
    let (tx, rx) = oneshot::channel::<()>();
    let (c1, w1) = CountingWaker::new();
    let (c2, w2) = CountingWaker::new();
    let mut rx = Box::pin(rx);
    assert!(poll_once(rx.as_mut(), &w1).is_pending());
    assert!(poll_once(rx.as_mut(), &w2).is_pending());
    drop(tx);
    assert_eq!((c1.count(), c2.count()), (0, 1));
    assert!(matches!(poll_noop(&mut rx), std::task::Poll::Ready(Err(_))));
}

#[test]
fn dropping_the_sender_fails_the_receiver() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(std::pin::Pin::new(&mut rx), &waker).is_pending());
    drop(tx);
    assert_eq!(counter.count(), 1);
    let err = poll_noop(&mut Box::pin(&mut rx));
    assert!(matches!(err, std::task::Poll::Ready(Err(_))));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn try_recv_states() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(
        TryRecvError::Closed.to_string(),
        "the oneshot channel is closed"
    );
}

#[test]
fn dropping_the_receiver_closes_and_gives_the_value_back() {
    let (tx, rx) = oneshot::channel::<Counted>();
    let mut closed = Box::pin(tx.closed());
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(closed.as_mut(), &waker).is_pending());
    drop(rx);
    assert_eq!(counter.count(), 1);
    assert!(poll_noop(&mut closed).is_ready());
    drop(closed);
    assert!(tx.is_closed());
    let (drops, value) = counted();
    let (tx2, rx2) = oneshot::channel();
    drop(rx2);
    let back = tx2.send(value).unwrap_err();
    assert_eq!(drops.load(SeqCst), 0, "given back, not dropped");
    drop(back);
    assert_eq!(drops.load(SeqCst), 1);
    drop(tx);
}

#[test]
fn close_keeps_a_value_sent_before_and_fails_the_wait_otherwise() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(3).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(3));

    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert!(tx.is_closed());
    // The sender is alive, but no value can come: the wait fails at once.
    assert!(matches!(
        poll_noop(&mut Box::pin(&mut rx)),
        std::task::Poll::Ready(Err(_))
    ));
    assert_eq!(tx.send(4), Err(4));
    // `closed` completes at once for a closed channel.
    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert!(poll_noop(&mut Box::pin(tx.closed())).is_ready());
}

#[test]
fn a_cancelled_closed_future_leaves_nothing_behind() {
    let (tx, rx) = oneshot::channel::<()>();
    let mut a = Box::pin(tx.closed());
    let mut b = Box::pin(tx.closed());
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_noop(&mut b).is_pending());
    drop(a); // while waiting
    drop(rx);
    assert!(poll_noop(&mut b).is_ready());
    let mut c = Box::pin(tx.closed());
    assert!(poll_noop(&mut c).is_ready());
}

#[test]
fn the_value_is_dropped_exactly_once_in_every_ending() {
    // Received.
    let (drops, v) = counted();
    let (tx, mut rx) = oneshot::channel();
    tx.send(v).unwrap();
    drop(rx.try_recv().unwrap());
    drop(rx);
    assert_eq!(drops.load(SeqCst), 1);
    // Sent, never received: dropped with the receiver.
    let (drops, v) = counted();
    let (tx, rx) = oneshot::channel();
    tx.send(v).unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 1);
    // Sent to a receiver that closed after: dropped with it.
    let (drops, v) = counted();
    let (tx, mut rx) = oneshot::channel();
    tx.send(v).unwrap();
    rx.close();
    drop(rx);
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
#[should_panic(expected = "oneshot::Receiver polled after it returned its value")]
fn polling_after_completion_panics() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    let mut rx = std::pin::Pin::new(&mut rx);
    assert!(poll_once(rx.as_mut(), Waker::noop()).is_ready());
    let _ = poll_once(rx.as_mut(), Waker::noop());
}

#[test]
fn a_ready_receive_spends_budget_and_a_waited_one_does_not() {
    let (tx, rx) = oneshot::channel();
    tx.send(1).unwrap();
    let mut rx = Box::pin(rx);
    coop::budget(0, || assert!(poll_noop(&mut rx).is_pending()));
    assert!(poll_noop(&mut rx).is_ready());

    let (tx, rx) = oneshot::channel();
    let mut rx = Box::pin(rx);
    assert!(poll_noop(&mut rx).is_pending());
    tx.send(2).unwrap();
    coop::budget(0, || assert!(poll_noop(&mut rx).is_ready()));
}

#[test]
fn request_reply_on_every_executor() {
    run_on_each_executor(|exec| async move {
        let n = scaled(500);
        let (requests, server) = {
            let (tx, rx) = futures::channel::mpsc::unbounded::<(u64, oneshot::Sender<u64>)>();
            let server = exec.spawn(async move {
                use futures::StreamExt;
                let mut rx = rx;
                while let Some((x, reply)) = rx.next().await {
                    reply.send(x * 2).unwrap();
                }
            });
            (tx, server)
        };
        for i in 0..n as u64 {
            let (tx, rx) = oneshot::channel();
            requests.unbounded_send((i, tx)).unwrap();
            assert_eq!(rx.await, Ok(i * 2));
        }
        drop(requests);
        server.await;
    });
}

#[test]
fn sender_closed_on_every_executor() {
    run_on_each_executor(|exec| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let watcher = exec.spawn(async move {
            tx.closed().await;
            assert!(tx.is_closed());
        });
        support::yield_now().await;
        drop(rx);
        watcher.await;
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a timed stress run on thread pools: the same interleavings are explored by the loom models"
)]
fn send_racing_receiver_drop_drops_the_value_once() {
    // Threads race a send against the receiver's drop (or a receive);
    // every value is dropped exactly once and no receive hangs.
    stress(|exec, until| async move {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut made = 0;
        let mut rng = Rng::new(7);
        while std::time::Instant::now() < until {
            let (tx, rx) = oneshot::channel();
            let value = Counted(drops.clone());
            made += 1;
            let receive = rng.below(2) == 0;
            let sender = exec.spawn(async move {
                let _ = tx.send(value);
            });
            let receiver = exec.spawn(async move {
                if receive {
                    // The sender always sends: the value must come.
                    assert!(rx.await.is_ok());
                } else {
                    drop(rx);
                }
            });
            sender.await;
            receiver.await;
        }
        assert_eq!(drops.load(SeqCst), made);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a timed stress run on thread pools: the same interleavings are explored by the loom models"
)]
fn sender_drop_racing_a_waiting_receiver_never_hangs() {
    stress(|exec, until| async move {
        while std::time::Instant::now() < until {
            let (tx, rx) = oneshot::channel::<u8>();
            let receiver = exec.spawn(rx);
            let dropper = exec.spawn(async move { drop(tx) });
            dropper.await;
            assert!(receiver.await.is_err());
        }
    });
}

/// The lock-free paths across real threads, few enough rounds for Miri
/// (whose data-race detector then checks the value and waker slots): a
/// receiver changes its waker while, on another thread, the value is sent
/// or the sender dropped. The outcome arrives through the second poll or
/// through the newest waker (never only the replaced one), and the value
/// is dropped exactly once.
#[test]
fn a_waker_change_racing_send_or_sender_drop_across_threads() {
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    for round in 0..rounds {
        let (drops, value) = counted();
        let (tx, rx) = oneshot::channel();
        let mut rx = Box::pin(rx);
        let (c1, w1) = CountingWaker::new();
        let (c2, w2) = CountingWaker::new();
        assert!(poll_once(rx.as_mut(), &w1).is_pending());
        let send = round % 2 == 0;
        let other = std::thread::spawn(move || {
            if send {
                tx.send(value).unwrap();
            } else {
                drop(tx);
                drop(value);
            }
        });
        let second = poll_once(rx.as_mut(), &w2);
        other.join().unwrap();
        let got = match second {
            std::task::Poll::Ready(got) => got,
            std::task::Poll::Pending => {
                assert_eq!(c2.count(), 1, "the newest waker was not woken");
                assert_eq!(c1.count(), 0, "the replaced waker was woken");
                match poll_once(rx.as_mut(), &w2) {
                    std::task::Poll::Ready(got) => got,
                    std::task::Poll::Pending => panic!("woken, but no outcome"),
                }
            }
        };
        assert_eq!(got.is_ok(), send);
        assert!(c1.count() + c2.count() <= 1, "woken twice");
        drop(got);
        drop(rx);
        assert_eq!(drops.load(SeqCst), 1);
    }
}
