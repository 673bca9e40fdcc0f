//! Loom models of `watch`: a send racing `changed()` (no lost update, and
//! the value read after it is the one sent), two sends racing a watcher
//! (it ends on the last value), the sender's drop racing a watcher (it
//! sees the last value, then the close), and the last receiver's drop
//! racing `Sender::closed`.
#![cfg(loom)]

use loom::future::block_on;
use loom::thread;
use magpie_sync::watch;

/// A send races `changed()`: the change is seen, with its value.
#[test]
fn send_racing_changed() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let watcher = thread::spawn(move || {
            block_on(rx.changed()).unwrap();
            assert_eq!(*rx.borrow_and_update(), 1);
        });
        tx.send(1).unwrap();
        watcher.join().unwrap();
    });
}

/// Two sends race a watcher that waits until it sees the second value:
/// it never misses the last one.
#[test]
fn two_sends_racing_a_watcher_end_on_the_last_value() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let watcher = thread::spawn(move || {
            while *rx.borrow_and_update() != 2 {
                block_on(rx.changed()).unwrap();
            }
        });
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        watcher.join().unwrap();
    });
}

/// A send and the sender's drop race a watcher that watches until the
/// close: it sees the sent value before `changed` fails.
#[test]
fn sender_drop_racing_a_watcher() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let watcher = thread::spawn(move || {
            while block_on(rx.changed()).is_ok() {}
            assert_eq!(*rx.borrow(), 1, "the last value was missed");
        });
        tx.send(1).unwrap();
        drop(tx);
        watcher.join().unwrap();
    });
}

/// The last receiver's drop races `Sender::closed`.
#[test]
fn last_receiver_drop_racing_sender_closed() {
    loom::model(|| {
        let (tx, rx) = watch::channel(0);
        let rx2 = rx.clone();
        let dropper = thread::spawn(move || {
            drop(rx);
            drop(rx2);
        });
        block_on(tx.closed());
        assert!(tx.is_closed());
        dropper.join().unwrap();
    });
}
