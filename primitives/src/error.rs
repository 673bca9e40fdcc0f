//! Error types. Each implements [`std::error::Error`] and says in its
//! message what went wrong.

use core::fmt;

/// [`Lock::try_lock`](crate::Lock::try_lock) or an [`RwLock`](crate::RwLock)
/// `try_*` method found the lock held.
///
/// # Examples
///
/// ```
/// use magpie_sync::Lock;
///
/// let lock = Lock::new(());
/// let _guard = lock.try_lock().unwrap();
/// let err = lock.try_lock().unwrap_err();
/// assert_eq!(err.to_string(), "the lock is held by another guard");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(pub(crate) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held by another guard")
    }
}

impl std::error::Error for TryLockError {}

/// Why a [`Semaphore`](crate::Semaphore) acquire failed.
///
/// # Examples
///
/// ```
/// use magpie_sync::{AcquireError, Semaphore};
///
/// let sem = Semaphore::new(1);
/// sem.close();
/// let err = futures::executor::block_on(sem.acquire()).unwrap_err();
/// assert_eq!(err, AcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// The semaphore was closed.
    Closed,
    /// More permits were asked for than a semaphore can ever hold
    /// ([`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS)); waiting
    /// would never end.
    TooMany {
        /// The number asked for.
        requested: usize,
    },
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Closed => f.write_str("the semaphore is closed"),
            AcquireError::TooMany { requested } => write!(
                f,
                "cannot acquire {requested} permits: a semaphore never holds more than {}",
                crate::Semaphore::MAX_PERMITS
            ),
        }
    }
}

impl std::error::Error for AcquireError {}

/// Why a [`Semaphore`](crate::Semaphore) `try_acquire*` failed.
///
/// # Examples
///
/// ```
/// use magpie_sync::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(1);
/// let _p = sem.try_acquire().unwrap();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are available now (or, under strict fairness,
    /// others are waiting for them).
    NoPermits,
    /// More permits were asked for than a semaphore can ever hold.
    TooMany {
        /// The number asked for.
        requested: usize,
    },
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
            TryAcquireError::NoPermits => f.write_str("not enough permits are available"),
            TryAcquireError::TooMany { requested } => AcquireError::TooMany {
                requested: *requested,
            }
            .fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// A queue could not be created with the capacity asked for.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let err = Queue::<u32>::bounded(0).unwrap_err();
/// assert_eq!(err.to_string(), "a bounded queue needs a capacity of at least 1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityError {
    pub(crate) capacity: usize,
}

impl CapacityError {
    /// The capacity that was asked for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.capacity == 0 {
            f.write_str("a bounded queue needs a capacity of at least 1")
        } else {
            write!(
                f,
                "a queue capacity of {} exceeds the maximum of {}",
                self.capacity,
                crate::Queue::<()>::MAX_CAPACITY
            )
        }
    }
}

impl std::error::Error for CapacityError {}

/// [`put`](crate::GenericQueue::put) failed because the queue is closed.
/// The item is returned.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let q = Queue::unbounded();
/// q.close();
/// let err = futures::executor::block_on(q.put("item")).unwrap_err();
/// assert_eq!(err.into_inner(), "item");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is closed")
    }
}

impl<T> std::error::Error for PutError<T> {}

/// [`try_put`](crate::GenericQueue::try_put) failed. The item is returned.
///
/// # Examples
///
/// ```
/// use magpie_sync::{Queue, TryPutError};
///
/// let q = Queue::bounded(1).unwrap();
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue is full.
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the queue is full"),
            TryPutError::Closed(_) => f.write_str("the queue is closed"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// [`get`](crate::GenericQueue::get) failed: the queue is closed and every
/// item in it has been taken.
///
/// # Examples
///
/// ```
/// use magpie_sync::Queue;
///
/// let q = Queue::<u32>::unbounded();
/// q.close();
/// let err = futures::executor::block_on(q.get()).unwrap_err();
/// assert_eq!(err.to_string(), "the queue is closed and empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetError(pub(crate) ());

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is closed and empty")
    }
}

impl std::error::Error for GetError {}

/// [`try_get`](crate::GenericQueue::try_get) failed.
///
/// # Examples
///
/// ```
/// use magpie_sync::{Queue, TryGetError};
///
/// let q = Queue::<u32>::unbounded();
/// assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
/// q.close();
/// assert_eq!(q.try_get().unwrap_err(), TryGetError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// The queue is empty.
    Empty,
    /// The queue is closed and empty.
    Closed,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::Closed => f.write_str("the queue is closed and empty"),
        }
    }
}

impl std::error::Error for TryGetError {}
