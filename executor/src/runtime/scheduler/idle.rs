//! Who sleeps, who searches, and whom to wake: the park/unpark protocol.
//!
//! # States
//!
//! A worker is, at any moment, **running** tasks, **searching** (it has no
//! local work and is stealing from the others and the injector), or
//! **parked** (asleep on its [`Parker`](super::park::Parker)). One atomic
//! word packs two counters, read and written only through named accessors:
//!
//! * `num_unparked`: workers not parked (running or searching);
//! * `num_searching`: workers searching.
//!
//! The list of parked workers (`sleepers`) sits under a mutex, and
//! `num_unparked` changes only under that mutex, so that
//! `num_unparked + sleepers.len() == num_workers` always holds.
//!
//! # Rules
//!
//! 1. **Notify.** Whoever makes a task runnable (a spawn, a wake, a task
//!    displaced from the LIFO slot) pushes it to a queue, then calls
//!    [`Idle::worker_to_notify`]: if nobody is searching and somebody is
//!    parked, one sleeper is taken off the list, counted as unparked *and
//!    searching* on its behalf (so that a burst of pushes wakes one worker,
//!    not all), and unparked.
//! 2. **Search.** A worker with no local work becomes a searcher, but only
//!    while fewer than half of the workers search (stealing is contended
//!    work; more thieves than victims helps nobody).
//! 3. **Hand over.** A searcher that finds work stops searching; if it was
//!    the last searcher it notifies another worker (rule 1), because where
//!    there was one task there may be more and nobody is looking anymore.
//! 4. **Park.** A worker with nothing to do moves itself onto the sleeper
//!    list (decrementing `num_unparked`, and `num_searching` if it was
//!    searching) and, **if it was the last searcher, checks every queue
//!    once more** (every deque, every LIFO slot, the injector) and notifies
//!    a worker, possibly itself, if any is non-empty. Then it parks.
//!
//! # Why no wakeup is lost
//!
//! The danger is a task pushed while every worker is going to sleep: the
//! pusher sees somebody searching and wakes nobody, and that searcher parks
//! without seeing the task. Consider the pusher P (push, then read the
//! counters in rule 1) and the last searcher S (decrement the counters, then
//! re-check the queues in rule 4). Each of them writes one location and
//! then reads the other's: the store-buffering pattern. Both sides place a
//! `SeqCst` fence between their write and their read:
//!
//! ```text
//!   P: push task (release)     S: state.fetch_sub (searching -> 0)
//!      fence(SeqCst)              fence(SeqCst)
//!      state.load                 queue.is_empty (acquire)
//! ```
//!
//! The two fences are totally ordered. If P's fence comes first, S's
//! re-check observes the push and S notifies a worker (itself if need be).
//! If S's fence comes first, P's load observes `num_searching == 0` (and
//! `num_unparked < num_workers`, since S is on the sleeper list) and P wakes
//! a sleeper. Either way somebody runs the task. A pusher that sees other
//! searchers still active relies on the last of them, which is covered by
//! the same argument. A worker that parks without searching (rule 2 refused
//! it) parks only while at least half the workers search, so a last
//! searcher exists after it.
//!
//! The pusher's side is a fence and a plain load rather than a
//! read-modify-write on `state`: it runs on every spawn and wake, and a
//! fence does not pull the shared cache line into exclusive state. The
//! fences are also what loom can check: loom models `SeqCst` fences and
//! RMWs faithfully, but treats `SeqCst` loads as `Acquire` (see
//! `loom-tests/tests/scheduler.rs`, which fails with either fence removed).
//!
//! Parking itself cannot lose a notification: a [`Parker`] remembers an
//! `unpark` that arrives before `park`.
//!
//! # Timers
//!
//! A parked worker may also be the *armed* timer driver (see
//! `time::driver`): it parks with a deadline, and when the deadline passes
//! it takes itself off the sleeper list
//! ([`Idle::transition_worker_from_parked_by_timer`], under the same mutex,
//! so the counters stay consistent) and runs the tasks its timers woke.
//! That only ever adds a running worker, so it cannot break the argument
//! above.
//!
//! # I/O (feature `net`)
//!
//! A parked worker may sleep in the reactor's poller instead of on its
//! condvar (`runtime::reactor`): its `Parker` is then `POLLING`, and rule
//! 1's unpark notifies the poller, which remembers a notification sent
//! before the wait, so the argument above is unchanged. When the events it
//! collects wake tasks (into its own queues) it leaves the sleeper list
//! with [`Idle::transition_worker_from_parked_by_timer`], as for its
//! timers: again only a running worker more.
//!
//! [`Parker`]: super::park::Parker

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering, fence};

/// The packed counters: `num_searching` in the low half, `num_unparked` in
/// the high half.
const UNPARKED_SHIFT: u32 = usize::BITS / 2;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;
const SEARCHING_ONE: usize = 1;
const UNPARKED_ONE: usize = 1 << UNPARKED_SHIFT;

#[derive(Clone, Copy, Debug)]
struct Counters(usize);

impl Counters {
    fn num_searching(self) -> usize {
        self.0 & SEARCHING_MASK
    }

    fn num_unparked(self) -> usize {
        self.0 >> UNPARKED_SHIFT
    }
}

pub(crate) struct Idle {
    state: AtomicUsize,
    num_workers: usize,
    sleepers: Mutex<Vec<usize>>,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(num_workers * UNPARKED_ONE),
            num_workers,
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
        }
    }

    fn counters(&self) -> Counters {
        Counters(self.state.load(Ordering::Relaxed))
    }

    fn should_wake(&self, c: Counters) -> bool {
        c.num_searching() == 0 && c.num_unparked() < self.num_workers
    }

    /// Rule 1. Call after pushing a task; returns the worker to unpark, and
    /// whether every worker was parked until now.
    #[inline]
    pub(crate) fn worker_to_notify(&self) -> Option<(usize, bool)> {
        // Pairs with the fence in `transition_worker_to_parked`.
        fence(Ordering::SeqCst);
        if !self.should_wake(self.counters()) {
            return None;
        }
        self.notify_slow()
    }

    #[cold]
    fn notify_slow(&self) -> Option<(usize, bool)> {
        let mut sleepers = self.sleepers.lock();
        // `num_unparked` only changes under this lock; `num_searching` may
        // have risen, in which case that searcher will find the task.
        if !self.should_wake(self.counters()) {
            return None;
        }
        let worker = sleepers.pop()?;
        let prev = Counters(
            self.state
                .fetch_add(SEARCHING_ONE + UNPARKED_ONE, Ordering::SeqCst),
        );
        Some((worker, prev.num_unparked() == 0))
    }

    /// Rule 2. Returns whether the worker may search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        if 2 * self.counters().num_searching() >= self.num_workers {
            return false;
        }
        self.state.fetch_add(SEARCHING_ONE, Ordering::SeqCst);
        true
    }

    /// Rule 3. Returns `true` if this was the last searcher (the caller must
    /// then notify another worker).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = Counters(self.state.fetch_sub(SEARCHING_ONE, Ordering::SeqCst));
        invariant!(prev.num_searching() > 0);
        prev.num_searching() == 1
    }

    /// Rule 4, first half: puts the worker on the sleeper list. Returns
    /// `true` if it was the last searcher: the caller must then re-check
    /// every queue before parking.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARKED_ONE + if is_searching { SEARCHING_ONE } else { 0 };
        let prev = Counters(self.state.fetch_sub(dec, Ordering::SeqCst));
        invariant!(prev.num_unparked() > 0);
        invariant!(!sleepers.contains(&worker));
        sleepers.push(worker);
        drop(sleepers);
        // Pairs with the fence in `worker_to_notify`: the re-check that
        // follows must see any task pushed by a notifier that saw us
        // searching.
        fence(Ordering::SeqCst);
        is_searching && prev.num_searching() == 1
    }

    /// After waking up: returns `true` if a notifier took this worker off
    /// the sleeper list (it is now counted as searching), `false` if the
    /// wakeup was spurious and the worker is still on the list.
    pub(crate) fn transition_worker_from_parked(&self, worker: usize) -> bool {
        !self.sleepers.lock().contains(&worker)
    }

    /// A parked worker woke up by itself (its timer deadline passed) and
    /// wants to run. Returns `true` if it took itself off the sleeper list
    /// (it now counts as unparked, not searching); `false` if a notifier
    /// had already taken it off (it counts as searching, as after
    /// [`Self::transition_worker_from_parked`]).
    pub(crate) fn transition_worker_from_parked_by_timer(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        let Some(pos) = sleepers.iter().position(|&w| w == worker) else {
            return false;
        };
        sleepers.swap_remove(pos);
        self.state.fetch_add(UNPARKED_ONE, Ordering::SeqCst);
        true
    }

    /// Some parked worker, left on the sleeper list (the monitor nudges it
    /// to take the reactor's driver: a spurious wakeup for the protocol).
    #[cfg(all(feature = "net", unix))]
    pub(crate) fn a_sleeper(&self) -> Option<usize> {
        self.sleepers.lock().last().copied()
    }

    /// Workers currently searching (for metrics and tests).
    pub(crate) fn num_searching(&self) -> usize {
        self.counters().num_searching()
    }

    /// Workers currently parked.
    pub(crate) fn num_parked(&self) -> usize {
        self.num_workers - self.counters().num_unparked()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn nobody_to_wake_while_everyone_is_awake() {
        let idle = Idle::new(2);
        assert_eq!(idle.worker_to_notify(), None);
    }

    #[test]
    fn a_parked_worker_is_woken_once_and_counted_as_searching() {
        let idle = Idle::new(2);
        assert!(!idle.transition_worker_to_parked(1, false));
        assert_eq!(idle.num_parked(), 1);
        assert_eq!(idle.worker_to_notify(), Some((1, false)));
        assert_eq!(idle.num_searching(), 1);
        // A searcher exists now: a second push wakes nobody.
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.transition_worker_from_parked(1));
    }

    #[test]
    fn at_most_half_the_workers_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_from_searching());
        assert!(idle.transition_worker_from_searching());
    }

    #[test]
    fn last_searcher_to_park_is_told_to_recheck() {
        let idle = Idle::new(2);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_parked(0, true));
        assert!(!idle.transition_worker_to_parked(1, false));
    }
}
