//! Task identifiers.

#[cfg(not(loom))]
use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A task's identifier: unique among all tasks of all runtimes in this
/// process, never reused.
///
/// Ids are handed out in blocks per thread, so spawning does not contend on
/// one counter; ids from one thread increase, but ids from different threads
/// interleave in no particular order.
///
/// ```
/// let rt = magpie::Runtime::new().unwrap();
/// let a = rt.spawn(async {});
/// let b = rt.spawn(async {});
/// assert_ne!(a.id(), b.id());
/// println!("spawned task {}", a.id());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

/// How many ids a thread takes from the global counter at a time.
#[cfg(not(loom))]
const BLOCK: u64 = 256;

// The counter and the per-thread block are not part of any protocol loom
// should check (ids only need to be unique), so they use std directly.
#[cfg(not(loom))]
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

#[cfg(not(loom))]
std::thread_local! {
    static LOCAL_BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

// Under loom, one counter per model execution, restarting at 1: the
// process-wide counter above kept counting across executions, and the
// owned-tasks list picks a task's shard by its id, so a model spawning an
// odd number of tasks put its first task in another shard (another lock)
// on every other execution. Loom then saw a different execution for the
// same schedule and aborted ("Is the model fully deterministic?"). A plain
// atomic is enough: loom runs one thread at a time.
#[cfg(loom)]
loom::lazy_static! {
    static ref LOOM_NEXT: AtomicU64 = AtomicU64::new(1);
}

impl Id {
    /// A fresh id.
    pub(crate) fn next() -> Id {
        #[cfg(loom)]
        let raw = LOOM_NEXT.fetch_add(1, Relaxed);
        #[cfg(not(loom))]
        let raw = LOCAL_BLOCK
            .try_with(|block| {
                let (mut next, mut end) = block.get();
                if next == end {
                    next = NEXT_BLOCK.fetch_add(BLOCK, Relaxed);
                    end = next + BLOCK;
                }
                block.set((next + 1, end));
                next
            })
            // During thread teardown the thread-local is gone: take a single
            // id from the global counter instead.
            .unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Relaxed));
        Id(NonZeroU64::new(raw).expect("task id counter overflowed"))
    }

    /// The id as a number.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let task = rt.spawn(async {});
    /// assert!(task.id().as_u64() > 0);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}
