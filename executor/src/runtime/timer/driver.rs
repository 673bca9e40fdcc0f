//! The time driver: the runtime's timing wheel behind a lock, its clock, and
//! who is due to wake up for the next deadline.
//!
//! # Who drives the wheel
//!
//! Nobody runs a timer thread. The wheel is advanced by whoever is awake
//! when a deadline passes:
//!
//! * **A parking worker.** A worker with nothing to do fires what is due,
//!   then, if no other parked worker is already waiting for the wheel,
//!   *arms* itself: it records the tick it will wake at and parks until
//!   that instant instead of indefinitely. When it wakes for the deadline it
//!   leaves the sleeper list and fires the timers itself, so the woken tasks
//!   land in its own queue and run without another thread hop. At most one
//!   worker is armed, so a deadline wakes one thread, not all of them.
//! * **Busy workers** check the wheel every `global_queue_interval` ticks
//!   (one clock read and one atomic load when nothing is due).
//! * **The monitor** (the runtime's watchdog thread) is the fallback when
//!   no worker is armed because every worker is busy, perhaps inside a long
//!   poll: it sleeps until the next deadline (or its own interval) and fires
//!   the timers from outside.
//!
//! # Why no deadline is missed
//!
//! Registering a timer, arming and disarming all happen under the wheel's
//! lock. A registration whose deadline comes before the tick the armed
//! worker (or, with no armed worker, the monitor) will wake at lowers that
//! tick and *kicks* the sleeper, which re-arms for the new deadline. So at
//! every moment either the earliest deadline is covered by a sleeper that
//! will wake for it, or a kick is on its way to one (a `Parker` remembers an
//! unpark that arrives before it parks).
//!
//! Under `cfg(loom)` there is no monitor and no real clock: see [`Clock`].

use super::wheel::{Inserted, Key, Wheel};
use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Who must be woken to take account of a new, earlier deadline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kick {
    Nobody,
    /// The worker parked as the timer driver.
    Worker(usize),
    /// No worker is armed: the monitor (or, under loom, a parked worker).
    Fallback,
}

struct Inner {
    wheel: Wheel,
    /// The worker parked for the next deadline, and the tick it wakes at.
    armed: Option<(usize, u64)>,
    /// The tick at which the fallback (the monitor) will next look at the
    /// wheel; `u64::MAX` if it sleeps without regard to timers.
    fallback_wake: u64,
    shutdown: bool,
}

/// The time source. Real time normally; under loom, the model's virtual
/// clock ([`virtual_clock`]), which only moves when an idle worker jumps it
/// to the next deadline (loom has no clock and its executions must be
/// deterministic).
///
/// A simulation's driver ([`Driver::new_virtual`]) has a clock of its own
/// instead: virtual nanoseconds since its start, moved only by the
/// simulation ([`Driver::jump_virtual_to`]).
pub(crate) struct Clock {
    start: Instant,
    /// `Some` for a simulation's virtual clock: nanoseconds since `start`.
    /// A plain `std` atomic: only the simulation's thread moves it.
    virtual_nanos: Option<std::sync::atomic::AtomicU64>,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: now(),
            virtual_nanos: None,
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match &self.virtual_nanos {
            None => now(),
            Some(nanos) => {
                self.start + Duration::from_nanos(nanos.load(std::sync::atomic::Ordering::Relaxed))
            }
        }
    }

    /// The tick containing `t` (rounded down: the tick that has begun).
    fn tick_floor(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.start).as_nanos() >> super::wheel::TICK_SHIFT) as u64
    }

    /// The first tick that begins at or after `t` (rounded up, so that a
    /// timer never fires before its deadline).
    fn tick_ceil(&self, t: Instant) -> u64 {
        let nanos = t.saturating_duration_since(self.start).as_nanos();
        let tick = super::wheel::TICK.as_nanos();
        nanos.div_ceil(tick).min(u64::MAX as u128 - 1) as u64
    }

    /// The instant tick `tick` begins.
    fn instant(&self, tick: u64) -> Instant {
        let nanos = (tick as u128) << super::wheel::TICK_SHIFT;
        // Far-future ticks saturate at about 584 years.
        self.start + Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }
}

/// The runtime's timers.
pub(crate) struct Driver {
    inner: Mutex<Inner>,
    pub(crate) clock: Clock,
    /// The earliest tick the wheel has work at (`u64::MAX` if none): lets a
    /// busy worker see that nothing is due without taking the lock.
    next_tick: AtomicU64,
}

/// Wakers of fired timers, woken after the lock is released.
pub(crate) type Fired = Vec<Waker>;

impl Driver {
    pub(crate) fn new() -> Driver {
        Driver::with_clock(Clock::new())
    }

    /// A driver on a virtual clock that starts at the real instant of this
    /// call and moves only by [`jump_virtual_to`](Self::jump_virtual_to):
    /// a simulation's (`runtime::sim`), which has no worker to arm and no
    /// monitor, and fires its timers itself when no task can run.
    #[cfg(not(loom))]
    pub(crate) fn new_virtual() -> Driver {
        Driver::with_clock(Clock {
            start: now(),
            virtual_nanos: Some(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    fn with_clock(clock: Clock) -> Driver {
        Driver {
            inner: Mutex::new(Inner {
                wheel: Wheel::new(),
                armed: None,
                fallback_wake: u64::MAX,
                shutdown: false,
            }),
            clock,
            next_tick: AtomicU64::new(u64::MAX),
        }
    }

    /// Virtual clock only: moves it forward to `to` (never backward).
    ///
    /// # Panics
    ///
    /// On a real-time driver.
    #[cfg(not(loom))]
    pub(crate) fn jump_virtual_to(&self, to: Instant) {
        let nanos = self
            .clock
            .virtual_nanos
            .as_ref()
            .expect("jump_virtual_to on a real-time driver");
        let to = u64::try_from(to.saturating_duration_since(self.clock.start).as_nanos())
            .unwrap_or(u64::MAX);
        nanos.fetch_max(to, std::sync::atomic::Ordering::Relaxed);
    }

    /// The instant the wheel next has work at (a deadline, or an earlier
    /// cascade of a coarse slot that fires nothing), if a timer is pending.
    #[cfg(not(loom))]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let inner = self.inner.lock();
        inner.wheel.next_expiration().map(|t| self.clock.instant(t))
    }

    fn publish_next(&self, inner: &Inner) {
        let next = inner.wheel.next_expiration().unwrap_or(u64::MAX);
        self.next_tick.store(next, Ordering::Release);
    }

    /// Files a timer for `deadline`. `Err(())` if it is already due.
    ///
    /// # Panics
    ///
    /// If the runtime has shut down: nobody would ever fire the timer.
    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> (Result<Key, ()>, Kick) {
        let tick = self.clock.tick_ceil(deadline);
        let mut inner = self.inner.lock();
        assert!(!inner.shutdown, "{SHUT_DOWN}");
        let (key, inserted) = inner.wheel.insert(tick, waker.clone());
        if inserted == Inserted::Due {
            let waker = inner.wheel.remove(key);
            drop(inner);
            drop(waker);
            return (Err(()), Kick::Nobody);
        }
        let kick = self.kick_for(&mut inner, tick);
        self.publish_next(&inner);
        (Ok(key), kick)
    }

    /// Moves a timer to a new deadline. `true` if it is already due.
    pub(crate) fn reset(&self, key: Key, deadline: Instant) -> (bool, Kick) {
        let tick = self.clock.tick_ceil(deadline);
        let mut inner = self.inner.lock();
        assert!(!inner.shutdown, "{SHUT_DOWN}");
        if inner.wheel.reset(key, tick) == Inserted::Due {
            return (true, Kick::Nobody);
        }
        let kick = self.kick_for(&mut inner, tick);
        self.publish_next(&inner);
        (false, kick)
    }

    /// Decides whom a new deadline at `tick` must wake, and records that it
    /// is covered.
    fn kick_for(&self, inner: &mut Inner, tick: u64) -> Kick {
        match &mut inner.armed {
            Some((worker, wake_at)) => {
                if tick < *wake_at {
                    *wake_at = tick;
                    return Kick::Worker(*worker);
                }
                Kick::Nobody
            }
            None => {
                if tick < inner.fallback_wake {
                    inner.fallback_wake = tick;
                    return Kick::Fallback;
                }
                Kick::Nobody
            }
        }
    }

    /// `Ready` if the timer fired (it is then removed); otherwise makes sure
    /// it will wake `waker`.
    pub(crate) fn poll(&self, key: Key, waker: &Waker) -> Poll<()> {
        let mut inner = self.inner.lock();
        if inner.shutdown {
            drop(inner);
            panic!("{SHUT_DOWN}");
        }
        let replaced = inner.wheel.poll_entry(key, waker);
        drop(inner);
        match replaced {
            Ok(()) => Poll::Ready(()),
            Err(old) => {
                drop(old);
                Poll::Pending
            }
        }
    }

    /// Removes a timer (its owner was dropped).
    pub(crate) fn remove(&self, key: Key) {
        let mut inner = self.inner.lock();
        let waker = inner.wheel.remove(key);
        drop(inner);
        drop(waker);
    }

    /// True if some timer is due at `now` (no lock: a hint).
    #[inline]
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        let next = self.next_tick.load(Ordering::Acquire);
        next != u64::MAX && next <= self.clock.tick_floor(now)
    }

    /// True if any timer is pending (no lock: a hint).
    #[inline]
    pub(crate) fn has_timers(&self) -> bool {
        self.next_tick.load(Ordering::Acquire) != u64::MAX
    }

    /// Advances the wheel to `now` and wakes every timer that expired.
    /// Returns how many fired.
    pub(crate) fn fire_due(&self, now: Instant) -> usize {
        let fired = self.take_due(now);
        let n = fired.len();
        for waker in fired {
            // A panicking waker must not stop the others from being woken.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
        n
    }

    /// Advances the wheel to `now` and returns the wakers of every timer
    /// that expired, in the wheel's order, without waking them (a
    /// simulation orders them by its seed first).
    pub(crate) fn take_due(&self, now: Instant) -> Fired {
        let mut fired = Fired::new();
        let mut inner = self.inner.lock();
        let tick = self.clock.tick_floor(now);
        inner.wheel.advance(tick, |w| fired.push(w));
        self.publish_next(&inner);
        fired
    }

    /// A parking worker offers to wait for the next deadline. Returns the
    /// instant to wake at if it is now the armed driver.
    pub(crate) fn arm_worker(&self, worker: usize) -> Option<Instant> {
        if !self.has_timers() {
            return None;
        }
        let mut inner = self.inner.lock();
        if inner.armed.is_some() || inner.shutdown {
            return None;
        }
        let tick = inner.wheel.next_expiration()?;
        inner.armed = Some((worker, tick));
        Some(self.clock.instant(tick))
    }

    /// The armed worker woke up (for its deadline, a kick, or work): it no
    /// longer covers the wheel. If timers remain, the fallback must now
    /// cover the next one: the returned kick says whether it must be woken
    /// to re-arm.
    pub(crate) fn disarm_worker(&self, worker: usize) -> Kick {
        let mut inner = self.inner.lock();
        if !matches!(inner.armed, Some((w, _)) if w == worker) {
            return Kick::Nobody;
        }
        inner.armed = None;
        match inner.wheel.next_expiration() {
            Some(tick) => self.kick_for(&mut inner, tick),
            None => Kick::Nobody,
        }
    }

    /// The fallback is going to sleep until `until` at the latest: returns
    /// when it must wake, which is earlier if no worker is armed and a timer
    /// is due before then.
    pub(crate) fn arm_fallback(&self, until: Instant) -> Instant {
        let mut inner = self.inner.lock();
        let mut wake = self.clock.tick_ceil(until);
        if inner.armed.is_none() {
            if let Some(tick) = inner.wheel.next_expiration() {
                wake = wake.min(tick);
            }
        }
        inner.fallback_wake = wake;
        self.clock.instant(wake)
    }

    /// The runtime shut down: later polls and registrations panic rather
    /// than wait for a timer nobody will fire. The wakers still filed are
    /// dropped.
    pub(crate) fn shutdown(&self) {
        let mut inner = self.inner.lock();
        inner.shutdown = true;
        let old = std::mem::replace(&mut inner.wheel, Wheel::new());
        drop(inner);
        drop(old);
        self.next_tick.store(u64::MAX, Ordering::Release);
    }

    /// Timers pending (for metrics and tests).
    pub(crate) fn pending(&self) -> usize {
        self.inner.lock().wheel.pending()
    }

    /// Loom only: an idle worker jumps virtual time to the next deadline
    /// instead of sleeping for it.
    #[cfg(loom)]
    pub(crate) fn advance_virtual_to(&self, deadline: Instant) {
        virtual_clock::advance_to(deadline);
    }
}

/// The runtime's notion of "now": real time, or under loom the model's
/// virtual clock.
#[inline]
pub(crate) fn now() -> Instant {
    #[cfg(loom)]
    {
        virtual_clock::now()
    }
    #[cfg(not(loom))]
    {
        Instant::now()
    }
}

/// Loom's clock: one virtual clock per model execution, shared by every
/// runtime in it and by code outside any runtime (a `sleep` created before
/// `block_on` is entered reads it too), so that no execution of a model
/// reads real time. It starts at a fixed origin taken once per process and
/// only moves forward, when an idle worker jumps it to the next deadline.
///
/// Reading real time in a model made it nondeterministic: the distance
/// from a runtime's start to a deadline computed with `Instant::now()`
/// decided the wheel level the timer landed on (a 1 ms sleep is 63 ticks of
/// 16 µs, one short of the second level), so two executions of the same
/// schedule took different paths and loom aborted with "unexpected
/// exploration state".
#[cfg(loom)]
mod virtual_clock {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// The origin of virtual time: read from the real clock once per
    /// process, and only ever used as an origin, never as a time.
    static ORIGIN: OnceLock<Instant> = OnceLock::new();

    loom::lazy_static! {
        /// Nanoseconds of virtual time since `ORIGIN`, in this execution.
        /// A plain atomic: loom runs one thread at a time, so a read sees
        /// the last advance in the schedule's order, deterministically.
        static ref NANOS: AtomicU64 = AtomicU64::new(0);
    }

    fn origin() -> Instant {
        *ORIGIN.get_or_init(Instant::now)
    }

    pub(super) fn now() -> Instant {
        origin() + Duration::from_nanos(NANOS.load(Ordering::SeqCst))
    }

    pub(super) fn advance_to(to: Instant) {
        let nanos =
            u64::try_from(to.saturating_duration_since(origin()).as_nanos()).unwrap_or(u64::MAX);
        NANOS.fetch_max(nanos, Ordering::SeqCst);
    }
}

pub(crate) const SHUT_DOWN: &str = "a magpie timer was used after its runtime shut down: nothing \
     drives timers any more, so it would never fire";
