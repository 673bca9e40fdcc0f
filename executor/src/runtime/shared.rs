//! `Shared`: what every worker, every task and every `Handle` of one
//! runtime points to. It is only the composition of the runtime's
//! components, each owned by its module, which documents its protocol:
//!
//! * `scheduler`: the run queues, the workers' remote parts, the idle
//!   (park/unpark) state and the monitor ([`super::scheduler`]);
//! * `owned`: every live task, for shutdown and the task dump
//!   (`task_core::list`);
//! * `time`: the timer driver ([`super::timer`]);
//! * `blocking`: the blocking pool ([`super::blocking`]);
//! * `lifecycle`: running, closed or swept ([`super::lifecycle`]);
//! * `diag`: debug mode's settings and clocks ([`super::diagnostics`]);
//! * `reactor` (feature `net`): the reactor, whose poller the worker about to
//!   park sleeps in ([`super::reactor`]; each worker's parker holds it too, to
//!   notify the poller instead of its condvar).
//!
//! What needs two components lives here: scheduling a task from outside
//! the workers (the queues and the lifecycle), and waking whoever must
//! fire a new, earlier timer.
//!
//! # Who fires timers
//!
//! * A worker about to park fires what is due, then arms itself as the
//!   timer driver and sleeps until the next deadline
//!   (`scheduler::worker`, `timer::driver`'s `arm_worker`).
//! * Busy workers fire due timers every `global_queue_interval` ticks
//!   (`scheduler::worker`).
//! * While no worker is armed (every worker busy) the monitor fires them
//!   on time (`scheduler::monitor`), and their tasks go to the injector.
//! * A timer registered with an earlier deadline than the armed one
//!   returns a `Kick`, and [`Shared::kick_timer`] wakes the armed worker or
//!   the monitor so that it re-arms.

use super::blocking::{BlockingConfig, BlockingPool};
use super::context;
use super::diagnostics::{self, Diag};
use super::lifecycle::{self, Lifecycle};
use super::scheduler::Scheduler;
use super::scheduler::queue::Local;
use super::timer;
use crate::loom::sync::Arc;
use crate::task_core::{Header, Notified, OwnedTasks, RawTask, Schedule};

/// State shared by the workers, the tasks and the handles of one runtime.
pub(crate) struct Shared {
    pub(crate) scheduler: Scheduler,
    pub(crate) owned: OwnedTasks,
    pub(crate) time: timer::Driver,
    pub(crate) blocking: BlockingPool,
    /// Running, closed or swept: owned by `runtime::lifecycle`.
    pub(crate) lifecycle: Lifecycle,
    pub(crate) diag: Diag,
    #[cfg(all(feature = "net", unix))]
    pub(crate) reactor: Arc<super::reactor::Reactor>,
}

impl Shared {
    /// Builds the shared state and each worker's local queue.
    pub(crate) fn new(
        workers: usize,
        global_queue_interval: u32,
        debug: Option<diagnostics::DebugConfig>,
        blocking: BlockingConfig,
    ) -> std::io::Result<(Arc<Shared>, Vec<Local>)> {
        #[cfg(all(feature = "net", unix))]
        let reactor = Arc::new(super::reactor::Reactor::new()?);
        let (scheduler, locals) = Scheduler::new(
            workers,
            global_queue_interval,
            #[cfg(all(feature = "net", unix))]
            &reactor,
        );
        let shards = if crate::loom::IS_LOOM { 2 } else { 4 * workers };
        let shared = Arc::new(Shared {
            scheduler,
            owned: OwnedTasks::new(shards),
            time: timer::Driver::new(),
            blocking: BlockingPool::new(blocking),
            lifecycle: Lifecycle::new(),
            diag: Diag::new(debug),
            #[cfg(all(feature = "net", unix))]
            reactor,
        });
        Ok((shared, locals))
    }

    /// True once shutdown has begun (see `runtime::lifecycle`).
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.lifecycle.is_closed()
    }

    /// Schedules from a thread that is not one of this runtime's workers.
    pub(crate) fn schedule_remote(&self, task: Notified) {
        self.scheduler.injector.push(task);
        // `notify_parked` starts with a `SeqCst` fence (see `idle.rs`),
        // which also orders the push before the lifecycle's check of the
        // flag: a push racing the shutdown sweep is drained by whichever
        // side comes second (see `runtime::lifecycle`).
        self.scheduler.notify_parked();
        lifecycle::after_remote_push(self);
    }

    /// Wakes whoever must take account of a new, earlier timer deadline
    /// (see "Who fires timers" above).
    pub(crate) fn kick_timer(&self, kick: timer::Kick) {
        let scheduler = &self.scheduler;
        match kick {
            timer::Kick::Nobody => {}
            timer::Kick::Worker(index) => scheduler.remotes[index].parker.unpark(),
            // Under loom there is no monitor: wake a parked worker, which
            // finds nothing to run and arms itself for the deadline.
            timer::Kick::Fallback if crate::loom::IS_LOOM => scheduler.notify_parked(),
            timer::Kick::Fallback => scheduler.monitor.parker.unpark(),
        }
    }
}

impl Schedule for Arc<Shared> {
    #[inline]
    fn schedule(&self, task: Notified) {
        context::with_worker(|worker| match worker {
            Some(worker) if Arc::ptr_eq(&worker.shared, self) => worker.schedule_local(task, false),
            _ => self.schedule_remote(task),
        })
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unobserved_panic(&self, header: &Header, message: Option<&str>) {
        diagnostics::report_unobserved_panic(header, message);
    }

    #[inline]
    fn clock_micros(&self) -> u64 {
        self.diag.clock_micros()
    }
}
