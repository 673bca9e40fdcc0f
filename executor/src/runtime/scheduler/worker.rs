//! A worker thread's run loop.
//!
//! ```text
//! loop {
//!     if shutting down: leave
//!     every 61st tick: fire due timers, poll the reactor (feature `net`)
//!     task = a share of the injector, if it has work and no local work
//!                that waited behind the last share is still owed a turn
//!         else LIFO slot, else own deque, else a batch of the injector
//!         or steal: a batch from a random victim's deque, its LIFO slot, the injector
//!         or park (idle.rs's protocol; the first worker to park with
//!         timers pending sleeps only until the next deadline and fires it)
//!     run task; then up to 3 tasks from the LIFO slot, unless the
//!         injector has work
//! }
//! ```
//!
//! # Fairness: who waits for whom, and for how long
//!
//! Work from outside the workers (spawns from other threads, wakes from
//! I/O threads, timers fired by the monitor) lands in the injector. It is
//! served **by time, not by ticks**: at every poll boundary a worker looks
//! at the injector (`is_empty`: two loads, no clock read), and if it has
//! work and no local task is owed a turn, it takes a share: as many tasks
//! as the injector held when it looked, at most 32,
//! popped one by one (so a worker reaching its boundary at the same time
//! pops beside it), and runs them before going back to its own queues. So:
//!
//! * a task in the injector waits at most **one poll** of whatever each
//!   worker is running, however long that poll is (a fixed 1-in-61-ticks
//!   look, as before, made that 61 polls: 3 s behind 50 ms polls), unless
//!   more than 32 tasks per worker arrived meanwhile. (A share of
//!   `len / workers + 1` halved the queue at each boundary instead of
//!   emptying it: with two workers' boundaries in step, 1 ms sleepers
//!   beside 50 ms polls waited up to four boundaries, p50 131 ms);
//! * local work waits at most one share (32 polls) behind the injector:
//!   local work that was waiting when a share was taken is owed the next
//!   boundary, so neither side starves the other, even when the injector
//!   never empties. A share taken while nothing local waited owes
//!   nothing: if one of its tasks yields (a long poll's task spawned from
//!   outside), outside work that came during that poll runs before it
//!   does again. (An alternation counted in polls, "a share only after a
//!   local poll", gave such a task two polls in a row and made outside
//!   work wait two long polls: 1 ms sleepers beside freshly spawned
//!   50 ms spinners, p99 147 ms);
//! * the LIFO chain after a task stops as soon as the injector has work
//!   (the slot's task stays stealable in the slot and runs after the
//!   share);
//! * timers: a worker that parks fires what is due and arms itself for the
//!   next deadline; busy workers fire due timers every 61 ticks; while
//!   every worker is busy the monitor is armed instead and fires them on
//!   time, into the injector, so their tasks run at the next poll
//!   boundary of any worker;
//! * a parked worker beside a non-empty injector (or beside work queued
//!   behind a long poll) is woken by the monitor at its next look (1 ms).
//!
//! The worst case for outside work is therefore one poll of the running
//! task (plus, under load, up to one share of earlier outside work); the
//! rules cost one `is_empty` per poll boundary.
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

use super::Remote;
use super::queue::{Local, Stolen};
use super::stats::WorkerStats;
use crate::loom::IS_LOOM;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicPtr, Ordering};
use crate::runtime::context;
use crate::runtime::shared::Shared;
use crate::task_core::{Header, Notified, RawTask};
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

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
    /// Tasks still to take from the injector in the current share.
    injector_share: usize,
    /// Local work (LIFO slot or deque) was waiting when the last share was
    /// taken and has not run since: it gets the next poll boundary.
    local_owed: bool,
    /// Tasks of the last batch moved from the injector into the (empty)
    /// deque that have not been popped yet: they are the injector's work,
    /// not local work (approximate: thieves may take some).
    batch_left: usize,
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
        &self.shared.scheduler.remotes[self.index]
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
            injector_share: 0,
            local_owed: false,
            batch_left: 0,
        };
        while !self.shared.is_shutdown() {
            core.tick = core.tick.wrapping_add(1);
            if let Some(task) = self.next_task(&mut core) {
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

    /// The fairness rules (see the top of this file): a share of the
    /// injector when it has work and local work ran since the last share,
    /// otherwise the LIFO slot, the deque, then a batch of the injector.
    fn next_task(&self, core: &mut Core) -> Option<Notified> {
        if core.tick % self.shared.scheduler.global_queue_interval == 0 {
            self.fire_due_timers();
            self.poll_io();
        }
        if let Some(task) = self.next_from_injector(core) {
            return Some(task);
        }
        if let Some(task) = self.lifo().take() {
            core.local_owed = false;
            return Some(task);
        }
        if let Some(task) = self.local.pop() {
            if core.batch_left > 0 {
                core.batch_left -= 1;
            } else {
                core.local_owed = false;
            }
            return Some(task);
        }
        // Nothing local waits (a thief may have taken what was owed a
        // turn): whatever this worker runs next owes nothing.
        core.local_owed = false;
        self.batch_from_injector(core)
    }

    /// Moves a share of the injector into the (empty) deque in one steal
    /// and returns one of its tasks; the rest still count as the
    /// injector's work when they are popped.
    fn batch_from_injector(&self, core: &mut Core) -> Option<Notified> {
        let task = self.steal_injector()?;
        core.batch_left = self.local.len();
        Some(task)
    }

    /// The next task of the current share of the injector, or of a new
    /// share if the injector has work and no local work is owed a turn.
    fn next_from_injector(&self, core: &mut Core) -> Option<Notified> {
        if core.injector_share == 0 {
            if core.local_owed || self.shared.scheduler.injector.is_empty() {
                return None;
            }
            if !self.has_local_work() {
                // Nothing local waits behind it: take the share into the
                // deque at once (one steal, not one pop per task). Nothing
                // is owed either: a task of this share that yields has
                // waited behind nothing, so the next boundary may take
                // another share before it runs again (otherwise a long
                // poll's task from outside would run twice before the
                // outside work that came during its first poll).
                return self.batch_from_injector(core);
            }
            core.local_owed = true;
            core.injector_share = self.shared.scheduler.injector.len().clamp(1, STEAL_LIMIT);
        }
        match self.pop_injector() {
            Some(task) => {
                core.injector_share -= 1;
                Some(task)
            }
            None => {
                core.injector_share = 0;
                None
            }
        }
    }

    /// A fair share of the injector for one worker, moved into its empty
    /// deque at once (the other workers may steal from there).
    fn injector_share(&self) -> usize {
        (self.shared.scheduler.injector.len() / self.shared.scheduler.remotes.len() + 1)
            .min(STEAL_LIMIT)
    }

    fn pop_injector(&self) -> Option<Notified> {
        loop {
            match self.shared.scheduler.injector.pop() {
                Stolen::Task(task) => return Some(task),
                Stolen::Empty => return None,
                Stolen::Retry => crate::loom::hint::spin_loop(),
            }
        }
    }

    /// Takes a fair share of the injector into the local deque.
    fn steal_injector(&self) -> Option<Notified> {
        let injector = &self.shared.scheduler.injector;
        if injector.is_empty() {
            return None;
        }
        let share = self.injector_share();
        loop {
            match injector.steal_into(&self.local, share) {
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
            if !self.shared.scheduler.idle.transition_worker_to_searching() {
                return None;
            }
            core.is_searching = true;
        }
        let remotes = &self.shared.scheduler.remotes;
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
            if self
                .shared
                .scheduler
                .idle
                .transition_worker_from_searching()
            {
                // We were the last searcher and found work: there may be
                // more, and nobody is looking now.
                self.shared.scheduler.notify_parked();
            }
        }
        let stats = &self.remote().stats;
        self.poll(core, stats, task);
        let mut lifo_polls = 0;
        // The lifecycle flag is checked before every poll, these included:
        // a worker whose poll outlived the shutdown deadline starts no
        // other (see `runtime::lifecycle`).
        // The chain also stops when the injector has work: outside work
        // waits one poll, not a chain of them (the slot's task stays in
        // the slot, stealable, and runs after the injector's share).
        while !self.shared.is_shutdown() && self.shared.scheduler.injector.is_empty() {
            let Some(task) = self.lifo().take() else {
                break;
            };
            if lifo_polls == MAX_LIFO_POLLS {
                self.local.push(task);
                self.shared.scheduler.notify_parked();
                break;
            }
            lifo_polls += 1;
            WorkerStats::add(&stats.lifo_hits, 1);
            self.poll(core, stats, task);
        }
    }

    /// Runs one task, with the bookkeeping the monitor and the task dump
    /// read: the poll counter and the id of the task in the poll.
    /// A task woken during its own poll comes back from `run` and goes to
    /// the back of the deque (a yield).
    #[inline]
    fn poll(&self, core: &mut Core, stats: &WorkerStats, task: Notified) {
        WorkerStats::add(&stats.polls, 1);
        stats.current_task.store(task.header().id.as_u64(), Relaxed);
        let requeue = task.run();
        stats.current_task.store(0, Relaxed);
        if let Some(task) = requeue {
            // A task that yields is local work from now on, even if it
            // came in the last batch from the injector: stop counting the
            // batch, or its re-queued tasks would hold the injector back.
            core.batch_left = 0;
            self.schedule_local(task, true);
        }
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
            // A yielding task that is this worker's only queued work runs
            // again right after its poll (this worker is awake, and looks at
            // its own queues before it parks): waking a sleeper to steal it
            // would only cost a thread wake-up per yield, which is what a
            // task yielding to the cooperative budget does every 128
            // operations. Anything else queued here is worth a thief.
            let alone = is_yield && self.local.len() == 0 && self.lifo().is_empty();
            self.local.push(task);
            if !alone {
                self.shared.scheduler.notify_parked();
            }
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
            .scheduler
            .idle
            .transition_worker_to_parked(self.index, core.is_searching)
        {
            shared.scheduler.notify_if_work_pending();
        }
        core.is_searching = false;
        let stats = &self.remote().stats;
        WorkerStats::add(&stats.parks, 1);
        let parked_at = crate::runtime::timer::now();
        let since_start = parked_at.saturating_duration_since(shared.diag.started);
        stats.parked_since.store(
            u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX - 1) + 1,
            Relaxed,
        );
        self.sleep(core);
        stats.parked_since.store(0, Relaxed);
        let now = crate::runtime::timer::now();
        shared.diag.advance_coarse_clock(now);
        let slept =
            u64::try_from(now.saturating_duration_since(parked_at).as_nanos()).unwrap_or(u64::MAX);
        WorkerStats::add(&stats.parked_nanos, slept);
    }

    /// Sleeps (parked) until notified, or until the next timer deadline if
    /// this worker is the one armed for it, or (feature `net`) until an I/O
    /// event if it holds the reactor's driver.
    fn sleep(&self, core: &mut Core) {
        let shared = &self.shared;
        loop {
            let deadline = shared.time.arm_worker(self.index);
            let woken = self.wait(deadline);
            if deadline.is_some() {
                let kick = shared.time.disarm_worker(self.index);
                shared.kick_timer(kick);
            }
            if shared.is_shutdown() {
                return;
            }
            if shared
                .scheduler
                .idle
                .transition_worker_from_parked(self.index)
            {
                // The notifier counted us as searching.
                core.is_searching = true;
                self.fire_due_timers();
                return;
            }
            if woken > 0 || (deadline.is_some() && shared.time.is_due(shared.time.clock.now())) {
                // Our deadline passed, or I/O events woke tasks into our
                // queues: leave the sleeper list and run them, here.
                core.is_searching = !shared
                    .scheduler
                    .idle
                    .transition_worker_from_parked_by_timer(self.index);
                self.fire_due_timers();
                return;
            }
            // Spurious, or kicked for an earlier deadline: re-arm.
        }
    }

    /// One sleep: in the reactor's poller if this worker takes the driver
    /// (feature `net`, see `runtime::reactor`), on its parker otherwise; until
    /// notified, or until `deadline`. Returns how many tasks I/O events
    /// woke (they were scheduled on this worker).
    fn wait(&self, deadline: Option<Instant>) -> usize {
        let parker = &self.remote().parker;
        #[cfg(all(feature = "net", unix))]
        if let Some(mut driver) = self.shared.reactor.try_drive() {
            match deadline {
                // Loom has no clock: jump virtual time to the deadline and
                // only collect what is pending.
                #[cfg(loom)]
                Some(deadline) => {
                    self.shared.time.advance_virtual_to(deadline);
                    driver.poll_now();
                }
                _ => parker.park_polling(|| driver.wait(deadline)),
            }
            return driver.dispatch();
        }
        match deadline {
            // Loom has no clock: an idle worker jumps virtual time to
            // the deadline instead of sleeping until it.
            #[cfg(loom)]
            Some(deadline) => self.shared.time.advance_virtual_to(deadline),
            _ => parker.park(deadline),
        }
        0
    }

    /// A busy worker's look at the reactor (every `global_queue_interval`
    /// ticks): collects pending events without sleeping, if nobody holds
    /// the driver; the woken tasks are scheduled here.
    fn poll_io(&self) {
        #[cfg(all(feature = "net", unix))]
        if self.shared.reactor.has_sources() {
            if let Some(mut driver) = self.shared.reactor.try_drive() {
                driver.poll_now();
                driver.dispatch();
            }
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
