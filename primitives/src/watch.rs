//! A channel that holds one value, which receivers watch for changes
//! (tokio's `watch`; in asyncio, a `Condition` over a value).
//!
//! [`channel`]`(init)` makes a [`Sender`] and a [`Receiver`]. The sender
//! replaces (or modifies) the value; every receiver can
//! [`borrow`](Receiver::borrow) the current value at any time, and wait
//! with [`changed`](Receiver::changed) until there is a value it has not
//! seen. Receivers are cloned (or [subscribed](Sender::subscribe)) freely.
//!
//! A receiver is guaranteed to see the *latest* value, not every value:
//! two sends between two looks are seen as one change, to the second
//! value. None is missed in the sense that matters: after the last send,
//! every receiver's `changed()` completes and `borrow` returns that value.
//!
//! # Protocol
//!
//! The value sits in a read-write lock. The state word of the wait list
//! holds a *version* (bits from `VERSION_UNIT` up), advanced by every
//! send while it still holds the write lock (so a reader that loads the
//! version under the read lock gets the version of the value it reads),
//! and a `CLOSED` bit set when the sender is dropped. A receiver remembers
//! the version it has seen; `changed()` completes once the word's version
//! differs, and links in the wait list's main line only through the
//! compare-and-swap that re-checks "same version, not closed", so a send
//! (a read-modify-write of the word, which then wakes the line if
//! `WAITERS` was set) cannot slip between the check and the link. The
//! sender's [`closed`](Sender::closed) waiters wait in a second line,
//! released by the drop of the last receiver.
//!
//! # Examples
//!
//! ```
//! use magpie_sync::watch;
//!
//! let (tx, mut rx) = watch::channel("starting");
//! futures::executor::block_on(async {
//!     let watcher = async {
//!         while *rx.borrow_and_update() != "done" {
//!             rx.changed().await.unwrap();
//!         }
//!     };
//!     let worker = async {
//!         tx.send("working").unwrap();
//!         tx.send("done").unwrap();
//!     };
//!     futures::join!(watcher, worker);
//! });
//! ```

use core::fmt;
use core::ops::Deref;
use core::task::{Context, Poll, Waker, ready};
use std::sync::Arc;

use crate::coop;
use crate::flag::{Flag, FlagWait};
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use crate::loom::sync::{RwLock, RwLockReadGuard};
use crate::wait_list::{
    Line, LineOf, Outcome, Status, WAITERS, WaitList, WaitOp, Waiter, wait_future,
};

/// The sender was dropped.
const CLOSED: usize = 1 << 1;
/// One step of the version.
const VERSION_UNIT: usize = 1 << 2;
/// The version bits.
const VERSION_MASK: usize = !(VERSION_UNIT - 1);

/// What the wait list's lock guards besides the main line (the
/// receivers waiting in `changed`).
#[derive(Default)]
struct Closers {
    /// The sender's `closed()` waiters.
    line: Line,
}

fn closers(c: &mut Closers) -> &mut Line {
    &mut c.line
}

struct Shared<T> {
    value: RwLock<T>,
    list: WaitList<Closers>,
    receivers: AtomicUsize,
}

impl<T> Shared<T> {
    fn version(&self) -> usize {
        self.list.state().load(Acquire) & VERSION_MASK
    }
}

/// Makes a watch channel holding `init`.
///
/// The first receiver has seen `init`: its `changed()` waits for the
/// first send.
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, rx) = watch::channel(0);
/// assert_eq!(*rx.borrow(), 0);
/// tx.send(1).unwrap();
/// assert_eq!(*rx.borrow(), 1);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        list: WaitList::new(0, Closers::default()),
        receivers: AtomicUsize::new(1),
    });
    let rx = Receiver {
        shared: shared.clone(),
        seen: 0,
    };
    (Sender { shared }, rx)
}

/// A borrow of the value in a watch channel: a read guard. Sends wait
/// while it lives, so hold it briefly (never across an `.await`).
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, rx) = watch::channel(vec![1, 2]);
/// let value: watch::Ref<'_, Vec<i32>> = rx.borrow();
/// assert_eq!(value.len(), 2);
/// assert!(!value.has_changed());
/// ```
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value had not been seen by the receiver that borrowed
    /// it (always `false` for a borrow from the sender).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert!(rx.borrow_and_update().has_changed());
    /// assert!(!rx.borrow_and_update().has_changed());
    /// ```
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The sending end of a watch [`channel`]. There is one; dropping it
/// closes the channel (receivers' `changed()` fails once they have seen
/// the last value).
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, mut rx) = watch::channel(1);
/// tx.send_modify(|v| *v += 1);
/// drop(tx);
/// futures::executor::block_on(async {
///     assert!(rx.changed().await.is_ok()); // the last value is still seen
///     assert_eq!(*rx.borrow(), 2);
///     assert!(rx.changed().await.is_err()); // then: closed
/// });
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and notifies the receivers, unless there are
    /// none.
    ///
    /// # Errors
    ///
    /// Gives `value` back, leaving the channel's value as it was, if every
    /// receiver was dropped ([`send_replace`](Sender::send_replace) stores
    /// it anyway).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(1);
    /// tx.send(2).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(3).unwrap_err().into_inner(), 3);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(Acquire) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value, notifies the receivers (if any) and returns the
    /// old value.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, _rx) = watch::channel("a");
    /// assert_eq!(tx.send_replace("b"), "a");
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        let mut old = Some(value);
        self.send_if_modified(|v| {
            old = Some(core::mem::replace(v, old.take().expect("called once")));
            true
        });
        old.expect("the closure ran")
    }

    /// Modifies the value in place and notifies the receivers (if any).
    ///
    /// If `modify` panics, the value keeps what it did before the panic
    /// and the receivers are not notified.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Calls `modify` on the value and, if it returns `true`, notifies the
    /// receivers. Returns what `modify` returned.
    ///
    /// If `modify` panics, the receivers are not notified.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(5);
    /// assert!(!tx.send_if_modified(|v| if *v > 9 { *v = 0; true } else { false }));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut value = self.shared.value.write();
        if !modify(&mut value) {
            return false;
        }
        // Under the write lock: a reader that loads the version under the
        // read lock gets the version of the value it reads.
        let s = self.shared.list.state().fetch_add(VERSION_UNIT, AcqRel);
        drop(value);
        if s & WAITERS != 0 {
            self.shared.list.lock().notify_all();
        }
        true
    }

    /// Borrows the current value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = magpie_sync::watch::channel(3);
    /// assert_eq!(*tx.borrow(), 3);
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.value.read(),
            has_changed: false,
        }
    }

    /// A new receiver, which has seen the current value.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert_eq!(tx.receiver_count(), 1);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version(),
        }
    }

    /// How many receivers exist.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::watch::channel(());
    /// let rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Acquire)
    }

    /// Whether every receiver was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = magpie_sync::watch::channel(());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(0);
    /// futures::executor::block_on(async {
    ///     let goes_away = async { drop(rx) };
    ///     futures::join!(tx.closed(), goes_away);
    /// });
    /// ```
    pub fn closed(&self) -> Closed<'_, T> {
        Closed::from_op(FlagWait::new(&*self.shared))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let s = self.shared.list.state().fetch_or(CLOSED, AcqRel);
        if s & WAITERS != 0 {
            self.shared.list.lock().notify_all();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("value", &*self.borrow())
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// A receiving end of a watch [`channel`]. Clone it for more receivers
/// (a clone has seen what the original has seen).
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, mut rx) = watch::channel(0);
/// let mut rx2 = rx.clone();
/// tx.send(7).unwrap();
/// futures::executor::block_on(async {
///     rx.changed().await.unwrap();
///     rx2.changed().await.unwrap();
/// });
/// assert_eq!((*rx.borrow(), *rx2.borrow()), (7, 7));
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver has seen.
    seen: usize,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert!(rx.borrow().has_changed());
    /// assert!(rx.has_changed().unwrap()); // still unseen
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        let has_changed = self.shared.version() != self.seen;
        Ref { guard, has_changed }
    }

    /// Borrows the current value and marks it seen: `changed()` then waits
    /// for the next send.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, mut rx) = watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 2);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        let version = self.shared.version();
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// Whether a value this receiver has not seen is there.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender was dropped and every value was seen
    /// (no change can come).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// rx.borrow_and_update();
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let s = self.shared.list.state().load(Acquire);
        if s & VERSION_MASK != self.seen {
            Ok(true)
        } else if s & CLOSED != 0 {
            Err(RecvError(()))
        } else {
            Ok(false)
        }
    }

    /// Waits for a value this receiver has not seen, and marks it seen
    /// (read it with [`borrow`](Receiver::borrow)). Completes at once if
    /// there is one already.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender is dropped and every value was seen.
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point is safe: a change it was woken for
    /// stays unseen, and the next `changed()` completes at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// let thread = std::thread::spawn(move || tx.send(1).unwrap());
    /// futures::executor::block_on(rx.changed()).unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// thread.join().unwrap();
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed::from_op(WaitForChange {
            rx: self,
            waited: false,
        })
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, AcqRel) == 1 {
            // The last one: release the sender's `closed()` waiters (they
            // check the count under this lock before they link).
            let mut locked = self.shared.list.lock();
            if !locked.is_empty_in(closers) {
                locked.notify_all_in(closers, Outcome::Granted);
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("value", &*self.borrow())
            .finish()
    }
}

/// Checks the state word for a receiver that has seen `seen`: a new
/// version (which it marks seen), or closed.
fn check(seen: &mut usize, s: usize) -> Option<Result<(), RecvError>> {
    if s & VERSION_MASK != *seen {
        *seen = s & VERSION_MASK;
        Some(Ok(()))
    } else if s & CLOSED != 0 {
        Some(Err(RecvError(())))
    } else {
        None
    }
}

struct WaitForChange<'a, T> {
    rx: &'a mut Receiver<T>,
    /// Returned `Pending` once: a later completion spends no budget.
    waited: bool,
}

impl<T> WaitOp for WaitForChange<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match me.status() {
                Status::Idle => {
                    let proceed = if self.waited {
                        None
                    } else {
                        Some(ready!(coop::poll_proceed(cx)))
                    };
                    let Receiver { shared, seen } = &mut *self.rx;
                    let list = &shared.list;
                    let mut s = list.state().load(Acquire);
                    loop {
                        if let Some(out) = check(seen, s) {
                            if let Some(proceed) = proceed {
                                proceed.made_progress();
                            }
                            return Poll::Ready(out);
                        }
                        let seen = *seen;
                        let mut locked = list.lock();
                        let linked = locked.enqueue(me, 1, cx.waker(), |s| {
                            if s & VERSION_MASK != seen || s & CLOSED != 0 {
                                None
                            } else {
                                Some(s)
                            }
                        });
                        if linked {
                            self.waited = true;
                            return Poll::Pending;
                        }
                        drop(locked);
                        s = list.state().load(Acquire);
                    }
                }
                Status::Waiting => {
                    let mut locked = self.rx.shared.list.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    // Woken by a send or the sender's drop: look again (a
                    // waiter that linked after the send's version, having
                    // seen it already, is woken too and waits again).
                    me.settle();
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting && self.rx.shared.list.lock().remove(me).is_some() {
            return;
        }
        // Woken with every other waiter: nothing to pass on (the change
        // stays unseen by this receiver).
        me.settle();
    }
}

wait_future! {
    /// The future returned by [`Receiver::changed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// tx.send(1).unwrap();
    /// let changed: watch::Changed<'_, i32> = rx.changed();
    /// assert!(futures::executor::block_on(changed).is_ok());
    /// ```
    pub struct Changed['a, T]['a, T](WaitForChange<'a, T>) -> Result<(), RecvError>;
}

/// The sender's `closed()` waits, in the closers' line, for no receiver
/// to be left.
impl<T> Flag for Shared<T> {
    type Data = Closers;
    const LINE: Option<LineOf<Closers>> = Some(closers);

    fn list(&self) -> &WaitList<Closers> {
        &self.list
    }

    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool {
        let mut locked = self.list.lock();
        // Under the lock: the last receiver's drop decrements before it
        // takes it, and releases this line with it.
        if self.receivers.load(Acquire) == 0 {
            return false;
        }
        locked.enqueue_in(closers, me, waker);
        true
    }
}

wait_future! {
    /// The future returned by [`Sender::closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::watch;
    ///
    /// let (tx, rx) = watch::channel(());
    /// let closed: watch::Closed<'_, ()> = tx.closed();
    /// drop(rx);
    /// futures::executor::block_on(closed);
    /// ```
    pub struct Closed['a, T]['a, T](FlagWait<&'a Shared<T>>) -> ();
}

/// [`Sender::send`] failed: every receiver was dropped. The value is
/// returned.
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, rx) = watch::channel(0);
/// drop(rx);
/// let err = tx.send(1).unwrap_err();
/// assert_eq!(err.to_string(), "every watch receiver was dropped");
/// assert_eq!(err.into_inner(), 1);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every watch receiver was dropped")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// [`Receiver::changed`] (or [`has_changed`](Receiver::has_changed))
/// failed: the sender was dropped and this receiver has seen the last
/// value.
///
/// # Examples
///
/// ```
/// use magpie_sync::watch;
///
/// let (tx, mut rx) = watch::channel(0);
/// drop(tx);
/// let err = futures::executor::block_on(rx.changed()).unwrap_err();
/// assert_eq!(err.to_string(), "the watch sender was dropped");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(pub(crate) ());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the watch sender was dropped")
    }
}

impl std::error::Error for RecvError {}
