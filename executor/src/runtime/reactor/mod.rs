//! The reactor: one OS poller per runtime (`polling`: epoll, kqueue,
//! event ports), driven by the workers themselves (issue 16, docs/io.md).
//!
//! # Sources
//!
//! A socket of `magpie::net` is registered once, when it is created
//! ([`Reactor::register`]), under a key never reused. Its [`Source`]
//! holds, per direction (read, write), a *ready* flag and one waker slot
//! per waiting operation, under a small mutex: several tasks may wait on
//! one socket at once (`accept` or `recv_from` through a shared
//! reference), and each must be woken. An operation takes its slot at its
//! first wait and gives it back when it completes or is dropped (a stream's
//! reader and writer keep one each). An operation tries its system call
//! first; only on `WouldBlock` does it call [`Registration::poll_ready`],
//! which
//!
//! * returns `Ready` at once if an event came since the last call (the
//!   flag is consumed: the caller retries its system call; a stale flag
//!   costs one extra `WouldBlock`, never a lost event);
//! * otherwise stores the waker in its slot and arms the poller for the
//!   directions that have a waker. Interest is oneshot and level-triggered: a socket
//!   that became ready between the `WouldBlock` and the arming reports at
//!   once, so no readiness is lost in that window.
//!
//! An event, under the same mutex, sets the flag of each ready direction,
//! takes every waker of it, and re-arms the directions that still wait (the
//! oneshot event disarmed them all). Of the operations it woke, the first
//! to poll consumes the flag and retries; the others find it clear and wait
//! again, and a socket still ready reports again as soon as they re-arm it.
//!
//! # Who drives the poller
//!
//! Nobody runs a reactor thread. Whoever holds the *driver* (a flag taken
//! by compare-exchange, with the event buffer: one driver at a time)
//! collects events and wakes their tasks:
//!
//! * **the worker about to park.** After rule 4 of the park protocol (the
//!   last searcher's re-check, `scheduler::idle`), a worker that gets the
//!   driver sleeps in `poller.wait` instead of on its condition variable,
//!   until the next timer deadline if it is also the armed timer worker.
//!   Its `Parker` is then in the `POLLING` state, and an `unpark` (rule 1's
//!   notification, a timer kick, the shutdown) calls `poller.notify()`
//!   instead of signalling the condition variable (`scheduler::park`). A
//!   notification that arrives before the wait makes the wait return at
//!   once, so the argument of `scheduler::idle` ("no wakeup is lost")
//!   carries over with `notify` in place of the condition variable. The
//!   tasks the events wake are scheduled from that worker's thread, so
//!   they land in its own LIFO slot and deque: no injector, no futex;
//!   the worker leaves the sleeper list to run them (as for its timers);
//! * **a busy worker**, on the tick that already fires timers (every
//!   `global_queue_interval`), polls with a zero timeout if the driver is
//!   free;
//! * **the monitor**, when every worker is parked or inside one long
//!   poll and at least one is busy, polls with a zero timeout; the tasks
//!   it wakes go to the injector.
//!
//! # Registration and shutdown
//!
//! A source leaves the table (and the poller) in its owner's drop, before
//! the socket is closed, under the table's lock; dispatching holds the
//! same lock while it re-arms a source, so a descriptor the reactor
//! touches is always open. At shutdown ([`Reactor::shutdown`], from the
//! lifecycle's sweep) every source is marked shut down and its wakers are
//! woken: an operation on a socket whose runtime is gone returns an
//! `io::Error`, and registering a new socket fails the same way.

mod poller;

use self::poller::{Events, Poller};
use crate::loom::sync::atomic::AtomicBool;
use crate::loom::sync::atomic::Ordering::{Acquire, Release};
use crate::loom::sync::{Arc, Mutex, MutexGuard};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// The direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read = 0,
    #[cfg_attr(loom, allow(dead_code))]
    Write = 1,
}

#[derive(Default)]
struct Direction {
    /// An event came since the last `poll_ready` of this direction.
    ready: bool,
    /// One slot per operation waiting in this direction: several tasks may
    /// wait on one socket at once (`accept` or `recv_from` through a shared
    /// reference), and each must be woken. An operation keeps its slot (a
    /// [`Slot`]) from its first wait until it completes or is dropped; an
    /// event takes every waker and leaves the slots empty until their
    /// operations poll again.
    slots: Vec<Option<Waker>>,
    /// Indices of `slots` no operation holds.
    free: Vec<usize>,
}

/// The slot an operation holds in a direction of its source, `None` until
/// it first waits. Release it with [`Registration::release`] when the
/// operation ends (a `Drop` guard does, see `net`).
pub(crate) type Slot = Option<usize>;

impl Direction {
    fn is_waiting(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    /// Stores `waker` in `slot` (taking a slot on the first wait); returns
    /// the waker it replaces, to drop outside the lock.
    fn store(&mut self, slot: &mut Slot, waker: &Waker) -> Option<Waker> {
        let index = match *slot {
            Some(index) => index,
            None => {
                let index = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
                *slot = Some(index);
                index
            }
        };
        match &self.slots[index] {
            Some(old) if old.will_wake(waker) => None,
            _ => self.slots[index].replace(waker.clone()),
        }
    }

    /// Gives `slot` back; returns the waker it still held.
    fn release(&mut self, slot: &mut Slot) -> Option<Waker> {
        let index = slot.take()?;
        self.free.push(index);
        self.slots[index].take()
    }

    /// Takes every waiting operation's waker.
    fn take_wakers(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.slots.iter_mut().filter_map(Option::take));
    }
}

#[derive(Default)]
struct State {
    dirs: [Direction; 2],
    shut_down: bool,
}

impl State {
    fn waiting(&self) -> (bool, bool) {
        (self.dirs[0].is_waiting(), self.dirs[1].is_waiting())
    }
}

/// One registered socket's readiness.
pub(crate) struct Source {
    key: usize,
    #[cfg(not(loom))]
    fd: std::os::fd::RawFd,
    state: Mutex<State>,
}

struct Table {
    sources: HashMap<usize, Arc<Source>>,
    next_key: usize,
    shut_down: bool,
}

/// The runtime's reactor (see the module doc).
pub(crate) struct Reactor {
    /// Sources registered: a hint that spares busy workers a system call
    /// while the runtime has no socket. A `std` atomic even under loom (a
    /// hint, not a part of any protocol).
    count: std::sync::atomic::AtomicUsize,
    poller: Poller,
    /// The driver: whoever sets this flag may wait in the poller. A flag
    /// taken by compare-exchange rather than a `try_lock`: loom's
    /// `try_lock` blocks a thread preempted inside it while another thread
    /// holds the lock (loom 0.7), which a real `try_lock` never does.
    driving: AtomicBool,
    /// The driver's event buffer, locked only by the flag's holder (so
    /// never contended).
    events: Mutex<Events>,
    table: Mutex<Table>,
}

pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other(
        "magpie::net: this socket's runtime has shut down, and nothing polls its reactor any more",
    )
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            count: std::sync::atomic::AtomicUsize::new(0),
            poller: Poller::new()?,
            driving: AtomicBool::new(false),
            events: Mutex::new(Events::new()),
            table: Mutex::new(Table {
                sources: HashMap::new(),
                next_key: 0,
                shut_down: false,
            }),
        })
    }

    /// Wakes the worker waiting in the poller, or makes the next wait
    /// return at once.
    pub(crate) fn notify(&self) {
        self.poller.notify();
    }

    /// Takes the driver, if nobody holds it.
    pub(crate) fn try_drive(&self) -> Option<Driver<'_>> {
        if self
            .driving
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_err()
        {
            return None;
        }
        Some(Driver {
            reactor: self,
            events: Some(self.events.lock()),
        })
    }

    /// Registers a socket (no interest yet).
    #[cfg(not(loom))]
    pub(crate) fn register(
        this: &Arc<Self>,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> io::Result<Registration> {
        use std::os::fd::AsRawFd;
        let mut table = this.table.lock();
        if table.shut_down {
            return Err(shut_down_error());
        }
        let key = table.next_key;
        this.poller.add(fd, key)?;
        table.next_key += 1;
        let source = Arc::new(Source {
            key,
            fd: fd.as_raw_fd(),
            state: Mutex::new(State::default()),
        });
        table.sources.insert(key, source.clone());
        this.count.fetch_add(1, Relaxed);
        Ok(Registration {
            reactor: this.clone(),
            source,
        })
    }

    /// Registers a model's fake socket (loom).
    #[cfg(loom)]
    pub(crate) fn register(this: &Arc<Self>) -> io::Result<Registration> {
        let mut table = this.table.lock();
        if table.shut_down {
            return Err(shut_down_error());
        }
        let key = table.next_key;
        this.poller.add(key)?;
        table.next_key += 1;
        let source = Arc::new(Source {
            key,
            state: Mutex::new(State::default()),
        });
        table.sources.insert(key, source.clone());
        this.count.fetch_add(1, Relaxed);
        Ok(Registration {
            reactor: this.clone(),
            source,
        })
    }

    fn arm(&self, source: &Source, readable: bool, writable: bool) -> io::Result<()> {
        #[cfg(not(loom))]
        return self
            .poller
            .modify(source.fd, source.key, readable, writable);
        #[cfg(loom)]
        return self.poller.modify(source.key, readable, writable);
    }

    /// The runtime is shutting down: every source is marked shut down and
    /// its waiting tasks are woken (they will see the error).
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        let mut table = self.table.lock();
        table.shut_down = true;
        for source in table.sources.values() {
            let mut state = source.state.lock();
            state.shut_down = true;
            for dir in &mut state.dirs {
                dir.take_wakers(&mut wakers);
            }
        }
        drop(table);
        wake_all(wakers);
    }

    /// Sockets registered now.
    pub(crate) fn registered(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Whether any socket is registered (a hint).
    pub(crate) fn has_sources(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Loom's "network": makes the source `key` readable.
    #[cfg(loom)]
    pub(crate) fn fire(&self, key: usize) {
        self.poller.fire(key);
    }

    /// Loom's "read": consumes the source's readability.
    #[cfg(loom)]
    pub(crate) fn take_readable(&self, key: usize) -> bool {
        self.poller.take(key)
    }
}

fn wake_all(wakers: Vec<Waker>) -> usize {
    let n = wakers.len();
    for waker in wakers {
        // A panicking waker must not stop the others from being woken.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
    }
    n
}

/// The right to wait in the poller, held by one thread at a time.
pub(crate) struct Driver<'a> {
    reactor: &'a Reactor,
    /// `Some` until the driver is released.
    events: Option<MutexGuard<'a, Events>>,
}

impl Drop for Driver<'_> {
    fn drop(&mut self) {
        drop(self.events.take());
        self.reactor.driving.store(false, Release);
    }
}

impl Driver<'_> {
    fn events(&mut self) -> &mut Events {
        self.events
            .as_mut()
            .expect("held until the driver is released")
    }

    /// Waits for events, a `notify`, or the deadline.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) {
        let poller = &self.reactor.poller;
        poller.wait(self.events(), deadline);
    }

    /// Collects the events already pending, without sleeping.
    pub(crate) fn poll_now(&mut self) {
        let poller = &self.reactor.poller;
        poller.poll_now(self.events());
    }

    /// Releases the driver and wakes the tasks of the collected events;
    /// returns how many were woken.
    pub(crate) fn dispatch(mut self) -> usize {
        let reactor = self.reactor;
        let mut wakers = Vec::new();
        let table = reactor.table.lock();
        for ev in self.events().iter() {
            let Some(source) = table.sources.get(&ev.key) else {
                continue;
            };
            let mut state = source.state.lock();
            for (ready, dir) in [ev.readable, ev.writable].into_iter().zip(&mut state.dirs) {
                if ready {
                    dir.ready = true;
                    dir.take_wakers(&mut wakers);
                }
            }
            let (readable, writable) = state.waiting();
            if (readable || writable) && !state.shut_down {
                if let Err(e) = reactor.arm(source, readable, writable) {
                    // Its waiters would never be woken: wake them now; their
                    // system call reports the socket's problem, or they
                    // re-arm.
                    tracing::warn!("magpie: could not re-arm a socket in the poller: {e}");
                    for dir in &mut state.dirs {
                        dir.ready = true;
                        dir.take_wakers(&mut wakers);
                    }
                }
            }
        }
        drop(table);
        drop(self);
        wake_all(wakers)
    }
}

/// A socket's registration with its runtime's reactor. Dropping it removes
/// the socket from the reactor: the owner must drop it before the socket
/// (`net::PollIo` declares it first).
pub(crate) struct Registration {
    reactor: Arc<Reactor>,
    source: Arc<Source>,
}

impl Registration {
    /// After an operation returned `WouldBlock`: `Ready(Ok)` if the socket
    /// became ready since (retry the operation), `Pending` once the task
    /// will be woken by the next event, `Ready(Err)` if the runtime shut
    /// down or the poller refused the socket.
    ///
    /// `slot` is the operation's own slot in the direction (see
    /// [`Direction`]): each operation that may wait at the same time as
    /// another on this socket needs its own, so that every one is woken.
    /// Give it back with [`release`](Self::release) when the operation
    /// ends.
    pub(crate) fn poll_ready(
        &self,
        interest: Interest,
        slot: &mut Slot,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.source.state.lock();
        if state.shut_down {
            return Poll::Ready(Err(shut_down_error()));
        }
        let dir = &mut state.dirs[interest as usize];
        if dir.ready {
            // Every waker was taken with the event that set the flag, and
            // every operation woken by it will poll again: the first one
            // retries its system call, the others wait for the next event
            // (interest is level-triggered, so a socket still ready reports
            // again as soon as they re-arm it).
            dir.ready = false;
            return Poll::Ready(Ok(()));
        }
        let old = dir.store(slot, cx.waker());
        let (readable, writable) = state.waiting();
        let armed = self.reactor.arm(&self.source, readable, writable);
        if let Err(e) = armed {
            let mine = state.dirs[interest as usize].release(slot);
            drop(state);
            drop((old, mine));
            return Poll::Ready(Err(e));
        }
        drop(state);
        // Dropped outside the lock: it may be a task's last reference.
        drop(old);
        Poll::Pending
    }

    /// Gives back an operation's slot (it completed, or was dropped while
    /// waiting). Without this a dropped operation's waker would stay until
    /// the next event.
    pub(crate) fn release(&self, interest: Interest, slot: &mut Slot) {
        if slot.is_none() {
            return;
        }
        let waker = self.source.state.lock().dirs[interest as usize].release(slot);
        // Outside the lock: it may be a task's last reference.
        drop(waker);
    }

    /// The key the source is registered under (loom models fire it).
    #[cfg(loom)]
    pub(crate) fn key(&self) -> usize {
        self.source.key
    }

    #[cfg(loom)]
    pub(crate) fn reactor(&self) -> &Reactor {
        &self.reactor
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut table = self.reactor.table.lock();
        table.sources.remove(&self.source.key);
        self.reactor.count.fetch_sub(1, Relaxed);
        // Under the table's lock, the socket still open (see the module
        // doc): no dispatch can touch the descriptor after this.
        #[cfg(not(loom))]
        self.reactor.poller.delete(self.source.fd);
        #[cfg(loom)]
        self.reactor.poller.delete(self.source.key);
        drop(table);
        // Wakers left by a cancelled operation, dropped outside the lock.
        let mut wakers = Vec::new();
        {
            let mut state = self.source.state.lock();
            for dir in &mut state.dirs {
                dir.take_wakers(&mut wakers);
            }
        }
        drop(wakers);
    }
}
