//! The runtime's lifecycle: the one module that shuts a runtime down.
//!
//! # States
//!
//! ```text
//!   running ──close──▶ closed ──sweep──▶ swept
//! ```
//!
//! * **Running.** Tasks are spawned, queued, polled.
//! * **Closed.** The flag in [`Lifecycle`] is set and every entry point
//!   through which a thread could start running a task is shut, *before*
//!   anything is cancelled:
//!   - spawns: `Handle::spawn` refuses (`SpawnError::Shutdown`) once the
//!     owned-tasks list is closed by the sweep; before that a spawn still
//!     links its task, which the sweep then finds and cancels;
//!   - the workers' run loops: a worker checks the flag before *every*
//!     poll, including the LIFO polls that follow a task (a worker whose
//!     poll outlived the shutdown deadline stops as soon as it returns);
//!     at exit it drops the entries left in its LIFO slot and deque;
//!   - the blocking pool: [`BlockingPool::close`] refuses new entries,
//!     drops the queued ones and stops its threads from popping, so a
//!     blocking thread that finishes a closure takes no other;
//!   - the injector: drained after the sweep; a push that races the close
//!     is drained by its pusher (see [`after_remote_push`]).
//! * **Swept.** After the workers exited (or the deadline passed), the
//!   sweep closes the owned-tasks list and cancels every task in it that
//!   nobody is polling, dropping its future on the sweeping thread; tasks
//!   inside a poll are marked cancelled and finish when it returns. Then
//!   the timers are shut down (a timer used afterwards panics instead of
//!   waiting forever) and the injector is drained. Last, the monitor is
//!   told the workers are out of their polls (in debug mode it takes its
//!   last look only then: see `scheduler::monitor`) and joined.
//!
//! # Why the sweep never shares a future
//!
//! The sweep owns a task's future once its `transition_to_shutdown` set
//! `RUNNING`. A queue entry for that task may still exist: in the injector,
//! in the deque or LIFO slot of a worker stuck past the deadline, in a
//! blocking thread's hands. Closing first means almost nobody pops one, but
//! "almost" is not a proof: the proof is in the task's state word, where
//! `transition_to_running` honours an entry only while the task is
//! scheduled and nobody owns its future. A stale entry just releases its
//! reference. So whatever the interleaving of the sweep with a pop, the
//! future has one owner, is dropped once, and `COMPLETE` is set once.
//!
//! # Why a late push is not lost
//!
//! A waker or a spawn that got its task scheduled just before the sweep may
//! push the entry to the injector just after the drain. Nobody would ever
//! pop it, and its reference would keep the task (and the runtime's shared
//! state) alive forever. [`close`] sets the flag and then issues a `SeqCst`
//! fence; a remote push is followed by the `SeqCst` fence in
//! `notify_parked` and then a load of the flag. That is a store-buffering
//! pair: either the pusher sees the flag and drains the injector itself, or
//! the sweep's drain (which comes after the fence) sees the push.

use super::blocking;
use super::diagnostics;
use super::scheduler::queue::Stolen;
use super::shared::Shared;
use super::shutdown::ShutdownReport;
use crate::loom::sync::atomic::{AtomicBool, Ordering, fence};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;
use crate::runtime::context;
use crate::task_core::RawTask;
use std::time::Instant;

/// The lifecycle flag, in the runtime's shared state.
pub(crate) struct Lifecycle {
    closed: AtomicBool,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            closed: AtomicBool::new(false),
        }
    }

    /// True once the runtime is closed: workers leave their loops at the
    /// next poll boundary.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// The runtime's threads, as shutdown needs them.
pub(crate) struct Threads {
    pub(crate) workers: Vec<thread::JoinHandle<()>>,
    pub(crate) monitor: Option<thread::JoinHandle<()>>,
    pub(crate) exits: Arc<ExitLatch>,
}

/// Shuts the runtime down, waiting until `deadline` at most (forever with
/// `None`), and reports what it could not finish. Called once, by
/// `Runtime::shutdown_timeout` or `Runtime`'s drop.
pub(crate) fn shut_down(
    shared: &Arc<Shared>,
    threads: &mut Threads,
    deadline: Option<Instant>,
) -> ShutdownReport {
    close(shared);
    // A runtime dropped on one of its own threads cannot wait for that
    // thread: wait for the others only.
    let on_own_worker = context::with_worker(|w| w.is_some_and(|w| Arc::ptr_eq(&w.shared, shared)));
    let on_own_blocking = blocking::is_blocking_thread_of(shared);
    let workers_exited = threads.exits.wait(on_own_worker as usize, deadline);
    if shared.diag.debug.is_some() {
        diagnostics::report_alive_at_shutdown(shared);
    }
    let still_running = sweep(shared);
    let blocking_exited = shared
        .blocking
        .wait_for_threads(deadline, on_own_blocking as usize);
    let report = ShutdownReport::from_tasks(still_running);
    if let Some(monitor) = threads.monitor.take() {
        // The monitor leaves its loop as soon as it sees the flag; in debug
        // mode it takes a last look once told the workers are out of their
        // polls (as far as the deadline let them).
        shared.scheduler.monitor.workers_stopped();
        let _ = monitor.join();
    }
    if workers_exited && !on_own_worker {
        for thread in threads.workers.drain(..) {
            let _ = thread.join();
        }
    } else {
        // Leave the stuck (or current) workers detached.
        threads.workers.clear();
    }
    if blocking_exited && !on_own_blocking {
        shared.blocking.join_threads();
    } else {
        shared.blocking.detach_threads();
    }
    report
}

/// Running → closed: sets the flag, shuts every entry point, and wakes
/// every thread that must see it.
fn close(shared: &Shared) {
    shared.lifecycle.closed.store(true, Ordering::Release);
    // Pairs with the fence in `notify_parked` after a remote push (see the
    // module doc).
    fence(Ordering::SeqCst);
    shared.blocking.close();
    for remote in shared.scheduler.remotes.iter() {
        remote.parker.unpark();
    }
    shared.scheduler.monitor.parker.unpark();
}

/// Closed → swept: cancels every task that is not running (dropping its
/// future here), shuts the timers down and drains the injector.
///
/// Returns the tasks that were running (in a stuck poll, or a blocking
/// closure), each with a reference: they are marked cancelled and finish
/// when their poll returns.
fn sweep(shared: &Shared) -> Vec<RawTask> {
    let mut running = Vec::new();
    shared.owned.close_and_drain(|task| {
        task.shutdown();
        if task.header().state.load().is_complete() {
            // The list's reference, handed to us by the drain.
            task.drop_reference();
        } else {
            running.push(task);
        }
    });
    // Every swept task's future is gone, and with it every sleep it
    // owned; timers held elsewhere now panic instead of waiting forever.
    shared.time.shutdown();
    // Sockets outliving the runtime: their waiters are woken and see the
    // error, later operations fail (see `runtime::reactor`).
    #[cfg(all(feature = "net", unix))]
    shared.reactor.shutdown();
    drain_injector(shared);
    running
}

/// Called by `schedule_remote` after its push and its fence: if the runtime
/// is closed, the push may have come after the sweep's drain, so drain it
/// here (see the module doc).
#[inline]
pub(crate) fn after_remote_push(shared: &Shared) {
    if shared.lifecycle.is_closed() {
        drain_injector(shared);
    }
}

/// Drops every entry in the injector (closed runtimes only).
fn drain_injector(shared: &Shared) {
    loop {
        match shared.scheduler.injector.pop() {
            Stolen::Task(task) => drop(task),
            Stolen::Empty => break,
            Stolen::Retry => crate::loom::hint::spin_loop(),
        }
    }
}

/// Counts the worker threads that have not exited yet.
pub(crate) struct ExitLatch {
    remaining: Mutex<usize>,
    cvar: Condvar,
}

impl ExitLatch {
    pub(crate) fn new(n: usize) -> ExitLatch {
        ExitLatch {
            remaining: Mutex::new(n),
            cvar: Condvar::new(),
        }
    }

    pub(crate) fn count_down(&self) {
        let mut remaining = self.remaining.lock();
        *remaining -= 1;
        self.cvar.notify_all();
    }

    /// Waits until at most `allowed` workers remain, or the deadline passes.
    /// Returns whether the count was reached.
    fn wait(&self, allowed: usize, deadline: Option<Instant>) -> bool {
        let mut remaining = self.remaining.lock();
        while *remaining > allowed {
            match deadline {
                None => self.cvar.wait(&mut remaining),
                Some(deadline) => {
                    if self.cvar.wait_until(&mut remaining, deadline).timed_out() {
                        return *remaining <= allowed;
                    }
                }
            }
        }
        true
    }
}

/// Counts a worker thread out when it exits, even by a panic.
pub(crate) struct ExitGuard(pub(crate) Arc<ExitLatch>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.count_down();
    }
}
