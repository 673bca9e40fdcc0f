//! Per-worker counters, written only by their worker (relaxed load + store,
//! no read-modify-write) and read by anyone without stopping the worker.
//!
//! They are plain `std` atomics even under loom: no protocol depends on
//! them (the monitor only uses them as hints), so loom need not explore
//! them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters. Lives cache-padded inside the worker's `Remote`.
pub(crate) struct WorkerStats {
    /// Tasks polled (including cancellations run on this worker). The
    /// monitor also uses it to tell a worker stuck in one poll.
    pub(crate) polls: AtomicU64,
    /// Tasks polled straight from the LIFO slot.
    pub(crate) lifo_hits: AtomicU64,
    /// Tasks taken from other workers.
    pub(crate) steals: AtomicU64,
    /// Successful steal operations (one operation may move a batch).
    pub(crate) steal_operations: AtomicU64,
    /// Times the worker went to sleep.
    pub(crate) parks: AtomicU64,
    /// Total time spent asleep, in nanoseconds (the sleep in progress is
    /// not included until it ends).
    pub(crate) parked_nanos: AtomicU64,
    /// When the sleep in progress began, in nanoseconds since the runtime
    /// started, plus one; zero while awake.
    pub(crate) parked_since: AtomicU64,
    /// The id of the task being polled, zero between polls. The monitor's
    /// blocked-worker watchdog and the task dump read it.
    pub(crate) current_task: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn new() -> WorkerStats {
        WorkerStats {
            polls: AtomicU64::new(0),
            lifo_hits: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            steal_operations: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            parked_nanos: AtomicU64::new(0),
            parked_since: AtomicU64::new(0),
            current_task: AtomicU64::new(0),
        }
    }

    /// Owner only: adds `n` to `counter` without a read-modify-write.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
