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
//! One allocation holds a wait list whose lock guards the value and the
//! receiver's waker, and whose state word mirrors what happened (`SENT`,
//! `RX_CLOSED`, `TX_GONE`) so that `is_closed` and a send to a closed
//! channel need no lock. The value moves in and out of an `Option` under
//! the lock, so it is dropped exactly once, by whoever holds it last (the
//! receiver, or the channel when both ends are gone). Wakers are called,
//! and replaced wakers dropped, after the lock is released. The sender's
//! `closed()` waiters wait in the list's main line, released by the
//! receiver's close through the `WAITERS` protocol of the wait list.
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

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};
use std::sync::Arc;

use crate::coop;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire};
use crate::wait_list::{Status, WAITERS, WaitList, WaitOp, Waiter, wait_future};

/// The value was sent (it may have been received since).
const SENT: usize = 1 << 1;
/// The receiver was closed or dropped: `send` fails.
const RX_CLOSED: usize = 1 << 2;
/// The sender was dropped without sending.
const TX_GONE: usize = 1 << 3;

/// What the lock guards.
struct Slots<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
}

type Chan<T> = WaitList<Slots<T>>;

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
    let chan = Arc::new(WaitList::new(
        0,
        Slots {
            value: None,
            rx_waker: None,
        },
    ));
    (
        Sender {
            chan: Some(chan.clone()),
        },
        Receiver {
            chan,
            waited: false,
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
        if chan.state().load(Acquire) & RX_CLOSED != 0 {
            return Err(value);
        }
        let mut locked = chan.lock();
        if locked.state().load(Acquire) & RX_CLOSED != 0 {
            return Err(value);
        }
        let slots = locked.data();
        slots.value = Some(value);
        let waker = slots.rx_waker.take();
        locked.state().fetch_or(SENT, AcqRel);
        drop(locked);
        if let Some(waker) = waker {
            waker.wake();
        }
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
        Closed::from_op(WaitForClose { chan: self.chan() })
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(chan) = self.chan.take() else {
            return; // sent
        };
        let mut locked = chan.lock();
        locked.state().fetch_or(TX_GONE, AcqRel);
        let waker = locked.data().rx_waker.take();
        drop(locked);
        if let Some(waker) = waker {
            waker.wake();
        }
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
        let mut locked = self.chan.lock();
        if let Some(value) = locked.data().value.take() {
            return Ok(value);
        }
        if locked.state().load(Acquire) & (SENT | TX_GONE | RX_CLOSED) != 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
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
            self.chan.lock().notify_all();
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
        let mut locked = this.chan.lock();
        let outcome = if let Some(value) = locked.data().value.take() {
            Ok(value)
        } else {
            let s = locked.state().load(Acquire);
            if s & (TX_GONE | RX_CLOSED) != 0 {
                // The sender is gone, or we closed and no value came
                // before (none will: `send` now fails).
                Err(RecvError(()))
            } else {
                assert!(
                    s & SENT == 0,
                    "oneshot::Receiver polled after it returned its value"
                );
                // Not sent yet: register (the sender wakes us under the
                // same lock, so nothing is missed).
                let slot = &mut locked.data().rx_waker;
                let old = match slot {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => slot.replace(cx.waker().clone()),
                };
                drop(locked);
                drop(old);
                this.waited = true;
                return Poll::Pending;
            }
        };
        drop(locked);
        if let Some(proceed) = proceed {
            proceed.made_progress();
        }
        Poll::Ready(outcome)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A value sent before stays in the channel and is dropped with it
        // (by the last of the two ends).
        self.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

struct WaitForClose<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> WaitOp for WaitForClose<'_, T> {
    type Output = ();

    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match me.status() {
                Status::Idle => {
                    let proceed = ready!(coop::poll_proceed(cx));
                    if self.chan.state().load(Acquire) & RX_CLOSED == 0 {
                        let mut locked = self.chan.lock();
                        let linked = locked.enqueue(me, 1, cx.waker(), |s| {
                            if s & RX_CLOSED != 0 { None } else { Some(s) }
                        });
                        if linked {
                            return Poll::Pending;
                        }
                    }
                    proceed.made_progress();
                    return Poll::Ready(());
                }
                Status::Waiting => {
                    let mut locked = self.chan.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    me.take_grant();
                    me.take_closed();
                    return Poll::Ready(());
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting && self.chan.lock().remove(me).is_some() {
            return;
        }
        // Woken with every other waiter by the close: nothing to pass on.
        me.take_grant();
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
    pub struct Closed['a, T]['a, T](WaitForClose<'a, T>) -> ();
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
