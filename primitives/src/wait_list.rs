//! The wait list: the one mechanism every primitive in this crate waits on.
//!
//! A [`WaitList`] is a FIFO of waiter [`Node`]s plus one atomic *state word*
//! that belongs to the primitive built on it (a semaphore keeps its permit
//! count there, an event its "set" bit). The nodes are intrusive: each lives
//! inside the future that waits ([`Waiting`]), so waiting allocates nothing.
//! The list is linked under a short lock (`parking_lot`'s mutex, or loom's
//! under `cfg(loom)`); the fast paths of the primitives never take it.
//!
//! The lock also guards data of the primitive (`D`), which may hold more
//! [`Line`]s of waiters: a queue's getters wait in the main line, its
//! putters and joiners in two lines kept beside its items. Everything below
//! holds for every line; the state word's `WAITERS` bit describes the main
//! line.
//!
//! This module holds all the `unsafe` of waiting. The primitives use it
//! through safe types: [`Waiting`] (a future's node and operation),
//! [`Waiter`] (the owner's handle during a poll or drop), [`Locked`] (the
//! lock, held) and [`NodeMut`] (a linked node seen under the lock).
//!
//! # Vocabulary
//!
//! * The **owner** of a node is the future it lives in. It reaches the node
//!   through a [`Waiter`], a handle that exists only during a poll or a drop
//!   of that future, so there is exactly one at a time.
//! * A node is **linked** while it is in a list, and its status is
//!   `WAITING`. Anybody holding that list's lock may read and write its
//!   fields through the list's raw pointers.
//! * A **releaser** (whoever grants, notifies or closes) unlinks a node and
//!   stores its *outcome*, `GRANTED` or `CLOSED`, as the very last access to
//!   it. The grant itself (the permits assigned, or the notification) is
//!   recorded in the node first, so it travels with the node.
//! * The owner **observes** the outcome by loading the status, with no lock,
//!   and resets the node to `IDLE`, after which it may link it again (a
//!   `Condition` waits for a notification and then for its lock with one
//!   node).
//!
//! # Invariants
//!
//! 1. A node's fields are accessed only by (a) the holder of the lock of the
//!    list it is linked in, or (b) its owner while it is not linked, or (c)
//!    for a *pending* node (pushed on a list's incoming stack, not yet
//!    linked: "Registration without the lock"), the lock holder that took
//!    it off the stack; its owner wrote them before the push. The
//!    status atomic is the hand-over point between the two: a releaser's
//!    `Release` store of the outcome is its last access; the owner's
//!    `Acquire` load of it precedes any unlocked access. The fields are
//!    initialised when the node is first linked; until then its status is
//!    `FRESH` and nothing reads them (so making and moving a future that
//!    never waits costs next to nothing).
//! 2. A linked node is pinned: linking takes the node from a pinned
//!    [`Waiting`], and a node that is dropped while still linked aborts the
//!    process (it cannot happen unless a primitive forgets to cancel; the
//!    check makes that bug loud instead of a use-after-free). So does a
//!    linked node that its owner reaches at another address than the one
//!    it was linked at: the future was moved after it was pinned, which
//!    only a broken executor does ([`moved_while_linked`]).
//! 3. This module never forms a `&mut` to a node. Nodes are reached
//!    through shared references (`&Node`, in a [`Waiter`]) or raw pointers
//!    (the links, [`NodeMut`]), both derived from a shared reference, and
//!    every part of a node is interior-mutable (atomics, and two
//!    [`UnsafeCell`]s that are only borrowed for the duration of one access,
//!    the fields under invariant 1 and an early node's `late` slot under
//!    its own hand-over, "Early nodes" below), so writes through those
//!    pointers are allowed
//!    while the shared references live.
//!
//!    A `&mut` that *covers* a node does exist, and cannot be avoided: the
//!    `Pin<&mut Self>` of `Future::poll` on the future the node lives in
//!    (and on every future that contains it, up to the executor's task),
//!    and the `&mut self` of `Drop`. While one lives, other threads may
//!    write the node through the links (a releaser stores an outcome,
//!    relinks a neighbour, takes the waker). This is sound only because a
//!    node is `!Unpin` (its `PhantomPinned`), which makes every future
//!    containing it `!Unpin`, and Rust does not treat a `&mut` to a
//!    `!Unpin` type as unique: it emits no `noalias` for it, and Miri's
//!    Stacked and Tree Borrows do not give it a unique tag (the
//!    `UnsafePinned` RFC 3467 is to make this rule explicit). Every such
//!    `&mut` is named in a `SAFETY` comment ([`Waiting::poll`], `Drop for
//!    Waiting`, `wait_future!`); none of them is used to read or write the
//!    node: each is turned at once into `&Node` and `&mut` to the
//!    operation (which no other thread touches). Removing `PhantomPinned`
//!    from [`Node`] would make all of this undefined behaviour.
//! 4. The `WAITERS` bit of the state word is set if and only if the list is
//!    non-empty. It is changed only with the lock held, and it is set by the
//!    same compare-and-swap that re-checks the condition the waiter is
//!    blocked on ([`Locked::enqueue`]).
//! 5. Wakers are never called with the lock held: they are collected in a
//!    fixed batch inside [`Locked`] and called after the lock is released.
//!    A waker replaced under the lock is dropped after it is released too
//!    (except `Waker::noop()`, whose drop runs no code: the placeholder
//!    of an early node). When an operation leaves exactly
//!    one waker to call, it is called directly after the unlock.
//!    Operations that may wake more than a batch (`notify_all`, a large
//!    release, `close`) release and re-take the lock between batches. A
//!    panicking waker is caught and its panic resumed only when the
//!    operation is complete, so it cannot strand the waiters after it.
//!
//! # Why no wakeup is lost
//!
//! A waiter blocks on some condition of the state word ("no permits", "not
//! set"). It takes the lock, and links itself only if a compare-and-swap
//! from a value in which the condition holds to the same value with
//! `WAITERS` set succeeds (invariant 4). A release changes the same word
//! with a read-modify-write. Either the release comes first in the word's
//! modification order, and the waiter's CAS fails, re-reads, sees the
//! released state and does not block; or the waiter's CAS comes first, and
//! the release reads `WAITERS`, takes the slow path, takes the lock (after
//! the waiter released it) and finds the node. Because `WAITERS` is cleared
//! only with the lock held and only when the list is empty, no release can
//! see a stale "nobody waits".
//!
//! When `WAITERS` is already set the waiter skips the CAS (it would change
//! nothing): every release that could unblock it must then take the lock,
//! so it happens entirely before the waiter's critical section (and the
//! waiter sees it) or after it (and finds the node). The one exception,
//! eventual fairness letting a release add permits without the lock while
//! another waiter has been woken to retry, is covered by that waiter: when
//! it retries it passes what it does not need to the next in line.
//!
//! # Why no grant is lost or duplicated on cancellation
//!
//! Dropping a waiting future runs [`WaitOp::cancel`] with the lock taken:
//! if the node is still linked it is unlinked and whatever was assigned to
//! it (a partial batch of permits) is handed back; if a releaser unlinked it
//! first, its outcome is already stored, and the owner passes the grant on
//! exactly as it would have if it had been observed (a permit is released, a
//! condition notification is re-issued). The status word decides, under the
//! lock, which of the two happened, so exactly one of them does.
//!
//! # Early nodes: a waker given without the lock
//!
//! A `Notified` can register before it is first polled
//! (`Notified::enable`), when it has no waker yet. It is linked *early*
//! ([`WaitList::register`] without a waker), with `Waker::noop()` in its
//! fields (early nodes are always registered that way), and its
//! first poll gives the node its waker without taking the lock again
//! ([`Waiter::install_waker`]): one lock per wait instead of two, which is
//! most of the lock traffic of a broadcast whose waiters re-register at
//! once. The hand-over is one more status, `WAITING_LATE`, and one more
//! slot in the node, `late`, outside the fields:
//!
//! * The owner writes its waker into `late`, then moves the status from
//!   `WAITING` to `WAITING_LATE` with a compare-and-swap (`Release`). If
//!   that fails, a releaser stored an outcome first and never looked at
//!   `late`: the owner takes its waker back and observes the outcome.
//! * A releaser of an early node (holding the lock, the node just
//!   unlinked) loads the status. `WAITING_LATE` (`Acquire`, so the slot's
//!   write is visible) hands it `late`: it takes the waker and then stores
//!   the outcome, its last access. `WAITING` means the owner may be
//!   publishing right now, so the releaser stores the outcome with a
//!   compare-and-swap from `WAITING`; if it fails, the owner came first,
//!   and the releaser proceeds as for `WAITING_LATE`.
//!
//! The two compare-and-swaps on one word decide who came first, so the
//! waker is either called by the releaser or kept by an owner that sees
//! the outcome: never lost, never both. The releaser pays a
//! read-modify-write only when it meets an early node whose owner has not
//! been polled yet; otherwise a load and a store, as for any node. Under
//! the lock, `WAITING_LATE` is stable (only the owner sets it, once per
//! wait), and when the owner itself takes the lock for its node
//! ([`Locked::mine`], [`Locked::remove`]) it moves the waker back into the
//! fields and makes the node ordinary again.
//!
//! # Registration without the lock
//!
//! Waiters that register at once in numbers (a broadcast's waiters,
//! re-registering on two workers after every round) mostly wait for each
//! other's lock. A list made [`WaitList::with_admit`] lets them not wait:
//! [`WaitList::register`] takes the lock only if it is free (`try_lock`);
//! if not, it fills its node's fields, marks it `WAITING` and pushes it on
//! the list's `incoming` stack (a compare-and-swap), and returns: the node
//! is *pending*, and its owner waits as for a linked node. A holder of the
//! lock takes the stack in one swap and *settles* it, oldest first: the
//! list's admit function (the primitive's `(state, want) -> Admit`)
//! decides each node against the state word as it is then, and the node
//! is linked, or released at once as if granted (its owner sees the
//! outcome, or a drop passes the grant on, as for any node). A
//! registration therefore counts as made when it is settled, which is
//! when it would have been made had its owner waited for the lock.
//!
//! * [`WaitList::lock`] settles the stack before anything else, so an
//!   owner that takes the lock never finds its own node pending (its push
//!   precedes its lock in program order, so the check sees it, or a
//!   holder before us took it and settled it): `mine` and `remove` see
//!   the owner's node linked or released. Nodes that other registrants
//!   push after that check stay pending through this hold of the lock
//!   (as they do across `make_room`'s release), which changes nothing
//!   for the holder: to it they have not registered yet.
//! * Nobody else must be left waiting on a node that the state word says
//!   need not wait. The word changes two ways. A change that makes waiters
//!   wait (a permit taken) needs nothing. A change that may *refuse* a
//!   waiter (a permit stored, a generation advanced) is followed by a
//!   re-check ([`WaitList::recheck_pending`] without the lock,
//!   [`Locked::recheck_pending`] with it), a read-modify-write of
//!   `incoming` that always writes (a swap under the lock; without it, a
//!   compare-and-swap of the value it read with itself, retried until it
//!   succeeds, since a failed one is only a load) and settles whatever it
//!   finds; and a registrant, after its push, loads the word and, if its
//!   admit function refuses it now, takes the lock and settles the stack
//!   itself. All writes to `incoming` are read-modify-writes, so the push
//!   and the re-check are ordered, and each continues the release
//!   sequences before it. If the re-check comes first, the push reads
//!   from it or from a later read-modify-write (`AcqRel` both), so the
//!   change happens before the registrant's load, which sees it. If the
//!   push comes first, the re-check finds the node, or a holder took it
//!   since, whose swap read from the re-check's sequence or linked the
//!   node before the change; either way the node is settled against the
//!   change or found linked by it. No fence, and no re-check on an
//!   unlock: only the refusing changes pay, one read-modify-write on a
//!   cache line they have just written (`state` and `incoming` share one).
//! * `notify_waiters` wakes the nodes linked before it advanced the
//!   generation ([`Locked::mark`], [`Locked::notify_all_before`]), not
//!   those its re-check links after: those were created after the
//!   advance, and a waiter created after a broadcast must not see it.
//! * The pending node is its owner's until the push (`Release`), and the
//!   settling holder's from its swap (`Acquire`; all pushes form one
//!   chain of read-modify-writes, so it sees every one it takes) until it
//!   links it (invariant 1 from then on) or stores its outcome (its last
//!   access, as for any releaser). The owner touches it meanwhile only as
//!   it would a linked node: its status, and an early node's late slot
//!   (`install_waker`), whose hand-over is the same.
//! * A settling holder cannot release the lock halfway through the stack
//!   (the rest of it would be invisible to the owners, who look for their
//!   nodes under the lock), so it may wake more than a batch: the wakers
//!   beyond one spill into a vector (which allocates only then). For the
//!   same reason nothing in `settle` may panic: its only panics are
//!   `invariant!` checks (debug and loom builds), which report a bug in
//!   this module, not a recoverable state.
//!
//! Only `Notify` uses it; a primitive whose every refusing change can be
//! followed by a re-check can. The lock is still taken once per
//! registration whenever it is free, so an uncontended wait costs what it
//! did.
//!
//! # The notion of starvation
//!
//! Eventually fair primitives let new arrivals barge past waiters. A waiter
//! that is woken to retry and finds the resource taken again is *bypassed*;
//! after [`MAX_BYPASS`] bypasses, or when it is bypassed again
//! [`FAIR_TIMEOUT`] or more after it was first bypassed, it is *starving*,
//! and the primitive hands it the resource directly (see `permits.rs`).
//! The clock is read only when a waiter is bypassed.

use core::fmt;
use core::marker::PhantomPinned;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};
#[cfg(not(loom))]
use std::time::{Duration, Instant};

use crate::loom::IS_LOOM;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::loom::sync::atomic::{AtomicPtr, AtomicUsize};
use crate::loom::sync::{Mutex, MutexGuard};

/// The bit of the state word that the list owns: set iff the list is
/// non-empty. Primitives lay out the other bits as they wish.
pub(crate) const WAITERS: usize = 1;

/// A waiter bypassed this many times is starving.
///
/// Loom shrinks it but keeps it above 1: with 1, every bypass made the
/// waiter starving at once, so the models never took the production path
/// in which a bypassed waiter goes back to sleep *unreserved* and is woken
/// again by the next release (issue 11: 46 models passed while the
/// eventual hand-over lost wakeups). With 2, the first bypass takes that
/// path and the second the starving one. Loom constants may shrink sizes;
/// they must never make a branch that production takes unreachable.
pub(crate) const MAX_BYPASS: u32 = if IS_LOOM { 2 } else { 8 };

/// A waiter that has waited this long and is then bypassed is starving.
#[cfg(not(loom))]
pub(crate) const FAIR_TIMEOUT: Duration = Duration::from_micros(500);

/// How many wakers are collected before the lock is released to call them.
const BATCH: usize = if IS_LOOM { 2 } else { 32 };

// Node statuses. See the module documentation.
/// Never linked: the fields are not initialised yet (so that making a
/// future, and moving it before its first poll, costs next to nothing).
const FRESH: usize = 4;
/// Not linked; nothing pending. The owner may link it.
const IDLE: usize = 0;
/// Linked in a list.
const WAITING: usize = 1;
/// Unlinked by a releaser with a grant recorded in the node.
const GRANTED: usize = 2;
/// Unlinked by a releaser because the primitive was closed.
const CLOSED: usize = 3;
/// Linked (or pending) early, by [`WaitList::register`] without a waker,
/// and its owner has since
/// put its waker in the node's `late` slot without the lock
/// ([`Waiter::install_waker`]). See "Early nodes" in the module
/// documentation.
const WAITING_LATE: usize = 5;

type Link = Option<NonNull<Node>>;

/// A waiter node. It lives inside a [`Waiting`] future and is linked into a
/// [`WaitList`] while that future waits.
pub(crate) struct Node {
    /// `FRESH`, `IDLE`, `WAITING`, `GRANTED` or `CLOSED`.
    status: AtomicUsize,
    /// Address of the [`Line`] the node is linked in; 0 while not linked.
    /// Written with that line's lock held; atomic so that its owner can ask
    /// "am I linked in this line?" of any line without racing.
    list: AtomicUsize,
    /// Accessed under invariant 1; initialised from the first link on
    /// (the status is `FRESH` until then).
    fields: UnsafeCell<MaybeUninit<Fields>>,
    /// The waker of an early node, given without the lock: `Some` only
    /// while the status is `WAITING_LATE`. Its owner writes it while the
    /// status is not `WAITING_LATE` and publishes it with the
    /// compare-and-swap that sets that status; from then on only the lock
    /// holder touches it (see "Early nodes"). Initialised (to `None`) with
    /// the fields, at the first link or push.
    late: UnsafeCell<MaybeUninit<Option<Waker>>>,
    /// Makes the node, and every future that contains it, `!Unpin`. Not
    /// only for pinning: the `&mut` that `Future::poll` and `Drop` form
    /// over a node other threads write is sound only for a `!Unpin` type
    /// (invariant 3). Never remove it.
    _pinned: PhantomPinned,
}

struct Fields {
    /// Where the node was when it was linked: the address the list's links
    /// hold. A linked node found anywhere else was moved (see
    /// [`moved_while_linked`]).
    at: NonNull<Node>,
    prev: Link,
    next: Link,
    waker: Option<Waker>,
    /// What the waiter asked for (permits); 1 for notifications, except
    /// that a `Notify` waiter keeps the generation it registered in here.
    want: usize,
    /// What has been assigned to it so far.
    assigned: usize,
    /// Enqueue order; `notify_all` wakes only nodes older than itself.
    seq: u64,
    /// Registered without a waker ([`WaitList::register`]): its owner may
    /// move it to
    /// `WAITING_LATE` without the lock, so a releaser must not simply
    /// store its outcome over `WAITING`.
    early: bool,
    /// Woken to retry and has not polled since.
    woken: bool,
    bypassed: u32,
    starving: bool,
    /// When it was first bypassed.
    #[cfg(not(loom))]
    since: Option<Instant>,
}

// SAFETY: every field of a node is either atomic or accessed under
// invariant 1 (with the list's lock held, or by its single owner while it
// is unlinked, after an `Acquire` load that synchronises with the last
// releaser). The raw links only point at other nodes under the same
// discipline, and `Waker` is `Send + Sync`.
unsafe impl Send for Node {}
// SAFETY: as for `Send`: shared access never touches the fields without
// the lock or ownership.
unsafe impl Sync for Node {}

impl Node {
    #[inline]
    fn new() -> Self {
        Node {
            status: AtomicUsize::new(FRESH),
            list: AtomicUsize::new(0),
            fields: UnsafeCell::new(MaybeUninit::uninit()),
            late: UnsafeCell::new(MaybeUninit::uninit()),
            _pinned: PhantomPinned,
        }
    }

    /// Runs `f` on the node's fields.
    ///
    /// # Safety
    ///
    /// The caller has the access that invariant 1 requires: it holds the
    /// lock of the list the node is linked in, or it is the owner and the
    /// node is neither linked nor pending, or it holds the lock and took
    /// the pending node off the list's incoming stack. The node is not
    /// `FRESH`.
    unsafe fn fields<R>(&self, f: impl FnOnce(&mut Fields) -> R) -> R {
        self.fields.with_mut(|p| {
            // SAFETY: the caller guarantees exclusive access (invariant 1),
            // and the borrow ends when `f` returns; a node that is not
            // `FRESH` has been linked, which initialised the fields.
            f(unsafe { &mut *p.cast::<Fields>() })
        })
    }

    /// Takes the waker in the late slot.
    ///
    /// # Safety
    ///
    /// The caller holds the slot (see "Early nodes": the owner while the
    /// status is not `WAITING_LATE`, the lock holder while it is), and the
    /// node is not `FRESH`.
    unsafe fn take_late(&self) -> Option<Waker> {
        // SAFETY: the caller has the slot to itself, and the borrow ends
        // here; a node that is not `FRESH` has been linked, which
        // initialised the slot.
        self.late
            .with_mut(|p| unsafe { (*p.cast::<Option<Waker>>()).take() })
    }
}

/// Runs `f` on the fields of a node reached through a list's link.
///
/// # Safety
///
/// `node` is linked in a list whose lock the caller holds.
unsafe fn linked_fields<R>(node: NonNull<Node>, f: impl FnOnce(&mut Fields) -> R) -> R {
    // SAFETY: a linked node is alive (invariant 2).
    let node = unsafe { node.as_ref() };
    // SAFETY: linked, and the caller holds the lock (invariant 1).
    unsafe { node.fields(f) }
}

/// Runs `f` on the fields of a pending node that a lock holder took off a
/// list's incoming stack and has not linked or released yet.
///
/// # Safety
///
/// `node` was pushed by its owner (`WaitList::push`) and taken off the
/// stack by the caller, who holds that list's lock and has neither linked
/// it nor stored its outcome since.
///
/// That makes the fields ours (invariant 1 (c)), and the node alive: its
/// owner saw `WAITING`, and may not drop or reuse the node before it sees
/// an outcome, which only we can store now, or before its drop takes this
/// lock (to settle the stack and unlink it), which we hold. The `&Node`
/// formed here lives for this call; meanwhile the owner may write the
/// node's status and late slot (an early node's `install_waker`), which
/// are atomic or handed over by the status, never the fields.
unsafe fn pending_fields<R>(node: NonNull<Node>, f: impl FnOnce(&mut Fields) -> R) -> R {
    // SAFETY: alive, by the caller's guarantee (see above).
    let node = unsafe { node.as_ref() };
    // SAFETY: the fields are ours (see above), and initialised: the owner
    // wrote them before its push, whose `Release` our swap's `Acquire`
    // read (through the chain of pushes).
    unsafe { node.fields(f) }
}

impl Drop for Node {
    #[inline]
    fn drop(&mut self) {
        match self.status.load(Acquire) {
            FRESH => {}
            WAITING | WAITING_LATE => {
                // Invariant 2: the list still points here. Continuing would
                // be a use-after-free; this is a bug in a primitive, never
                // in user code, so stop loudly.
                eprintln!("magpie-sync: a waiter node was dropped while still linked; aborting");
                std::process::abort();
            }
            _ => {
                // SAFETY: not linked, and we are being dropped: nobody else
                // can reach the fields, which are initialised (not FRESH).
                let waker = unsafe { self.fields(|f| f.waker.take()) };
                drop(waker);
                // Whoever last held the late slot emptied it (see "Early
                // nodes"); checked where models and debug builds run, off
                // the release build's drop path.
                if cfg!(any(debug_assertions, loom)) {
                    // SAFETY: as above; `late` is only handed to a lock
                    // holder while the node is `WAITING_LATE`, which it is
                    // not.
                    let late = unsafe { self.take_late() };
                    invariant!(late.is_none());
                }
            }
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status.load(Relaxed) {
            FRESH | IDLE => "idle",
            WAITING | WAITING_LATE => "waiting",
            GRANTED => "granted",
            _ => "closed",
        };
        f.debug_struct("Node").field("status", &status).finish()
    }
}

/// What the owner sees when it looks at its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Not linked, nothing pending.
    Idle,
    /// Linked; only the lock holder may look further.
    Waiting,
    /// Unlinked with a grant; take it with [`Waiter::take_grant`].
    Granted,
    /// Unlinked because the primitive closed; reset with [`Waiter::take_closed`].
    Closed,
}

/// The owner's exclusive handle to its node, for the length of one poll or
/// drop. Not `Clone`: there is one owner.
#[derive(Debug)]
pub(crate) struct Waiter<'a> {
    node: &'a Node,
}

impl Waiter<'_> {
    /// The node's status. `Acquire`: after `Granted` or `Closed` the
    /// releaser's writes to the node are visible.
    #[inline]
    pub(crate) fn status(&self) -> Status {
        match self.node.status.load(Acquire) {
            FRESH | IDLE => Status::Idle,
            WAITING | WAITING_LATE => Status::Waiting,
            GRANTED => Status::Granted,
            _ => Status::Closed,
        }
    }

    fn addr(&self) -> NonNull<Node> {
        NonNull::from(self.node)
    }

    /// Gives `waker` to a node registered early ([`WaitList::register`]
    /// without a waker; linked, or still pending) and not given one since,
    /// without the lock. Returns `true` if the node is still waiting (a
    /// releaser will call `waker`), `false` if a releaser unlinked or
    /// refused it first (its outcome is stored; observe it).
    ///
    /// The caller (a primitive, never user code) must know that the node
    /// was registered early and has not been given a waker since, by this
    /// function or under the lock; debug and loom builds check it.
    #[inline]
    pub(crate) fn install_waker(&mut self, waker: &Waker) -> bool {
        let node = self.node;
        // The late slot is ours until the compare-and-swap below publishes
        // it: a releaser reads it only after seeing `WAITING_LATE`.
        node.late.with_mut(|p| {
            // SAFETY: the status is not `WAITING_LATE` (we never set it for
            // this wait, and only we do), so no releaser touches `late`, and
            // we are the node's only owner; the borrow ends here. The node
            // is linked or pending, so the slot is initialised (at its
            // first link or push).
            let late = unsafe { &mut *p.cast::<Option<Waker>>() };
            invariant!(late.is_none());
            *late = Some(waker.clone());
        });
        match node
            .status
            .compare_exchange(WAITING, WAITING_LATE, Release, Acquire)
        {
            Ok(_) => true,
            Err(status) => {
                invariant!(status == GRANTED || status == CLOSED);
                // A releaser stored the outcome before we published the
                // slot, so it never looked at it: take our waker back.
                // SAFETY: as above: the status never became `WAITING_LATE`.
                let waker = unsafe { node.take_late() };
                drop(waker);
                false
            }
        }
    }

    /// Starts a wait, before the node is linked or pushed: fills its
    /// fields for a waiter asking `want`, with `waker` (an early node with
    /// the no-op one), and marks it `WAITING`. Returns the waker a previous
    /// wait left in the fields, for the caller to drop outside any lock.
    ///
    /// The caller has checked that the node is idle, and links or pushes
    /// it next; until then nobody else can reach it.
    #[inline]
    fn start_wait(&mut self, want: usize, waker: &Waker, early: bool) -> Option<Waker> {
        let node = self.node;
        let fields = Fields::new(self.addr(), want, waker, early);
        let old = if node.status.load(Relaxed) == FRESH {
            node.fields.with_mut(|p| {
                // SAFETY: the node is fresh: never linked or pushed, so
                // nobody else has ever seen the fields, and we are its
                // owner; the borrow ends here.
                unsafe { (*p).write(fields) };
            });
            // SAFETY: as above, for the late slot.
            node.late.with_mut(|p| unsafe { (*p).write(None) });
            None
        } else {
            // SAFETY: the node is idle, hence neither linked nor pending,
            // and we are its owner (invariant 1).
            unsafe { node.fields(|f| core::mem::replace(f, fields)) }.waker
        };
        // Only the owner reads the status until the node is linked (under
        // the lock) or taken off the stack (after the push publishes it).
        node.status.store(WAITING, Relaxed);
        old
    }

    /// If the node was granted, resets it to idle and returns what was
    /// assigned to it.
    pub(crate) fn take_grant(&mut self) -> Option<usize> {
        self.take_outcome(|status| status == GRANTED)
    }

    /// Whatever the outcome (granted or closed), resets the node to idle,
    /// dropping what was assigned: for a waiter that is released the same
    /// way by either, and has nothing to pass on. Does nothing to an idle
    /// or waiting node.
    #[inline]
    pub(crate) fn settle(&mut self) {
        self.take_outcome(|status| status == GRANTED || status == CLOSED);
    }

    /// If the node was closed, resets it to idle and returns `true`.
    pub(crate) fn take_closed(&mut self) -> bool {
        self.take_outcome(|status| status == CLOSED).is_some()
    }

    /// If the node's status is an outcome that `wanted` accepts (only
    /// `GRANTED` or `CLOSED` may be), resets the node to idle and returns
    /// what was assigned to it.
    #[inline]
    fn take_outcome(&mut self, wanted: impl FnOnce(usize) -> bool) -> Option<usize> {
        let status = self.node.status.load(Acquire);
        if !wanted(status) {
            return None;
        }
        invariant!(status == GRANTED || status == CLOSED);
        // SAFETY: a `GRANTED` or `CLOSED` node is unlinked and its releaser
        // has made its last access (invariant 1), which the `Acquire` load
        // above synchronised with; `self` is its only owner.
        let (assigned, waker) = unsafe { self.node.fields(Fields::reset) };
        self.node.status.store(IDLE, Relaxed);
        drop(waker);
        Some(assigned)
    }
}

impl Fields {
    /// The fields of a node at `at` that starts waiting.
    #[inline]
    fn new(at: NonNull<Node>, want: usize, waker: &Waker, early: bool) -> Self {
        Fields {
            at,
            prev: None,
            next: None,
            waker: Some(waker.clone()),
            want,
            assigned: 0,
            seq: 0,
            early,
            woken: false,
            bypassed: 0,
            starving: false,
            #[cfg(not(loom))]
            since: None,
        }
    }

    /// Clears the per-wait bookkeeping; returns what was assigned and the
    /// waker left behind (dropped by the caller, outside any lock).
    fn reset(&mut self) -> (usize, Option<Waker>) {
        let assigned = core::mem::take(&mut self.assigned);
        self.want = 0;
        self.woken = false;
        self.bypassed = 0;
        self.starving = false;
        (assigned, self.waker.take())
    }
}

/// A FIFO of waiters and the state word of the primitive that owns it.
///
/// `D` is data of the primitive that must change together with the list,
/// under the same lock (a barrier's arrival count, a queue's items). The
/// data may hold further [`Line`]s of waiters (a queue's putters and
/// joiners), linked and unlinked with the `_in` methods of [`Locked`]; the
/// state word's `WAITERS` bit describes the main line only.
// `repr(C)` and the alignment keep `state` and `incoming` in one cache
// line: a primitive that changes the word then re-checks `incoming`
// (`recheck_pending`) finds the line already its own.
#[repr(C, align(16))]
pub(crate) struct WaitList<D = ()> {
    state: AtomicUsize,
    /// Registrations that found the lock taken (see "Registration without
    /// the lock"): a stack of pending nodes, newest on top, linked through
    /// their fields' `next`. Always null unless `admit` is set.
    incoming: AtomicPtr<Node>,
    /// Set for lists that take registrations without the lock
    /// ([`WaitList::register`]): decides, for a pending node, whether it
    /// waits or is refused.
    admit: Option<AdmitFn>,
    inner: Mutex<Inner<D>>,
}

/// What a primitive decides about a waiter, from the state word and the
/// waiter's `want`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// It must wait: the word becomes this value (`WAITERS` is added) and
    /// the node is linked.
    Wait(usize),
    /// It need not wait: the word becomes `state` (say, a permit taken),
    /// and the node is released at once with `assigned` recorded in it.
    Refuse { state: usize, assigned: usize },
}

/// A list's decision for pending registrations: `(state, want) -> Admit`.
pub(crate) type AdmitFn = fn(usize, usize) -> Admit;

/// What [`WaitList::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registered {
    /// The node waits: it is linked, or pending (on the incoming stack,
    /// to be linked or refused by the next lock holder). Its status is
    /// `Waiting` either way.
    Waiting,
    /// It need not wait; the node is idle.
    Refused,
}

struct Inner<D> {
    main: Line,
    next_seq: u64,
    data: D,
}

/// A FIFO line of linked nodes: the main line of a [`WaitList`], or one
/// kept in its data. Opaque outside this module.
#[derive(Default)]
pub(crate) struct Line {
    head: Link,
    tail: Link,
    len: usize,
}

// SAFETY: the links point at nodes, which are `Send + Sync`, and are only
// followed with the lock of the list the line belongs to held (invariant 1).
unsafe impl Send for Line {}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Line").field("len", &self.len).finish()
    }
}

impl Line {
    fn id(&self) -> usize {
        self as *const Line as usize
    }
}

/// Picks a line in a list's data.
pub(crate) type LineOf<D> = fn(&mut D) -> &mut Line;

/// A line of a list: the main one or one in the data.
enum Which<D> {
    Main,
    Data(LineOf<D>),
}

impl<D> Clone for Which<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Which<D> {}

impl<D: fmt::Debug> fmt::Debug for WaitList<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("state", &self.state.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl<D> WaitList<D> {
    /// A list with no waiters, the given initial state (without `WAITERS`)
    /// and data.
    pub(crate) fn new(state: usize, data: D) -> Self {
        Self::build(state, data, None)
    }

    /// A list that also takes registrations without its lock
    /// ([`WaitList::register`]), deciding pending ones with `admit`.
    pub(crate) fn with_admit(state: usize, data: D, admit: AdmitFn) -> Self {
        Self::build(state, data, Some(admit))
    }

    fn build(state: usize, data: D, admit: Option<AdmitFn>) -> Self {
        invariant_eq!(state & WAITERS, 0);
        WaitList {
            state: AtomicUsize::new(state),
            incoming: AtomicPtr::new(core::ptr::null_mut()),
            admit,
            inner: Mutex::new(Inner {
                main: Line::default(),
                next_seq: 0,
                data,
            }),
        }
    }

    /// The state word. Primitives may change every bit but `WAITERS`.
    #[inline]
    pub(crate) fn state(&self) -> &AtomicUsize {
        &self.state
    }

    /// Takes the lock.
    #[inline(always)]
    pub(crate) fn lock(&self) -> Locked<'_, D> {
        let guard = self.inner.lock();
        if self.admit.is_some() && !self.incoming.load(Relaxed).is_null() {
            return self.lock_drained(guard);
        }
        // Built in place: a `Locked` is large (its batch of wakers), and
        // one that is drained first, below, is moved when returned.
        self.locked(guard)
    }

    /// [`lock`](Self::lock) when registrations are pending: links them.
    #[cold]
    #[inline(never)]
    fn lock_drained<'a>(&'a self, guard: MutexGuard<'a, Inner<D>>) -> Locked<'a, D> {
        let mut locked = self.locked(guard);
        locked.drain();
        locked
    }

    #[inline(always)]
    fn locked<'a>(&'a self, guard: MutexGuard<'a, Inner<D>>) -> Locked<'a, D> {
        Locked {
            list: self,
            guard: ManuallyDrop::new(guard),
            wakers: Wakers::new(),
        }
    }

    /// Registers `me` in the main line, asking for `want`, with `waker`
    /// (or as an early node, without one), for a list made
    /// [`with_admit`](WaitList::with_admit): what the admit function
    /// decides from the state word and `want` happens, now under the lock
    /// if it is free, or else later, under the lock of whoever holds it
    /// (see "Registration without the lock").
    ///
    /// # Panics
    ///
    /// If `me` is not idle, or the list was not made `with_admit`.
    #[inline]
    pub(crate) fn register(
        &self,
        me: &mut Waiter<'_>,
        want: usize,
        waker: Option<&Waker>,
    ) -> Registered {
        let admit = self
            .admit
            .expect("register on a list without an admit function");
        assert_eq!(
            me.status(),
            Status::Idle,
            "a waiter can wait in one place at a time"
        );
        if let Some(guard) = self.inner.try_lock() {
            let mut locked = self.locked(guard);
            locked.drain();
            return match locked.decide(|s| admit(s, want)) {
                None => {
                    let early = waker.is_none();
                    locked.link(Which::Main, me, want, waker.unwrap_or(Waker::noop()), early);
                    Registered::Waiting
                }
                Some(_) => Registered::Refused,
            };
        }
        self.push(me, want, waker);
        // A change of the word that refuses us and did not see our push
        // (its re-check came first) is visible here: settle it ourselves.
        if matches!(admit(self.state.load(Acquire), want), Admit::Refuse { .. }) {
            self.settle_pending();
        }
        Registered::Waiting
    }

    /// Makes `me` pending: fills its fields and pushes it on the incoming
    /// stack. The caller is its owner, without the lock.
    fn push(&self, me: &mut Waiter<'_>, want: usize, waker: Option<&Waker>) {
        let node = me.addr();
        let old = me.start_wait(want, waker.unwrap_or(Waker::noop()), waker.is_none());
        // No lock is held: the old waker may be dropped here.
        drop(old);
        let mut top = self.incoming.load(Relaxed);
        loop {
            // SAFETY: the node is ours until the push succeeds (invariant 1,
            // pending nodes).
            unsafe { me.node.fields(|f| f.next = NonNull::new(top)) };
            // `Release` publishes the fields to the lock holder that takes
            // the stack; `Acquire` makes a refusing change whose re-check
            // we read visible to our load of the word after the push.
            match self
                .incoming
                .compare_exchange_weak(top, node.as_ptr(), AcqRel, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => top = actual,
            }
        }
    }

    /// For a primitive that just changed the state word without the lock
    /// in a way that may refuse a waiter (a permit stored, a generation
    /// advanced): if registrations are pending, takes the lock and
    /// settles them, so none is left waiting on a word that says it need
    /// not (see "Registration without the lock").
    #[inline]
    pub(crate) fn recheck_pending(&self) {
        // A read-modify-write that always writes (the value it read, back):
        // a failed compare-and-swap is only a load, and would start no
        // release sequence for a later push to read from (then a
        // registrant pushing after some holder took the node we saw could
        // miss our change, and nobody would settle it).
        let mut top = self.incoming.load(Relaxed);
        loop {
            match self
                .incoming
                .compare_exchange_weak(top, top, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => top = actual,
            }
        }
        if !top.is_null() {
            self.settle_pending();
        }
    }

    #[cold]
    #[inline(never)]
    fn settle_pending(&self) {
        // `lock` drains the stack.
        drop(self.lock());
    }
}

/// The lock of a [`WaitList`], held. Wakers collected while it is held are
/// called when it is dropped, after the lock is released.
pub(crate) struct Locked<'a, D> {
    list: &'a WaitList<D>,
    /// Released in `drop`, before the wakers are called (and for an instant
    /// inside [`Locked::make_room`]).
    guard: ManuallyDrop<MutexGuard<'a, Inner<D>>>,
    wakers: Wakers,
}

impl<D> fmt::Debug for Locked<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locked")
            .field("main", &self.inner().main)
            .finish_non_exhaustive()
    }
}

impl<D> Drop for Locked<'_, D> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard is dropped here and only here, once: `self` is
        // being dropped, nothing reads `guard` after this line, and no other
        // code takes it out (`make_room` releases the lock through the
        // guard and takes it back before returning).
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        if self.wakers.is_busy() {
            match self.wakers.take_single() {
                // The common case (a `notify_one`, a release to one
                // waiter): one waker and nothing else; call it here. The
                // operation is complete and the lock released, so a panic
                // of this waker leaves nothing stranded.
                Some(waker) => waker.wake(),
                None => self.wakers.finish(),
            }
        }
    }
}

/// Why a node left the list, as its owner will see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Granted,
    Closed,
}

/// A point in a list's order, from [`Locked::mark`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(u64);

/// What [`Locked::remove`] found in the node it unlinked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Removed {
    /// Permits that had been assigned to it and must be handed back.
    pub(crate) assigned: usize,
    /// It was the first in line.
    pub(crate) was_head: bool,
}

impl<'a, D> Locked<'a, D> {
    #[inline]
    fn inner(&self) -> &Inner<D> {
        &self.guard
    }

    #[inline]
    fn inner_mut(&mut self) -> &mut Inner<D> {
        &mut self.guard
    }

    #[inline]
    fn line(&mut self, which: Which<D>) -> &mut Line {
        let inner = self.inner_mut();
        match which {
            Which::Main => &mut inner.main,
            Which::Data(f) => f(&mut inner.data),
        }
    }

    /// The primitive's data.
    #[inline]
    pub(crate) fn data(&mut self) -> &mut D {
        &mut self.inner_mut().data
    }

    /// The state word.
    pub(crate) fn state(&self) -> &'a AtomicUsize {
        &self.list.state
    }

    /// No waiters in the main line.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner().main.head.is_none()
    }

    /// No waiters in the line `line` of the data.
    pub(crate) fn is_empty_in(&mut self, line: LineOf<D>) -> bool {
        self.line(Which::Data(line)).head.is_none()
    }

    /// Links `me` at the tail of the main line, unless the state word says
    /// it need not wait.
    ///
    /// `admit` is called with the current state word. `None` means "not
    /// blocked": nothing is linked and `false` is returned. `Some(s)` means
    /// "block": the word is changed to `s | WAITERS` with a compare-and-swap
    /// from the value `admit` saw (retrying with the new value if it
    /// changed), and `me` is linked, asking for `want`.
    ///
    /// # Panics
    ///
    /// If `me` is not idle.
    #[inline]
    pub(crate) fn enqueue(
        &mut self,
        me: &mut Waiter<'_>,
        want: usize,
        waker: &Waker,
        admit: impl FnMut(usize) -> Option<usize>,
    ) -> bool {
        self.enqueue_with(me, want, waker, false, admit)
    }

    #[inline]
    fn enqueue_with(
        &mut self,
        me: &mut Waiter<'_>,
        want: usize,
        waker: &Waker,
        early: bool,
        mut admit: impl FnMut(usize) -> Option<usize>,
    ) -> bool {
        assert_eq!(
            me.status(),
            Status::Idle,
            "a waiter can wait in one place at a time"
        );
        let refused = self.decide(|s| match admit(s) {
            Some(new) => Admit::Wait(new),
            None => Admit::Refuse {
                state: s,
                assigned: 0,
            },
        });
        if refused.is_some() {
            return false;
        }
        self.link(Which::Main, me, want, waker, early);
        true
    }

    /// Applies what `admit` decides about a waiter to the state word, with
    /// a compare-and-swap from the value it saw (retrying with the new
    /// value if it changed): `WAITERS` is set if it must wait (and `None`
    /// is returned: the caller links it), else `Some(assigned)`.
    #[inline]
    fn decide(&mut self, mut admit: impl FnMut(usize) -> Admit) -> Option<usize> {
        let state = &self.list.state;
        let mut s = state.load(Acquire);
        loop {
            let (new, refused) = match admit(s) {
                Admit::Wait(new) => {
                    if new == s && s & WAITERS != 0 {
                        // Nothing to change, and `WAITERS` cannot be cleared
                        // while we hold the lock: whoever changes the word
                        // next sees it (see "Why no wakeup is lost").
                        return None;
                    }
                    (new | WAITERS, None)
                }
                Admit::Refuse {
                    state: new,
                    assigned,
                } => {
                    if new == s {
                        return Some(assigned);
                    }
                    (new, Some(assigned))
                }
            };
            match state.compare_exchange(s, new, AcqRel, Acquire) {
                Ok(_) => return refused,
                Err(actual) => s = actual,
            }
        }
    }

    /// Links `me` at the tail of the line `line` of the data. (The state
    /// word is not involved: the caller decided under this lock that `me`
    /// must wait, from data that only changes under it.)
    ///
    /// # Panics
    ///
    /// If `me` is not idle.
    pub(crate) fn enqueue_in(&mut self, line: LineOf<D>, me: &mut Waiter<'_>, waker: &Waker) {
        assert_eq!(
            me.status(),
            Status::Idle,
            "a waiter can wait in one place at a time"
        );
        self.link(Which::Data(line), me, 1, waker, false);
    }

    #[inline]
    fn link(
        &mut self,
        which: Which<D>,
        me: &mut Waiter<'_>,
        want: usize,
        waker: &Waker,
        early: bool,
    ) {
        let node = me.addr();
        if let Some(old) = me.start_wait(want, waker, early) {
            // Invariant 5: dropped after the lock is released.
            self.wakers.bury(old);
        }
        // SAFETY: the fields are initialised, and nobody but us (the owner,
        // holding the lock) can reach the node yet.
        unsafe { self.append(which, node) };
    }

    /// Puts `node`, whose fields are initialised and not linked anywhere,
    /// at the tail of `which`: its order, its links and its line.
    ///
    /// # Safety
    ///
    /// We hold the lock, and the node's fields are ours to write (its
    /// owner linking it, or a pending node we took off the stack).
    #[inline]
    unsafe fn append(&mut self, which: Which<D>, node: NonNull<Node>) {
        let seq = {
            let inner = self.inner_mut();
            inner.next_seq += 1;
            inner.next_seq - 1
        };
        let (id, tail) = {
            let line = self.line(which);
            (line.id(), line.tail)
        };
        // SAFETY: the caller's guarantee; a node is alive while it is
        // being linked (its owner is in `register`, `enqueue` or, for a
        // pending node, cannot have freed it: see "Registration without
        // the lock").
        let node_ref = unsafe { node.as_ref() };
        // SAFETY: as above.
        unsafe {
            node_ref.fields(|f| {
                f.prev = tail;
                f.next = None;
                f.seq = seq;
            })
        };
        let line = self.line(which);
        match tail {
            // SAFETY: `tail` is linked in this line and we hold its lock.
            Some(tail) => unsafe { linked_fields(tail, |f| f.next = Some(node)) },
            None => line.head = Some(node),
        }
        line.tail = Some(node);
        line.len += 1;
        node_ref.list.store(id, Relaxed);
    }

    /// Takes every pending node off the incoming stack and, oldest first,
    /// links it or releases it, as the list's admit function decides. Does
    /// nothing for a list without one.
    #[inline]
    fn drain(&mut self) {
        let Some(admit) = self.list.admit else { return };
        if self.list.incoming.load(Relaxed).is_null() {
            return;
        }
        self.drain_slow(admit);
    }

    /// [`WaitList::recheck_pending`] for a primitive that holds the lock:
    /// after a change of the state word that may refuse a waiter, settles
    /// the pending registrations (with a read-modify-write, as there).
    #[inline]
    pub(crate) fn recheck_pending(&mut self) {
        let Some(admit) = self.list.admit else { return };
        let top = self.list.incoming.swap(core::ptr::null_mut(), AcqRel);
        if !top.is_null() {
            self.settle(admit, top);
        }
    }

    #[cold]
    #[inline(never)]
    fn drain_slow(&mut self, admit: AdmitFn) {
        // `Acquire`: every push we take (they form one chain of
        // read-modify-writes) published its node's fields.
        let top = self.list.incoming.swap(core::ptr::null_mut(), Acquire);
        self.settle(admit, top);
    }

    /// Links or releases, oldest first, the pending nodes of a stack taken
    /// off `incoming`, whose top is `top`.
    #[cold]
    #[inline(never)]
    fn settle(&mut self, admit: AdmitFn, top: *mut Node) {
        let mut top = NonNull::new(top);
        // The stack has the newest on top: reverse it.
        let mut oldest: Link = None;
        while let Some(node) = top {
            // SAFETY: `node` was on the stack we took (the caller's swap).
            top = unsafe { pending_fields(node, |f| core::mem::replace(&mut f.next, oldest)) };
            oldest = Some(node);
        }
        while let Some(node) = oldest {
            // SAFETY: as above: taken off the stack, not linked or released
            // yet.
            let (next, want) = unsafe { pending_fields(node, |f| (f.next.take(), f.want)) };
            oldest = next;
            match self.decide(|s| admit(s, want)) {
                // SAFETY: as above; its fields are ours to write, and we
                // hold the lock.
                None => unsafe { self.append(Which::Main, node) },
                Some(assigned) => {
                    // SAFETY: as above.
                    let (waker, early) = unsafe {
                        pending_fields(node, |f| {
                            f.assigned = assigned;
                            (f.waker.take(), f.early)
                        })
                    };
                    // SAFETY: the node is alive until its owner sees the
                    // outcome, which `release` stores last (see
                    // `pending_fields`); the `&Node` does not outlive this
                    // call.
                    let node_ref = unsafe { node.as_ref() };
                    self.release(node_ref, GRANTED, waker, early, true, true);
                }
            }
        }
    }

    /// The first waiter of the main line, if any.
    pub(crate) fn head(&mut self) -> Option<NodeMut<'_>> {
        self.head_of(Which::Main)
    }

    #[inline]
    fn head_of(&mut self, which: Which<D>) -> Option<NodeMut<'_>> {
        let head = self.line(which).head?;
        Some(NodeMut {
            node: head,
            is_head: true,
            wakers: &mut self.wakers,
        })
    }

    /// `me`'s node, if it is linked in the main line.
    pub(crate) fn mine(&mut self, me: &Waiter<'_>) -> Option<NodeMut<'_>> {
        self.mine_of(Which::Main, me)
    }

    /// `me`'s node, if it is linked in the line `line` of the data.
    pub(crate) fn mine_in(&mut self, line: LineOf<D>, me: &Waiter<'_>) -> Option<NodeMut<'_>> {
        self.mine_of(Which::Data(line), me)
    }

    fn mine_of(&mut self, which: Which<D>, me: &Waiter<'_>) -> Option<NodeMut<'_>> {
        let line = self.line(which);
        if !is_linked_in(line, me) {
            return None;
        }
        let node = me.addr();
        let is_head = line.head == Some(node);
        // SAFETY: linked in this line (checked above), whose lock we hold.
        unsafe { make_ordinary(me.node) };
        Some(NodeMut {
            node,
            is_head,
            wakers: &mut self.wakers,
        })
    }

    /// Unlinks the first waiter of the main line and stores `outcome` in
    /// it. With `wake`, its waker is called when the lock is released;
    /// without, the waker stays in the node (the caller is the owner and is
    /// running).
    ///
    /// # Panics
    ///
    /// If the line is empty.
    #[inline]
    pub(crate) fn pop_head(&mut self, outcome: Outcome, wake: bool) {
        self.pop_head_of(Which::Main, outcome, wake);
    }

    /// [`pop_head`](Self::pop_head) for the line `line` of the data.
    pub(crate) fn pop_head_in(&mut self, line: LineOf<D>, outcome: Outcome, wake: bool) {
        self.pop_head_of(Which::Data(line), outcome, wake);
    }

    #[inline]
    fn pop_head_of(&mut self, which: Which<D>, outcome: Outcome, wake: bool) {
        let head = self.line(which).head.expect("pop_head on an empty line");
        // SAFETY: `head` is linked in this line and we hold its lock.
        let (waker, early) = unsafe { self.unlink(which, head, wake) };
        let status = match outcome {
            Outcome::Granted => GRANTED,
            Outcome::Closed => CLOSED,
        };
        // SAFETY: `head` was linked until `unlink` above, under our lock, so
        // the owner cannot have freed it: it must take the lock or see the
        // outcome first.
        let head = unsafe { head.as_ref() };
        self.release(head, status, waker, early, wake, false);
    }

    /// Stores `status`, an outcome, in `node`, which was just unlinked (or
    /// taken off the incoming stack) under the lock, as the last access to
    /// it; `waker` (taken from its fields if `wake`) is called once the
    /// lock is released. An early node hands over its late waker instead,
    /// if its owner gave it one. `settling`: the node came off the
    /// incoming stack, and its waker may go beyond a full batch.
    #[inline(always)]
    fn release(
        &mut self,
        node: &Node,
        status: usize,
        mut waker: Option<Waker>,
        early: bool,
        wake: bool,
        settling: bool,
    ) {
        if early {
            if let Some(late) = release_early(node, status) {
                if wake {
                    // The waker taken from the fields is the no-op one an
                    // early node is linked with: dropping it runs no code
                    // (invariant 5).
                    drop(waker.replace(late));
                } else {
                    // Invariant 5: dropped after the lock is released.
                    self.wakers.bury(late);
                }
            }
        } else {
            // Invariant 1: this store is our last access to the node.
            node.status.store(status, Release);
        }
        if let Some(waker) = waker {
            if settling {
                self.wakers.push_settled(waker);
            } else {
                self.wakers.push(waker);
            }
        }
    }

    /// Unlinks `me` if it is linked in the main line. Its waker stays in
    /// the node. `None` if a releaser unlinked it first (look at its
    /// status).
    pub(crate) fn remove(&mut self, me: &mut Waiter<'_>) -> Option<Removed> {
        self.remove_of(Which::Main, me)
    }

    /// [`remove`](Self::remove) for the line `line` of the data.
    pub(crate) fn remove_in(&mut self, line: LineOf<D>, me: &mut Waiter<'_>) -> Option<Removed> {
        self.remove_of(Which::Data(line), me)
    }

    fn remove_of(&mut self, which: Which<D>, me: &mut Waiter<'_>) -> Option<Removed> {
        let node = me.addr();
        let line = self.line(which);
        if !is_linked_in(line, me) {
            return None;
        }
        let was_head = line.head == Some(node);
        // SAFETY: linked in this line (checked above), whose lock we hold.
        // The waker stays in the fields, as for any removed node.
        unsafe { make_ordinary(me.node) };
        // SAFETY: `me` is linked in this line (checked above) and we hold
        // its lock.
        let _ = unsafe { self.unlink(which, node, false) };
        // SAFETY: unlinked just now; we are the owner.
        let assigned = unsafe { me.node.fields(|f| core::mem::take(&mut f.assigned)) };
        me.node.status.store(IDLE, Relaxed);
        Some(Removed { assigned, was_head })
    }

    /// Unlinks `node` from `which`, clears `WAITERS` if the main line
    /// became empty and, with `take_waker`, returns the node's waker (the
    /// one in its fields), and whether it was linked early.
    ///
    /// # Safety
    ///
    /// `node` is linked in that line (and we hold its lock).
    #[inline]
    unsafe fn unlink(
        &mut self,
        which: Which<D>,
        node: NonNull<Node>,
        take_waker: bool,
    ) -> (Option<Waker>, bool) {
        // SAFETY: by the caller's guarantee, `node` is linked here and we
        // hold the lock.
        let node_ref = unsafe { node.as_ref() };
        // SAFETY: linked here, under our lock (invariant 1).
        let (prev, next, waker, early) = unsafe {
            node_ref.fields(|f| {
                let waker = if take_waker { f.waker.take() } else { None };
                (f.prev.take(), f.next.take(), waker, f.early)
            })
        };
        node_ref.list.store(0, Relaxed);
        let line = self.line(which);
        match prev {
            // SAFETY: neighbours of a linked node are linked in the same line.
            Some(prev) => unsafe { linked_fields(prev, |f| f.next = next) },
            None => line.head = next,
        }
        match next {
            // SAFETY: as above.
            Some(next) => unsafe { linked_fields(next, |f| f.prev = prev) },
            None => line.tail = prev,
        }
        line.len -= 1;
        if line.len == 0 && matches!(which, Which::Main) {
            self.list.state.fetch_and(!WAITERS, Release);
        }
        (waker, early)
    }

    /// If the batch of wakers is full, releases the lock, calls them and
    /// takes the lock again. Anything learnt about the list before is stale
    /// afterwards; call it only at the top of a loop that re-reads the head.
    #[inline]
    pub(crate) fn make_room(&mut self) {
        if self.wakers.is_full() {
            let wakers = &mut self.wakers;
            MutexGuard::unlocked(&mut self.guard, || wakers.wake_all());
        }
    }

    /// Grants up to `n` waiters of the main line, first come first served,
    /// and returns how many were granted.
    pub(crate) fn notify(mut self, n: usize) -> usize {
        let mut done = 0;
        while done < n {
            self.make_room();
            if self.is_empty() {
                break;
            }
            self.pop_head(Outcome::Granted, true);
            done += 1;
        }
        done
    }

    /// Grants every waiter of the main line that was linked before this
    /// call (not those that link while the lock is released between
    /// batches) and returns how many were granted.
    pub(crate) fn notify_all(self) -> usize {
        self.notify_all_of(Which::Main, Outcome::Granted)
    }

    /// [`notify_all`](Self::notify_all) for the line `line` of the data,
    /// storing `outcome` in each waiter.
    pub(crate) fn notify_all_in(self, line: LineOf<D>, outcome: Outcome) -> usize {
        self.notify_all_of(Which::Data(line), outcome)
    }

    /// Where the main line stands now: [`notify_all_before`] grants only
    /// the waiters linked before it.
    ///
    /// [`notify_all_before`]: Self::notify_all_before
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.inner().next_seq)
    }

    /// [`notify_all`](Self::notify_all) for the waiters of the main line
    /// linked before `mark` was taken (under this same hold of the lock):
    /// for a primitive that links more nodes before it starts waking
    /// (settling pending registrations) that must not be woken.
    pub(crate) fn notify_all_before(self, mark: Mark) -> usize {
        self.notify_all_below(Which::Main, Outcome::Granted, mark.0)
    }

    fn notify_all_of(self, which: Which<D>, outcome: Outcome) -> usize {
        let bound = self.inner().next_seq;
        self.notify_all_below(which, outcome, bound)
    }

    fn notify_all_below(mut self, which: Which<D>, outcome: Outcome, bound: u64) -> usize {
        let mut done = 0;
        loop {
            self.make_room();
            match self.head_of(which) {
                Some(head) if head.seq() < bound => {}
                _ => break,
            }
            self.pop_head_of(which, outcome, true);
            done += 1;
        }
        done
    }
}

/// `me` is linked in `line`. If it is, neither the status nor the line's
/// identity can change while we hold the lock; if it is linked elsewhere,
/// `list` names the other line (or 0 if it is being unlinked there now).
///
/// The caller holds `line`'s lock. Aborts if `me` is a linked node that
/// is no longer where it was linked (see [`moved_while_linked`]).
fn is_linked_in(line: &Line, me: &Waiter<'_>) -> bool {
    let status = me.node.status.load(Acquire);
    if (status != WAITING && status != WAITING_LATE) || me.node.list.load(Relaxed) != line.id() {
        return false;
    }
    // SAFETY: the node says it is linked in `line`, whose lock the caller
    // holds, so its fields are ours to read (invariant 1). If it was moved
    // (bitwise) while linked, these are the fields of the copy, which is
    // `me`'s own memory: still readable, and what the check is about.
    let at = unsafe { me.node.fields(|f| f.at) };
    if at != me.addr() {
        moved_while_linked();
    }
    true
}

/// A linked node was moved: the list's links still point at its old
/// address, which its owner no longer owns. This is never the primitive's
/// doing: a pinned future was moved after it was polled, most likely by an
/// executor that moves a future out of its task before dropping it (what
/// magpie's task harness did; issue 11). Unlinking the copy would splice
/// the list around memory that may be reused by now, and skipping it would
/// lose the node's place (a lost wakeup): neither is safe, so stop loudly,
/// as for a node dropped while linked (invariant 2).
#[cold]
#[inline(never)]
fn moved_while_linked() -> ! {
    eprintln!(
        "magpie-sync: a waiter node was moved while linked in a wait list: a pinned \
         future was moved after it was polled (an executor moving a future out of \
         its task before dropping it breaks the `Pin` contract); aborting"
    );
    std::process::abort();
}

/// If `node` is an early node whose owner gave it its waker without the
/// lock (`WAITING_LATE`), makes it an ordinary node again: the waker moves
/// into the fields and the status back to `WAITING`. For the owner, when it
/// takes the lock for its own node ([`Locked::mine`], [`Locked::remove`]),
/// so that what it does there sees the real waker where every node keeps
/// it. No releaser acts while the lock is held, and only the owner sets
/// `WAITING_LATE`, once per wait.
///
/// # Safety
///
/// The caller is `node`'s owner, `node` is linked, and the caller holds the
/// lock of the line it is linked in.
#[inline]
unsafe fn make_ordinary(node: &Node) {
    if node.status.load(Relaxed) != WAITING_LATE {
        return;
    }
    // SAFETY: `WAITING_LATE` hands the slot to the lock holder, the caller;
    // it was set by the owner's own compare-and-swap, on this thread.
    let late = unsafe { node.take_late() };
    // SAFETY: linked, and the caller holds the lock (invariant 1).
    let noop = unsafe { node.fields(|f| core::mem::replace(&mut f.waker, late)) };
    // The no-op waker an early node is registered with: dropping it runs no code
    // (invariant 5).
    drop(noop);
    node.status.store(WAITING, Relaxed);
}

/// Stores `status`, an outcome, in an early node that was just unlinked
/// under the lock, and returns the waker its owner put in the late slot,
/// if it did. See "Early nodes".
#[inline]
fn release_early(node: &Node, status: usize) -> Option<Waker> {
    if node.status.load(Acquire) == WAITING {
        // The owner may be publishing its late slot right now: the
        // compare-and-swap decides which of us came first.
        match node
            .status
            .compare_exchange(WAITING, status, Release, Acquire)
        {
            // First: the owner's compare-and-swap will fail and it takes
            // its waker back. Invariant 1: this was our last access.
            Ok(_) => return None,
            Err(actual) => invariant!(actual == WAITING_LATE),
        }
    }
    // `WAITING_LATE`, seen with `Acquire`: the owner's write of the slot is
    // visible, and the owner leaves the node alone until it sees an
    // outcome, which we store only after taking the waker.
    // SAFETY: `WAITING_LATE` hands the slot to the lock holder, us.
    let late = unsafe { node.take_late() };
    invariant!(late.is_some());
    // Invariant 1: this store is our last access to the node.
    node.status.store(status, Release);
    late
}

/// A linked node seen through the lock: the head of the list, or the
/// caller's own node.
pub(crate) struct NodeMut<'g> {
    node: NonNull<Node>,
    is_head: bool,
    wakers: &'g mut Wakers,
}

impl fmt::Debug for NodeMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeMut")
            .field("is_head", &self.is_head)
            .finish_non_exhaustive()
    }
}

impl NodeMut<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut Fields) -> R) -> R {
        // SAFETY: a `NodeMut` exists only for a node linked in a list whose
        // lock is held for its whole lifetime (it borrows the `Locked`).
        unsafe { linked_fields(self.node, f) }
    }

    /// What the waiter asked for.
    pub(crate) fn want(&self) -> usize {
        self.with(|f| f.want)
    }

    /// What has been assigned to it so far.
    pub(crate) fn assigned(&self) -> usize {
        self.with(|f| f.assigned)
    }

    /// Assigns `n` more.
    pub(crate) fn assign(&mut self, n: usize) {
        self.with(|f| f.assigned += n);
    }

    fn seq(&self) -> u64 {
        self.with(|f| f.seq)
    }

    /// It is first in line.
    pub(crate) fn is_head(&self) -> bool {
        self.is_head
    }

    /// It is `me`'s node.
    pub(crate) fn is(&self, me: &Waiter<'_>) -> bool {
        self.node == me.addr()
    }

    /// It has been woken to retry and has not polled since.
    pub(crate) fn is_woken(&self) -> bool {
        self.with(|f| f.woken)
    }

    /// Wakes it to retry (once: a woken node is not woken again).
    pub(crate) fn wake(&mut self) {
        let waker = self.with(|f| {
            if f.woken {
                return None;
            }
            f.woken = true;
            f.waker.clone()
        });
        if let Some(waker) = waker {
            self.wakers.push(waker);
        }
    }

    /// Clears the woken mark, returning whether it was set.
    pub(crate) fn take_woken(&mut self) -> bool {
        self.with(|f| core::mem::take(&mut f.woken))
    }

    /// Stores the waker to call, unless the current one wakes the same task.
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        let old = self.with(|f| match &f.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => f.waker.replace(waker.clone()),
        });
        if let Some(old) = old {
            // Invariant 5: dropped after the lock is released.
            self.wakers.bury(old);
        }
    }

    /// Records that it was bypassed; returns whether it is now starving.
    pub(crate) fn bypass(&mut self) -> bool {
        self.with(|f| {
            f.bypassed = f.bypassed.saturating_add(1);
            // The clock is read only here, when a waiter is overtaken: never
            // on the paths that merely wait.
            #[cfg(not(loom))]
            let too_long = match f.since {
                None => {
                    f.since = Some(Instant::now());
                    false
                }
                Some(first) => first.elapsed() >= FAIR_TIMEOUT,
            };
            #[cfg(loom)]
            let too_long = false;
            f.starving |= f.bypassed >= MAX_BYPASS || too_long;
            f.starving
        })
    }

    /// It is starving: it must be handed the resource, not raced for it.
    pub(crate) fn is_starving(&self) -> bool {
        self.with(|f| f.starving)
    }
}

/// A fixed batch of wakers to call once the lock is released. Not
/// initialised until used, so that taking the lock stays cheap.
///
/// A waker that panics must not cut an operation short (the batches after
/// it would never be woken, permits in hand would be lost): the panic is
/// caught, the operation finishes, and the panic is resumed when the lock
/// is finally released.
struct Wakers {
    /// `buf[..len]` are initialised.
    buf: [MaybeUninit<Waker>; BATCH],
    len: usize,
    /// Replaced wakers, to drop outside the lock: `dead[..dead_len]` are
    /// initialised.
    dead: [MaybeUninit<Waker>; 2],
    dead_len: usize,
    /// Wakers beyond a full batch (see `push`); empty, and unallocated,
    /// unless a drain released more than a batch of pending nodes.
    more: Vec<Waker>,
    /// The first panic of a waker, to resume once the operation is over.
    panic: Option<Box<dyn core::any::Any + Send>>,
}

impl Wakers {
    #[inline]
    fn new() -> Self {
        Wakers {
            buf: [const { MaybeUninit::uninit() }; BATCH],
            len: 0,
            dead: [const { MaybeUninit::uninit() }; 2],
            dead_len: 0,
            more: Vec::new(),
            panic: None,
        }
    }

    fn is_full(&self) -> bool {
        self.len == BATCH
    }

    #[inline]
    fn push(&mut self, waker: Waker) {
        // Callers call `make_room` before each grant, and a single
        // operation adds at most one waker beyond that (a wake-to-retry
        // after grants), so a full batch here is a bug in this module.
        assert!(self.len < BATCH, "waker batch overflow");
        self.buf[self.len].write(waker);
        self.len += 1;
    }

    /// [`push`](Self::push) for a holder settling the incoming stack,
    /// which cannot release the lock halfway (see "Registration without
    /// the lock") and so may release more than a batch at once: the
    /// wakers beyond one spill into `more`.
    #[inline]
    fn push_settled(&mut self, waker: Waker) {
        if self.len == BATCH {
            self.spill(waker);
            return;
        }
        self.push(waker);
    }

    #[cold]
    #[inline(never)]
    fn spill(&mut self, waker: Waker) {
        self.more.push(waker);
    }

    fn bury(&mut self, waker: Waker) {
        // One lock hold replaces at most one waker per node it polls for,
        // and polls at most one node: two slots are plenty.
        assert!(
            self.dead_len < self.dead.len(),
            "more than two wakers replaced under one lock"
        );
        self.dead[self.dead_len].write(waker);
        self.dead_len += 1;
    }

    /// The only thing to do, if it is calling one waker (and the thread
    /// is not unwinding, where a panicking waker must be caught).
    #[inline]
    fn take_single(&mut self) -> Option<Waker> {
        if self.len != 1 || self.dead_len != 0 || self.panic.is_some() || std::thread::panicking() {
            return None;
        }
        self.len = 0;
        // SAFETY: `buf[..1]` is initialised (see `push`); `len` was lowered
        // first, so it is read exactly once.
        Some(unsafe { self.buf[0].assume_init_read() })
    }

    /// Anything to wake, drop or resume.
    #[inline]
    fn is_busy(&self) -> bool {
        (self.len | self.dead_len) != 0 || self.panic.is_some()
    }

    /// Wakes the rest and then, if a waker panicked (and we are not already
    /// unwinding), lets the panic out: everything is consistent by now.
    #[cold]
    #[inline(never)]
    fn finish(&mut self) {
        self.wake_all();
        if !std::thread::panicking() {
            if let Some(panic) = self.panic.take() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Calls every collected waker (and drops the replaced ones), catching
    /// panics.
    fn wake_all(&mut self) {
        while self.dead_len > 0 {
            self.dead_len -= 1;
            // SAFETY: `dead[..dead_len]` are initialised (see `bury`);
            // `dead_len` was lowered first, so this one is read exactly once.
            let waker = unsafe { self.dead[self.dead_len].assume_init_read() };
            self.catch(move || drop(waker));
        }
        while let Some(waker) = self.more.pop() {
            self.catch(move || waker.wake());
        }
        while self.len > 0 {
            self.len -= 1;
            // SAFETY: `buf[..len]` are initialised (see `push`); `len` was
            // lowered first, so this one is read exactly once.
            let waker = unsafe { self.buf[self.len].assume_init_read() };
            self.catch(move || waker.wake());
        }
    }

    /// [`wake_all`](Self::wake_all), out of the way of the paths that
    /// never need it (a `Locked` dropped while unwinding).
    #[cold]
    #[inline(never)]
    fn wake_all_cold(&mut self) {
        self.wake_all();
    }

    fn catch(&mut self, f: impl FnOnce()) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            self.panic.get_or_insert(panic);
        }
    }
}

impl Drop for Wakers {
    #[inline]
    fn drop(&mut self) {
        if (self.len | self.dead_len) != 0 {
            // Only if the lock holder unwound mid-operation.
            self.wake_all_cold();
        }
    }
}

/// The part of a waiting future that knows its primitive.
///
/// `poll` may link, re-register or observe the node; `cancel` runs when the
/// future is dropped with a node that is not idle, and must leave it idle,
/// passing on anything it was granted.
pub(crate) trait WaitOp {
    /// The future's output.
    type Output;
    /// Polls the operation.
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output>;
    /// Withdraws from the wait list (the future is being dropped).
    fn cancel(&mut self, me: &mut Waiter<'_>);
}

/// A future made of a waiter node and the operation that uses it.
pub(crate) struct Waiting<O: WaitOp> {
    node: Node,
    op: O,
}

impl<O: WaitOp> Waiting<O> {
    /// A future that has not linked anything yet.
    #[inline]
    pub(crate) fn new(op: O) -> Self {
        Waiting {
            node: Node::new(),
            op,
        }
    }

    /// Polls the operation with the pinned node.
    #[inline(always)]
    pub(crate) fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        // SAFETY: we never move out of `self`; the node stays where it is
        // until `drop`, which is what pinning promises (invariant 2). `op` is
        // not structurally pinned and is only borrowed.
        //
        // Aliasing (invariant 3): `this` is a `&mut Waiting` covering the
        // node, which other threads may write through the list's raw
        // pointers while it lives (an outcome, a neighbour's link, the
        // waker). That is allowed only because `Waiting` is `!Unpin` (the
        // node's `PhantomPinned`): a `&mut` to a `!Unpin` type is not
        // assumed unique. `this` is split at once into `&this.node`, a
        // shared reference (all of the node is interior-mutable, so the
        // concurrent writes are fine under it; it lives for this poll and
        // keeps the node borrowed, not moved), and `&mut this.op`, which
        // only this future touches; `this` itself is not used again.
        let this = unsafe { self.get_unchecked_mut() };
        let (node, op) = (&this.node, &mut this.op);
        let mut me = Waiter { node };
        op.poll(&mut me, cx)
    }

    /// Runs `f` on the operation and its owner's handle outside a poll:
    /// for an operation that registers before it is first polled
    /// (`Notified::enable`).
    pub(crate) fn with_op<R>(
        self: Pin<&mut Self>,
        f: impl FnOnce(&mut O, &mut Waiter<'_>) -> R,
    ) -> R {
        // SAFETY: exactly as in `poll`: nothing is moved out of `self`, and
        // the `&mut Waiting` (sound to hold only because `Waiting` is
        // `!Unpin`, invariant 3) is split at once into a shared `&Node`
        // and `&mut O`, and not used again.
        let this = unsafe { self.get_unchecked_mut() };
        let (node, op) = (&this.node, &mut this.op);
        let mut me = Waiter { node };
        f(op, &mut me)
    }
}

impl<O: WaitOp> Drop for Waiting<O> {
    #[inline]
    fn drop(&mut self) {
        // The node is dropped in place right after this, so it is still
        // pinned here if it ever was (a linked node that was moved is
        // caught by `is_linked_in` when `cancel` looks for it).
        //
        // Aliasing (invariant 3): `self` is a `&mut Waiting` covering a node
        // that may still be linked, so other threads may write it through
        // the list's raw pointers until `cancel` unlinks it under the lock
        // (or observes that a releaser did). As in `poll`, this relies on
        // `Waiting` being `!Unpin`, and `self` is split at once into a
        // shared `&self.node` (interior-mutable, alive until `cancel`
        // returns) and `&mut self.op` (touched by nobody else).
        let (node, op) = (&self.node, &mut self.op);
        let mut me = Waiter { node };
        if me.status() != Status::Idle {
            op.cancel(&mut me);
        }
    }
}

impl<O: WaitOp + fmt::Debug> fmt::Debug for Waiting<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting")
            .field("node", &self.node)
            .field("op", &self.op)
            .finish()
    }
}

/// Declares a public future type that wraps a [`Waiting`] operation.
///
/// ```text
/// wait_future! {
///     /// Docs.
///     pub struct LockFuture['a, T]['a, T](LockOp<'a, T>) -> LockGuard<'a, T>;
/// }
/// ```
///
/// The first brackets hold the generic parameters with their bounds, the
/// second the arguments. A visibility before the operation's type (say
/// `(pub(super) LockOp<'a, T>)`) is that of the constructor `from_op`, for
/// a future made in another module than the one that declares it. The
/// generated struct has a single private field, no `Drop` and no `Unpin`
/// impl, which is what makes the pin projection below sound; do not add
/// either.
macro_rules! wait_future {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident [$($gen:tt)*] [$($arg:tt)*] ($op_vis:vis $op:ty) -> $out:ty;
    ) => {
        $(#[$attr])*
        #[must_use = "futures do nothing unless you `.await` or poll them"]
        $vis struct $name<$($gen)*> {
            inner: $crate::wait_list::Waiting<$op>,
        }

        impl<$($gen)*> $name<$($arg)*> {
            #[inline]
            $op_vis fn from_op(op: $op) -> Self {
                $name { inner: $crate::wait_list::Waiting::new(op) }
            }

            /// The pinned operation.
            #[inline(always)]
            fn inner(
                self: ::core::pin::Pin<&mut Self>,
            ) -> ::core::pin::Pin<&mut $crate::wait_list::Waiting<$op>> {
                // SAFETY: `inner` is structurally pinned: this type (made by
                // `wait_future!` in `wait_list.rs`) has no other field, no
                // `Drop` impl and no `Unpin` impl, and nothing moves `inner`
                // out of a pinned `Self`.
                //
                // Aliasing: the closure forms `&mut f.inner`, a `&mut
                // Waiting` covering a waiter node that other threads may
                // write through raw pointers while it lives. It is only
                // returned, pinned, to `Waiting::poll` or `Waiting::with_op`,
                // which turn it into a shared `&Node` at once; it is sound
                // because `Waiting` (and so this type) is `!Unpin` (see
                // invariant 3 in `wait_list.rs`): `&mut` to a `!Unpin` type
                // is not unique.
                unsafe { self.map_unchecked_mut(|f| &mut f.inner) }
            }
        }

        impl<$($gen)*> ::core::future::Future for $name<$($arg)*> {
            type Output = $out;

            // Always: the fast paths are a few instructions, and a call
            // here costs the uncontended lock a measurable fraction.
            #[inline(always)]
            fn poll(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<$out> {
                self.inner().poll(cx)
            }
        }

        impl<$($gen)*> ::core::fmt::Debug for $name<$($arg)*> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use wait_future;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    /// Waits on a list until granted; `admit` is "always block".
    struct Park<'a> {
        list: &'a WaitList,
    }

    impl WaitOp for Park<'_> {
        type Output = ();

        fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
            match me.status() {
                Status::Idle => {
                    assert!(self.list.lock().enqueue(me, 1, cx.waker(), Some));
                    Poll::Pending
                }
                Status::Waiting => {
                    let mut locked = self.list.lock();
                    match locked.mine(me) {
                        Some(mut mine) => {
                            mine.set_waker(cx.waker());
                            Poll::Pending
                        }
                        None => {
                            drop(locked);
                            self.poll(me, cx)
                        }
                    }
                }
                Status::Granted | Status::Closed => {
                    me.settle();
                    Poll::Ready(())
                }
            }
        }

        fn cancel(&mut self, me: &mut Waiter<'_>) {
            if me.status() == Status::Waiting && self.list.lock().remove(me).is_some() {
                return;
            }
            me.settle();
        }
    }

    fn park(list: &WaitList) -> Pin<Box<Waiting<Park<'_>>>> {
        Box::pin(Waiting::new(Park { list }))
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn poll(f: &mut Pin<Box<Waiting<Park<'_>>>>, waker: &Waker) -> Poll<()> {
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    fn waiters_bit(list: &WaitList) -> bool {
        list.state().load(SeqCst) & WAITERS != 0
    }

    fn len(list: &WaitList) -> usize {
        list.inner.lock().main.len
    }

    #[test]
    fn links_and_unlinks_anywhere_and_keeps_the_waiters_bit() {
        let list = WaitList::new(0, ());
        let (_, waker) = counter();
        let mut nodes: Vec<_> = (0..4).map(|_| park(&list)).collect();
        assert!(!waiters_bit(&list));
        for n in &mut nodes {
            assert!(poll(n, &waker).is_pending());
        }
        assert!(waiters_bit(&list));
        assert_eq!(len(&list), 4);
        drop(nodes.remove(1)); // middle
        drop(nodes.remove(2)); // tail
        drop(nodes.remove(0)); // head
        assert_eq!(len(&list), 1);
        assert!(waiters_bit(&list));
        drop(nodes);
        assert_eq!(len(&list), 0);
        assert!(!waiters_bit(&list));
        let inner = list.inner.lock();
        assert!(inner.main.head.is_none() && inner.main.tail.is_none());
    }

    /// `n` `Notified`s polled while the list's lock is held elsewhere:
    /// each finds it taken and is pushed on the incoming stack.
    fn pending_registrations(
        notify: &crate::Notify,
        n: usize,
    ) -> Vec<(Pin<Box<crate::Notified<'_>>>, Arc<Count>)> {
        let held = notify.list().inner.lock();
        let pending: Vec<_> = (0..n)
            .map(|_| {
                let (count, waker) = counter();
                let mut notified = Box::pin(notify.notified());
                let pending = notified.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(pending.is_pending());
                (notified, count)
            })
            .collect();
        drop(held);
        assert!(!notify.list().incoming.load(SeqCst).is_null());
        assert!(
            !waiters_bit(notify.list()),
            "a pending node counts as linked"
        );
        pending
    }

    /// Polls a `Notified` once with a no-op waker.
    fn poll_notified(notified: &mut Pin<Box<crate::Notified<'_>>>) -> Poll<()> {
        notified
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }

    fn wakes(pending: &[(Pin<Box<crate::Notified<'_>>>, Arc<Count>)]) -> Vec<usize> {
        pending.iter().map(|(_, c)| c.0.load(SeqCst)).collect()
    }

    /// Registrations that found the lock taken are settled oldest first:
    /// a permit stored meanwhile goes to the first of them, and the others
    /// are linked behind it in the order of their pushes.
    #[test]
    fn pending_registrations_are_settled_oldest_first() {
        let notify = crate::Notify::new();
        let mut pending = pending_registrations(&notify, 4);
        // Nobody is linked: the permit is stored without the lock, and its
        // re-check settles the stack.
        notify.notify_one();
        assert!(notify.list().incoming.load(SeqCst).is_null());
        assert_eq!(wakes(&pending), [1, 0, 0, 0]);
        assert_eq!(len(notify.list()), 3);
        for expected in [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]] {
            notify.notify_one();
            assert_eq!(wakes(&pending), expected);
        }
        for (notified, _) in &mut pending {
            assert!(poll_notified(notified).is_ready());
        }
        assert!(poll_notified(&mut Box::pin(notify.notified())).is_pending());
    }

    /// A settling holder cannot release the lock halfway through the
    /// stack, so it may release more than a batch of wakers: those beyond
    /// one spill, and every one is called once, after the unlock.
    #[test]
    fn settling_more_than_a_batch_wakes_every_pending_registration() {
        let notify = crate::Notify::new();
        let n = 3 * BATCH + 1;
        let mut pending = pending_registrations(&notify, n);
        // The generation moves without the lock (nobody is linked); the
        // re-check settles all of them against it, refusing every one.
        notify.notify_waiters();
        assert_eq!(wakes(&pending), vec![1; n]);
        assert_eq!(len(notify.list()), 0);
        assert!(!waiters_bit(notify.list()));
        for (notified, _) in &mut pending {
            assert!(poll_notified(notified).is_ready());
        }
    }

    /// An enabled registration that found the lock taken is refused by the
    /// permit a later `notify_one` stores (its re-check settles it): the
    /// node took the permit as a grant of `notify_one`, so dropping it
    /// unpolled passes the notification back, to the permit.
    #[test]
    fn a_pending_registration_granted_by_the_permit_passes_it_on_when_dropped() {
        let notify = crate::Notify::new();
        let mut enabled = Box::pin(notify.notified());
        {
            let _held = notify.list().inner.lock();
            assert!(!enabled.as_mut().enable(), "pending: not notified yet");
        }
        assert!(!notify.list().incoming.load(SeqCst).is_null());
        notify.notify_one();
        assert!(notify.list().incoming.load(SeqCst).is_null());
        drop(enabled);
        assert!(
            poll_notified(&mut Box::pin(notify.notified())).is_ready(),
            "the notification was lost with the dropped registration"
        );
    }

    /// A registration that finds the lock taken and is dropped before
    /// anybody settles it: its drop takes the lock, which settles it, and
    /// then unlinks it; nothing is left behind, and a later notification
    /// becomes the permit.
    #[test]
    fn a_pending_registration_dropped_before_it_is_settled() {
        let notify = crate::Notify::new();
        let pending = pending_registrations(&notify, 2);
        let counts: Vec<_> = pending.iter().map(|(_, c)| c.clone()).collect();
        drop(pending);
        assert!(notify.list().incoming.load(SeqCst).is_null());
        assert_eq!(len(notify.list()), 0);
        assert!(!waiters_bit(notify.list()));
        notify.notify_one();
        assert!(counts.iter().all(|c| c.0.load(SeqCst) == 0));
        assert!(poll_notified(&mut Box::pin(notify.notified())).is_ready());
    }

    #[test]
    fn notify_grants_first_come_first_served() {
        let list = WaitList::new(0, ());
        let counters: Vec<_> = (0..5).map(|_| counter()).collect();
        let mut nodes: Vec<_> = (0..5).map(|_| park(&list)).collect();
        for (n, (_, w)) in nodes.iter_mut().zip(&counters) {
            assert!(poll(n, w).is_pending());
        }
        assert_eq!(list.lock().notify(2), 2);
        let woken: Vec<_> = counters.iter().map(|(c, _)| c.0.load(SeqCst)).collect();
        assert_eq!(woken, [1, 1, 0, 0, 0]);
        assert!(poll(&mut nodes[0], &counters[0].1).is_ready());
        assert!(poll(&mut nodes[2], &counters[2].1).is_pending());
        assert_eq!(list.lock().notify(10), 3);
        assert!(!waiters_bit(&list));
    }

    #[test]
    fn a_re_poll_with_a_new_waker_replaces_the_old_one() {
        let list = WaitList::new(0, ());
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let mut n = park(&list);
        assert!(poll(&mut n, &w1).is_pending());
        assert!(poll(&mut n, &w1).is_pending()); // same waker: kept
        assert!(poll(&mut n, &w2).is_pending());
        list.lock().notify(1);
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (0, 1));
    }

    /// `Park` on a list in an `Arc`, so that futures can be `'static`.
    struct ParkOwned(Arc<WaitList>);

    impl WaitOp for ParkOwned {
        type Output = ();
        fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<()> {
            Park { list: &self.0 }.poll(me, cx)
        }
        fn cancel(&mut self, me: &mut Waiter<'_>) {
            Park { list: &self.0 }.cancel(me)
        }
    }

    type Parked = Pin<Box<Waiting<ParkOwned>>>;

    fn park_owned(list: &Arc<WaitList>) -> Parked {
        Box::pin(Waiting::new(ParkOwned(list.clone())))
    }

    fn poll_owned(f: &mut Parked, waker: &Waker) -> Poll<()> {
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    /// A waker that checks the list's lock is free when it is called.
    struct CheckUnlocked {
        list: Arc<WaitList>,
        calls: AtomicUsize,
        ok: AtomicBool,
    }

    impl Wake for CheckUnlocked {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            let free = self.list.inner.try_lock().is_some();
            self.ok.fetch_and(free, SeqCst);
            self.calls.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn wakers_are_called_outside_the_lock_in_batches() {
        let list = Arc::new(WaitList::new(0, ()));
        let check = Arc::new(CheckUnlocked {
            list: list.clone(),
            calls: AtomicUsize::new(0),
            ok: AtomicBool::new(true),
        });
        let waker = Waker::from(check.clone());
        let n = 3 * BATCH + 1;
        let mut nodes: Vec<_> = (0..n).map(|_| park_owned(&list)).collect();
        for node in &mut nodes {
            assert!(poll_owned(node, &waker).is_pending());
        }
        assert_eq!(list.lock().notify_all(), n);
        assert_eq!(check.calls.load(SeqCst), n);
        assert!(check.ok.load(SeqCst), "a waker ran with the lock held");
        for node in &mut nodes {
            assert!(poll_owned(node, &waker).is_ready());
        }
    }

    /// A waker that, the first time it is called, links `late`.
    struct LinkLate {
        late: std::sync::Mutex<Parked>,
        waker: Waker,
        done: AtomicBool,
    }

    impl Wake for LinkLate {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if !self.done.swap(true, SeqCst) {
                let mut late = self.late.lock().unwrap();
                assert!(poll_owned(&mut late, &self.waker).is_pending());
            }
        }
    }

    #[test]
    fn notify_all_skips_waiters_that_arrive_while_it_runs() {
        // The first batch's wakers run in the window between batches and
        // link a new waiter; `notify_all` must leave it waiting.
        let list = Arc::new(WaitList::new(0, ()));
        let (late_count, late_waker) = counter();
        let link_late = Arc::new(LinkLate {
            late: std::sync::Mutex::new(park_owned(&list)),
            waker: late_waker,
            done: AtomicBool::new(false),
        });
        let fire = Waker::from(link_late.clone());
        let n = BATCH + 1;
        let mut nodes: Vec<_> = (0..n).map(|_| park_owned(&list)).collect();
        for node in &mut nodes {
            assert!(poll_owned(node, &fire).is_pending());
        }
        assert_eq!(list.lock().notify_all(), n, "only the waiters from before");
        assert!(link_late.done.load(SeqCst));
        assert_eq!(late_count.0.load(SeqCst), 0, "the late waiter was woken");
        assert_eq!(len(&list), 1);
        assert_eq!(list.lock().notify_all(), 1);
        assert_eq!(late_count.0.load(SeqCst), 1);
    }

    #[test]
    fn enqueue_declines_when_the_state_no_longer_blocks() {
        let list = WaitList::new(0, ());
        let mut fut = Box::pin(Waiting::new(Park { list: &list }));
        // Poll through the op's `Waiter` by hand: admit says "not blocked".
        // SAFETY: (test only) we never move out of the pinned box.
        let this = unsafe { fut.as_mut().get_unchecked_mut() };
        let mut me = Waiter { node: &this.node };
        let linked = list.lock().enqueue(&mut me, 1, Waker::noop(), |_| None);
        assert!(!linked);
        assert_eq!(me.status(), Status::Idle);
        assert!(!waiters_bit(&list));
    }

    #[test]
    fn a_node_linked_in_another_list_is_not_mine_here() {
        let a = WaitList::new(0, ());
        let b = WaitList::new(0, ());
        let mut fut = park(&a);
        assert!(poll(&mut fut, Waker::noop()).is_pending());
        // SAFETY: (test only) we never move out of the pinned box.
        let this = unsafe { fut.as_mut().get_unchecked_mut() };
        let mut me = Waiter { node: &this.node };
        assert!(b.lock().mine(&me).is_none());
        assert!(b.lock().remove(&mut me).is_none());
        assert!(a.lock().mine(&me).is_some());
    }
}
