//! The runtime's list of owned tasks: every task that has not completed.
//!
//! A task waiting on a waker sits in no run queue, so without this list the
//! runtime could not find it at shutdown to drop its future, nor list it in
//! a task dump. The list holds one reference to each task; a task leaves the
//! list when it completes.
//!
//! The list is an intrusive doubly-linked list (the links live in each
//! task's header), split into shards by task id so that spawning and
//! completing on different workers rarely touch the same lock. Closing the
//! list (at shutdown) is done shard by shard under each shard's lock, so a
//! concurrent insert either lands before the close, and is then drained, or
//! sees the shard closed and is refused: no task slips in after the drain.

use super::{Header, RawTask};
use crate::loom::CachePadded;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A task's links, guarded by the lock of the shard the task belongs to.
pub(crate) struct Pointers {
    prev: UnsafeCell<Option<NonNull<Header>>>,
    next: UnsafeCell<Option<NonNull<Header>>>,
}

impl Pointers {
    pub(crate) fn new() -> Pointers {
        Pointers {
            prev: UnsafeCell::new(None),
            next: UnsafeCell::new(None),
        }
    }
}

type Link = Option<NonNull<Header>>;

/// The links of the task `node`.
///
/// # Safety
///
/// `node` is alive and the caller holds the lock of the shard it belongs to,
/// which guards its links.
unsafe fn links<'a>(node: NonNull<Header>) -> &'a Pointers {
    // SAFETY: `node` is alive (caller's contract) and the header is never
    // moved while the task lives.
    &unsafe { node.as_ref() }.owned
}

impl Pointers {
    /// # Safety
    ///
    /// The caller holds the lock of the shard this task belongs to.
    unsafe fn prev(&self) -> Link {
        // SAFETY: the shard lock (held, caller's contract) serialises every
        // access to the links.
        self.prev.with(|p| unsafe { *p })
    }

    /// # Safety
    ///
    /// As for [`prev`](Self::prev).
    unsafe fn next(&self) -> Link {
        // SAFETY: as in `prev`.
        self.next.with(|p| unsafe { *p })
    }

    /// # Safety
    ///
    /// As for [`prev`](Self::prev).
    unsafe fn set_prev(&self, link: Link) {
        // SAFETY: as in `prev`; the lock makes this the only access.
        self.prev.with_mut(|p| unsafe { *p = link })
    }

    /// # Safety
    ///
    /// As for [`prev`](Self::prev).
    unsafe fn set_next(&self, link: Link) {
        // SAFETY: as in `set_prev`.
        self.next.with_mut(|p| unsafe { *p = link })
    }
}

struct Shard {
    head: Option<NonNull<Header>>,
    closed: bool,
}

// SAFETY: the raw pointers in a shard are only followed under the shard's
// lock, and the tasks they point to are `Send + Sync`.
unsafe impl Send for Shard {}

/// One shard: its lock, and counters for metrics that are written only
/// under that lock (a load and a store, no read-modify-write, on a cache
/// line the writer already owns) and read without it. Plain `std` atomics:
/// no protocol depends on them, so loom need not see them.
struct ShardSlot {
    lock: Mutex<Shard>,
    inserted: AtomicU64,
    removed: AtomicU64,
}

impl ShardSlot {
    /// Lock held: counts one more in `counter`.
    fn count(counter: &AtomicU64) {
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }
}

/// Every live task of a runtime.
pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<ShardSlot>]>,
    mask: usize,
}

/// Why an insert was refused.
#[derive(Debug)]
pub(crate) struct Closed;

impl RawTask {
    /// Hands a fresh task (from [`RawTask::new`] or `new_local`, not yet
    /// scheduled) to its owner's list, which takes over the list's
    /// reference; the caller then queues its first entry with
    /// [`schedule`](RawTask::schedule). If the list is closed (the owner is
    /// shutting down), the task is cancelled here instead (see
    /// [`cancel_unlisted`](RawTask::cancel_unlisted)) and `Err` says so:
    /// its `JoinHandle` resolves to a cancelled error.
    pub(crate) fn insert_or_cancel(self, owned: &OwnedTasks) -> Result<(), Closed> {
        let inserted = owned.insert(self);
        if inserted.is_err() {
            self.cancel_unlisted();
        }
        inserted
    }

    /// Cancels a fresh task that no list took: its future is dropped on
    /// this thread, and the two references the list and the first run-queue
    /// entry would have held are released. The `JoinHandle`'s reference is
    /// left; the handle sees the task cancelled.
    ///
    /// Ownership: a fresh task has three references (handle, list, entry)
    /// and, unlisted and unscheduled, nobody but its creator can reach it,
    /// so the caller holds the two it releases, and `shutdown` (which needs
    /// a reference held across it) runs with them still held. For a local
    /// task, this is the set's thread (the contract of `new_local`).
    pub(crate) fn cancel_unlisted(self) {
        self.shutdown();
        self.drop_references(2);
    }
}

impl OwnedTasks {
    /// `shards` is rounded up to a power of two.
    pub(crate) fn new(shards: usize) -> OwnedTasks {
        let n = shards.max(1).next_power_of_two();
        OwnedTasks {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(ShardSlot {
                        lock: Mutex::new(Shard {
                            head: None,
                            closed: false,
                        }),
                        inserted: AtomicU64::new(0),
                        removed: AtomicU64::new(0),
                    })
                })
                .collect(),
            mask: n - 1,
        }
    }

    fn slot(&self, id: u64) -> &ShardSlot {
        &self.shards[id as usize & self.mask]
    }

    /// Tasks in the list now (approximate while tasks come and go).
    pub(crate) fn len(&self) -> usize {
        let (inserted, removed) = self.shards.iter().fold((0u64, 0u64), |(i, r), s| {
            (i + s.inserted.load(Relaxed), r + s.removed.load(Relaxed))
        });
        usize::try_from(inserted.saturating_sub(removed)).unwrap_or(usize::MAX)
    }

    /// Tasks ever inserted: every task spawned on the runtime.
    pub(crate) fn inserted(&self) -> u64 {
        self.shards.iter().map(|s| s.inserted.load(Relaxed)).sum()
    }

    /// Links a fresh task (taking over its list reference). Refused once
    /// the list is closed; the caller then still owns that reference.
    /// Private: tasks come in through [`RawTask::insert_or_cancel`], which
    /// cancels a refused one.
    fn insert(&self, task: RawTask) -> Result<(), Closed> {
        let header = task.header();
        let slot = self.slot(header.id.as_u64());
        let mut shard = slot.lock.lock();
        if shard.closed {
            return Err(Closed);
        }
        let node = task.as_ptr();
        // SAFETY: we hold the shard lock, which guards the links of every
        // task in this shard; the new task is not linked anywhere yet.
        unsafe { header.owned.set_prev(None) };
        // SAFETY: as above.
        unsafe { header.owned.set_next(shard.head) };
        if let Some(head) = shard.head {
            // SAFETY: `head` is linked, so alive (the list holds a reference
            // to it), and we hold its shard's lock.
            let head = unsafe { links(head) };
            // SAFETY: as above.
            unsafe { head.set_prev(Some(node)) };
        }
        shard.head = Some(node);
        ShardSlot::count(&slot.inserted);
        Ok(())
    }

    /// Unlinks a task. Returns `false` if it was not linked (the shutdown
    /// drain took it out already); otherwise the list's reference passes to
    /// the caller.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let slot = self.slot(task.header().id.as_u64());
        let mut shard = slot.lock.lock();
        // SAFETY: the shard lock guards the links.
        let removed = unsafe { Self::unlink(&mut shard, task.as_ptr()) };
        if removed {
            ShardSlot::count(&slot.removed);
        }
        removed
    }

    /// # Safety
    ///
    /// The caller holds the lock of the shard `node` belongs to.
    unsafe fn unlink(shard: &mut Shard, node: NonNull<Header>) -> bool {
        // SAFETY: `node` is alive (the caller holds a reference) and its
        // links, like those of its neighbours, are guarded by the lock, which
        // the caller holds.
        let this = unsafe { links(node) };
        // SAFETY: as above.
        let prev = unsafe { this.prev() };
        // SAFETY: as above.
        let next = unsafe { this.next() };
        match prev {
            Some(prev) => {
                // SAFETY: a linked neighbour is alive (the list holds a
                // reference to it) and in the same shard, whose lock is held.
                let prev = unsafe { links(prev) };
                // SAFETY: as above.
                unsafe { prev.set_next(next) }
            }
            None if shard.head == Some(node) => shard.head = next,
            // Neither first nor linked after anyone: not in the list.
            None => return false,
        }
        if let Some(next) = next {
            // SAFETY: as for `prev`.
            let next = unsafe { links(next) };
            // SAFETY: as above.
            unsafe { next.set_prev(prev) };
        }
        // SAFETY: as above.
        unsafe { this.set_prev(None) };
        // SAFETY: as above.
        unsafe { this.set_next(None) };
        true
    }

    /// Closes the list (later inserts are refused) and hands every task in
    /// it, with the list's reference, to `f`, one at a time, outside the
    /// shard lock (so `f` may drop futures that spawn or wake).
    pub(crate) fn close_and_drain(&self, mut f: impl FnMut(RawTask)) {
        for slot in self.shards.iter() {
            slot.lock.lock().closed = true;
        }
        for slot in self.shards.iter() {
            loop {
                let task = {
                    let mut shard = slot.lock.lock();
                    let Some(head) = shard.head else { break };
                    // SAFETY: we hold the lock and `head` is linked.
                    unsafe { Self::unlink(&mut shard, head) };
                    ShardSlot::count(&slot.removed);
                    RawTask::from_ptr(head)
                };
                f(task);
            }
        }
    }

    /// Calls `f` with the task whose id is `id`, if it is in the list,
    /// under its shard's lock (which keeps it alive). Walks one shard.
    pub(crate) fn find<R>(&self, id: u64, f: impl FnOnce(&Header) -> R) -> Option<R> {
        let shard = self.slot(id).lock.lock();
        let mut cursor = shard.head;
        while let Some(node) = cursor {
            // SAFETY: linked tasks are alive (the list holds a reference)
            // and their links are guarded by the lock we hold.
            let header = unsafe { node.as_ref() };
            if header.id.as_u64() == id {
                return Some(f(header));
            }
            // SAFETY: as above.
            cursor = unsafe { header.owned.next() };
        }
        None
    }

    /// Visits every task in the list, shard by shard, holding each shard's
    /// lock only while visiting that shard. `f` must be quick and must not
    /// touch the list.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for slot in self.shards.iter() {
            let shard = slot.lock.lock();
            let mut cursor = shard.head;
            while let Some(node) = cursor {
                // SAFETY: linked tasks are alive (the list holds a
                // reference) and their links are guarded by the lock we hold.
                let header = unsafe { node.as_ref() };
                f(header);
                // SAFETY: as above.
                cursor = unsafe { header.owned.next() };
            }
        }
    }
}
