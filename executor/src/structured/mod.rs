//! Structured concurrency: asyncio's `gather`, `wait`, `as_completed`
//! and `TaskGroup`, built on `JoinHandle`s (the task core) and the runtime's
//! spawn functions. Nothing here is `unsafe`.
//!
//! * [`completions`]: the one loop every combinator shares: which handle
//!   finished, in completion order, woken once per completion.
//! * [`gather`]: `gather`, `gather_fail_fast`, `try_gather`.
//! * [`wait`]: `wait` with `WaitFor` and an optional timeout.
//! * [`as_completed`]: a `Stream` of outputs in completion order.
//! * [`group`]: the `TaskGroup`.

mod as_completed;
mod completions;
mod gather;
mod group;
mod wait;

pub use self::as_completed::{AsCompleted, as_completed};
pub use self::gather::{
    Gather, GatherFailFast, TaskError, TryGather, gather, gather_fail_fast, try_gather,
};
pub use self::group::{GroupError, GroupJoin, TaskGroup};
pub use self::wait::{Wait, WaitFor, wait};
