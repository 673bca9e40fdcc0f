//! The reactor: one OS poller per runtime (`polling`: epoll, kqueue,
//! event ports), driven by the workers themselves (issue 16, docs/io.md).
//!
//! # Sources
//!
//! A socket of `magpie::net` is registered once, when it is created
//! ([`Reactor::register`]), under a key never reused. Its [`Source`]
//! holds, per direction (read, write), a *ready* flag and a waker slot,
//! under a small mutex. An operation tries its system call first; only on
//! `WouldBlock` does it call [`Registration::poll_ready`], which
//!
//! * returns `Ready` at once if an event came since the last call (the
//!   flag is consumed: the caller retries its system call; a stale flag
//!   costs one extra `WouldBlock`, never a lost event);
//! * otherwise stores the waker and arms the poller for the directions
//!   that have a waker. Interest is oneshot and level-triggered: a socket
//!   that became ready between the `WouldBlock` and the arming reports at
//!   once, so no readiness is lost in that window.
//!
//! An event, under the same mutex, sets the flag of each ready direction,
//! takes its waker, and re-arms the directions that still wait (the
//! oneshot event disarmed them all).
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
    waker: Option<Waker>,
}

#[derive(Default)]
struct State {
    dirs: [Direction; 2],
    shut_down: bool,
}

impl State {
    fn waiting(&self) -> (bool, bool) {
        (self.dirs[0].waker.is_some(), self.dirs[1].waker.is_some())
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
                wakers.extend(dir.waker.take());
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
                    wakers.extend(dir.waker.take());
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
                        wakers.extend(dir.waker.take());
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
    pub(crate) fn poll_ready(
        &self,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.source.state.lock();
        if state.shut_down {
            return Poll::Ready(Err(shut_down_error()));
        }
        let dir = &mut state.dirs[interest as usize];
        if dir.ready {
            dir.ready = false;
            return Poll::Ready(Ok(()));
        }
        let old = match &dir.waker {
            Some(waker) if waker.will_wake(cx.waker()) => None,
            _ => dir.waker.replace(cx.waker().clone()),
        };
        let (readable, writable) = state.waiting();
        let armed = self.reactor.arm(&self.source, readable, writable);
        if let Err(e) = armed {
            state.dirs[interest as usize].waker = None;
            drop(state);
            drop(old);
            return Poll::Ready(Err(e));
        }
        drop(state);
        // Dropped outside the lock: it may be a task's last reference.
        drop(old);
        Poll::Pending
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
        let wakers: Vec<Waker> = {
            let mut state = self.source.state.lock();
            state
                .dirs
                .iter_mut()
                .filter_map(|d| d.waker.take())
                .collect()
        };
        drop(wakers);
    }
}
