//! `ShutdownReport`: what a graceful shutdown could not finish.

use crate::task_core::{RawTask, TaskInfo};
use std::fmt;

/// What [`Runtime::shutdown_timeout`](super::Runtime::shutdown_timeout)
/// could not finish before its timeout: tasks still inside a poll (a worker
/// stuck in a blocking call) and blocking closures still running. They were
/// left running, detached; a task is dropped as soon as its poll returns.
///
/// ```
/// use std::time::Duration;
/// let rt = magpie::Runtime::new().unwrap();
/// rt.spawn(async { magpie::time::sleep(Duration::from_secs(3600)).await });
/// let report = rt.shutdown_timeout(Duration::from_secs(1));
/// assert!(report.is_complete(), "a sleeping task is simply cancelled");
/// ```
#[derive(Debug, Default)]
pub struct ShutdownReport {
    unfinished: Vec<UnfinishedTask>,
}

/// A task that was still running when a shutdown timed out: the same
/// type as [`task::TaskInfo`](crate::task::TaskInfo), one view of a
/// task's metadata (this name is kept for the shutdown report).
///
/// ```
/// use std::time::Duration;
/// let rt = magpie::Runtime::new().unwrap();
/// let t = magpie::task::Builder::new()
///     .name("flush")
///     .spawn_blocking_on(rt.handle(), || std::thread::sleep(Duration::from_millis(200)));
/// std::thread::sleep(Duration::from_millis(20));
/// let report = rt.shutdown_timeout(Duration::ZERO);
/// let unfinished: &magpie::runtime::UnfinishedTask = &report.unfinished()[0];
/// assert_eq!(unfinished.id(), t.id());
/// assert_eq!(unfinished.name(), Some("flush"));
/// assert!(unfinished.is_blocking());
/// assert!(unfinished.location().file().ends_with(".rs"));
/// ```
pub type UnfinishedTask = TaskInfo;

impl ShutdownReport {
    /// Builds the report from the tasks that were running when the
    /// shutdown sweep ran: those that have not completed since are
    /// unfinished. Releases the references.
    pub(crate) fn from_tasks(running: Vec<RawTask>) -> ShutdownReport {
        let mut unfinished = Vec::new();
        for task in running {
            let header = task.header();
            if !header.state.load().is_complete() {
                unfinished.push(TaskInfo::of(header));
            }
            task.drop_reference();
        }
        unfinished.sort_by_key(|t| t.id());
        ShutdownReport { unfinished }
    }

    /// True if everything finished: every task was cancelled or completed
    /// and every blocking closure returned before the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::new().unwrap();
    /// assert!(rt.shutdown_timeout(Duration::from_secs(1)).is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty()
    }

    /// The tasks still running at the timeout, by id.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = magpie::Runtime::new().unwrap();
    /// assert!(rt.shutdown_timeout(Duration::from_secs(1)).unfinished().is_empty());
    /// ```
    pub fn unfinished(&self) -> &[UnfinishedTask] {
        &self.unfinished
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unfinished.is_empty() {
            return f.write_str("shutdown complete: every task finished or was cancelled");
        }
        write!(
            f,
            "shutdown timed out with {} task(s) still running:",
            self.unfinished.len()
        )?;
        for task in &self.unfinished {
            write!(f, "\n  {task}")?;
        }
        Ok(())
    }
}
