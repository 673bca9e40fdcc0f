//! The blocking pool: threads for `spawn_blocking` (asyncio's `to_thread`).
//!
//! A blocking call inside a task stalls its worker and every task queued
//! behind it. `spawn_blocking` runs the call on a separate pool of threads
//! instead and hands back an ordinary [`JoinHandle`]: the closure becomes a
//! task whose one poll calls it, so panics, cancellation (before it starts),
//! names and the task dump work exactly as for async tasks.
//!
//! * The pool starts empty and grows by one thread whenever work arrives
//!   and no thread is idle, up to `Builder::max_blocking_threads` (default
//!   512). Past the cap, work waits in the queue: saturating the pool slows
//!   callers down, it never fails them.
//! * A thread with nothing to do waits `Builder::thread_keep_alive`
//!   (default 10 s) for more, then exits.
//! * At shutdown, work that has not started is cancelled with the rest of
//!   the runtime's tasks; work that is running is waited for, up to the
//!   shutdown timeout, and reported if it is still running then.
//!
//! [`JoinHandle`]: crate::task::JoinHandle

use super::builder::Callback;
use super::shared::Shared;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;
use crate::runtime::context;
use crate::task_core::{Header, Notified, RawTask, Schedule};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The pool's settings, fixed at build time.
pub(crate) struct BlockingConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) stack_size: Option<usize>,
    /// The builder's `on_thread_start` / `on_thread_stop`, which apply to
    /// every thread of the runtime.
    pub(crate) on_start: Option<Callback>,
    pub(crate) on_stop: Option<Callback>,
}

struct PoolState {
    queue: VecDeque<Notified>,
    /// Threads alive.
    threads: usize,
    /// Threads among `threads` that have decided to exit (keep-alive ran
    /// out, or shutdown) and are on their way out (`on_stop`): shutdown
    /// still waits for them, but they take no more work, so a push must not
    /// count them against the cap. (Counting them let a push at the cap
    /// queue work behind a thread that was leaving, and nothing ever ran
    /// it: loom-tests/tests/blocking.rs `keep_alive_exit_races_new_work`.)
    leaving: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Notifications sent to idle threads and not yet taken: an idle thread
    /// that is notified takes one, so a burst of pushes wakes as many
    /// threads as it needs and no more.
    notified: usize,
    shutdown: bool,
    /// Running closures (for metrics).
    busy: usize,
    /// Every thread ever spawned (for joining at shutdown), and how many of
    /// them have exited.
    handles: Vec<thread::JoinHandle<()>>,
}

pub(crate) struct BlockingPool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for work.
    work: Condvar,
    /// Shutdown waits here for the threads to exit.
    exited: Condvar,
    config: BlockingConfig,
}

/// Blocking threads busy and idle, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolCounts {
    pub(crate) busy: usize,
    pub(crate) idle: usize,
    pub(crate) queued: usize,
}

impl BlockingPool {
    pub(crate) fn new(config: BlockingConfig) -> BlockingPool {
        BlockingPool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                leaving: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                busy: 0,
                handles: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            config,
        }
    }

    pub(crate) fn counts(&self) -> PoolCounts {
        let state = self.state.lock();
        PoolCounts {
            busy: state.busy,
            idle: state.idle,
            queued: state.queue.len(),
        }
    }

    /// Queues a blocking task, waking or starting a thread for it.
    fn push(&self, shared: &Arc<Shared>, task: Notified) {
        let mut state = self.state.lock();
        if state.shutdown {
            // Closed: the task is cancelled by the shutdown sweep (or was):
            // drop the entry, the sweep drops the closure.
            drop(state);
            drop(task);
            return;
        }
        state.queue.push_back(task);
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads - state.leaving >= self.config.max_threads {
            // Saturated: the task waits for a thread to come free.
            return;
        }
        state.threads += 1;
        let index = state.handles.len();
        let mut builder = thread::Builder::new().name(format!("magpie-blocking-{index}"));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let shared_for_thread = shared.clone();
        match builder.spawn(move || run_thread(shared_for_thread)) {
            Ok(handle) => state.handles.push(handle),
            Err(_) => {
                state.threads -= 1;
                if state.threads == state.leaving {
                    // Nothing will ever run the queue: cancel what is in it
                    // so that its joiners see an error instead of hanging.
                    let queued: Vec<_> = state.queue.drain(..).collect();
                    drop(state);
                    for task in queued {
                        task.raw().cancel();
                        // A cancelled run completes the task: nothing to
                        // queue again.
                        drop(task.run());
                    }
                }
            }
        }
    }

    /// Shutdown's close (see `runtime::lifecycle`): from here on nothing is
    /// queued and nothing is popped; idle threads exit at once, busy ones
    /// when their closure returns. The queued entries are dropped: their
    /// tasks stay in the owned-tasks list, where the sweep cancels them.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.shutdown = true;
        let queued: Vec<_> = state.queue.drain(..).collect();
        self.work.notify_all();
        drop(state);
        drop(queued);
    }

    /// Waits for every thread to exit, at most until `deadline`; `allowed`
    /// threads (the caller's own) are not waited for. Returns whether they
    /// all exited.
    pub(crate) fn wait_for_threads(&self, deadline: Option<Instant>, allowed: usize) -> bool {
        let mut state = self.state.lock();
        while state.threads > allowed {
            match deadline {
                None => self.exited.wait(&mut state),
                Some(deadline) => {
                    if self.exited.wait_until(&mut state, deadline).timed_out() {
                        return state.threads <= allowed;
                    }
                }
            }
        }
        true
    }

    /// Joins the pool's threads (after every one of them exited).
    pub(crate) fn join_threads(&self) {
        let handles = std::mem::take(&mut self.state.lock().handles);
        for handle in handles {
            let _ = handle.join();
        }
    }

    /// Forgets the threads' handles, leaving them detached (some are still
    /// running, or the caller is one of them).
    pub(crate) fn detach_threads(&self) {
        drop(std::mem::take(&mut self.state.lock().handles));
    }
}

/// True if the current thread is one of `shared`'s blocking threads.
pub(crate) fn is_blocking_thread_of(shared: &Arc<Shared>) -> bool {
    context::with_blocking_pool(|pool| pool.is_some_and(|p| Arc::ptr_eq(p, shared)))
}

fn run_thread(shared: Arc<Shared>) {
    let pool = &shared.blocking;
    let _enter = context::enter(crate::runtime::Handle::from_shared(shared.clone()));
    let _marker = context::set_blocking_pool(shared.clone());
    if let Some(f) = &pool.config.on_start {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f()));
    }
    let mut state = pool.state.lock();
    loop {
        // Closed: pop nothing more (the sweep owns what was queued).
        if state.shutdown {
            break;
        }
        if let Some(task) = state.queue.pop_front() {
            state.busy += 1;
            drop(state);
            // A blocking task completes in its one poll; were it ever woken
            // during it, its entry comes back and goes to the queue again.
            let requeue = task.run();
            state = pool.state.lock();
            state.busy -= 1;
            if let Some(task) = requeue {
                state.queue.push_back(task);
            }
            continue;
        }
        state.idle += 1;
        let timed_out = pool
            .work
            .wait_until(&mut state, Instant::now() + pool.config.keep_alive)
            .timed_out();
        state.idle -= 1;
        if state.notified > 0 {
            state.notified -= 1;
        } else if timed_out && state.queue.is_empty() {
            break;
        }
    }
    // Decided under the same lock as the pushes look at the count: from
    // here on this thread takes no work, and pushes know it.
    state.leaving += 1;
    drop(state);
    if let Some(f) = &pool.config.on_stop {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f()));
    }
    // Counted out last, so that shutdown waits for `on_stop` too.
    let mut state = pool.state.lock();
    state.threads -= 1;
    state.leaving -= 1;
    drop(state);
    pool.exited.notify_all();
}

/// The scheduler of a blocking task: its one run goes to the pool.
pub(crate) struct BlockingSchedule(pub(crate) Arc<Shared>);

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified) {
        self.0.blocking.push(&self.0, task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.0.release(task)
    }

    fn unobserved_panic(&self, header: &Header, message: Option<&str>) {
        self.0.unobserved_panic(header, message);
    }

    /// Blocking closures run for long and away from the workers, while the
    /// coarse clock may stand still: read the real clock.
    fn clock_micros(&self) -> u64 {
        self.0.diag.micros_since_start(std::time::Instant::now())
    }
}

/// The future of a blocking task: calls the closure in its one poll.
pub(crate) struct BlockingTask<F>(Option<F>);

impl<F> BlockingTask<F> {
    pub(crate) fn new(f: F) -> BlockingTask<F> {
        BlockingTask(Some(f))
    }
}

// The closure is never pinned: it is moved out to be called.
impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("a blocking task is polled exactly once");
        Poll::Ready(f())
    }
}
