//! What a task carries besides its future: its metadata (name, spawn
//! location) and its poll counters for the task dump.

use super::{Header, Id};
use std::fmt;
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

/// What a task is, seen from outside: its id, its name, where it was
/// spawned, and whether it is blocking work. The answer of
/// [`task::current`](crate::task::current), and each entry of a
/// [`ShutdownReport`](crate::ShutdownReport) (where it is also named
/// [`UnfinishedTask`](crate::runtime::UnfinishedTask)).
///
/// `Display` prints it on one line.
///
/// ```
/// magpie::run(async {
///     let task = magpie::task::Builder::new()
///         .name("reporter")
///         .spawn(async { magpie::task::current().to_string() });
///     let line = task.await.unwrap();
///     assert!(line.starts_with("task "), "{line}");
///     assert!(line.contains("(\"reporter\") spawned at "), "{line}");
/// });
/// ```
#[derive(Clone)]
pub struct TaskInfo {
    id: Id,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
    blocking: bool,
}

impl TaskInfo {
    /// The metadata of the task behind `header`.
    pub(crate) fn of(header: &Header) -> TaskInfo {
        TaskInfo {
            id: header.id,
            name: header.meta.name.clone(),
            location: header.meta.location,
            blocking: header.meta.blocking,
        }
    }

    /// The task's id.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async { magpie::task::current().id() });
    ///     let id = task.id();
    ///     assert_eq!(task.await.unwrap(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The task's name, if it has one.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::task::Builder::new()
    ///         .name("poller")
    ///         .spawn(async { magpie::task::current().name().map(String::from) });
    ///     assert_eq!(task.await.unwrap().as_deref(), Some("poller"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (file, line, column).
    ///
    /// ```
    /// magpie::run(async {
    ///     let where_ = magpie::spawn(async { magpie::task::current().location() }).await.unwrap();
    ///     assert!(where_.file().ends_with(".rs"));
    /// });
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// True for a `spawn_blocking` closure, false for an async task.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::new().unwrap();
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)));
    /// std::thread::sleep(Duration::from_millis(20));
    /// let report = rt.shutdown_timeout(Duration::ZERO);
    /// assert!(report.unfinished()[0].is_blocking());
    /// magpie::run(async {
    ///     assert!(!magpie::spawn(async { magpie::task::current().is_blocking() }).await.unwrap());
    /// });
    /// ```
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("location", &format_args!("{}", self.location))
            .field("blocking", &self.blocking)
            .finish()
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.blocking {
            "blocking task"
        } else {
            "task"
        };
        write!(f, "{what} {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " ({name:?})")?;
        }
        write!(f, " spawned at {}", self.location)
    }
}
