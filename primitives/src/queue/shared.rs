//! What every handle of a queue points to: the wait list whose lock guards
//! the [`State`] (storage, counts, the putters' and joiners' lines), and
//! the counters kept outside the lock.
//!
//! The hand-off protocol (the module documentation of `queue` says why):
//! [`push`] serves waiting getters by *claiming* items for them, [`pop`]
//! serves waiting putters by *reserving* the freed place for them, so
//! unclaimed items imply that no getter waits and free places imply that
//! no putter waits. The unfinished count and its protocol with `join` are
//! at [`Shared::task_done_one`]; [`Shared::close`] wakes every waiter with
//! `Closed`, and nobody links after it.

use core::marker::PhantomData;

use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{AcqRel, Relaxed, Release};
use crate::wait_list::{Line, Locked, Outcome, WaitList};

use super::item::QueueItem;
use super::storage::Storage;

pub(super) struct Shared<T, S> {
    /// Getters wait in the main line; the state word only mirrors `closed`.
    pub(super) list: WaitList<State<S>>,
    pub(super) capacity: Option<usize>,
    /// Items put and not yet marked done, times [`ONE_TASK`], plus
    /// [`JOINERS`]. See [`Shared::task_done_one`] for the protocol.
    pub(super) tasks: AtomicUsize,
    /// Items taken out of their [`QueueItem`] by `into_inner` and not yet
    /// marked with [`GenericQueue::task_done`](super::GenericQueue::task_done).
    pub(super) loose: AtomicUsize,
    /// Live [`Producer`](super::Producer)s; the last one to drop closes the queue.
    pub(super) producers: AtomicUsize,
    /// Live [`Consumer`](super::Consumer)s; the last one to drop closes the queue.
    pub(super) consumers: AtomicUsize,
    pub(super) _items: PhantomData<fn(T) -> T>,
}

/// Everything under the queue's lock.
pub(super) struct State<S> {
    pub(super) storage: S,
    /// `usize::MAX` when unbounded.
    pub(super) capacity: usize,
    pub(super) closed: bool,
    /// Items in the storage set aside for granted getters.
    pub(super) claimed: usize,
    /// Places set aside for granted putters.
    pub(super) reserved: usize,
    pub(super) putters: Line,
    pub(super) joiners: Line,
}

/// The state word's bit: closed (a mirror, for `is_closed` without the lock).
/// Space preallocated for a bounded queue, at most.
const PREALLOCATE: usize = 4096;

pub(super) const CLOSED: usize = 1 << 1;

/// `tasks` bit: joiners may be waiting. Set under the lock by a joiner
/// that found unfinished items; cleared under the lock when the count
/// reaches 0 and the joiners are woken. While it is set, the count only
/// reaches 0 under the lock.
pub(super) const JOINERS: usize = 1;

/// `tasks` unit: one unfinished item.
pub(super) const ONE_TASK: usize = 2;

pub(super) fn putters<S>(state: &mut State<S>) -> &mut Line {
    &mut state.putters
}

pub(super) fn joiners<S>(state: &mut State<S>) -> &mut Line {
    &mut state.joiners
}

impl<T, S: Storage<T>> Shared<T, S> {
    /// An open, empty queue; bounded if `capacity` is.
    pub(super) fn new(capacity: Option<usize>) -> Self {
        let storage = S::with_capacity(capacity.map_or(0, |c| c.min(PREALLOCATE)));
        let state = State {
            storage,
            capacity: capacity.unwrap_or(usize::MAX),
            closed: false,
            claimed: 0,
            reserved: 0,
            putters: Line::default(),
            joiners: Line::default(),
        };
        Shared {
            list: WaitList::new(0, state),
            capacity,
            tasks: AtomicUsize::new(0),
            loose: AtomicUsize::new(0),
            producers: AtomicUsize::new(0),
            consumers: AtomicUsize::new(0),
            _items: PhantomData,
        }
    }
}

impl<S> State<S> {
    pub(super) fn unclaimed<T>(&self) -> usize
    where
        S: Storage<T>,
    {
        self.storage.len() - self.claimed
    }

    pub(super) fn free_places<T>(&self) -> usize
    where
        S: Storage<T>,
    {
        self.capacity
            .saturating_sub(self.storage.len() + self.reserved)
    }
}

/// Pushes `item` into a free place (the caller checked, or a place was
/// reserved for it), counts it as unfinished, and hands unclaimed items to
/// waiting getters.
pub(super) fn push<T, S: Storage<T>>(
    tasks: &AtomicUsize,
    locked: &mut Locked<'_, State<S>>,
    item: T,
) {
    locked.data().storage.push(item);
    // Under the lock, so a count of 0 seen under the lock stays 0 there.
    let before = tasks.fetch_add(ONE_TASK, Relaxed);
    invariant!(
        before <= usize::MAX - ONE_TASK,
        "unfinished item count overflow"
    );
    serve_getters(locked);
}

/// Pops an item that is unclaimed, or claimed by the caller, and hands the
/// freed place to a waiting putter.
pub(super) fn pop<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) -> T {
    let item = locked
        .data()
        .storage
        .pop()
        .expect("an unclaimed or claimed item is in the storage");
    serve_putters(locked);
    item
}

/// Claims unclaimed items for waiting getters, first come first served.
pub(super) fn serve_getters<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) {
    loop {
        locked.make_room();
        if locked.data().unclaimed() == 0 || locked.is_empty() {
            return;
        }
        locked.data().claimed += 1;
        locked.pop_head(Outcome::Granted, true);
    }
}

/// Reserves free places for waiting putters, first come first served.
pub(super) fn serve_putters<T, S: Storage<T>>(locked: &mut Locked<'_, State<S>>) {
    loop {
        locked.make_room();
        if locked.data().free_places() == 0 || locked.is_empty_in(putters) {
            return;
        }
        locked.data().reserved += 1;
        locked.pop_head_in(putters, Outcome::Granted, true);
    }
}

impl<T, S> Shared<T, S> {
    /// Marks one unfinished item done, waking the joiners if it was the
    /// last one.
    ///
    /// The count lives outside the lock so that dropping a [`QueueItem`]
    /// is one compare-and-swap, not a second lock/unlock per item. The
    /// count only goes up under the lock ([`push`]), and reaches 0 under
    /// the lock whenever [`JOINERS`] is set; a joiner sets that bit under
    /// the lock before it waits, and waits only if the count it saw when
    /// setting it was not 0. So a joiner either sees 0 or is linked before
    /// the last item's done takes the lock to wake it: no lost wake-up.
    /// Each decrement is a release and every write to `tasks` is a
    /// read-modify-write, so a joiner that reads 0 (acquire) sees what
    /// every worker did before marking its item done.
    pub(super) fn task_done_one(&self) {
        let mut word = self.tasks.load(Relaxed);
        loop {
            invariant!(word >= ONE_TASK, "an item was marked done twice");
            if word == ONE_TASK | JOINERS {
                return self.last_task_done();
            }
            match self
                .tasks
                .compare_exchange_weak(word, word - ONE_TASK, Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// [`task_done_one`](Self::task_done_one) when it may be the last item
    /// while joiners wait: decrement under the lock, and wake them at 0.
    #[cold]
    fn last_task_done(&self) {
        let locked = self.list.lock();
        // A put may have raced in before the lock: count again.
        let before = self.tasks.fetch_sub(ONE_TASK, AcqRel);
        invariant!(before >= ONE_TASK, "an item was marked done twice");
        if before / ONE_TASK == 1 {
            self.tasks.fetch_and(!JOINERS, Relaxed);
            locked.notify_all_in(joiners, Outcome::Granted);
        }
    }
}

impl<T, S: Storage<T>> Shared<T, S> {
    /// [`GenericQueue::close`](super::GenericQueue::close).
    pub(super) fn close(&self) {
        let mut locked = self.list.lock();
        if locked.data().closed {
            return;
        }
        locked.data().closed = true;
        locked.state().fetch_or(CLOSED, Release);
        // Nobody starts waiting from here on; wake everyone who does.
        loop {
            locked.make_room();
            if locked.is_empty_in(putters) {
                break;
            }
            locked.pop_head_in(putters, Outcome::Closed, true);
        }
        loop {
            locked.make_room();
            if locked.is_empty() {
                break;
            }
            locked.pop_head(Outcome::Closed, true);
        }
    }

    /// Drops every item left in the queue (but those claimed for granted
    /// getters), each marked done: the last consumer is gone.
    pub(super) fn discard(&self) {
        let mut items = Vec::new();
        {
            let mut locked = self.list.lock();
            while locked.data().unclaimed() > 0 {
                items.push(QueueItem::new(pop(&mut locked), self));
            }
        }
        // Outside the lock: the items' destructors may do anything.
        drop(items);
    }
}
