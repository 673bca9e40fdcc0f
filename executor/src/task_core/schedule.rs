//! `Schedule`: what a task needs from whoever runs it. The task core talks
//! to its scheduler through this trait only; it knows nothing else of the
//! runtime.

use super::{Header, Notified, RawTask};

/// What a task needs from whoever runs it.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Puts the task in a run queue (a wake, a spawn, a cancel). A task
    /// woken during its own poll is not scheduled through here: `run`
    /// hands its entry back to the caller, which queues it as a yield.
    fn schedule(&self, task: Notified);

    /// Removes the task from the owned-tasks list. Returns `true` if it was
    /// there: the list's reference then passes to the caller.
    fn release(&self, task: RawTask) -> bool;

    /// A task panicked and nobody will ever look at the panic: its
    /// `JoinHandle` was dropped before or after completion without reading
    /// the output. Diagnostics hook; must not panic.
    fn unobserved_panic(&self, _header: &Header, _message: Option<&str>) {}

    /// The clock debug mode times polls with, in microseconds since the
    /// runtime started. The runtime's is coarse (advanced by the monitor
    /// every millisecond while workers run, and by workers waking up), so
    /// that timing a poll costs two relaxed loads rather than two clock
    /// reads; summed over many polls it is an unbiased estimate.
    fn clock_micros(&self) -> u64 {
        0
    }
}
