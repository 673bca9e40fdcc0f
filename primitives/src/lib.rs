//! Fair, cancellation-safe, runtime-agnostic async synchronisation
//! primitives, in asyncio's vocabulary.
//!
//! | asyncio | magpie-sync |
//! |---|---|
//! | `asyncio.Lock` | [`Lock<T>`](Lock) (owns the value it protects) |
//! | — | [`RwLock<T>`](RwLock) |
//! | `asyncio.Event` | [`Event`] |
//! | `asyncio.Condition` | [`Condition`] (used with a [`Lock`] guard) |
//! | `asyncio.Semaphore`, `BoundedSemaphore` | [`Semaphore`] |
//! | `asyncio.Barrier` | [`Barrier`] |
//! | `asyncio.Queue`, `PriorityQueue`, `LifoQueue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] |
//! | `asyncio.Future` set by another task | [`oneshot`] |
//! | a `Condition` over a value | [`watch`] |
//! | `Condition.notify` without a lock | [`Notify`] |
//!
//! Every primitive waits on one shared mechanism, an intrusive FIFO wait
//! list: a waiting future holds its own list node, so waiting allocates
//! nothing, and wakers are called after the list's lock is released.
//!
//! * **Fair.** Waiters are served in arrival order and none starves. Each
//!   primitive documents its policy; see [`Fairness`].
//! * **Cancellation-safe.** A future may be dropped at any moment: while
//!   waiting, or after it was granted a lock, permits, an item or a
//!   notification but before it was polled again. What it was granted is
//!   passed on; nothing is lost or duplicated.
//! * **Runtime-agnostic.** Only [`core::task::Waker`] is used: the
//!   primitives work on magpie, tokio, smol, `futures::executor`, or any
//!   other executor.
//! * **Cooperative.** An operation that completes without waiting spends
//!   one unit of the task's [`coop`] budget, when an executor drives one
//!   (magpie does; elsewhere it is a no-op), so that a task looping on
//!   ready operations yields.
//! * **Misuse is reported.** Every error type implements
//!   [`std::error::Error`]; requests that could never be met (a queue of
//!   capacity 0, more permits than a semaphore can hold) fail at once
//!   instead of hanging.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use magpie_sync::{Event, Lock};
//!
//! let total = Arc::new(Lock::new(0));
//! let done = Arc::new(Event::new());
//! futures::executor::block_on(async {
//!     let worker = {
//!         let (total, done) = (total.clone(), done.clone());
//!         async move {
//!             *total.lock().await += 42;
//!             done.set();
//!         }
//!     };
//!     let observer = async {
//!         done.wait().await;
//!         *total.lock().await
//!     };
//!     let ((), seen) = futures::join!(worker, observer);
//!     assert_eq!(seen, 42);
//! });
//! ```

/// `assert!` in debug builds and under loom (whose models run in release
/// mode, where a `debug_assert!` would check nothing), compiled out of
/// other release builds. Protocol invariants are checked with it, so every
/// interleaving a model explores also checks them.
macro_rules! invariant {
    ($($arg:tt)*) => {
        if cfg!(any(debug_assertions, loom)) {
            assert!($($arg)*);
        }
    };
}

/// [`invariant!`] for `assert_eq!`.
#[allow(unused_macros)]
macro_rules! invariant_eq {
    ($($arg:tt)*) => {
        if cfg!(any(debug_assertions, loom)) {
            assert_eq!($($arg)*);
        }
    };
}

mod barrier;
mod condition;
pub mod coop;
mod data;
mod error;
mod event;
mod fairness;
mod flag;
mod lock;
mod permits;
mod queue;
mod rwlock;
mod semaphore;
mod wait_list;

// Channels and edge-triggered wake-ups.
mod notify;
pub mod oneshot;
pub mod watch;

pub use notify::{Notified, Notify};

#[doc(hidden)]
pub mod loom;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use condition::{Condition, ConditionWait};
pub use error::{
    AcquireError, CapacityError, GetError, PutError, TryAcquireError, TryGetError, TryLockError,
    TryPutError,
};
pub use event::{Event, EventWait};
pub use fairness::Fairness;
pub use lock::{Lock, LockFuture, LockGuard, OwnedLockFuture, OwnedLockGuard};
pub use queue::{
    Consumer, Fifo, GenericQueue, Get, Join, Lifo, LifoQueue, OwnedQueueItem, Priority,
    PriorityQueue, Producer, Put, Queue, QueueItem, QueueStream, Storage,
};
pub use rwlock::{
    OwnedReadFuture, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedWriteFuture, ReadFuture,
    RwLock, RwLockReadGuard, RwLockWriteGuard, WriteFuture,
};
pub use semaphore::{Acquire, AcquireOwned, OwnedPermit, Permit, Semaphore};
