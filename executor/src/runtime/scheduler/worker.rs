//! A worker thread's run loop.
//!
//! ```text
//! loop {
//!     if shutting down: leave
//!     every 61st tick: fire due timers, then look at the injector first
//!     task = LIFO slot, else own deque, else injector
//!         or steal: a batch from a random victim's deque, its LIFO slot, the injector
//!         or park (idle.rs's protocol; the first worker to park with
//!         timers pending sleeps only until the next deadline and fires it)
//!     run task; then up to 3 tasks from the LIFO slot
//! }
//! ```
//!
//! **The LIFO slot.** A task woken (or spawned) by the task running on this
//! worker goes into the slot and runs next, while the data it was sent is
//! still in cache: message passing costs one hop, not a trip through the
//! queue. Three consecutive LIFO polls at most, then the slot's task goes to
//! the back of the deque, so two tasks that keep waking each other cannot
//! starve the rest. Unlike tokio's (tokio-rs/tokio#4941), the slot is an
//! atomic that idle workers may steal from, so a task parked in the slot
//! behind a long poll is not hidden from them.
//!
//! **Yield.** A task woken during its own poll (`yield_now`, or a self-wake)
//! goes to the back of the deque, never the LIFO slot: everything queued
//! runs before it is polled again.

use super::queue::{Local, Stolen};
use super::stats::WorkerStats;
use super::{Remote, Shared};
use crate::loom::IS_LOOM;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicPtr, Ordering};
use crate::runtime::context;
use crate::task::{Header, Notified, RawTask};
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::Relaxed;

/// Consecutive polls from the LIFO slot before it spills to the deque.
pub(crate) const MAX_LIFO_POLLS: u32 = if IS_LOOM { 1 } else { 3 };

/// Most tasks moved by one steal.
const STEAL_LIMIT: usize = if IS_LOOM { 2 } else { 32 };

/// A worker's LIFO slot: holds at most one run-queue entry (and its
/// reference). The owner fills and empties it; thieves may empty it.
pub(crate) struct LifoSlot(AtomicPtr<Header>);

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot(AtomicPtr::new(ptr::null_mut()))
    }

    fn wrap(ptr: *mut Header) -> Option<Notified> {
        NonNull::new(ptr).map(|p| Notified::from_raw(RawTask::from_ptr(p)))
    }

    /// Owner only: puts `task` in the slot, returning the task it displaced.
    fn replace(&self, task: Notified) -> Option<Notified> {
        let new = task.into_raw().as_ptr().as_ptr();
        Self::wrap(self.0.swap(new, Ordering::AcqRel))
    }

    /// Empties the slot (owner or thief).
    pub(crate) fn take(&self) -> Option<Notified> {
        if self.0.load(Ordering::Relaxed).is_null() {
            return None;
        }
        Self::wrap(self.0.swap(ptr::null_mut(), Ordering::AcqRel))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.load(Ordering::Acquire).is_null()
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// The part of a worker that lives on its thread: reachable from the
/// thread-local context so that wakes and spawns on this thread can use the
/// local queue.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    local: Local,
}

/// Loop state only the run loop touches.
struct Core {
    tick: u32,
    is_searching: bool,
    rand: FastRand,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, index: usize, local: Local) -> Worker {
        Worker {
            shared,
            index,
            local,
        }
    }

    fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }

    fn lifo(&self) -> &LifoSlot {
        &self.remote().lifo
    }

    /// Records a steal that returned one task and left the rest of its
    /// batch in the local deque (which was empty before).
    fn count_steal(&self) {
        let stats = &self.remote().stats;
        WorkerStats::add(&stats.steal_operations, 1);
        WorkerStats::add(&stats.steals, 1 + self.local.len() as u64);
    }

    /// The worker thread's body: runs tasks until shutdown.
    pub(crate) fn run(&self) {
        let _worker = context::set_worker(self);
        let _enter = context::enter(crate::runtime::Handle::from_shared(self.shared.clone()));
        let mut core = Core {
            tick: 0,
            is_searching: false,
            rand: FastRand::new(self.index as u32),
        };
        while !self.shared.is_shutdown() {
            core.tick = core.tick.wrapping_add(1);
            if let Some(task) = self.next_task(&core) {
                self.run_task(&mut core, task);
                continue;
            }
            if let Some(task) = self.steal_work(&mut core) {
                self.run_task(&mut core, task);
                continue;
            }
            self.park(&mut core);
        }
        self.drain_on_exit();
    }

    /// Local work first (the LIFO slot, then the deque), but every
    /// `global_queue_interval` ticks the injector first, so tasks scheduled
    /// from outside are not starved by a busy worker.
    fn next_task(&self, core: &Core) -> Option<Notified> {
        if core.tick % self.shared.config.global_queue_interval == 0 {
            self.fire_due_timers();
            if let Some(task) = self.pop_injector() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo().take() {
            return Some(task);
        }
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        self.steal_injector()
    }

    fn pop_injector(&self) -> Option<Notified> {
        loop {
            match self.shared.injector.pop() {
                Stolen::Task(task) => return Some(task),
                Stolen::Empty => return None,
                Stolen::Retry => crate::loom::hint::spin_loop(),
            }
        }
    }

    /// Takes a fair share of the injector into the local deque.
    fn steal_injector(&self) -> Option<Notified> {
        let injector = &self.shared.injector;
        if injector.is_empty() {
            return None;
        }
        let share = injector.len() / self.shared.remotes.len() + 1;
        loop {
            match injector.steal_into(&self.local, share.min(STEAL_LIMIT)) {
                Stolen::Task(task) => return Some(task),
                Stolen::Empty => return None,
                Stolen::Retry => crate::loom::hint::spin_loop(),
            }
        }
    }

    /// Searching: steal a batch from the other workers, starting at a random
    /// one, then from the injector.
    fn steal_work(&self, core: &mut Core) -> Option<Notified> {
        if !core.is_searching {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            core.is_searching = true;
        }
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        // A few rounds, in case steals raced with other thieves.
        for _ in 0..if IS_LOOM { 2 } else { 4 } {
            let mut retry = false;
            let start = core.rand.below(n as u32) as usize;
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                match remotes[victim].stealer.steal_into(&self.local, STEAL_LIMIT) {
                    Stolen::Task(task) => {
                        self.count_steal();
                        return Some(task);
                    }
                    Stolen::Retry => retry = true,
                    Stolen::Empty => {
                        if let Some(task) = remotes[victim].lifo.take() {
                            self.count_steal();
                            return Some(task);
                        }
                    }
                }
            }
            if let Some(task) = self.steal_injector() {
                return Some(task);
            }
            if !retry {
                break;
            }
        }
        None
    }

    fn run_task(&self, core: &mut Core, task: Notified) {
        if core.is_searching {
            core.is_searching = false;
            if self.shared.idle.transition_worker_from_searching() {
                // We were the last searcher and found work: there may be
                // more, and nobody is looking now.
                self.shared.notify_parked();
            }
        }
        let stats = &self.remote().stats;
        Self::poll(stats, task);
        let mut lifo_polls = 0;
        // The lifecycle flag is checked before every poll, these included:
        // a worker whose poll outlived the shutdown deadline starts no
        // other (see `runtime::lifecycle`).
        while !self.shared.is_shutdown() {
            let Some(task) = self.lifo().take() else {
                break;
            };
            if lifo_polls == MAX_LIFO_POLLS {
                self.local.push(task);
                self.shared.notify_parked();
                break;
            }
            lifo_polls += 1;
            WorkerStats::add(&stats.lifo_hits, 1);
            Self::poll(stats, task);
        }
    }

    /// Runs one task, with the bookkeeping the monitor and the task dump
    /// read: the poll counter and the id of the task in the poll.
    #[inline]
    fn poll(stats: &WorkerStats, task: Notified) {
        WorkerStats::add(&stats.polls, 1);
        stats.current_task.store(task.header().id.as_u64(), Relaxed);
        task.run();
        stats.current_task.store(0, Relaxed);
    }

    /// Schedules a task from code running on this worker (a wake or a
    /// spawn). Yields go to the back of the deque; anything else to the LIFO
    /// slot, displacing its previous occupant to the deque.
    pub(crate) fn schedule_local(&self, task: Notified, is_yield: bool) {
        let displaced = if is_yield {
            Some(task)
        } else {
            self.lifo().replace(task)
        };
        if let Some(task) = displaced {
            self.local.push(task);
            self.shared.notify_parked();
        }
    }

    fn has_local_work(&self) -> bool {
        !self.lifo().is_empty() || self.local.len() > 0
    }

    /// Fires the timers that are due; the tasks they wake are scheduled on
    /// this worker. Returns how many fired.
    fn fire_due_timers(&self) -> usize {
        let time = &self.shared.time;
        if !time.has_timers() {
            return 0;
        }
        let now = time.clock.now();
        if time.is_due(now) {
            time.fire_due(now)
        } else {
            0
        }
    }

    /// Rule 4 of the park protocol, then sleep until notified, or until the
    /// next timer deadline if this worker is the one armed for it.
    fn park(&self, core: &mut Core) {
        if self.has_local_work() || self.fire_due_timers() > 0 {
            return;
        }
        let shared = &self.shared;
        if shared
            .idle
            .transition_worker_to_parked(self.index, core.is_searching)
        {
            shared.notify_if_work_pending();
        }
        core.is_searching = false;
        let stats = &self.remote().stats;
        WorkerStats::add(&stats.parks, 1);
        let parked_at = crate::time::now();
        let since_start = parked_at.saturating_duration_since(shared.started);
        stats.parked_since.store(
            u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX - 1) + 1,
            Relaxed,
        );
        self.sleep(core);
        stats.parked_since.store(0, Relaxed);
        let now = crate::time::now();
        shared.advance_coarse_clock(now);
        let slept =
            u64::try_from(now.saturating_duration_since(parked_at).as_nanos()).unwrap_or(u64::MAX);
        WorkerStats::add(&stats.parked_nanos, slept);
    }

    /// Sleeps (parked) until notified, or until the next timer deadline if
    /// this worker is the one armed for it.
    fn sleep(&self, core: &mut Core) {
        let shared = &self.shared;
        let parker = &self.remote().parker;
        loop {
            let deadline = shared.time.arm_worker(self.index);
            match deadline {
                // Loom has no clock: an idle worker jumps virtual time to
                // the deadline instead of sleeping until it.
                #[cfg(loom)]
                Some(deadline) => shared.time.advance_virtual_to(deadline),
                _ => parker.park(deadline),
            }
            if deadline.is_some() {
                let kick = shared.time.disarm_worker(self.index);
                shared.kick_timer(kick);
            }
            if shared.is_shutdown() {
                return;
            }
            if shared.idle.transition_worker_from_parked(self.index) {
                // The notifier counted us as searching.
                core.is_searching = true;
                self.fire_due_timers();
                return;
            }
            if deadline.is_some() && shared.time.is_due(shared.time.clock.now()) {
                // Our deadline passed: leave the sleeper list and run what
                // the timers wake, here.
                core.is_searching = !shared
                    .idle
                    .transition_worker_from_parked_by_timer(self.index);
                self.fire_due_timers();
                return;
            }
            // Spurious, or kicked for an earlier deadline: re-arm.
        }
    }

    /// Drops the run-queue entries left here at shutdown. Their futures are
    /// dropped by the shutdown sweep of the owned-tasks list.
    fn drain_on_exit(&self) {
        drop(self.lifo().take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }
}

/// xorshift32: picks the first victim of a steal.
struct FastRand(u32);

impl FastRand {
    fn new(seed: u32) -> FastRand {
        FastRand(seed.wrapping_mul(0x9E37_79B9) | 1)
    }

    fn below(&mut self, n: u32) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        ((x as u64 * n as u64) >> 32) as u32
    }
}
