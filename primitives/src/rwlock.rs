//! [`RwLock`]: many readers or one writer.

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::task::{Context, Poll};
use std::sync::Arc;

use crate::data::{Access, Guarded, Kind, Shared};
use crate::error::TryLockError;
use crate::fairness::Fairness;
use crate::wait_list::{WaitOp, Waiter, wait_future};

/// Permits a writer takes: all of them.
const WRITE: usize = <Shared as Kind>::FULL;

/// An async reader-writer lock: any number of readers, or one writer, hold
/// the value at a time.
///
/// A reader holds one of [`RwLock::MAX_READERS`] permits; a writer holds
/// them all.
///
/// # Fairness
///
/// [`RwLock::new`] makes an **eventually fair** lock ([`Fairness::Eventual`],
/// the same policy as [`Lock`](crate::Lock)): a task that finds the lock
/// free may take it even if others wait, which keeps contended throughput
/// high, but a waiter that has been passed over is handed the lock
/// directly, and a writer that waits behind readers is never overtaken by
/// new readers (free permits are set aside for it as readers leave), so a
/// stream of readers cannot starve writers.
///
/// With [`RwLock::with_fairness`]`(value, Fairness::Strict)`, readers and
/// writers are served in arrival order: a writer waits only for the
/// readers and writer that came before it, readers that arrive after a
/// waiting writer queue behind it, and when a writer releases the lock,
/// every reader queued before the next writer is let in at once. Each
/// hand-off then costs a task switch; see `docs/primitives.md` for what
/// that costs on the contended benches.
///
/// # Cancellation
///
/// Dropping a [`ReadFuture`] or [`WriteFuture`] at any point is safe;
/// whatever had been set aside or granted to it goes to the next waiters.
///
/// # Examples
///
/// ```
/// use magpie_sync::RwLock;
///
/// let lock = RwLock::new(vec![1]);
/// futures::executor::block_on(async {
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await; // readers share
///         assert_eq!(r1.len() + r2.len(), 2);
///     }
///     lock.write().await.push(2);
///     assert_eq!(*lock.read().await, [1, 2]);
/// });
/// ```
pub struct RwLock<T> {
    cell: Guarded<T, Shared>,
}

impl<T> RwLock<T> {
    /// The most readers that can hold the lock at once
    /// (`usize::MAX >> 4`).
    pub const MAX_READERS: usize = WRITE;

    /// An unlocked, eventually fair lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::RwLock::new(0);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn new(value: T) -> Self {
        RwLock::with_fairness(value, Fairness::Eventual)
    }

    /// An unlocked lock holding `value`, with the given policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fairness, RwLock};
    /// let lock = RwLock::with_fairness(0, Fairness::Eventual);
    /// assert_eq!(lock.fairness(), Fairness::Eventual);
    /// ```
    pub fn with_fairness(value: T, fairness: Fairness) -> Self {
        RwLock {
            cell: Guarded::new(value, fairness),
        }
    }

    /// Waits for shared access.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::RwLock::new(3);
    /// assert_eq!(*futures::executor::block_on(lock.read()), 3);
    /// ```
    pub fn read(&self) -> ReadFuture<'_, T> {
        ReadFuture::from_op(ReadOp { lock: self })
    }

    /// Waits for exclusive access.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::RwLock::new(3);
    /// futures::executor::block_on(async { *lock.write().await += 1 });
    /// assert_eq!(lock.into_inner(), 4);
    /// ```
    pub fn write(&self) -> WriteFuture<'_, T> {
        WriteFuture::from_op(WriteOp { lock: self })
    }

    /// Like [`read`](RwLock::read), for a lock in an [`Arc`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(magpie_sync::RwLock::new(1));
    /// let guard = futures::executor::block_on(lock.clone().read_owned());
    /// assert_eq!(*guard, 1);
    /// ```
    pub fn read_owned(self: Arc<Self>) -> OwnedReadFuture<T> {
        OwnedReadFuture::from_owned(OwnedOp {
            lock: Some(self),
            write: false,
        })
    }

    /// Like [`write`](RwLock::write), for a lock in an [`Arc`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(magpie_sync::RwLock::new(1));
    /// let mut guard = futures::executor::block_on(lock.clone().write_owned());
    /// *guard = 2;
    /// ```
    pub fn write_owned(self: Arc<Self>) -> OwnedWriteFuture<T> {
        OwnedWriteFuture::from_owned(OwnedOp {
            lock: Some(self),
            write: true,
        })
    }

    /// Takes shared access if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if a writer holds the lock (or, under strict
    /// fairness, anybody waits for it).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::RwLock::new(0);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_ok());
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.cell.try_acquire(1) {
            Some(access) => Ok(RwLockReadGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// Takes exclusive access if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if anybody holds the lock (or, under strict
    /// fairness, waits for it).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = magpie_sync::RwLock::new(0);
    /// let w = lock.try_write().unwrap();
    /// assert!(lock.try_read().is_err());
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.cell.try_acquire(WRITE) {
            Some(access) => Ok(RwLockWriteGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// Like [`try_read`](RwLock::try_read), for a lock in an [`Arc`].
    ///
    /// # Errors
    ///
    /// As for [`try_read`](RwLock::try_read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(magpie_sync::RwLock::new(0));
    /// assert!(lock.clone().try_read_owned().is_ok());
    /// ```
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        match self.cell.try_acquire(1) {
            Some(access) => Ok(OwnedRwLockReadGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// Like [`try_write`](RwLock::try_write), for a lock in an [`Arc`].
    ///
    /// # Errors
    ///
    /// As for [`try_write`](RwLock::try_write).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(magpie_sync::RwLock::new(0));
    /// let w = lock.clone().try_write_owned().unwrap();
    /// assert!(lock.clone().try_write_owned().is_err());
    /// ```
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        match self.cell.try_acquire(WRITE) {
            Some(access) => Ok(OwnedRwLockWriteGuard { lock: self, access }),
            None => Err(TryLockError(())),
        }
    }

    /// The fairness policy.
    pub fn fairness(&self) -> Fairness {
        self.cell.fairness()
    }

    /// The value, through `&mut self` (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = magpie_sync::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.cell.into_inner()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.field("fairness", &self.fairness()).finish()
    }
}

struct ReadOp<'a, T> {
    lock: &'a RwLock<T>,
}

impl<'a, T> WaitOp for ReadOp<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        lock.cell
            .poll_acquire(me, 1, cx)
            .map(|access| RwLockReadGuard { lock, access })
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.lock.cell.cancel(me);
    }
}

struct WriteOp<'a, T> {
    lock: &'a RwLock<T>,
}

impl<'a, T> WaitOp for WriteOp<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        lock.cell
            .poll_acquire(me, WRITE, cx)
            .map(|access| RwLockWriteGuard { lock, access })
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.lock.cell.cancel(me);
    }
}

/// A lock in an `Arc` and access to it.
type OwnedAccess<T> = (Arc<RwLock<T>>, Access<T, Shared>);

/// Both owned futures: `write` says which.
struct OwnedOp<T> {
    lock: Option<Arc<RwLock<T>>>,
    write: bool,
}

impl<T> OwnedOp<T> {
    fn poll_access(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<OwnedAccess<T>> {
        let lock = self.lock.as_ref().expect("future polled after completion");
        let n = if self.write { WRITE } else { 1 };
        match lock.cell.poll_acquire(me, n, cx) {
            Poll::Ready(access) => Poll::Ready((self.lock.take().expect("checked above"), access)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn cancel_access(&mut self, me: &mut Waiter<'_>) {
        if let Some(lock) = &self.lock {
            lock.cell.cancel(me);
        }
    }
}

/// The owned read operation.
struct OwnedReadOp<T>(OwnedOp<T>);
/// The owned write operation.
struct OwnedWriteOp<T>(OwnedOp<T>);

impl<T> WaitOp for OwnedReadOp<T> {
    type Output = OwnedRwLockReadGuard<T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_access(me, cx)
            .map(|(lock, access)| OwnedRwLockReadGuard { lock, access })
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.0.cancel_access(me);
    }
}

impl<T> WaitOp for OwnedWriteOp<T> {
    type Output = OwnedRwLockWriteGuard<T>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_access(me, cx)
            .map(|(lock, access)| OwnedRwLockWriteGuard { lock, access })
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.0.cancel_access(me);
    }
}

impl<T> OwnedReadFuture<T> {
    fn from_owned(op: OwnedOp<T>) -> Self {
        OwnedReadFuture::from_op(OwnedReadOp(op))
    }
}

impl<T> OwnedWriteFuture<T> {
    fn from_owned(op: OwnedOp<T>) -> Self {
        OwnedWriteFuture::from_op(OwnedWriteOp(op))
    }
}

wait_future! {
    /// The future returned by [`RwLock::read`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{ReadFuture, RwLock};
    ///
    /// let lock = RwLock::new(1);
    /// let fut: ReadFuture<'_, i32> = lock.read();
    /// assert_eq!(*futures::executor::block_on(fut), 1);
    /// ```
    pub struct ReadFuture['a, T]['a, T](ReadOp<'a, T>) -> RwLockReadGuard<'a, T>;
}

wait_future! {
    /// The future returned by [`RwLock::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{RwLock, WriteFuture};
    ///
    /// let lock = RwLock::new(1);
    /// let fut: WriteFuture<'_, i32> = lock.write();
    /// *futures::executor::block_on(fut) += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub struct WriteFuture['a, T]['a, T](WriteOp<'a, T>) -> RwLockWriteGuard<'a, T>;
}

wait_future! {
    /// The future returned by [`RwLock::read_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use magpie_sync::{OwnedReadFuture, RwLock};
    ///
    /// let fut: OwnedReadFuture<i32> = Arc::new(RwLock::new(1)).read_owned();
    /// assert_eq!(*futures::executor::block_on(fut), 1);
    /// ```
    pub struct OwnedReadFuture[T][T](OwnedReadOp<T>) -> OwnedRwLockReadGuard<T>;
}

wait_future! {
    /// The future returned by [`RwLock::write_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use magpie_sync::{OwnedWriteFuture, RwLock};
    ///
    /// let fut: OwnedWriteFuture<i32> = Arc::new(RwLock::new(1)).write_owned();
    /// assert_eq!(*futures::executor::block_on(fut), 1);
    /// ```
    pub struct OwnedWriteFuture[T][T](OwnedWriteOp<T>) -> OwnedRwLockWriteGuard<T>;
}

macro_rules! guard_impls {
    ($guard:ident [$($gen:tt)*] [$($arg:tt)*]) => {
        impl<$($gen)*> Deref for $guard<$($arg)*> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                self.access.get(&self.lock.cell)
            }
        }

        impl<$($gen)*> Drop for $guard<$($arg)*> {
            #[inline]
            fn drop(&mut self) {
                self.lock.cell.release(&mut self.access);
            }
        }

        impl<$($gen)* > fmt::Debug for $guard<$($arg)*> where T: fmt::Debug {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($gen)*> fmt::Display for $guard<$($arg)*> where T: fmt::Display {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// Shared access to the value of an [`RwLock`]; released on drop.
///
/// # Examples
///
/// ```
/// let lock = magpie_sync::RwLock::new(5);
/// let guard = lock.try_read().unwrap();
/// assert_eq!(*guard, 5);
/// ```
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    access: Access<T, Shared>,
}

guard_impls!(RwLockReadGuard['a, T]['a, T]);

/// Exclusive access to the value of an [`RwLock`]; released on drop.
///
/// # Examples
///
/// ```
/// let lock = magpie_sync::RwLock::new(5);
/// let mut guard = lock.try_write().unwrap();
/// *guard += 1;
/// let guard = guard.downgrade();
/// assert_eq!(*guard, 6);
/// ```
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    access: Access<T, Shared>,
}

guard_impls!(RwLockWriteGuard['a, T]['a, T]);

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.access.get_mut(&self.lock.cell)
    }
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without letting a writer
    /// in between; readers waiting first in line are let in.
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let mut this = core::mem::ManuallyDrop::new(self);
        let lock = this.lock;
        let mut access = core::mem::replace(&mut this.access, Access::empty());
        access.downgrade(&lock.cell);
        RwLockReadGuard { lock, access }
    }
}

/// Shared access to the value of an [`RwLock`] in an [`Arc`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(magpie_sync::RwLock::new(5));
/// let guard = lock.clone().try_read_owned().unwrap();
/// assert_eq!(*guard, 5);
/// ```
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
    access: Access<T, Shared>,
}

guard_impls!(OwnedRwLockReadGuard[T][T]);

/// Exclusive access to the value of an [`RwLock`] in an [`Arc`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(magpie_sync::RwLock::new(5));
/// *lock.clone().try_write_owned().unwrap() = 6;
/// assert_eq!(*lock.try_read().unwrap(), 6);
/// ```
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
    access: Access<T, Shared>,
}

guard_impls!(OwnedRwLockWriteGuard[T][T]);

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.access.get_mut(&self.lock.cell)
    }
}
