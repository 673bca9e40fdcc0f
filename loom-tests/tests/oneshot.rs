//! Loom models of `oneshot`: `send` racing the receiver's drop (the value
//! is dropped exactly once, by whichever side ends up with it), racing a
//! waiting receive (the value arrives, and what was written before `send`
//! is visible), the sender's drop racing a waiting receive (it fails, no
//! hang), and the receiver's drop racing `Sender::closed`.
#![cfg(loom)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
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
