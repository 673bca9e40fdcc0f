//! The task core: the bottom layer. A task's memory and its protocols,
//! knowing nothing of the runtime that runs it: it reaches its scheduler
//! only through the [`Schedule`] trait.
//!
//! A task is one allocation holding its header, its scheduler handle and
//! its stage (the future, then its output); everything here is `unsafe`
//! bookkeeping driven by the state word ([`state`]): each function states
//! which bit or which reference gives it the right to touch which field.
//!
//! * [`state`]: the state word, its bits and transitions.
//! * [`alloc`]: the allocation, its type-erased vtable, `RawTask`.
//! * [`harness`]: running a run-queue entry (`Notified`): poll, cancel,
//!   complete.
//! * [`join_waker`]: handing the output and the joiner's waker between the
//!   task and its `JoinHandle`.
//! * [`callbacks`]: done callbacks (`JoinHandle::on_done`).
//! * [`waker`]: the `RawWakerVTable` that points at the task.
//! * [`schedule`]: the `Schedule` trait, all the task knows of who runs it.
//! * [`join`]: `JoinHandle` and `CancelHandle`, the safe face of the above.
//! * [`list`]: the owned-tasks list (every live task of a runtime).
//! * [`current`]: which task this thread is polling.
//! * [`id`], [`error`], [`meta`]: a task's id, its `JoinError`, its name,
//!   spawn location and poll counters.

mod alloc;
mod callbacks;
mod current;
mod error;
mod harness;
mod id;
mod join;
mod join_waker;
mod list;
mod meta;
mod schedule;
pub(crate) mod state;
mod waker;

pub use self::error::JoinError;
pub use self::id::Id;
pub use self::join::{CancelHandle, JoinHandle};
pub use self::meta::TaskInfo;

pub(crate) use self::alloc::{Header, RawTask};
pub(crate) use self::callbacks::DoneCallback;
pub(crate) use self::current::with_current_task;
pub(crate) use self::harness::Notified;
pub(crate) use self::list::{Closed, OwnedTasks};
pub(crate) use self::meta::TaskMeta;
pub(crate) use self::schedule::Schedule;
