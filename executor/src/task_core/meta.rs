//! What a task carries besides its future: its metadata (name, spawn
//! location) and its poll counters for the task dump.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What a task carries besides its future: its name and where it was
/// spawned. Immutable after spawn.
pub(crate) struct TaskMeta {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    /// Runs on the blocking pool (`spawn_blocking`).
    pub(crate) blocking: bool,
    /// When it was spawned, in microseconds of the runtime's clock (see
    /// `Schedule::clock_micros`); set only in debug mode, where every poll
    /// of the task is also timed.
    pub(crate) spawned_at: Option<u64>,
}

impl TaskMeta {
    pub(crate) fn new(name: Option<Arc<str>>, location: &'static Location<'static>) -> TaskMeta {
        TaskMeta {
            name,
            location,
            blocking: false,
            spawned_at: None,
        }
    }
}

/// A task's counters for the task dump. Written only by the thread polling
/// the task (the `RUNNING` bit makes it the only writer: load and store, no
/// read-modify-write), read by anyone. Plain `std` atomics: no protocol
/// depends on them, so loom need not see them.
pub(crate) struct TaskStats {
    polls: AtomicU64,
    poll_micros: AtomicU64,
}

impl TaskStats {
    pub(crate) fn new() -> TaskStats {
        TaskStats {
            polls: AtomicU64::new(0),
            poll_micros: AtomicU64::new(0),
        }
    }

    /// Poller only: counts a poll, and its duration in microseconds if it
    /// was timed.
    #[inline]
    pub(crate) fn record_poll(&self, took_micros: Option<u64>) {
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        if let Some(micros) = took_micros {
            self.poll_micros.store(
                self.poll_micros.load(Relaxed).saturating_add(micros),
                Relaxed,
            );
        }
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }

    pub(crate) fn poll_time(&self) -> Duration {
        Duration::from_micros(self.poll_micros.load(Relaxed))
    }
}
