//! The cooperative budget: a task whose operations keep completing at once
//! is made to yield.
//!
//! A future that loops on operations that never wait (`lock().await` on an
//! uncontended [`Lock`](crate::Lock), `get().await` on a [`Queue`](crate::Queue)
//! that always has items) never returns `Pending`, so it never gives its
//! thread back to the executor, and the tasks queued behind it starve. The
//! budget bounds that: an executor gives each poll of a task a budget of
//! operations ([`budget`]); every operation of the primitives that is about
//! to complete without waiting spends one unit ([`poll_proceed`]); once the
//! budget is spent, the operation wakes its task and returns `Pending`
//! instead, so the task goes to the back of its executor's queue, and
//! resumes where it was at its next poll.
//!
//! This module is runtime-agnostic: the budget is a thread-local that any
//! executor may drive, and where nobody drives it (`futures::executor`,
//! tokio, smol, a plain `poll` by hand), it is *unconstrained* and every
//! call here is a no-op. magpie's task harness, `JoinHandle` and `block_on`
//! drive it; another executor can do the same by wrapping each poll of a
//! task in [`budget`].
//!
//! # What counts
//!
//! * An operation that *completes* spends one unit: it took its lock,
//!   permits or item, or saw its event set, without waiting.
//! * An operation that has to wait spends nothing: its unit is given back
//!   when it returns `Pending` (the [`Proceed`] guard), so only completed
//!   operations count.
//! * An operation that waited and was then granted (woken with the lock,
//!   the permits, the item) completes without consulting the budget: it has
//!   yielded already, and it never refuses what it was handed.
//! * The `try_*` methods never consult it, nor does `Condition::wait`
//!   (it always waits).
//!
//! The budget is checked *before* an operation takes or registers
//! anything, so a refused operation leaves no state behind: nothing to
//! hand back, no waiter linked, no wakeup owed.
//!
//! # Nesting
//!
//! [`budget`] saves the budget it finds and restores it on the way out
//! (also when unwinding), so executors nest: `block_on` inside a poll, or a
//! task's future that drives futures of its own. An executor nested inside
//! a budgeted poll that does *not* drive the budget (say
//! `futures::executor::block_on` called inside a magpie task) would see
//! the outer budget, and once it is spent, every operation would be
//! refused and re-polled at once, forever. To rule that livelock out, a
//! poll whose budget is spent lets one operation through after every
//! [`REFUSALS`] refusals: a looping task still yields (its next operation
//! is refused again), and a nested executor still makes progress, slowly.
//! An executor that does not want budgeting inside it can say so with
//! [`unconstrained`].
//!
//! # Cost
//!
//! One thread-local access per operation, no atomics; an unconstrained
//! budget costs a load and a compare.
//!
//! # Examples
//!
//! An executor that drives the budget wraps each poll of a task:
//!
//! ```
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//! use magpie_sync::{coop, Queue};
//!
//! let queue = Queue::unbounded();
//! for i in 0..1000 {
//!     queue.try_put(i).unwrap();
//! }
//! let mut task = pin!(async {
//!     for _ in 0..1000 {
//!         queue.get().await.unwrap();
//!     }
//! });
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut polls = 1;
//! while coop::budget(coop::DEFAULT_BUDGET, || task.as_mut().poll(&mut cx)).is_pending() {
//!     polls += 1;
//! }
//! // 1000 gets, at most 128 per poll.
//! assert_eq!(polls, 8);
//! ```

use core::cell::Cell;
use core::task::{Context, Poll};

/// The budget magpie gives each poll of a task: 128 operations, as tokio's
/// coop does.
///
/// # Examples
///
/// ```
/// assert_eq!(magpie_sync::coop::DEFAULT_BUDGET, 128);
/// ```
pub const DEFAULT_BUDGET: u32 = 128;

/// After this many refusals within one spent budget, one operation is let
/// through (see [Nesting](self#nesting)).
///
/// # Examples
///
/// ```
/// assert!(magpie_sync::coop::REFUSALS >= 1);
/// ```
pub const REFUSALS: u32 = 64;

/// The value of [`Budget::remaining`] that means "nobody drives the budget".
const UNCONSTRAINED: u32 = u32::MAX;

/// The per-thread budget.
struct Budget {
    /// Units left in this poll, or `UNCONSTRAINED`.
    remaining: Cell<u32>,
    /// Refusals since the budget was spent (or since the last operation
    /// let through); see "Nesting".
    refused: Cell<u32>,
}

impl Budget {
    const fn new() -> Self {
        Budget {
            remaining: Cell::new(UNCONSTRAINED),
            refused: Cell::new(0),
        }
    }
}

#[cfg(not(loom))]
crate::loom::thread_local! {
    static BUDGET: Budget = const { Budget::new() };
}

#[cfg(loom)]
crate::loom::thread_local! {
    static BUDGET: Budget = Budget::new();
}

/// Restores the saved budget when a scope ends, also when unwinding.
struct Restore {
    remaining: u32,
    refused: u32,
}

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        let (remaining, refused) = (self.remaining, self.refused);
        let _ = BUDGET.try_with(|b| {
            b.remaining.set(remaining);
            b.refused.set(refused);
        });
    }
}

#[inline]
fn scope<R>(remaining: u32, f: impl FnOnce() -> R) -> R {
    let saved = BUDGET.try_with(|b| Restore {
        remaining: b.remaining.replace(remaining),
        refused: b.refused.replace(0),
    });
    let result = f();
    drop(saved);
    result
}

/// Runs `f` with a budget of `n` operations on this thread, then restores
/// the budget that was in force before (when `f` returns or unwinds).
///
/// An executor calls it around each poll of a task. `n` is clamped below
/// `u32::MAX`; a budget of 0 refuses every operation (a task polled only
/// with it never completes one).
///
/// # Examples
///
/// ```
/// use magpie_sync::coop;
///
/// assert_eq!(coop::remaining(), None); // nobody drives it here
/// coop::budget(3, || {
///     assert_eq!(coop::remaining(), Some(3));
///     coop::budget(1, || assert_eq!(coop::remaining(), Some(1)));
///     assert_eq!(coop::remaining(), Some(3)); // the outer one is back
/// });
/// assert_eq!(coop::remaining(), None);
/// ```
#[inline]
pub fn budget<R>(n: u32, f: impl FnOnce() -> R) -> R {
    scope(n.min(UNCONSTRAINED - 1), f)
}

/// Runs `f` with no budget on this thread (every operation proceeds), then
/// restores the budget that was in force before.
///
/// For an executor nested inside a budgeted poll that does not want the
/// outer task's budget to apply to the futures it drives, or for code that
/// must not be made to yield.
///
/// # Examples
///
/// ```
/// use magpie_sync::coop;
///
/// coop::budget(0, || {
///     assert_eq!(coop::remaining(), Some(0));
///     coop::unconstrained(|| assert_eq!(coop::remaining(), None));
///     assert_eq!(coop::remaining(), Some(0));
/// });
/// ```
#[inline]
pub fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    scope(UNCONSTRAINED, f)
}

/// The units left in this thread's budget, or `None` if nobody drives it
/// (unconstrained).
///
/// # Examples
///
/// ```
/// use magpie_sync::coop;
///
/// assert_eq!(coop::remaining(), None);
/// assert_eq!(coop::budget(5, coop::remaining), Some(5));
/// ```
pub fn remaining() -> Option<u32> {
    BUDGET
        .try_with(|b| b.remaining.get())
        .ok()
        .filter(|&r| r != UNCONSTRAINED)
}

/// Asks to complete an operation without waiting.
///
/// With budget left (or none driven), spends one unit and returns
/// `Ready` with a [`Proceed`] guard: call [`Proceed::made_progress`] if the
/// operation completes; if it returns `Pending` instead, dropping the guard
/// gives the unit back. With the budget spent, wakes `cx.waker()` (by
/// reference) and returns `Pending`: return `Pending` at once, having taken
/// and registered nothing, and the task will be polled again after the
/// others had their turn.
///
/// Call it before the operation takes anything, and only on an
/// operation's first poll: a future that waited and was granted must not
/// consult it.
///
/// # Examples
///
/// A future of your own that completes at once, made to respect the
/// budget:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker, ready};
/// use magpie_sync::coop;
///
/// struct Ready;
///
/// impl Future for Ready {
///     type Output = ();
///     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
///         let proceed = ready!(coop::poll_proceed(cx));
///         proceed.made_progress();
///         Poll::Ready(())
///     }
/// }
///
/// let mut cx = Context::from_waker(Waker::noop());
/// coop::budget(1, || {
///     assert!(Pin::new(&mut Ready).poll(&mut cx).is_ready());
///     assert!(Pin::new(&mut Ready).poll(&mut cx).is_pending()); // spent
/// });
/// assert!(Pin::new(&mut Ready).poll(&mut cx).is_ready()); // unconstrained
/// ```
#[inline(always)]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<Proceed> {
    let spent = BUDGET.try_with(|b| {
        let r = b.remaining.get();
        if r == UNCONSTRAINED {
            Some(false)
        } else if r > 0 {
            b.remaining.set(r - 1);
            Some(true)
        } else {
            refuse(b)
        }
    });
    match spent {
        Ok(Some(spent)) => Poll::Ready(Proceed { spent }),
        // No thread-local (the thread is being torn down): unconstrained.
        Err(_) => Poll::Ready(Proceed { spent: false }),
        Ok(None) => refused(cx),
    }
}

/// Wakes the task (it is to be polled again after the others) and refuses.
#[cold]
#[inline(never)]
fn refused(cx: &mut Context<'_>) -> Poll<Proceed> {
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// The budget is spent: refuse, except once every `REFUSALS` refusals.
#[cold]
#[inline(never)]
fn refuse(b: &Budget) -> Option<bool> {
    let refused = b.refused.get() + 1;
    if refused > REFUSALS {
        b.refused.set(0);
        Some(false)
    } else {
        b.refused.set(refused);
        None
    }
}

/// Permission to complete an operation, from [`poll_proceed`].
///
/// Dropped without [`made_progress`](Self::made_progress), it gives its
/// unit back: the operation had to wait after all.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use magpie_sync::coop;
///
/// let mut cx = Context::from_waker(Waker::noop());
/// coop::budget(2, || {
///     let Poll::Ready(proceed) = coop::poll_proceed(&mut cx) else { panic!() };
///     assert_eq!(coop::remaining(), Some(1));
///     drop(proceed); // the operation waited: the unit comes back
///     assert_eq!(coop::remaining(), Some(2));
///     let Poll::Ready(proceed) = coop::poll_proceed(&mut cx) else { panic!() };
///     proceed.made_progress(); // it completed: the unit stays spent
///     assert_eq!(coop::remaining(), Some(1));
/// });
/// ```
#[derive(Debug)]
#[must_use = "call `made_progress` when the operation completes; dropping the guard gives the unit back"]
pub struct Proceed {
    spent: bool,
}

impl Proceed {
    /// The operation completed: the unit stays spent.
    #[inline]
    pub fn made_progress(mut self) {
        self.spent = false;
    }
}

impl Drop for Proceed {
    #[inline]
    fn drop(&mut self) {
        if self.spent {
            give_back();
        }
    }
}

#[cold]
#[inline(never)]
fn give_back() {
    let _ = BUDGET.try_with(|b| {
        let r = b.remaining.get();
        // Only inside the scope that lent it (scopes nest, so it is).
        if r < UNCONSTRAINED - 1 {
            b.remaining.set(r + 1);
        }
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::task::Waker;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn unconstrained_by_default_and_spends_nothing() {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..1000 {
            match poll_proceed(&mut cx) {
                Poll::Ready(p) => p.made_progress(),
                Poll::Pending => panic!("refused with no budget driven"),
            }
        }
        assert_eq!(remaining(), None);
    }

    #[test]
    fn a_spent_budget_wakes_and_refuses() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        budget(2, || {
            for _ in 0..2 {
                let Poll::Ready(p) = poll_proceed(&mut cx) else {
                    panic!("refused early")
                };
                p.made_progress();
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert_eq!(count.0.load(SeqCst), 1, "woken by ref once");
        });
    }

    #[test]
    fn a_pending_operation_gives_its_unit_back() {
        let mut cx = Context::from_waker(Waker::noop());
        budget(1, || {
            for _ in 0..10 {
                let Poll::Ready(p) = poll_proceed(&mut cx) else {
                    panic!("refused")
                };
                drop(p);
            }
            assert_eq!(remaining(), Some(1));
        });
    }

    #[test]
    fn restored_after_a_panic() {
        let r = std::panic::catch_unwind(|| budget(3, || panic!("boom")));
        assert!(r.is_err());
        assert_eq!(remaining(), None);
    }

    #[test]
    fn one_operation_in_refusals_gets_through_a_spent_budget() {
        let mut cx = Context::from_waker(Waker::noop());
        budget(0, || {
            let mut through = 0;
            for _ in 0..(REFUSALS + 1) * 3 {
                if let Poll::Ready(p) = poll_proceed(&mut cx) {
                    p.made_progress();
                    through += 1;
                }
            }
            assert_eq!(through, 3);
        });
    }

    #[test]
    fn a_nested_scope_starts_afresh_and_the_outer_resumes() {
        let mut cx = Context::from_waker(Waker::noop());
        budget(1, || {
            let Poll::Ready(p) = poll_proceed(&mut cx) else {
                panic!()
            };
            p.made_progress();
            assert!(poll_proceed(&mut cx).is_pending());
            budget(1, || assert!(poll_proceed(&mut cx).is_ready()));
            // The outer budget is still spent, its refusal count intact.
            assert!(poll_proceed(&mut cx).is_pending());
        });
    }
}
