//! The task state word: one `AtomicUsize` holding seven flags and a
//! reference count. Every transition of a task's life is one compare-and-swap (or one
//! read-modify-write) on this word, so any two parties racing on a task (a
//! waker, the worker polling it, the `JoinHandle`, the shutdown sweep) are
//! ordered by it.
//!
//! ```text
//!  63                               7   6   5   4   3   2   1   0
//! +----------------------------------+---+---+---+---+---+---+---+
//! |           reference count        | D | W | J | X | C | R | S |
//! +----------------------------------+---+---+---+---+---+---+---+
//!   S = SCHEDULED  R = RUNNING  C = COMPLETE  X = CANCELLED
//!   J = JOIN_INTEREST  W = JOIN_WAKER  D = DONE_CALLBACKS
//! ```
//!
//! # Who owns what
//!
//! * The **future** (the `Stage::Running` value) belongs to whoever set
//!   `RUNNING`: a worker polling it, or the party that cancels it. Nobody
//!   else touches it.
//! * The **output** (the `Stage::Finished` value) is written by the owner of
//!   `RUNNING` before it sets `COMPLETE`. It stays the completing party's
//!   until it is *handed off*: at `COMPLETE` if `DONE_CALLBACKS` is clear,
//!   otherwise when the completing party clears `DONE_CALLBACKS` after
//!   running the callbacks (which read the output in between). At the hand
//!   off it belongs to the `JoinHandle` if `JOIN_INTEREST` is set at that
//!   moment, otherwise to the completing party, which drops it at once.
//! * The **join waker** slot belongs to the `JoinHandle` while `JOIN_WAKER`
//!   is clear; while it is set the runtime may read it (to wake the joiner,
//!   right after the hand off) and the handle must not write it.
//! * The **done callbacks** (`JoinHandle::on_done`) are run by the party
//!   that completes the task while `DONE_CALLBACKS` is set, before the
//!   output is handed off; their protocol is written in `callbacks.rs`.
//!
//! # The reference count
//!
//! One reference for each: the `JoinHandle`, every `Waker`, every run-queue
//! entry (a [`Notified`](super::Notified)), and the runtime's list of
//! owned tasks. The allocation is freed when the count reaches zero.

use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::fmt;

/// The task is in a run queue, or is about to be put in one (a `Notified`
/// reference exists for it), or it was woken while `RUNNING` and the worker
/// will re-queue it when the poll returns. Never set together with
/// `COMPLETE` by a waker.
const SCHEDULED: usize = 1 << 0;

/// Somebody owns the future: a worker is polling it, or a canceller is
/// dropping it. Exclusive: only the party that set it may touch the future.
const RUNNING: usize = 1 << 1;

/// The future has been dropped and the stage holds the output or the
/// `JoinError`. Once set it is never cleared; `RUNNING` and `SCHEDULED` are
/// never set again (a stale run-queue entry seeing `COMPLETE` just drops its
/// reference).
const COMPLETE: usize = 1 << 2;

/// Cancellation was requested (by `JoinHandle::cancel`, a `TaskGroup`, or
/// runtime shutdown). The future is dropped at the next poll boundary by
/// whoever next owns `RUNNING`.
const CANCELLED: usize = 1 << 3;

/// The `JoinHandle` is alive, so the output must be kept for it.
const JOIN_INTEREST: usize = 1 << 4;

/// The join waker slot holds a waker and the runtime may read it. Cleared by
/// the handle before it replaces the waker, and by the runtime after it has
/// woken it at completion.
const JOIN_WAKER: usize = 1 << 5;

/// The done-callback queue holds callbacks that whoever completes the task
/// must run before the output is handed off. Set by `on_done` only while
/// the task is not complete; cleared only by the completing party after
/// running them. Both under the callback lock.
const DONE_CALLBACKS: usize = 1 << 6;

/// One reference.
const REF_ONE: usize = 1 << 7;

/// State of a fresh task: scheduled (its first run-queue entry), joinable,
/// and three references: the `JoinHandle`, the first run-queue entry and the
/// owned-tasks list.
const INITIAL: usize = SCHEDULED | JOIN_INTEREST | (3 * REF_ONE);

/// A snapshot of the state word, with named accessors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn has_done_callbacks(self) -> bool {
        self.0 & DONE_CALLBACKS != 0
    }
    /// The output has been handed off: the task is complete and its done
    /// callbacks (if any) have run.
    pub(crate) fn is_output_handed_off(self) -> bool {
        self.0 & (COMPLETE | DONE_CALLBACKS) == COMPLETE
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 / REF_ONE
    }
    fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("scheduled", &self.is_scheduled())
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("done_callbacks", &self.has_done_callbacks())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the worker should do with a run-queue entry it popped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// Cancellation was requested: drop the future instead of polling it.
    Cancel,
    /// The task already completed (it was cancelled by the shutdown sweep
    /// while this entry sat in a queue): just drop the entry's reference.
    Stale,
}

/// What happens after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nobody woke the task: the run-queue reference was released; if this
    /// was the last reference the caller must deallocate.
    Idle { dealloc: bool },
    /// The task was woken while it ran: re-queue it (yield semantics); the
    /// caller's run-queue reference becomes the new entry's, and the entry
    /// is handed back to whoever ran the task (see `Notified::run`).
    Rescheduled,
    /// Cancellation was requested while it ran: `RUNNING` is kept, drop the
    /// future now.
    Cancel,
}

/// What a waker must do after marking the task scheduled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToScheduled {
    /// Put the task in a run queue (a reference for the entry was taken;
    /// the caller's own reference must outlive the call that queues it).
    Submit,
    /// Nothing: it is already queued, running (it will be re-queued) or
    /// complete.
    Nothing,
    /// Nothing to queue, and the waker's own reference was the last one.
    Dealloc,
}

/// The state word itself.
pub(crate) struct State(AtomicUsize);

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Applies `f` in a compare-and-swap loop. `f` returns the new value (or
    /// `None` to leave the word unchanged) and a result; returns the result
    /// and the snapshot `f` decided on.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<usize>, R)) -> R {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, ret) = f(Snapshot(cur));
            let Some(next) = next else { return ret };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return ret,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A worker popped a run-queue entry: `SCHEDULED -> RUNNING`.
    ///
    /// An entry is only honoured while the task is scheduled and nobody
    /// owns its future. Anything else means the entry is stale: the
    /// shutdown sweep claimed `RUNNING` on the queued task (and is dropping
    /// its future right now, or did and set `COMPLETE`) while the entry sat
    /// in a queue that a worker past the shutdown deadline, or a blocking
    /// thread, still pops. Such an entry only releases its reference; the
    /// word is not touched, so no second owner of the future can appear.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            if !s.is_scheduled() || !s.is_idle() {
                return (None, ToRunning::Stale);
            }
            let next = (s.0 & !SCHEDULED) | RUNNING;
            let action = if s.is_cancelled() {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (Some(next), action)
        })
    }

    /// A poll returned `Pending`: `RUNNING -> idle`, unless the task was
    /// woken or cancelled meanwhile.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            invariant!(s.is_running(), "{s:?}");
            if s.is_cancelled() {
                return (None, ToIdle::Cancel);
            }
            if s.is_scheduled() {
                // The run-queue reference is reused for the new entry.
                return (Some(s.0 & !RUNNING), ToIdle::Rescheduled);
            }
            invariant!(s.ref_count() >= 1);
            let next = (s.0 & !RUNNING) - REF_ONE;
            (
                Some(next),
                ToIdle::Idle {
                    dealloc: Snapshot(next).ref_count() == 0,
                },
            )
        })
    }

    /// The future is gone and the output stored: `RUNNING -> COMPLETE`.
    /// Returns the snapshot before the transition (its `JOIN_INTEREST` and
    /// `JOIN_WAKER` bits decide who drops the output and who is woken).
    ///
    /// Idempotent by construction: it clears `RUNNING` and sets `COMPLETE`
    /// whatever they were (an `xor` would flip `COMPLETE` back off if it
    /// were ever applied twice). Only the owner of `RUNNING` calls it, and
    /// `transition_to_running` makes that owner unique.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = self.update(|s| (Some((s.0 & !RUNNING) | COMPLETE), s));
        invariant!(prev.is_running() && !prev.is_complete(), "{prev:?}");
        prev
    }

    /// `wake_by_ref`: mark scheduled; take a reference for the run-queue
    /// entry if the task must be submitted.
    pub(crate) fn transition_to_scheduled_by_ref(&self) -> ToScheduled {
        self.update(|s| {
            if s.is_complete() || s.is_scheduled() {
                return (None, ToScheduled::Nothing);
            }
            if s.is_running() {
                return (Some(s.0 | SCHEDULED), ToScheduled::Nothing);
            }
            (Some((s.0 | SCHEDULED) + REF_ONE), ToScheduled::Submit)
        })
    }

    /// `wake` (by value): like [`Self::transition_to_scheduled_by_ref`], but
    /// the waker's own reference is released here when there is nothing to
    /// submit. On `Submit` a reference for the entry is taken and the
    /// waker's is kept: the caller releases it once the entry is queued, so
    /// that the task (and the scheduler inside it) outlives the call to
    /// `Schedule::schedule` even if a worker runs the entry to completion
    /// meanwhile.
    pub(crate) fn transition_to_scheduled_by_val(&self) -> ToScheduled {
        self.update(|s| {
            if !s.is_idle() || s.is_scheduled() {
                invariant!(s.ref_count() >= 1);
                let mut next = s.0 - REF_ONE;
                if s.is_running() {
                    next |= SCHEDULED;
                }
                let action = if Snapshot(next).ref_count() == 0 {
                    ToScheduled::Dealloc
                } else {
                    ToScheduled::Nothing
                };
                return (Some(next), action);
            }
            (Some((s.0 | SCHEDULED) + REF_ONE), ToScheduled::Submit)
        })
    }

    /// `JoinHandle::cancel`: request cancellation. Returns `true` if the task
    /// was idle and must be submitted so that a worker drops the future (a
    /// reference for the run-queue entry is taken).
    pub(crate) fn transition_to_cancelled(&self) -> bool {
        self.update(|s| {
            if s.is_complete() || s.is_cancelled() {
                return (None, false);
            }
            if s.is_running() || s.is_scheduled() {
                return (Some(s.0 | CANCELLED), false);
            }
            (Some((s.0 | CANCELLED | SCHEDULED) + REF_ONE), true)
        })
    }

    /// Runtime shutdown: request cancellation and, if nobody owns the future,
    /// claim it (`RUNNING`) so the caller can drop it right here. Returns
    /// whether the caller now owns the future.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s.is_complete() {
                return (None, false);
            }
            if s.is_running() {
                return (Some(s.0 | CANCELLED), false);
            }
            (Some(s.0 | CANCELLED | RUNNING), true)
        })
    }

    /// Takes one more reference (a waker clone).
    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        // A count this large can only come from leaked wakers; wrapping would
        // free a live task, so stop the process instead.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Releases `n` references; returns `true` if they were the last ones.
    pub(crate) fn ref_dec(&self, n: usize) -> bool {
        let prev = Snapshot(self.0.fetch_sub(n * REF_ONE, AcqRel));
        invariant!(prev.ref_count() >= n, "{prev:?} - {n}");
        prev.ref_count() == n
    }

    /// The `JoinHandle` installs its waker: sets `JOIN_WAKER` unless the
    /// output was handed off meanwhile. `Err` carries the snapshot showing
    /// it.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            invariant!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_output_handed_off() {
                return (None, Err(s));
            }
            (Some(s.0 | JOIN_WAKER), Ok(()))
        })
    }

    /// The `JoinHandle` wants to replace its waker: clears `JOIN_WAKER`
    /// (taking the slot back) unless the output was handed off meanwhile.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            if s.is_output_handed_off() {
                // The runtime may have woken the joiner and cleared the bit
                // already (`unset_join_waker_after_complete`).
                return (None, Err(s));
            }
            invariant!(s.is_join_interested() && s.is_join_waker_set(), "{s:?}");
            (Some(s.0 & !JOIN_WAKER), Ok(()))
        })
    }

    /// `on_done` queued the first callback (under the callback lock): sets
    /// `DONE_CALLBACKS` unless the task completed meanwhile (the output was
    /// then handed off at `COMPLETE`, and the caller runs the callback
    /// itself). `Err` carries the snapshot showing `COMPLETE`.
    pub(crate) fn set_done_callbacks(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            invariant!(!s.has_done_callbacks());
            if s.is_complete() {
                return (None, Err(s));
            }
            (Some(s.0 | DONE_CALLBACKS), Ok(()))
        })
    }

    /// The completing party ran the done callbacks: hands the output off.
    /// Returns the snapshot before, whose `JOIN_INTEREST` and `JOIN_WAKER`
    /// decide what happens to the output.
    pub(crate) fn hand_off_after_callbacks(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_and(!DONE_CALLBACKS, AcqRel));
        invariant!(prev.is_complete() && prev.has_done_callbacks());
        prev
    }

    /// The runtime has woken the joiner after completion: hands the slot back
    /// by clearing `JOIN_WAKER`. Returns the snapshot before; if
    /// `JOIN_INTEREST` is already gone, the handle was dropped and left the
    /// waker for the runtime to drop.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_and(!JOIN_WAKER, AcqRel));
        invariant!(prev.is_complete() && prev.is_join_waker_set());
        prev
    }

    /// The `JoinHandle` is dropped: clears `JOIN_INTEREST` and, if the
    /// output was not handed off yet, also `JOIN_WAKER` (taking the slot back
    /// so the handle can drop its waker). Returns the snapshot before.
    pub(crate) fn drop_join_interest(&self) -> Snapshot {
        self.update(|s| {
            invariant!(s.is_join_interested());
            let next = if s.is_output_handed_off() {
                s.0 & !JOIN_INTEREST
            } else {
                s.0 & !(JOIN_INTEREST | JOIN_WAKER)
            };
            (Some(next), s)
        })
    }

    /// Fast path of dropping a `JoinHandle` while the task is still queued
    /// for its first poll: one CAS that clears `JOIN_INTEREST` and releases
    /// the handle's reference.
    pub(crate) fn drop_join_handle_fast(&self) -> bool {
        self.0
            .compare_exchange(INITIAL, INITIAL - JOIN_INTEREST - REF_ONE, Release, Relaxed)
            .is_ok()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn done_callbacks_hold_back_the_output_until_handed_off() {
        let st = State::new();
        st.transition_to_running();
        assert!(st.set_done_callbacks().is_ok());
        let prev = st.transition_to_complete();
        assert!(prev.has_done_callbacks());
        let s = st.load();
        assert!(s.is_complete() && !s.is_output_handed_off());
        // The handle can still install a waker.
        assert!(st.set_join_waker().is_ok());
        let prev = st.hand_off_after_callbacks();
        assert!(prev.is_join_waker_set() && prev.is_join_interested());
        assert!(st.load().is_output_handed_off());
        assert!(st.unset_join_waker().is_err());
    }

    #[test]
    fn done_callbacks_cannot_be_set_after_complete() {
        let st = State::new();
        st.transition_to_running();
        st.transition_to_complete();
        assert!(st.set_done_callbacks().is_err());
    }

    #[test]
    fn dropping_the_handle_during_callbacks_leaves_the_output_to_the_runtime() {
        let st = State::new();
        st.transition_to_running();
        st.set_done_callbacks().unwrap();
        st.transition_to_complete();
        let prev = st.drop_join_interest();
        assert!(!prev.is_output_handed_off());
        let prev = st.hand_off_after_callbacks();
        assert!(!prev.is_join_interested(), "the runtime drops the output");
    }

    #[test]
    fn fresh_task_is_scheduled_joinable_with_three_refs() {
        let s = State::new().load();
        assert!(s.is_scheduled() && s.is_join_interested());
        assert!(!s.is_running() && !s.is_complete() && !s.is_cancelled());
        assert_eq!(s.ref_count(), 3);
    }

    #[test]
    fn wake_while_running_reschedules_after_poll() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_scheduled_by_ref(), ToScheduled::Nothing);
        assert_eq!(st.transition_to_idle(), ToIdle::Rescheduled);
        assert!(st.load().is_scheduled());
        assert_eq!(st.load().ref_count(), 3);
    }

    #[test]
    fn idle_wake_by_ref_takes_a_reference() {
        let st = State::new();
        st.transition_to_running();
        assert_eq!(st.transition_to_idle(), ToIdle::Idle { dealloc: false });
        assert_eq!(st.load().ref_count(), 2);
        assert_eq!(st.transition_to_scheduled_by_ref(), ToScheduled::Submit);
        assert_eq!(st.load().ref_count(), 3);
        assert_eq!(st.transition_to_scheduled_by_ref(), ToScheduled::Nothing);
    }

    #[test]
    fn cancel_of_idle_task_submits_it_and_run_sees_cancel() {
        let st = State::new();
        st.transition_to_running();
        st.transition_to_idle();
        assert!(st.transition_to_cancelled());
        assert!(!st.transition_to_cancelled(), "second cancel is a no-op");
        assert_eq!(st.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn cancel_while_running_is_seen_at_the_poll_boundary() {
        let st = State::new();
        st.transition_to_running();
        assert!(!st.transition_to_cancelled());
        assert_eq!(st.transition_to_idle(), ToIdle::Cancel);
        assert!(st.load().is_running());
    }

    #[test]
    fn entry_popped_while_the_sweep_owns_the_future_is_stale() {
        let st = State::new();
        assert!(st.transition_to_shutdown());
        let before = st.load();
        // The queued entry is popped while the sweep drops the future.
        assert_eq!(st.transition_to_running(), ToRunning::Stale);
        assert_eq!(st.load(), before, "a stale entry leaves the word alone");
        let prev = st.transition_to_complete();
        assert!(prev.is_running() && !prev.is_complete());
        assert!(st.load().is_complete() && !st.load().is_running());
    }

    #[test]
    fn wake_by_val_submit_keeps_the_wakers_reference() {
        let st = State::new();
        st.transition_to_running();
        st.transition_to_idle();
        st.ref_inc(); // the waker
        let before = st.load().ref_count();
        assert_eq!(st.transition_to_scheduled_by_val(), ToScheduled::Submit);
        assert_eq!(st.load().ref_count(), before + 1);
    }

    #[test]
    fn stale_entry_after_shutdown_sweep() {
        let st = State::new();
        assert!(st.transition_to_shutdown());
        let prev = st.transition_to_complete();
        assert!(prev.is_scheduled());
        assert_eq!(st.transition_to_running(), ToRunning::Stale);
    }

    #[test]
    fn wake_by_val_on_complete_task_releases_the_reference() {
        let st = State::new();
        st.transition_to_running();
        st.transition_to_complete();
        st.ref_inc();
        let before = st.load().ref_count();
        assert_eq!(st.transition_to_scheduled_by_val(), ToScheduled::Nothing);
        assert_eq!(st.load().ref_count(), before - 1);
    }

    #[test]
    fn join_waker_cannot_be_set_after_complete() {
        let st = State::new();
        st.transition_to_running();
        st.transition_to_complete();
        assert!(st.set_join_waker().is_err());
    }

    #[test]
    fn fast_join_handle_drop_only_from_initial_state() {
        let st = State::new();
        assert!(st.drop_join_handle_fast());
        let s = st.load();
        assert!(!s.is_join_interested());
        assert_eq!(s.ref_count(), 2);
        assert!(!st.drop_join_handle_fast());
    }
}
