//! A channel for one value: asyncio's `Future` set from another task
//! (tokio's `oneshot`).
//!
//! [`channel`] makes a [`Sender`] and a [`Receiver`]. The sender
//! [`send`](Sender::send)s one value (consuming itself); the receiver is a
//! future of that value. Dropping the sender without sending makes the
//! receiver fail with [`RecvError`]; dropping (or
//! [`close`](Receiver::close)-ing) the receiver makes `send` give the value
//! back, and completes the sender's [`closed`](Sender::closed) future.
//!
//! # Protocol
//!
//! One allocation holds the value slot, the receiver's waker slot and a
//! wait list (for the sender's [`closed`](Sender::closed) waiters only),
//! whose state word is the channel's state. The common paths, `send`, a
//! receive that waits once or finds the value, and either side's drop,
//! take no lock: each is a load and one read-modify-write of the word
//! (tokio's and futures' oneshots work the same way).
//!
//! The bits (`WAITERS` belongs to the wait list):
//!
//! * `SENT`: the value is in the value slot. Set by `send`, only while
//!   `RX_CLOSED` is clear (a compare-and-swap that re-checks it).
//! * `TX_GONE`: the sender was dropped without sending.
//! * `RX_CLOSED`: the receiver was closed or dropped: `send` fails.
//! * `RX_WAKER`: the waker slot holds the receiver's waker, which the
//!   sender may call.
//!
//! Who owns what (the `SAFETY` comments below argue from this):
//!
//! * **The value slot** belongs to the sender until `SENT` is set (it
//!   writes the value, and takes it back if its compare-and-swap finds
//!   `RX_CLOSED`), and to the receiver once it has loaded `SENT`
//!   (`Acquire`, pairing with the `Release` of the compare-and-swap that
//!   set it). Whatever is left in it when both ends are gone is dropped
//!   with the allocation (the `Arc`'s last release), so the value is
//!   dropped exactly once.
//! * **The waker slot** belongs to the receiver while `RX_WAKER` is
//!   clear: it writes its waker and then sets `RX_WAKER` (`Release`).
//!   While `RX_WAKER` is set, the slot is only read: by the receiver
//!   (`will_wake`) and by the one sender operation, `send` or the drop,
//!   whose read-modify-write setting `SENT` or `TX_GONE` found `RX_WAKER`
//!   set (`Acquire`); that operation calls `wake_by_ref`. The receiver
//!   takes the slot back by clearing `RX_WAKER` with a compare-and-swap
//!   that fails if `SENT` or `TX_GONE` is set: then the sender may be
//!   reading it, and the receiver does not need a new waker anyway (the
//!   outcome is there). The waker is dropped by the receiver when it
//!   replaces it, or with the allocation.
//!
//! No wakeup is lost: the receiver sets `RX_WAKER` with a read-modify-write
//! and looks at the previous word; the sender sets `SENT` or `TX_GONE` with
//! one and looks at the previous word. Whichever comes second in the
//! word's modification order sees the other's bit: either the sender sees
//! `RX_WAKER` and wakes, or the receiver sees the outcome and returns it.
//!
//! The sender's `closed()` waiters wait in the list's main line and are
//! released by the receiver's close through the `WAITERS` protocol of the
//! wait list (the close sets `RX_CLOSED` with a read-modify-write, then
//! takes the lock if `WAITERS` was set).
//!
//! # Examples
//!
//! ```
//! use magpie_sync::oneshot;
//!
//! let (tx, rx) = oneshot::channel();
//! let worker = std::thread::spawn(move || tx.send(6 * 7).unwrap());
//! assert_eq!(futures::executor::block_on(rx), Ok(42));
//! worker.join().unwrap();
//! ```

use crate::coop;
use crate::flag::{Flag, FlagWait, link_unless_bit};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire};
use crate::wait_list::{WAITERS, WaitList, Waiter, wait_future};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};

/// The value is in the value slot (it may have been received since).
const SENT: usize = 1 << 1;
/// The receiver was closed or dropped: `send` fails.
const RX_CLOSED: usize = 1 << 2;
/// The sender was dropped without sending.
const TX_GONE: usize = 1 << 3;
/// The waker slot holds the receiver's waker; the sender may read it.
const RX_WAKER: usize = 1 << 4;
/// The sender is done: no value will be written any more.
const COMPLETE: usize = SENT | TX_GONE;

/// The shared allocation of a channel.
struct Chan<T> {
    /// The state word (see the module documentation) and the sender's
    /// `closed()` waiters.
    list: WaitList,
    /// The value; owned as the module documentation says.
    value: UnsafeCell<Option<T>>,
    /// The receiver's waker; owned as the module documentation says.
    rx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the value crosses from the sender's thread to the receiver's
// (hence `T: Send`), and the two slots are only accessed by the side that
// owns them by the protocol above, or read by both (the waker, which is
// `Send + Sync`) while `RX_WAKER` is set and nobody writes it; every
// hand-over is a `Release` read-modify-write of the state word observed
// with `Acquire`. No `&T` is ever shared, so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    fn state(&self) -> &AtomicUsize {
        self.list.state()
    }

    /// Wakes the receiver if `prev`, the word before the sender's
    /// read-modify-write that set `SENT` or `TX_GONE`, says it registered
    /// a waker and is still open.
    fn wake_rx(&self, prev: usize) {
        if prev & (RX_WAKER | RX_CLOSED) == RX_WAKER {
            self.rx_waker.with(|slot| {
                // SAFETY: our read-modify-write set `SENT` or `TX_GONE`
                // after `RX_WAKER` was set (`Acquire`: the waker written
                // before it is visible). From now on the receiver cannot
                // clear `RX_WAKER` (its compare-and-swap fails on the
                // outcome) and never writes the slot again: only shared
                // reads of it happen, ours and its `will_wake`.
                if let Some(waker) = unsafe { &*slot } {
                    waker.wake_by_ref();
                }
            });
        }
    }

    /// Takes the value out of the slot.
    ///
    /// # Safety
    ///
    /// The caller is the receiver and has loaded `SENT` with `Acquire`.
    unsafe fn take_value(&self) -> Option<T> {
        self.value.with_mut(|slot| {
            // SAFETY: `SENT` is set and was observed by the receiver, who
            // owns the slot from then on (the sender wrote it before the
            // `Release` that set `SENT` and never touches it again).
            unsafe { (*slot).take() }
        })
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        // Through the cells (not a plain field drop), so that loom checks
        // that the last owner's accesses happen before this one.
        let value = self.value.with_mut(|slot| {
            // SAFETY: `&mut self`: both ends are gone, nobody else can
            // reach the slot.
            unsafe { (*slot).take() }
        });
        let waker = self.rx_waker.with_mut(|slot| {
            // SAFETY: as above.
            unsafe { (*slot).take() }
        });
        drop(waker);
        drop(value);
    }
}

/// Makes a channel for one value of type `T`.
///
/// # Examples
///
/// ```
/// use magpie_sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<&str>();
/// futures::executor::block_on(async {
///     let answer = async { rx.await.unwrap() };
///     let question = async { tx.send("pong").unwrap() };
///     let (got, ()) = futures::join!(answer, question);
///     assert_eq!(got, "pong");
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        list: WaitList::new(0, ()),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            chan: Some(chan.clone()),
        },
        Receiver {
            chan,
            waited: false,
            finished: false,
        },
    )
}

/// The sending end of a [`channel`]: sends one value.
///
/// Dropping it without sending makes the receiver fail with [`RecvError`].
///
/// # Examples
///
/// ```
/// use magpie_sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<u8>();
/// drop(tx);
/// assert!(futures::executor::block_on(rx).is_err());
/// ```
pub struct Sender<T> {
    /// `None` only once `send` took it.
    chan: Option<Arc<Chan<T>>>,
}

impl<T> Sender<T> {
    fn chan(&self) -> &Chan<T> {
        self.chan
            .as_ref()
            .expect("a Sender has its channel until it sends")
    }

    /// Sends `value`, waking the receiver.
    ///
    /// # Errors
    ///
    /// Gives `value` back if the receiver was dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        let chan = self.chan.take().expect("a Sender sends once");
        let state = chan.state();
        let mut s = state.load(Acquire);
        if s & RX_CLOSED != 0 {
            return Err(value);
        }
        chan.value.with_mut(|slot| {
            // SAFETY: `SENT` is not set (only this call sets it), so the
            // slot is the sender's.
            unsafe { *slot = Some(value) };
        });
        loop {
            if s & RX_CLOSED != 0 {
                // The receiver closed after all: `SENT` stays clear, so
                // the slot is still ours; take the value back.
                let value = chan.value.with_mut(|slot| {
                    // SAFETY: as above: `SENT` was never set.
                    unsafe { (*slot).take() }
                });
                return Err(value.expect("the value written above"));
            }
            // `Release`: the value (and what the caller wrote before) is
            // published with `SENT`; `Acquire`: the receiver's waker too.
            match state.compare_exchange_weak(s, s | SENT, AcqRel, Acquire) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        chan.wake_rx(s);
        Ok(())
    }

    /// Whether the receiver was dropped or closed (a `send` would fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot;
    ///
    /// let (tx, mut rx) = oneshot::channel::<()>();
    /// assert!(!tx.is_closed());
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan().state().load(Acquire) & RX_CLOSED != 0
    }

    /// Waits until the receiver is dropped or closed: the value is no
    /// longer wanted (a task computing it can stop).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<u64>();
    /// futures::executor::block_on(async {
    ///     let gives_up = async { drop(rx) };
    ///     futures::join!(tx.closed(), gives_up);
    /// });
    /// ```
    pub fn closed(&self) -> Closed<'_, T> {
        Closed::from_op(FlagWait::new(self.chan()))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(chan) = self.chan.take() else {
            return; // sent
        };
        let prev = chan.state().fetch_or(TX_GONE, AcqRel);
        chan.wake_rx(prev);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("is_closed", &self.is_closed())
            .finish()
    }
}

/// The receiving end of a [`channel`]: a future of the value.
///
/// It resolves to `Ok(value)` once the value is sent, or to
/// `Err(RecvError)` if the sender is dropped without sending (or the
/// receiver was [closed](Receiver::close) before a value came). Polling it
/// again after it resolved panics. It is [`Unpin`], so `(&mut rx).await`
/// works (in a `select!` loop, say).
///
/// # Cancellation
///
/// Dropping it closes the channel (a later `send` fails); a value sent
/// before is dropped with it.
///
/// # Examples
///
/// ```
/// use magpie_sync::oneshot;
///
/// let (tx, mut rx) = oneshot::channel();
/// assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
/// tx.send("done").unwrap();
/// assert_eq!(futures::executor::block_on(&mut rx), Ok("done"));
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// Returned `Pending` once: a later completion spends no budget.
    waited: bool,
    /// Saw the outcome (the value, or the end): the sender is gone, so
    /// dropping the receiver has nobody to tell.
    finished: bool,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing was sent yet;
    /// [`TryRecvError::Closed`] if the sender was dropped without sending,
    /// the value was taken already, or the receiver was closed before a
    /// value came.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let s = self.chan.state().load(Acquire);
        if s & SENT != 0 {
            self.finished = true;
            // SAFETY: we are the receiver and loaded `SENT` with `Acquire`.
            return unsafe { self.chan.take_value() }.ok_or(TryRecvError::Closed);
        }
        if s & (TX_GONE | RX_CLOSED) != 0 {
            self.finished = true;
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// What the channel holds for a receiver that found `s & COMPLETE` or
    /// `s & RX_CLOSED` set (loaded with `Acquire`).
    fn outcome(&mut self, s: usize) -> Result<T, RecvError> {
        if s & SENT != 0 {
            // SAFETY: we are the receiver and loaded `SENT` with `Acquire`.
            if let Some(value) = unsafe { self.chan.take_value() } {
                return Ok(value);
            }
            // Taken already (by `try_recv`, or by a poll that returned it).
            assert!(
                s & RX_CLOSED != 0,
                "oneshot::Receiver polled after it returned its value"
            );
        }
        // The sender is gone, or we closed and no value came before (none
        // will: `send` now fails).
        Err(RecvError(()))
    }

    /// Registers `waker` to be woken by the sender. `Err(s)` if the
    /// sender completed first (`s` holds its outcome, loaded `Acquire`).
    fn register(&mut self, mut s: usize, waker: &Waker) -> Result<(), usize> {
        let chan = &*self.chan;
        let state = chan.state();
        if s & RX_WAKER != 0 {
            let same = chan.rx_waker.with(|slot| {
                // SAFETY: `RX_WAKER` is set: the slot is only read (by us
                // and perhaps by the sender), never written.
                unsafe { &*slot }
                    .as_ref()
                    .is_some_and(|w| w.will_wake(waker))
            });
            if same {
                return Ok(());
            }
            // Take the slot back, unless the sender completed (it may be
            // reading the slot, and we need no waker any more).
            loop {
                if s & COMPLETE != 0 {
                    return Err(s);
                }
                match state.compare_exchange_weak(s, s & !RX_WAKER, AcqRel, Acquire) {
                    Ok(_) => break,
                    Err(actual) => s = actual,
                }
            }
        }
        let old = chan.rx_waker.with_mut(|slot| {
            // SAFETY: `RX_WAKER` is clear, and only we set it: the slot is
            // ours (the sender reads it only after finding `RX_WAKER` set).
            unsafe { (*slot).replace(waker.clone()) }
        });
        // `Release`: the waker is published with `RX_WAKER`; `Acquire`: a
        // value sent meanwhile is visible.
        let prev = state.fetch_or(RX_WAKER, AcqRel);
        drop(old);
        if prev & COMPLETE != 0 {
            // The sender completed before it could see our waker: it will
            // not wake us, so we take the outcome now.
            return Err(prev);
        }
        Ok(())
    }

    /// Closes the channel: a later [`send`](Sender::send) fails, and the
    /// sender's [`closed`](Sender::closed) completes. A value sent before
    /// can still be taken with [`try_recv`](Receiver::try_recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot;
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    pub fn close(&mut self) {
        let s = self.chan.state().fetch_or(RX_CLOSED, AcqRel);
        if s & RX_CLOSED == 0 && s & WAITERS != 0 {
            self.chan.list.lock().notify_all();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // A first poll that completes spends budget; one after waiting
        // does not (see `coop`).
        let proceed = if this.waited {
            None
        } else {
            Some(ready!(coop::poll_proceed(cx)))
        };
        let mut s = this.chan.state().load(Acquire);
        if s & (COMPLETE | RX_CLOSED) == 0 {
            // Not sent yet: register.
            match this.register(s, cx.waker()) {
                Ok(()) => {
                    this.waited = true;
                    return Poll::Pending;
                }
                Err(done) => s = done,
            }
        }
        let outcome = this.outcome(s);
        this.finished = true;
        if let Some(proceed) = proceed {
            proceed.made_progress();
        }
        Poll::Ready(outcome)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A value sent before stays in the channel and is dropped with it
        // (by the last of the two ends). Once the outcome was seen, the
        // sender is gone (it sent, or was dropped) or we closed already:
        // no read-modify-write is owed to anyone (tokio's receiver lets go
        // of its channel at completion for the same reason).
        if !self.finished {
            self.close();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The sender's `closed()` waits for `RX_CLOSED`.
impl<T> Flag for Chan<T> {
    type Data = ();

    fn list(&self) -> &WaitList {
        &self.list
    }

    #[inline]
    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool {
        link_unless_bit(&self.list, RX_CLOSED, me, waker)
    }
}

wait_future! {
    /// The future returned by [`Sender::closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<()>();
    /// let closed: oneshot::Closed<'_, ()> = tx.closed();
    /// drop(rx);
    /// futures::executor::block_on(closed);
    /// ```
    pub struct Closed['a, T]['a, T](FlagWait<&'a Chan<T>>) -> ();
}

/// The [`Receiver`] failed: the sender was dropped without sending (or
/// the receiver was [closed](Receiver::close) before a value came).
///
/// # Examples
///
/// ```
/// use magpie_sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<u8>();
/// drop(tx);
/// let err = futures::executor::block_on(rx).unwrap_err();
/// assert_eq!(err.to_string(), "the oneshot channel closed without a value");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(pub(crate) ());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot channel closed without a value")
    }
}

impl std::error::Error for RecvError {}

/// [`Receiver::try_recv`] found no value.
///
/// # Examples
///
/// ```
/// use magpie_sync::oneshot::{self, TryRecvError};
///
/// let (tx, mut rx) = oneshot::channel::<u8>();
/// assert_eq!(rx.try_recv().unwrap_err().to_string(), "no value was sent yet");
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing was sent yet.
    Empty,
    /// No value will come: the sender was dropped without sending, the
    /// value was taken already, or the receiver was closed first.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value was sent yet"),
            TryRecvError::Closed => f.write_str("the oneshot channel is closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}
