//! [`Condition`]: asyncio's `Condition`, used with a [`Lock`].

use core::fmt;
use core::task::{Context, Poll};

use crate::lock::{Lock, LockGuard};
use crate::loom::sync::atomic::Ordering::Acquire;
use crate::wait_list::{Status, WAITERS, WaitList, WaitOp, Waiter, wait_future};

/// A condition variable for tasks (asyncio's `Condition`): a task holding a
/// [`Lock`] waits, releasing the lock, until another task notifies it; it
/// then re-acquires the lock before [`wait`](Condition::wait) returns.
///
/// As with every condition variable, a woken task must re-check what it
/// waits for, since the state may have changed before it got the lock back:
/// [`wait_for`](Condition::wait_for) does the loop. Change the state and
/// notify while holding the lock, as asyncio requires, and no notification
/// can be missed: a task starts waiting before it releases the lock.
///
/// A `Condition` is not tied to one lock; each `wait` uses the lock of the
/// guard it is given.
///
/// # Fairness
///
/// Waiters are notified in the order they started waiting. After a
/// notification the lock is re-acquired with the lock's own policy.
///
/// # Cancellation
///
/// Dropping a [`ConditionWait`] at any point is safe. If it had been
/// notified and not yet seen it, the notification is passed to the next
/// waiter (as asyncio does), so `notify(1)` is never lost to a cancelled
/// task.
///
/// # Examples
///
/// ```
/// use magpie_sync::{Condition, Lock};
///
/// let items = Lock::new(Vec::new());
/// let nonempty = Condition::new();
/// futures::executor::block_on(async {
///     let consumer = async {
///         let guard = items.lock().await;
///         let mut guard = nonempty.wait_for(guard, |v| !v.is_empty()).await;
///         guard.pop().unwrap()
///     };
///     let producer = async {
///         items.lock().await.push(7);
///         nonempty.notify(1);
///     };
///     let (item, ()) = futures::join!(consumer, producer);
///     assert_eq!(item, 7);
/// });
/// ```
pub struct Condition {
    list: WaitList,
}

impl Condition {
    /// A condition nobody waits on.
    pub fn new() -> Self {
        Condition {
            list: WaitList::new(0, ()),
        }
    }

    /// Releases the lock `guard` holds, waits to be notified, re-acquires
    /// the lock and returns the new guard.
    ///
    /// The task is registered as a waiter before the lock is released.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Condition, Lock};
    ///
    /// let flag = Lock::new(false);
    /// let cond = Condition::new();
    /// futures::executor::block_on(async {
    ///     let waiter = async {
    ///         let mut guard = flag.lock().await;
    ///         while !*guard {
    ///             guard = cond.wait(guard).await;
    ///         }
    ///     };
    ///     let notifier = async {
    ///         *flag.lock().await = true;
    ///         cond.notify_all();
    ///     };
    ///     futures::join!(waiter, notifier);
    /// });
    /// ```
    pub fn wait<'a, T>(&'a self, guard: LockGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait::from_op(WaitOnCondition {
            cond: self,
            lock: guard.lock,
            guard: Some(guard),
            phase: Phase::Start,
        })
    }

    /// Waits until `predicate` returns `true` for the value: calls it with
    /// the lock held, and [`wait`](Condition::wait)s while it returns
    /// `false`. Returns the guard, with the lock held and the predicate
    /// true.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Condition, Lock};
    ///
    /// let count = Lock::new(0);
    /// let changed = Condition::new();
    /// futures::executor::block_on(async {
    ///     let waiter = async {
    ///         let guard = changed.wait_for(count.lock().await, |n| *n >= 3).await;
    ///         *guard
    ///     };
    ///     let bumper = async {
    ///         for _ in 0..3 {
    ///             *count.lock().await += 1;
    ///             changed.notify_all();
    ///         }
    ///     };
    ///     let (seen, ()) = futures::join!(waiter, bumper);
    ///     assert_eq!(seen, 3);
    /// });
    /// ```
    pub async fn wait_for<'a, T, F>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: F,
    ) -> LockGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while !predicate(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiters, longest-waiting first. Returns how many
    /// were woken.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = magpie_sync::Condition::new();
    /// assert_eq!(cond.notify(1), 0); // nobody waits
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        if n == 0 || self.list.state().load(Acquire) & WAITERS == 0 {
            return 0;
        }
        self.list.lock().notify(n)
    }

    /// Wakes every task waiting now. Returns how many were woken.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = magpie_sync::Condition::new();
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        if self.list.state().load(Acquire) & WAITERS == 0 {
            return 0;
        }
        self.list.lock().notify_all()
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self.list.state().load(Acquire) & WAITERS != 0;
        f.debug_struct("Condition")
            .field("has_waiters", &waiting)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Holding the guard; not registered yet.
    Start,
    /// Registered with the condition; the lock was released.
    Notify,
    /// Notified; waiting for the lock (the node is reused).
    Reacquire,
}

struct WaitOnCondition<'a, T> {
    cond: &'a Condition,
    lock: &'a Lock<T>,
    guard: Option<LockGuard<'a, T>>,
    phase: Phase,
}

impl<'a, T> WaitOp for WaitOnCondition<'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.phase {
                Phase::Start => {
                    let guard = self
                        .guard
                        .take()
                        .expect("`ConditionWait` polled after completion");
                    let mut locked = self.cond.list.lock();
                    let linked = locked.enqueue(me, 1, cx.waker(), Some);
                    invariant!(linked);
                    drop(locked);
                    // Registered: now the lock may go.
                    drop(guard);
                    self.phase = Phase::Notify;
                    return Poll::Pending;
                }
                Phase::Notify => match me.status() {
                    Status::Waiting => {
                        let mut locked = self.cond.list.lock();
                        if let Some(mut mine) = locked.mine(me) {
                            mine.set_waker(cx.waker());
                            return Poll::Pending;
                        }
                    }
                    Status::Granted | Status::Closed | Status::Idle => {
                        me.take_grant();
                        self.phase = Phase::Reacquire;
                    }
                },
                Phase::Reacquire => {
                    let lock = self.lock;
                    return lock
                        .cell
                        .poll_reacquire(me, 1, cx)
                        .map(|access| LockGuard::from_access(lock, access));
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        match self.phase {
            Phase::Start => {}
            Phase::Notify => {
                if me.status() == Status::Waiting && self.cond.list.lock().remove(me).is_some() {
                    return;
                }
                if me.take_grant().is_some() {
                    // Notified but never saw it: pass it on.
                    self.cond.notify(1);
                }
            }
            Phase::Reacquire => self.lock.cell.cancel(me),
        }
    }
}

wait_future! {
    /// The future returned by [`Condition::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Condition, ConditionWait, Lock};
    ///
    /// let lock = Lock::new(0);
    /// let cond = Condition::new();
    /// futures::executor::block_on(async {
    ///     let waiting: ConditionWait<'_, i32> = cond.wait(lock.lock().await);
    ///     let notify = async {
    ///         *lock.lock().await = 1;
    ///         cond.notify(1);
    ///     };
    ///     let (guard, ()) = futures::join!(waiting, notify);
    ///     assert_eq!(*guard, 1);
    /// });
    /// ```
    pub struct ConditionWait['a, T]['a, T](WaitOnCondition<'a, T>) -> LockGuard<'a, T>;
}
