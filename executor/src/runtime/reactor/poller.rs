//! The OS poller behind the reactor: `polling::Poller` normally, a
//! loom-visible stand-in under `cfg(loom)` with the same contract:
//!
//! * `wait` returns when an event is delivered, when `notify` is called,
//!   or when its deadline passes; it may also return spuriously;
//! * a `notify` that comes before `wait` makes that `wait` return at once
//!   (polling's eventfd/pipe guarantees it; the stand-in keeps a flag);
//! * interest is **oneshot**: an event disarms its source until the next
//!   `modify`, and `modify` is level-triggered (a source already ready
//!   when it is re-armed reports at once).

/// One readiness event: the source's key and which directions are ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

#[cfg(not(loom))]
pub(crate) use self::os::{Events, Poller};

#[cfg(loom)]
pub(crate) use self::stand_in::{Events, Poller};

#[cfg(not(loom))]
mod os {
    use super::Ready;
    use std::io;
    use std::num::NonZeroUsize;
    use std::os::fd::{BorrowedFd, RawFd};
    use std::time::{Duration, Instant};

    /// How many events one wait returns at most.
    const EVENTS: usize = 1024;

    pub(crate) struct Poller {
        poller: polling::Poller,
    }

    /// The driver's event buffer.
    pub(crate) struct Events(polling::Events);

    impl Events {
        pub(crate) fn new() -> Events {
            Events(polling::Events::with_capacity(
                NonZeroUsize::new(EVENTS).expect("non-zero"),
            ))
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
            self.0.iter().map(|ev| Ready {
                key: ev.key,
                readable: ev.readable,
                writable: ev.writable,
            })
        }
    }

    fn interest(key: usize, readable: bool, writable: bool) -> polling::Event {
        match (readable, writable) {
            (true, true) => polling::Event::all(key),
            (true, false) => polling::Event::readable(key),
            (false, true) => polling::Event::writable(key),
            (false, false) => polling::Event::none(key),
        }
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            Ok(Poller {
                poller: polling::Poller::new()?,
            })
        }

        /// Wakes the current or the next `wait`.
        pub(crate) fn notify(&self) {
            if let Err(e) = self.poller.notify() {
                // An eventfd write fails only if the process is out of
                // resources; a lost notification would be a hang.
                panic!("magpie: could not wake the worker waiting in the I/O poller: {e}");
            }
        }

        /// Waits for events until `deadline` (forever with `None`); the
        /// events replace the buffer's.
        pub(crate) fn wait(&self, events: &mut Events, deadline: Option<Instant>) {
            events.0.clear();
            let result = match deadline {
                Some(deadline) => self.poller.wait_deadline(&mut events.0, deadline),
                None => self.poller.wait(&mut events.0, None),
            };
            if let Err(e) = result {
                // EINTR is retried by polling; anything else leaves the
                // buffer empty and the caller looks for work again.
                tracing::warn!("magpie: the I/O poller's wait failed: {e}");
            }
        }

        /// Collects the events already pending, without sleeping.
        pub(crate) fn poll_now(&self, events: &mut Events) {
            events.0.clear();
            if let Err(e) = self.poller.wait(&mut events.0, Some(Duration::ZERO)) {
                tracing::warn!("magpie: the I/O poller's wait failed: {e}");
            }
        }

        /// Registers `fd` under `key`, with no interest yet.
        ///
        /// The caller must call [`delete`](Self::delete) before `fd` is
        /// closed (`runtime::reactor::Registration`'s drop does).
        pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
            // SAFETY: polling requires the source to be deleted from the
            // poller before it is closed. Every `add` is made by
            // `Reactor::register` for a socket owned by a `Registration`'s
            // owner (`net::PollIo`), whose drop deregisters (`delete`)
            // before the socket is dropped; a runtime shutting down deletes
            // every source it still holds. `fd` is open for this call (it is
            // borrowed).
            unsafe { self.poller.add(&fd, interest(key, false, false)) }
        }

        /// Arms `fd` (oneshot) for the given directions.
        ///
        /// `fd` must be open: see [`borrow`].
        pub(crate) fn modify(
            &self,
            fd: RawFd,
            key: usize,
            readable: bool,
            writable: bool,
        ) -> io::Result<()> {
            self.poller
                .modify(borrow(fd), interest(key, readable, writable))
        }

        /// Removes `fd` from the poller. `fd` must be open: see [`borrow`].
        pub(crate) fn delete(&self, fd: RawFd) {
            // An error would mean the fd is not registered: nothing to undo.
            let _ = self.poller.delete(borrow(fd));
        }
    }

    /// A registered source's descriptor, for one `modify` or `delete`.
    ///
    /// Every caller holds the reactor's source table lock with the source
    /// still in the table, or is the socket's owner (which still holds the
    /// socket); a source leaves the table, under that lock, only in its
    /// owner's drop, before the socket is closed (`runtime::reactor`'s
    /// "Registration" section).
    fn borrow<'a>(fd: RawFd) -> BorrowedFd<'a> {
        // SAFETY: by the callers' contract above, `fd` is an open
        // descriptor for the whole use of the borrow (one `modify` or
        // `delete` call), which ends before the table lock is released or
        // the owner's call returns.
        unsafe { BorrowedFd::borrow_raw(fd) }
    }
}

#[cfg(loom)]
mod stand_in {
    //! The poller under loom: a mutex, a condition variable, a notify
    //! flag, and a tiny "kernel" that keeps each source's readiness, so
    //! that a model can deliver a readiness event at any point of an
    //! interleaving (`fire`) and read the "socket" (`take`).
    use super::Ready;
    use crate::loom::sync::{Condvar, Mutex};
    use std::io;
    use std::time::Instant;

    #[derive(Default)]
    struct Kernel {
        /// A `notify` not yet consumed by a `wait`.
        notified: bool,
        /// Per key: (interest read, interest write, ready read, ready write).
        sources: Vec<(usize, [bool; 4])>,
        /// Events delivered and not yet collected by a `wait`.
        queued: Vec<Ready>,
    }

    impl Kernel {
        fn entry(&mut self, key: usize) -> &mut [bool; 4] {
            if let Some(pos) = self.sources.iter().position(|(k, _)| *k == key) {
                return &mut self.sources[pos].1;
            }
            self.sources.push((key, [false; 4]));
            &mut self.sources.last_mut().expect("pushed").1
        }

        /// Level-triggered oneshot: delivers an event if an armed
        /// direction is ready, and disarms the source.
        fn deliver(&mut self, key: usize) -> bool {
            let s = self.entry(key);
            let readable = s[0] && s[2];
            let writable = s[1] && s[3];
            if !(readable || writable) {
                return false;
            }
            s[0] = false;
            s[1] = false;
            self.queued.push(Ready {
                key,
                readable,
                writable,
            });
            true
        }
    }

    pub(crate) struct Poller {
        kernel: Mutex<Kernel>,
        cvar: Condvar,
    }

    pub(crate) struct Events(Vec<Ready>);

    impl Events {
        pub(crate) fn new() -> Events {
            Events(Vec::new())
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
            self.0.iter().copied()
        }
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            Ok(Poller {
                kernel: Mutex::new(Kernel::default()),
                cvar: Condvar::new(),
            })
        }

        pub(crate) fn notify(&self) {
            self.kernel.lock().notified = true;
            self.cvar.notify_one();
        }

        /// Loom has no clock: a wait with a deadline does not sleep (the
        /// worker jumps virtual time to it instead).
        pub(crate) fn wait(&self, events: &mut Events, deadline: Option<Instant>) {
            self.wait_inner(events, deadline.is_none());
        }

        pub(crate) fn poll_now(&self, events: &mut Events) {
            self.wait_inner(events, false);
        }

        fn wait_inner(&self, events: &mut Events, block: bool) {
            events.0.clear();
            let mut kernel = self.kernel.lock();
            loop {
                if kernel.notified || !kernel.queued.is_empty() {
                    kernel.notified = false;
                    events.0.append(&mut kernel.queued);
                    return;
                }
                if !block {
                    return;
                }
                self.cvar.wait(&mut kernel);
            }
        }

        pub(crate) fn add(&self, key: usize) -> io::Result<()> {
            self.kernel.lock().entry(key);
            Ok(())
        }

        pub(crate) fn modify(&self, key: usize, readable: bool, writable: bool) -> io::Result<()> {
            let mut kernel = self.kernel.lock();
            let s = kernel.entry(key);
            s[0] = readable;
            s[1] = writable;
            if kernel.deliver(key) {
                drop(kernel);
                self.cvar.notify_one();
            }
            Ok(())
        }

        pub(crate) fn delete(&self, key: usize) {
            self.kernel.lock().sources.retain(|(k, _)| *k != key);
        }

        /// The model's "network": the source becomes readable.
        pub(crate) fn fire(&self, key: usize) {
            let mut kernel = self.kernel.lock();
            kernel.entry(key)[2] = true;
            if kernel.deliver(key) {
                drop(kernel);
                self.cvar.notify_one();
            }
        }

        /// The model's "read": consumes the source's readability.
        pub(crate) fn take(&self, key: usize) -> bool {
            std::mem::take(&mut self.kernel.lock().entry(key)[2])
        }
    }
}
