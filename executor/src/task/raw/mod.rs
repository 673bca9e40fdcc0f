//! Task memory, one concept per file. A task is one allocation holding
//! its header, its scheduler handle and its stage (the future, then its
//! output); everything here is `unsafe` bookkeeping driven by the state word
//! ([`super::state`]): each function states which bit or which reference
//! gives it the right to touch which field.
//!
//! * [`alloc`]: the allocation, its type-erased vtable, `RawTask`.
//! * [`harness`]: running a run-queue entry (`Notified`): poll, cancel,
//!   complete.
//! * [`join_waker`]: handing the output and the joiner's waker between the
//!   task and its `JoinHandle`.
//! * [`callbacks`]: done callbacks (`JoinHandle::on_done`).
//! * [`waker`]: the `RawWakerVTable` that points at the task.
//! * [`schedule`]: the `Schedule` trait, all the task knows of who runs it.

mod alloc;
mod callbacks;
mod harness;
mod join_waker;
mod schedule;
mod waker;

pub(crate) use self::alloc::{Header, RawTask};
pub(crate) use self::callbacks::DoneCallback;
pub(crate) use self::harness::Notified;
pub(crate) use self::schedule::Schedule;
