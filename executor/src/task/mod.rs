//! Tasks: spawning them, awaiting them, cancelling them, naming them.
//!
//! | asyncio | magpie |
//! |---|---|
//! | `asyncio.create_task(coro)` | [`spawn`] |
//! | `asyncio.create_task(coro, name=..)` | [`Builder::name`] + [`Builder::spawn`] |
//! | `create_task` of a coroutine that must stay on one thread (`!Send`) | [`LocalSet`] + [`spawn_local`] |
//! | `Task` | [`JoinHandle`] |
//! | `CancelledError`, the task's exception | [`JoinError`] |
//! | `asyncio.current_task()` | [`current`] |
//! | `await asyncio.sleep(0)` | [`yield_now`] |
//! | `await asyncio.to_thread(f)` | [`spawn_blocking`] |
//! | `task.add_done_callback(cb)` | [`JoinHandle::on_done`] |
//! | `gather(*tasks, return_exceptions=True)` | [`gather`] |
//! | `gather(*tasks)` (fail fast) | [`gather_fail_fast`], [`try_gather`] for tasks returning `Result` |
//! | `wait(tasks, return_when=..)` | [`wait`] + [`WaitFor`] |
//! | `as_completed(tasks)` | [`as_completed`] |
//! | `TaskGroup` | [`TaskGroup`] |

mod builder;
mod local;
mod yield_now;

pub use self::builder::Builder;
pub use self::local::{LocalSet, RunUntil, spawn_local};
pub use self::yield_now::{YieldNow, yield_now};
pub use crate::structured::{
    AsCompleted, Gather, GatherFailFast, GroupError, GroupJoin, TaskError, TaskGroup, TryGather,
    Wait, WaitFor, as_completed, gather, gather_fail_fast, try_gather, wait,
};
pub use crate::task_core::{CancelHandle, Id, JoinError, JoinHandle, TaskInfo};
/// The cooperative budget (the same module as [`magpie::sync::coop`](crate::sync::coop)):
/// each poll of a task may complete [`coop::DEFAULT_BUDGET`] operations
/// that do not wait before they are made to yield.
pub use magpie_sync::coop;

pub use crate::runtime::spawn::{spawn, spawn_blocking, try_spawn};

/// The task running this code: asyncio's `current_task()`.
///
/// # Panics
///
/// Outside a task (for example directly in `Runtime::block_on`'s future,
/// which runs on the calling thread rather than as a task); see
/// [`try_current`].
///
/// ```
/// magpie::run(async {
///     let task = magpie::task::Builder::new().name("reporter").spawn(async {
///         let me = magpie::task::current();
///         format!("task {} ({:?})", me.id(), me.name())
///     });
///     println!("{}", task.await.unwrap());
/// });
/// ```
#[track_caller]
pub fn current() -> TaskInfo {
    try_current().expect("magpie::task::current called outside of a task")
}

/// The task running this code, or `None` outside a task.
///
/// ```
/// assert!(magpie::task::try_current().is_none());
/// magpie::run(async {
///     let inside = magpie::spawn(async { magpie::task::try_current().is_some() });
///     assert!(inside.await.unwrap());
/// });
/// ```
pub fn try_current() -> Option<TaskInfo> {
    crate::task_core::with_current_task(|header| header.map(TaskInfo::of))
}
