//! Putting one thread to sleep until another wakes it: a `Parker` is a
//! three-state atomic with a mutex and condition variable behind it.
//!
//! * `EMPTY`: no notification pending, nobody asleep.
//! * `PARKED`: the owner is asleep (or about to be) on the condvar.
//! * `NOTIFIED`: an `unpark` arrived; the next `park` returns at once.
//!
//! * `POLLING` (feature `net`): the owner is waiting in the reactor's
//!   poller (or about to be) instead of on the condvar.
//!
//! `unpark` before `park` is remembered, so no notification is lost; the
//! mutex is touched only when the owner actually sleeps. An `unpark` that
//! finds `POLLING` notifies the poller instead of the condvar; a poller
//! notification that comes before the wait makes the wait return at once
//! (see `runtime::reactor`), so the argument is the same.

#[cfg(all(feature = "net", unix))]
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};
#[cfg(all(feature = "net", unix))]
use crate::runtime::reactor::Reactor;
use std::time::Instant;

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;
#[cfg(all(feature = "net", unix))]
const POLLING: usize = 3;

pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
    /// The reactor a worker's parker may wait in.
    #[cfg(all(feature = "net", unix))]
    reactor: Option<Arc<Reactor>>,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
            #[cfg(all(feature = "net", unix))]
            reactor: None,
        }
    }

    /// A worker's parker, which may also sleep in `reactor`'s poller
    /// ([`park_polling`](Self::park_polling)).
    #[cfg(all(feature = "net", unix))]
    pub(crate) fn with_reactor(reactor: Arc<Reactor>) -> Parker {
        Parker {
            reactor: Some(reactor),
            ..Parker::new()
        }
    }

    /// Sleeps in the reactor's poller: `wait` is the poller's wait, made
    /// by the caller (who holds the driver). Returns at once if an
    /// `unpark` is pending; an `unpark` during `wait` notifies the poller.
    #[cfg(all(feature = "net", unix))]
    pub(crate) fn park_polling(&self, wait: impl FnOnce()) {
        invariant!(self.reactor.is_some());
        match self.state.compare_exchange(EMPTY, POLLING, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // A swap, for the same reason as in `park`.
                let prev = self.state.swap(EMPTY, SeqCst);
                invariant_eq!(prev, NOTIFIED);
                return;
            }
            Err(actual) => unreachable!("parker in state {actual} while its owner polls"),
        }
        wait();
        // Back to EMPTY, consuming an `unpark` that came during the wait
        // (the owner is awake and about to look for work anyway). A swap
        // (a read-modify-write) synchronizes with that `unpark`.
        self.state.swap(EMPTY, SeqCst);
    }

    /// Sleeps until [`unpark`](Self::unpark) is called (returns at once if
    /// it already was) or, with a deadline, until the deadline passes.
    pub(crate) fn park(&self, deadline: Option<Instant>) {
        // A pending notification is consumed without touching the lock.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock.lock();
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Notified between the first check and taking the lock.
                // A swap, not a store: another `unpark` may have come since
                // the compare-exchange read NOTIFIED, and only a
                // read-modify-write (which reads the latest value)
                // synchronizes with it, so that what its caller wrote
                // before unparking (e.g. the shutdown flag) is visible
                // here. A plain store would consume that notification
                // without the acquire, and the owner could park again on a
                // stale view (found by loom-tests/tests/task_state.rs).
                let prev = self.state.swap(EMPTY, SeqCst);
                invariant_eq!(prev, NOTIFIED);
                return;
            }
            Err(actual) => unreachable!("parker in state {actual} while its owner parks"),
        }
        loop {
            let timed_out = match deadline {
                Some(deadline) => self.cvar.wait_until(&mut guard, deadline).timed_out(),
                None => {
                    self.cvar.wait(&mut guard);
                    false
                }
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            if timed_out {
                // Nobody notified us: leave PARKED for EMPTY. An `unpark`
                // racing with this swap is consumed here, which is fine:
                // the owner is awake and about to look for work anyway.
                self.state.swap(EMPTY, SeqCst);
                return;
            }
            // Spurious wakeup: sleep again.
        }
    }

    /// Wakes the owner, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            #[cfg(all(feature = "net", unix))]
            POLLING => {
                // The owner waits in the poller (or is about to: the
                // notification is then remembered by the poller).
                if let Some(reactor) = &self.reactor {
                    reactor.notify();
                }
            }
            PARKED => {
                // Taking the lock orders this notification after the owner
                // started waiting (it holds the lock until it waits).
                drop(self.lock.lock());
                self.cvar.notify_one();
            }
            actual => unreachable!("parker in state {actual}"),
        }
    }
}
