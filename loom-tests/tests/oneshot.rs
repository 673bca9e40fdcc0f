//! Loom models of `oneshot`: `send` racing the receiver's drop (the value
//! is dropped exactly once, by whichever side ends up with it), racing a
//! waiting receive (the value arrives, and what was written before `send`
//! is visible), the sender's drop racing a waiting receive (it fails, no
//! hang), and the receiver's drop racing `Sender::closed`.
//!
//! The lock-free paths add their own races, each with a model: `send` and
//! the sender's drop racing the receiver's change of waker (the slot is
//! taken back only while the sender has not completed, and the newest
//! waker, or the poll itself, sees the outcome), and `send` racing the
//! drop of a receiver that had registered a waker (the value is dropped
//! exactly once, the channel is freed, the waker is called at most once).
#![cfg(loom)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::{counting_waker, poll_once};
use magpie_sync::oneshot;

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A value written before `send` and read after the receive.
struct Published(UnsafeCell<usize>);

// SAFETY: the model writes the cell only before `send` and reads it only
// after the receive returned; loom checks that this is a real
// happens-before edge.
unsafe impl Sync for Published {}

/// `send` races the receiver's drop: the send fails (the value comes
/// back) or succeeds (the value stays in the channel); either way it is
/// dropped exactly once.
#[test]
fn send_racing_the_receivers_drop_drops_the_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let value = Counted(drops.clone());
        // A failed send gives the value back, and the thread drops it.
        let sender = thread::spawn(move || drop(tx.send(value)));
        drop(rx);
        sender.join().unwrap();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value was dropped {} times",
            drops.load(SeqCst)
        );
    });
}

/// `send` races a waiting receive: the receive gets the value, and sees
/// what the sender wrote before sending.
#[test]
fn send_racing_a_waiting_receive() {
    loom::model(|| {
        let data = Arc::new(Published(UnsafeCell::new(0)));
        let (tx, rx) = oneshot::channel();
        let sender = {
            let data = data.clone();
            thread::spawn(move || {
                // SAFETY: nobody reads before the send.
                data.0.with_mut(|p| unsafe { *p = 42 });
                tx.send(7).unwrap();
            })
        };
        assert_eq!(block_on(rx), Ok(7));
        // SAFETY: written before `send`, which the receive synchronised with.
        data.0.with(|p| assert_eq!(unsafe { *p }, 42));
        sender.join().unwrap();
    });
}

/// The sender's drop races a waiting receive: the receive fails, and does
/// not hang.
#[test]
fn sender_drop_racing_a_waiting_receive() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let dropper = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        dropper.join().unwrap();
    });
}

/// The receiver's drop races `Sender::closed`: it completes whether it
/// linked before the close or saw it.
#[test]
fn receiver_drop_racing_sender_closed() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let dropper = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        dropper.join().unwrap();
        assert_eq!(tx.send(1), Err(1));
    });
}

/// A receiver registered one waker and polls again with another while the
/// value is sent: either the second poll gets the value, or it stays
/// pending and the sender wakes the second waker (never only the first,
/// which the task no longer listens to). The value carries what the
/// sender wrote before sending. Exactly one wake-up in all.
#[test]
fn send_racing_a_waker_change() {
    loom::model(|| {
        let data = Arc::new(Published(UnsafeCell::new(0)));
        let (tx, rx) = oneshot::channel();
        let mut rx = Box::pin(rx);
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(poll_once(&mut rx, &first_waker).is_pending());
        let sender = {
            let data = data.clone();
            thread::spawn(move || {
                // SAFETY: nobody reads before the send.
                data.0.with_mut(|p| unsafe { *p = 42 });
                tx.send(7).unwrap();
            })
        };
        let got = match poll_once(&mut rx, &second_waker) {
            std::task::Poll::Ready(got) => got,
            std::task::Poll::Pending => {
                sender.join().unwrap();
                assert_eq!(second.wakes(), 1, "the new waker was not woken");
                assert_eq!(first.wakes(), 0, "the replaced waker was woken");
                match poll_once(&mut rx, &second_waker) {
                    std::task::Poll::Ready(got) => got,
                    std::task::Poll::Pending => panic!("woken, but no value"),
                }
            }
        };
        assert_eq!(got, Ok(7));
        // SAFETY: written before `send`, which the receive synchronised with.
        data.0.with(|p| assert_eq!(unsafe { *p }, 42));
        assert!(first.wakes() + second.wakes() <= 1, "woken twice");
    });
}

/// As `send_racing_a_waker_change`, with the sender dropped instead: the
/// receive fails, through the second poll or the second waker.
#[test]
fn sender_drop_racing_a_waker_change() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let mut rx = Box::pin(rx);
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(poll_once(&mut rx, &first_waker).is_pending());
        let dropper = thread::spawn(move || drop(tx));
        let got = match poll_once(&mut rx, &second_waker) {
            std::task::Poll::Ready(got) => got,
            std::task::Poll::Pending => {
                dropper.join().unwrap();
                assert_eq!(second.wakes(), 1, "the new waker was not woken");
                assert_eq!(first.wakes(), 0, "the replaced waker was woken");
                match poll_once(&mut rx, &second_waker) {
                    std::task::Poll::Ready(got) => got,
                    std::task::Poll::Pending => panic!("woken, but no outcome"),
                }
            }
        };
        assert!(got.is_err());
    });
}

/// A receiver that registered a waker is dropped while the value is sent:
/// the value is dropped exactly once (given back by a failed send, or
/// with the channel), the channel itself is freed (loom reports a leaked
/// `Arc`), and the waker is called at most once.
#[test]
fn send_racing_the_drop_of_a_registered_receiver() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let mut rx = Box::pin(rx);
        let (woken, waker) = counting_waker();
        assert!(poll_once(&mut rx, &waker).is_pending());
        let value = Counted(drops.clone());
        let sender = thread::spawn(move || drop(tx.send(value)));
        drop(rx);
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the value was not dropped once");
        assert!(woken.wakes() <= 1);
    });
}
