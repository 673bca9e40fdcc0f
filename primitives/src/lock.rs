//! [`Lock`]: asyncio's `Lock`, holding the value it protects.

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::task::{Context, Poll};
use std::sync::Arc;

use crate::data::{Access, Exclusive, Guarded};
use crate::error::TryLockError;
use crate::fairness::Fairness;
use crate::wait_list::{WaitOp, Waiter, wait_future};

/// An async mutual-exclusion lock that owns the value it protects
/// (asyncio's `Lock`).
///
/// [`lock`](Lock::lock) waits until the lock is free and returns a
/// [`LockGuard`]; the value is reached through the guard, and the lock is
/// released when the guard is dropped. Unlike a blocking mutex, waiting
/// yields to the executor, and a guard may be held across `.await`.
///
/// # Fairness
///
/// [`Lock::new`] makes an **eventually fair** lock ([`Fairness::Eventual`]):
/// a task that asks for a free lock gets it even if others are waiting, and
/// the first waiter is woken to retry; a waiter overtaken 8 times or for
/// 0.5 ms is handed the lock directly (and the lock then hands off in FIFO
/// order until nobody waits), so none starves. With short critical
/// sections under contention this is faster than strict hand-off (12% on
/// the contended-lock bench in `docs/primitives.md`), because the task that
/// releases the lock can take it again without a task switch; when waiters
/// pile up it hands off like a strict lock.
/// [`Lock::with_fairness`]`(value, Fairness::Strict)` gives strict FIFO
/// hand-off instead (tokio's and asyncio's policy).
///
/// # Cancellation
///
/// Dropping a [`LockFuture`] at any point is safe: if the lock had already
/// been handed to it, it is passed to the next waiter.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use magpie_sync::Lock;
///
/// futures::executor::block_on(async {
///     let counter = Arc::new(Lock::new(0));
///     let mut tasks = Vec::new();
///     for _ in 0..4 {
///         let counter = counter.clone();
///         tasks.push(async move {
///             for _ in 0..100 {
///                 *counter.lock().await += 1;
///             }
///         });
///     }
///     futures::future::join_all(tasks).await;
///     assert_eq!(*counter.lock().await, 400);
/// });
/// ```
pub struct Lock<T> {
    pub(crate) cell: Guarded<T, Exclusive>,
}

impl<T> Lock<T> {
    /// An unlocked, eventually fair lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::Lock::new(5);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new(value: T) -> Self {
        Lock::with_fairness(value, Fairness::Eventual)
    }

    /// An unlocked lock holding `value`, with the given policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fairness, Lock};
    ///
    /// let lock = Lock::with_fairness(vec![1], Fairness::Strict);
    /// assert_eq!(lock.fairness(), Fairness::Strict);
    /// ```
    pub fn with_fairness(value: T, fairness: Fairness) -> Self {
        Lock {
            cell: Guarded::new(value, fairness),
        }
    }

    /// Waits for the lock and returns a guard that releases it on drop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::Lock::new(String::new());
    /// futures::executor::block_on(async {
    ///     lock.lock().await.push_str("hello");
    ///     assert_eq!(*lock.lock().await, "hello");
    /// });
    /// ```
    #[inline]
    pub fn lock(&self) -> LockFuture<'_, T> {
        LockFuture::from_op(LockOp { lock: self })
    }

    /// Like [`lock`](Lock::lock), for a lock in an [`Arc`]; the guard keeps
    /// the `Arc` and has no lifetime, so it can be moved into a spawned
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use magpie_sync::Lock;
    ///
    /// let lock = Arc::new(Lock::new(1));
    /// let guard = futures::executor::block_on(lock.clone().lock_owned());
    /// assert_eq!(*guard, 1);
    /// ```
    pub fn lock_owned(self: Arc<Self>) -> OwnedLockFuture<T> {
        OwnedLockFuture::from_op(OwnedLockOp { lock: Some(self) })
    }

    /// Takes the lock if that needs no waiting.
    ///
    /// Under eventual fairness this succeeds whenever the lock is free;
    /// under strict fairness it also fails while others wait for it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::Lock::new(0);
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_err());
    /// drop(guard);
    /// assert!(lock.try_lock().is_ok());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Result<LockGuard<'_, T>, TryLockError> {
        match self.cell.try_acquire(1) {
            Some(access) => Ok(LockGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// Like [`try_lock`](Lock::try_lock), for a lock in an [`Arc`].
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(magpie_sync::Lock::new(0));
    /// let guard = lock.clone().try_lock_owned().unwrap();
    /// assert!(lock.clone().try_lock_owned().is_err());
    /// ```
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedLockGuard<T>, TryLockError> {
        match self.cell.try_acquire(1) {
            Some(access) => Ok(OwnedLockGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// Whether a guard exists right now (a snapshot, for diagnostics).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::Lock::new(());
    /// let _guard = lock.try_lock().unwrap();
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.cell.available() == 0
    }

    /// The fairness policy.
    pub fn fairness(&self) -> Fairness {
        self.cell.fairness()
    }

    /// The value, through `&mut self`: no locking is needed, since nobody
    /// else can hold a guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = magpie_sync::Lock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(magpie_sync::Lock::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.cell.into_inner()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_lock() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.field("fairness", &self.fairness()).finish()
    }
}

struct LockOp<'a, T> {
    lock: &'a Lock<T>,
}

impl<'a, T> WaitOp for LockOp<'a, T> {
    type Output = LockGuard<'a, T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        match lock.cell.poll_acquire(me, 1, cx) {
            Poll::Ready(access) => Poll::Ready(LockGuard { lock, access }),
            Poll::Pending => Poll::Pending,
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.lock.cell.cancel(me);
    }
}

struct OwnedLockOp<T> {
    lock: Option<Arc<Lock<T>>>,
}

impl<T> WaitOp for OwnedLockOp<T> {
    type Output = OwnedLockGuard<T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self
            .lock
            .as_ref()
            .expect("`OwnedLockFuture` polled after completion");
        match lock.cell.poll_acquire(me, 1, cx) {
            Poll::Ready(access) => {
                let lock = self.lock.take().expect("checked above");
                Poll::Ready(OwnedLockGuard { lock, access })
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if let Some(lock) = &self.lock {
            lock.cell.cancel(me);
        }
    }
}

wait_future! {
    /// The future returned by [`Lock::lock`]. Dropping it gives up its place
    /// in line (and passes the lock on if it had just been handed to it).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Lock, LockFuture};
    ///
    /// let lock = Lock::new(1);
    /// let fut: LockFuture<'_, i32> = lock.lock();
    /// assert_eq!(*futures::executor::block_on(fut), 1);
    /// ```
    pub struct LockFuture['a, T]['a, T](LockOp<'a, T>) -> LockGuard<'a, T>;
}

wait_future! {
    /// The future returned by [`Lock::lock_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use magpie_sync::{Lock, OwnedLockFuture};
    ///
    /// let fut: OwnedLockFuture<i32> = Arc::new(Lock::new(1)).lock_owned();
    /// assert_eq!(*futures::executor::block_on(fut), 1);
    /// ```
    pub struct OwnedLockFuture[T][T](OwnedLockOp<T>) -> OwnedLockGuard<T>;
}

/// Access to the value of a [`Lock`]; the lock is released when it is
/// dropped.
///
/// # Examples
///
/// ```
/// let lock = magpie_sync::Lock::new(vec![1, 2]);
/// futures::executor::block_on(async {
///     let mut guard = lock.lock().await;
///     guard.push(3);
///     assert_eq!(guard.len(), 3);
/// }); // released here
/// assert!(!lock.is_locked());
/// ```
pub struct LockGuard<'a, T> {
    pub(crate) lock: &'a Lock<T>,
    access: Access<T, Exclusive>,
}

impl<'a, T> LockGuard<'a, T> {
    pub(crate) fn from_access(lock: &'a Lock<T>, access: Access<T, Exclusive>) -> Self {
        LockGuard { lock, access }
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.access.get(&self.lock.cell)
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.access.get_mut(&self.lock.cell)
    }
}

impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.cell.release(&mut self.access);
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Access to the value of a [`Lock`] in an [`Arc`]: a [`LockGuard`] that
/// owns a reference to its lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(magpie_sync::Lock::new(0));
/// futures::executor::block_on(async {
///     let mut guard = lock.clone().lock_owned().await;
///     *guard += 1;
///     assert!(Arc::ptr_eq(guard.lock(), &lock));
/// });
/// ```
pub struct OwnedLockGuard<T> {
    lock: Arc<Lock<T>>,
    access: Access<T, Exclusive>,
}

impl<T> OwnedLockGuard<T> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &Arc<Lock<T>> {
        &self.lock
    }
}

impl<T> Deref for OwnedLockGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.access.get(&self.lock.cell)
    }
}

impl<T> DerefMut for OwnedLockGuard<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.access.get_mut(&self.lock.cell)
    }
}

impl<T> Drop for OwnedLockGuard<T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.cell.release(&mut self.access);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
