//! The simulation's scheduler: simulated workers' queues, the seeded
//! choices, the run loop, and failure reports.
//!
//! A simulated task is an ordinary task (the task core's allocation, state
//! word, wakers, `JoinHandle`, cancellation, panic capture, done
//! callbacks) whose scheduler is [`SimScheduler`]: its `schedule` puts the
//! entry in one of the simulation's queues, which only the simulation's
//! thread pops and runs, one entry per step, in `SimScheduler::block_on`.
//!
//! # The queues and the rules (those of `scheduler/worker.rs`)
//!
//! Each simulated worker has a LIFO slot and a FIFO deque; one injector is
//! shared. At each step the loop lists the candidates (the main future if
//! it was woken, and every worker that could find work) and lets the seed
//! pick one; a worker then takes, in order: the injector's head every
//! [`GLOBAL_QUEUE_INTERVAL`]-th turn, its LIFO slot, its deque's head, the
//! injector's head, or half (rounded up) of a victim's deque, the victim
//! chosen by the seed among the non-empty ones (a LIFO slot is never
//! stolen, as on the real runtime).
//!
//! A wake made on the simulation's thread while a task runs (a spawn, a
//! `Lock` hand-over, a completion waking its joiner) goes, by the seed, to
//! the running worker's LIFO slot (the previous occupant moving to its
//! deque's back) or to its deque's back. A task woken during its own poll
//! (a yield) goes to its worker's deque's back. Every other wake (a timer
//! firing, the main future, another OS thread) goes to the injector.
//!
//! With [`Scheduler::Pct`] the choice is PCT's
//! instead: the highest-priority entry queued anywhere (or the main
//! future) runs, and at the change points drawn from the seed the running
//! task's priority drops below all others.
//!
//! # Determinism
//!
//! Every choice goes through the sim's `Choices` (`choices.rs`): drawn
//! from its own PRNG (splitmix64, seeded by the user's seed) or replayed
//! from a recorded schedule, and recorded either way; nothing iterates a hash map, reads real time or depends
//! on task ids (a global counter shared with other runtimes in the
//! process): tasks are numbered in spawn order within the sim. Fired timers
//! are shuffled by the seed before they are woken (timer ties).

use super::choices::{self, Choices, Rng};
use super::watchdog::{self, Observed};
use super::{Config, Scheduler};
use crate::loom::sync::Mutex;
use crate::runtime::blocking::BlockingTask;
use crate::runtime::timer::Driver;
use crate::task_core::{
    Header, Id, JoinHandle, Notified, OwnedTasks, RawTask, Schedule, TaskInfo, TaskMeta,
};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A simulated worker looks at the injector first every this many turns,
/// as a real worker does (`Builder::global_queue_interval`'s default), so
/// that a worker busy with its own queue does not starve the injector.
pub(super) const GLOBAL_QUEUE_INTERVAL: u64 = 61;

#[derive(Default)]
struct WorkerQueues {
    lifo: Option<Notified>,
    deque: VecDeque<Notified>,
    /// Turns taken, for the injector check.
    turns: u64,
}

/// A hasher for task ids, looked up at every step: ids are distinct
/// integers, so one multiplication spreads them (SipHash's resistance to
/// chosen keys buys nothing here; the map is never iterated, so the hash
/// cannot change a schedule).
#[derive(Clone, Copy, Default)]
struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A task's sim-local number (1, 2, ... in spawn order; 0 is the main
/// future) and how many times it has run.
struct Numbered {
    number: u64,
    runs: u64,
    /// PCT only: the task's priority (higher runs first).
    priority: u64,
}

/// PCT's state: the remaining priority change points (steps, ascending)
/// and the priority the next change gives.
struct Pct {
    change_points: VecDeque<u64>,
    next_low: u64,
}

/// What runs at a step.
enum Choice {
    Main,
    /// A task, taken from the queues by `worker`'s rules (random
    /// scheduler) or as the highest priority (PCT, on worker 0's behalf).
    Task(usize, Notified),
}

struct State {
    /// Every scheduling choice, drawn from the seed or replayed, and
    /// recorded.
    choices: Choices,
    /// What ran the previous step (a worker, or `MAIN`; `NOBODY` before
    /// the first): picking it again is "no preemption".
    last: usize,
    /// The stream `sim::random_u64` draws from: separate from `rng`, so
    /// that the program's draws do not shift the schedule's choices.
    user_rng: Rng,
    workers: Vec<WorkerQueues>,
    injector: VecDeque<Notified>,
    /// The worker whose task is running now (wakes from inside its poll go
    /// to its queues).
    polling: Option<usize>,
    /// Task id -> its sim-local number. Looked up, never iterated.
    numbers: HashMap<Id, Numbered, IdHash>,
    next_number: u64,
    main_polls: u64,
    /// PCT only: the main future's priority.
    main_priority: u64,
    pct: Option<Pct>,
    steps: u64,
    trace: Vec<(u64, u64)>,
    /// The task in a poll now (its sim number, and its id: `None` for the
    /// main future), for the watchdog; cleared when the poll returns.
    running: Option<(u64, Option<Id>)>,
    /// Where the running `block_on` was called (the main future's
    /// "spawn location" in reports).
    main_location: &'static Location<'static>,
    /// Scratch for the candidates of a step (reused: no allocation per
    /// step). `usize::MAX` stands for the main future.
    candidates: Vec<usize>,
}

const MAIN: usize = usize::MAX;
const NOBODY: usize = usize::MAX - 1;

impl State {
    fn can_find_work(&self, w: usize) -> bool {
        let own = &self.workers[w];
        own.lifo.is_some()
            || !own.deque.is_empty()
            || !self.injector.is_empty()
            || self
                .workers
                .iter()
                .enumerate()
                .any(|(v, q)| v != w && !q.deque.is_empty())
    }

    /// The seed's pick among the main future (if woken) and the workers
    /// that can find work; `None` if nothing can run.
    fn pick(&mut self, main_woken: bool) -> Option<usize> {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        if main_woken {
            candidates.push(MAIN);
        }
        candidates.extend((0..self.workers.len()).filter(|&w| self.can_find_work(w)));
        let last = candidates.iter().position(|&c| c == self.last);
        let pick = match candidates.len() {
            0 => None,
            n => Some(candidates[self.choices.below(n, last.unwrap_or(0), last.is_some())]),
        };
        if let Some(pick) = pick {
            self.last = pick;
        }
        self.candidates = candidates;
        pick
    }

    /// What runs next, by the configured scheduler; `None` if nothing can.
    fn choose(&mut self, main_woken: bool) -> Option<Choice> {
        if self.pct.is_some() {
            return self.choose_pct(main_woken);
        }
        match self.pick(main_woken)? {
            MAIN => Some(Choice::Main),
            w => Some(Choice::Task(w, self.next_task(w))),
        }
    }

    /// A fresh initial priority: random, above every priority a change
    /// point gives (those are below `u32::MAX`).
    fn initial_priority(&mut self) -> u64 {
        (self.choices.raw() >> 1) | (1 << 62)
    }

    fn priority_of(&self, task: &Notified) -> u64 {
        self.numbers
            .get(&task.header().id)
            .map_or(0, |n| n.priority)
    }

    /// PCT: the highest-priority runnable entry, wherever it is queued
    /// (ties: the lower task number, then the first found). The queues
    /// only hold entries here; which worker queued them does not matter.
    fn choose_pct(&mut self, main_woken: bool) -> Option<Choice> {
        #[derive(Clone, Copy)]
        enum At {
            Main,
            Lifo(usize),
            Deque(usize, usize),
            Injector(usize),
        }
        let mut best: Option<(u64, At)> = main_woken.then_some((self.main_priority, At::Main));
        let mut consider = |priority: u64, at: At| {
            if best.is_none_or(|(p, _)| priority > p) {
                best = Some((priority, at));
            }
        };
        for (w, worker) in self.workers.iter().enumerate() {
            if let Some(task) = &worker.lifo {
                consider(self.priority_of(task), At::Lifo(w));
            }
            for (i, task) in worker.deque.iter().enumerate() {
                consider(self.priority_of(task), At::Deque(w, i));
            }
        }
        for (i, task) in self.injector.iter().enumerate() {
            consider(self.priority_of(task), At::Injector(i));
        }
        let (_, at) = best?;
        let task = match at {
            At::Main => None,
            At::Lifo(w) => self.workers[w].lifo.take(),
            At::Deque(w, i) => self.workers[w].deque.remove(i),
            At::Injector(i) => self.injector.remove(i),
        };
        // A change point at this step: the chosen task drops below every
        // task not yet changed.
        let step = self.steps + 1;
        let pct = self.pct.as_mut().expect("PCT scheduler");
        let lowered = if pct.change_points.front() == Some(&step) {
            pct.change_points.pop_front();
            pct.next_low -= 1;
            Some(pct.next_low)
        } else {
            None
        };
        match task {
            None => {
                if let Some(low) = lowered {
                    self.main_priority = low;
                }
                Some(Choice::Main)
            }
            Some(task) => {
                if let Some(low) = lowered {
                    if let Some(n) = self.numbers.get_mut(&task.header().id) {
                        n.priority = low;
                    }
                }
                Some(Choice::Task(0, task))
            }
        }
    }

    /// The real worker's order: (every 61st turn, the injector), LIFO
    /// slot, own deque, injector, steal half of a random victim's deque.
    fn next_task(&mut self, w: usize) -> Notified {
        let own = &mut self.workers[w];
        own.turns += 1;
        if own.turns % GLOBAL_QUEUE_INTERVAL == 0 {
            if let Some(task) = self.injector.pop_front() {
                return task;
            }
        }
        let own = &mut self.workers[w];
        if let Some(task) = own.lifo.take() {
            return task;
        }
        if let Some(task) = own.deque.pop_front() {
            return task;
        }
        if let Some(task) = self.injector.pop_front() {
            return task;
        }
        let victims: Vec<usize> = (0..self.workers.len())
            .filter(|&v| v != w && !self.workers[v].deque.is_empty())
            .collect();
        invariant!(
            !victims.is_empty(),
            "picked a worker that has no work to find"
        );
        let victim = victims[self.choices.below(victims.len(), 0, false)];
        let n = self.workers[victim].deque.len().div_ceil(2);
        let stolen: Vec<Notified> = self.workers[victim].deque.drain(..n).collect();
        let own = &mut self.workers[w];
        own.deque.extend(stolen);
        own.deque.pop_front().expect("stole at least one task")
    }

    /// Counts a step and records it in the trace; `false` if it is one
    /// step past `max_steps` (a livelock).
    fn record(&mut self, number: u64, run: u64, max_steps: u64) -> bool {
        self.steps += 1;
        self.trace.push((number, run));
        self.steps <= max_steps
    }

    fn take_queued(&mut self) -> Vec<Notified> {
        let mut all: Vec<Notified> = self.injector.drain(..).collect();
        for worker in &mut self.workers {
            all.extend(worker.lifo.take());
            all.extend(worker.deque.drain(..));
        }
        all
    }
}

/// The shared part of a simulation, held by the `Sim` and by every one of
/// its tasks (as their scheduler).
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Every task of the sim not yet complete (one reference each).
    owned: OwnedTasks,
    /// The timer driver, on a virtual clock.
    pub(super) driver: Driver,
    /// The clock's origin, for `Sim::elapsed`.
    start: Instant,
    pub(super) config: Config,
}

impl Shared {
    /// For the watchdog: the task in a poll and the step, without waiting
    /// for the state (`Err` if it is locked right now).
    pub(super) fn observe(&self) -> Result<Option<Observed>, ()> {
        let state = self.state.try_lock().ok_or(())?;
        Ok(state.running.map(|(number, _)| Observed {
            steps: state.steps,
            number,
        }))
    }

    /// `task #n "name" spawned at file:line:col`, for a report about the
    /// running task `number`.
    pub(super) fn describe(&self, number: u64) -> String {
        let Some(state) = self.state.try_lock() else {
            return format!("task #{number}");
        };
        match state.running {
            Some((0, None)) => format!(
                "task #0 (the future given to `block_on` at {})",
                state.main_location
            ),
            Some((n, Some(id))) if n == number => {
                drop(state);
                let mut found = None;
                self.owned.for_each(|header: &Header| {
                    if header.id == id {
                        found = Some(TaskInfo::of(header));
                    }
                });
                let mut out = String::new();
                write_task(&mut out, number, found.as_ref());
                out
            }
            _ => format!("task #{number}"),
        }
    }

    /// The replay string of the choices so far.
    pub(super) fn schedule_so_far(&self) -> String {
        match self.state.try_lock() {
            Some(state) => choices::Schedule {
                seed: self.config.seed,
                workers: self.config.workers,
                scheduler: self.config.scheduler,
                rounds: state.choices.rounds(),
            }
            .to_string(),
            None => "(unavailable: the simulation's state is locked)".to_string(),
        }
    }
}

/// The scheduler stored in each simulated task.
#[derive(Clone)]
pub(crate) struct SimScheduler(pub(super) Arc<Shared>);

crate::loom::thread_local! {
    /// The simulation being driven on this thread (by `Sim::block_on`, or
    /// being dropped): where spawns and timers go, and what
    /// `time::now()` reads.
    static CURRENT: RefCell<Option<SimScheduler>> = const { RefCell::new(None) };
}

/// The simulation driven on this thread, if any.
pub(crate) fn current() -> Option<SimScheduler> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Makes `scheduler` this thread's current simulation until the guard
/// drops.
pub(super) fn enter(scheduler: &SimScheduler) -> CurrentGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(scheduler.clone()));
    CurrentGuard { prev }
}

pub(super) struct CurrentGuard {
    prev: Option<SimScheduler>,
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Why a run is stopped with a report.
enum Stuck {
    /// Nothing can run (the main future is not woken either) and no timer
    /// is pending.
    Deadlock,
    /// More than `max_steps` steps.
    Livelock,
}

/// The main future's waker: a flag the loop reads.
struct MainWake(AtomicBool);

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl SimScheduler {
    pub(super) fn new(config: Config) -> SimScheduler {
        let driver = Driver::new_virtual();
        let start = driver.clock.now();
        let mut state = State {
            choices: Choices::new(config.seed, config.replay.clone(), config.sparse),
            last: NOBODY,
            user_rng: Rng::new(config.seed ^ 0x5EED_0F05_E2D2_A7C3),
            workers: (0..config.workers)
                .map(|_| WorkerQueues::default())
                .collect(),
            injector: VecDeque::new(),
            polling: None,
            numbers: HashMap::default(),
            next_number: 1,
            main_polls: 0,
            main_priority: 0,
            pct: None,
            steps: 0,
            running: None,
            main_location: Location::caller(),
            trace: Vec::new(),
            candidates: Vec::new(),
        };
        if let Scheduler::Pct { depth, steps } = config.scheduler {
            // `depth - 1` distinct change points among the first `steps`
            // steps (fewer if there are not that many steps).
            let wanted = (depth.saturating_sub(1) as u64).min(steps) as usize;
            let mut points = Vec::with_capacity(wanted);
            while points.len() < wanted {
                let point = 1 + state.choices.raw() % steps.max(1);
                if !points.contains(&point) {
                    points.push(point);
                }
            }
            points.sort_unstable();
            state.pct = Some(Pct {
                change_points: points.into(),
                next_low: u64::from(depth) + 1,
            });
            state.main_priority = state.initial_priority();
        }
        SimScheduler(Arc::new(Shared {
            state: Mutex::new(state),
            owned: OwnedTasks::new(1),
            driver,
            start,
            config,
        }))
    }

    /// Creates, numbers, registers and queues a task. `Err` holds the
    /// handle of a task refused because the sim is being dropped (it is
    /// cancelled at once).
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        meta: TaskMeta,
    ) -> Result<JoinHandle<F::Output>, JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = Id::next();
        let raw = RawTask::new(future, self.clone(), id, meta);
        let handle = JoinHandle::new(raw);
        match raw.insert_or_cancel(&self.0.owned) {
            Ok(()) => {
                {
                    let mut state = self.0.state.lock();
                    let number = state.next_number;
                    state.next_number += 1;
                    let priority = match state.pct {
                        Some(_) => state.initial_priority(),
                        None => 0,
                    };
                    state.numbers.insert(
                        id,
                        Numbered {
                            number,
                            runs: 0,
                            priority,
                        },
                    );
                }
                raw.schedule();
                Ok(handle)
            }
            // The sim is being dropped: the task was cancelled.
            Err(_closed) => Err(handle),
        }
    }

    /// A blocking closure as a simulated task: called in one poll, when
    /// the simulation picks it.
    pub(crate) fn spawn_blocking<F, R>(
        &self,
        f: F,
        mut meta: TaskMeta,
    ) -> Result<JoinHandle<R>, JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        meta.blocking = true;
        self.spawn(BlockingTask::new(f), meta)
    }

    fn is_current(&self) -> bool {
        CURRENT
            .try_with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|cur| Arc::ptr_eq(&cur.0, &self.0))
            })
            .unwrap_or(false)
    }

    /// Drives the simulation until `future` completes.
    pub(super) fn block_on<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        assert!(
            current().is_none(),
            "magpie::sim: `Sim::block_on` called inside a simulation (nested simulations are \
             not supported: spawn a task, or await the future directly)"
        );
        let _current = enter(self);
        let shared = &*self.0;
        shared.state.lock().main_location = location;
        let _watched = watchdog::watch(&self.0, shared.config.blocked_after);
        let main = Arc::new(MainWake(AtomicBool::new(true)));
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            let main_woken = main.0.load(Ordering::SeqCst);
            let choice = {
                let mut state = shared.state.lock();
                state.running = None;
                state.choices.begin_round();
                state.choose(main_woken)
            };
            match choice {
                Some(Choice::Main) => {
                    main.0.store(false, Ordering::SeqCst);
                    {
                        let mut state = shared.state.lock();
                        state.main_polls += 1;
                        state.running = Some((0, None));
                        let run = state.main_polls;
                        if !state.record(0, run, shared.config.max_steps) {
                            drop(state);
                            panic!("{}", self.report(Stuck::Livelock));
                        }
                    }
                    if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                        return out;
                    }
                }
                Some(Choice::Task(w, task)) => {
                    {
                        let mut state = shared.state.lock();
                        state.polling = Some(w);
                        let id = task.header().id;
                        let (number, run) = match state.numbers.get_mut(&id) {
                            Some(n) => {
                                n.runs += 1;
                                (n.number, n.runs)
                            }
                            None => (u64::MAX, 0),
                        };
                        state.running = Some((number, Some(id)));
                        if !state.record(number, run, shared.config.max_steps) {
                            drop(state);
                            panic!("{}", self.report(Stuck::Livelock));
                        }
                    }
                    let again = task.run();
                    let mut state = shared.state.lock();
                    state.polling = None;
                    state.running = None;
                    if let Some(again) = again {
                        // Woken during its own poll: a yield.
                        state.workers[w].deque.push_back(again);
                    }
                }
                None => {
                    if !self.advance_time() {
                        panic!("{}", self.report(Stuck::Deadlock));
                    }
                }
            }
        }
    }

    /// Nothing can run: jumps the virtual clock to the wheel's next
    /// deadline and wakes what is due there, in the seed's order. `false`
    /// if no timer is pending (a deadlock).
    fn advance_time(&self) -> bool {
        let driver = &self.0.driver;
        loop {
            let Some(next) = driver.next_deadline() else {
                return false;
            };
            let before = driver.clock.now();
            driver.jump_virtual_to(next);
            let mut fired = driver.take_due(driver.clock.now());
            if fired.is_empty() {
                // The wheel cascaded a coarse slot into finer ones: its
                // next deadline is now exact. Time must have moved (or
                // the loop would not end).
                assert!(
                    driver.clock.now() > before || driver.next_deadline() != Some(next),
                    "magpie::sim: the timer wheel made no progress at {next:?}"
                );
                continue;
            }
            {
                let mut state = self.0.state.lock();
                for i in (1..fired.len()).rev() {
                    // No swap is the default: the wheel's order.
                    let j = state.choices.below(i + 1, i, false);
                    fired.swap(i, j);
                }
            }
            for waker in fired {
                waker.wake();
            }
            return true;
        }
    }

    /// The failure report: what happened, and every unfinished task.
    fn report(&self, stuck: Stuck) -> String {
        let shared = &*self.0;
        let mut tasks: Vec<(u64, TaskInfo)> = Vec::new();
        let mut infos = Vec::new();
        shared
            .owned
            .for_each(|header: &Header| infos.push(TaskInfo::of(header)));
        {
            let state = shared.state.lock();
            for info in infos {
                let number = state.numbers.get(&info.id()).map_or(u64::MAX, |n| n.number);
                tasks.push((number, info));
            }
        }
        tasks.sort_by_key(|(number, _)| *number);
        let (steps, seed) = (shared.state.lock().steps, shared.config.seed);
        let mut out = String::new();
        let (what, why) = match stuck {
            Stuck::Deadlock => (
                "deadlock",
                "the main future is waiting, no task can run and no timer is pending".to_string(),
            ),
            Stuck::Livelock => (
                "livelock",
                format!("more than {} steps (`max_steps`)", shared.config.max_steps),
            ),
        };
        let _ = write!(
            out,
            "magpie::sim: {what} (seed {seed:#x}, step {steps}, virtual time {:?}): {why}; \
             {} unfinished task(s):",
            self.elapsed(),
            tasks.len()
        );
        for (number, info) in &tasks {
            out.push_str("\n  ");
            write_task(&mut out, *number, Some(info));
        }
        out
    }

    /// The next number of the program's random stream.
    pub(super) fn random_u64(&self) -> u64 {
        self.0.state.lock().user_rng.next_u64()
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.0.driver.clock.now() - self.0.start
    }

    pub(super) fn trace(&self) -> Vec<(u64, u64)> {
        self.0.state.lock().trace.clone()
    }

    pub(super) fn steps(&self) -> u64 {
        self.0.state.lock().steps
    }

    /// The choices made so far, as a replayable schedule.
    pub(super) fn schedule(&self) -> choices::Schedule {
        let config = &self.0.config;
        choices::Schedule {
            seed: config.seed,
            workers: config.workers,
            scheduler: config.scheduler,
            rounds: self.0.state.lock().choices.rounds(),
        }
    }

    /// Where the preemptions are among the choices so far.
    pub(super) fn preemptions(&self) -> Vec<usize> {
        self.0.state.lock().choices.preemptions().to_vec()
    }

    pub(super) fn len(&self) -> usize {
        self.0.owned.len()
    }

    /// The sim is dropped: every unfinished task is shut down here (its
    /// future dropped on this thread), queued entries dropped, timers
    /// cleared.
    pub(super) fn shutdown(&self) {
        // Destructors that spawn find this sim current and closed: their
        // spawn is cancelled at once.
        let _current = enter(self);
        let shared = &*self.0;
        shared.owned.close_and_drain(|task| {
            task.shutdown();
            // The list's reference, handed to us by the drain.
            task.drop_reference();
        });
        // Entries of tasks now complete; dropped outside the lock.
        let queued = shared.state.lock().take_queued();
        drop(queued);
        // Wakers still filed (a timer of a future kept outside the sim)
        // would keep tasks' allocations, and this sim, alive.
        shared.driver.shutdown();
    }
}

impl Schedule for SimScheduler {
    fn schedule(&self, task: Notified) {
        let on_this_thread = self.is_current();
        let mut state = self.0.state.lock();
        match state.polling {
            Some(w) if on_this_thread => {
                if state.choices.below(2, 0, false) == 0 {
                    // The LIFO slot; its previous occupant goes to the deque.
                    if let Some(old) = state.workers[w].lifo.replace(task) {
                        state.workers[w].deque.push_back(old);
                    }
                } else {
                    state.workers[w].deque.push_back(task);
                }
            }
            _ => state.injector.push_back(task),
        }
    }

    fn release(&self, task: RawTask) -> bool {
        self.0.owned.remove(task)
    }

    fn unobserved_panic(&self, header: &Header, message: Option<&str>) {
        crate::runtime::diagnostics::report_unobserved_panic(header, message);
    }
}

/// Writes "task #n", then, if known, its name, where it was spawned and
/// whether it is a `spawn_blocking` closure: how every report of the
/// simulation names a task.
fn write_task(out: &mut String, number: u64, info: Option<&TaskInfo>) {
    let _ = write!(out, "task #{number}");
    let Some(info) = info else { return };
    if let Some(name) = info.name() {
        let _ = write!(out, " {name:?}");
    }
    let _ = write!(out, " spawned at {}", info.location());
    if info.is_blocking() {
        out.push_str(" (spawn_blocking)");
    }
}
