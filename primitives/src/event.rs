//! [`Event`]: asyncio's `Event`.

use core::fmt;
use core::task::Waker;

use crate::flag::{Flag, FlagWait, link_unless_bit};
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use crate::wait_list::{WAITERS, WaitList, Waiter, wait_future};

/// The event is set.
const SET: usize = 1 << 1;

/// A flag that tasks can wait for (asyncio's `Event`).
///
/// [`set`](Event::set) sets the flag and wakes every task waiting in
/// [`wait`](Event::wait); while the flag is set, `wait` returns at once.
/// [`clear`](Event::clear) resets it.
///
/// # Fairness
///
/// `set` wakes all waiters, oldest first. A waiter that started waiting
/// before `set` is woken even if `clear` follows immediately; one that
/// starts after a `clear` waits for the next `set`.
///
/// # Cancellation
///
/// Dropping an [`EventWait`] future is safe at any point; it never absorbs a
/// wakeup meant for someone else (every waiter is woken by `set`).
///
/// # Examples
///
/// ```
/// use magpie_sync::Event;
///
/// let ready = Event::new();
/// futures::executor::block_on(async {
///     let waiter = async {
///         ready.wait().await;
///         "woken"
///     };
///     let setter = async { ready.set() };
///     let (woken, ()) = futures::join!(waiter, setter);
///     assert_eq!(woken, "woken");
/// });
/// assert!(ready.is_set());
/// ```
pub struct Event {
    list: WaitList,
}

impl Event {
    /// A clear event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!magpie_sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Event {
            list: WaitList::new(0, ()),
        }
    }

    /// Sets the flag and wakes every waiting task. Does nothing if it is
    /// already set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = magpie_sync::Event::new();
    /// event.set();
    /// futures::executor::block_on(event.wait()); // returns at once
    /// ```
    pub fn set(&self) {
        let state = self.list.state();
        let mut s = state.load(Acquire);
        loop {
            if s & SET != 0 {
                return;
            }
            if s & WAITERS != 0 {
                break;
            }
            match state.compare_exchange_weak(s, s | SET, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        // Somebody waits: set the flag with the lock held, so that exactly
        // the waiters linked before it are the ones woken.
        let locked = self.list.lock();
        if state.fetch_or(SET, AcqRel) & SET == 0 {
            locked.notify_all();
        }
    }

    /// Clears the flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = magpie_sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.list.state().fetch_and(!SET, Release);
    }

    /// Whether the flag is set. This is the non-blocking form of
    /// [`wait`](Event::wait).
    pub fn is_set(&self) -> bool {
        self.list.state().load(Acquire) & SET != 0
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let event = Arc::new(magpie_sync::Event::new());
    /// let setter = event.clone();
    /// std::thread::spawn(move || setter.set());
    /// futures::executor::block_on(event.wait());
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait::from_op(FlagWait::new(self))
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Flag for Event {
    type Data = ();

    fn list(&self) -> &WaitList {
        &self.list
    }

    #[inline]
    fn link_unless_raised(&self, me: &mut Waiter<'_>, waker: &Waker) -> bool {
        link_unless_bit(&self.list, SET, me, waker)
    }
}

wait_future! {
    /// The future returned by [`Event::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Event, EventWait};
    ///
    /// let event = Event::new();
    /// let fut: EventWait<'_> = event.wait();
    /// event.set();
    /// futures::executor::block_on(fut);
    /// ```
    pub struct EventWait['a]['a](FlagWait<&'a Event>) -> ();
}
