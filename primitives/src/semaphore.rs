//! [`Semaphore`]: asyncio's `Semaphore`, with batch acquires and closing.

use core::fmt;
use core::task::{Context, Poll};
use std::sync::Arc;

use crate::error::{AcquireError, TryAcquireError};
use crate::fairness::Fairness;
use crate::permits::{self, Held, Permits};
use crate::wait_list::{WaitOp, Waiter, wait_future};

/// An async counting semaphore (asyncio's `Semaphore`): a pool of permits
/// that tasks acquire, hold for a while, and release by dropping the
/// [`Permit`].
///
/// A task may ask for several permits at once
/// ([`acquire_many`](Semaphore::acquire_many)); permits can be added at any
/// time ([`add_permits`](Semaphore::add_permits)) or taken out of
/// circulation ([`Permit::forget`]). [`close`](Semaphore::close) makes every
/// waiting and later acquire fail with [`AcquireError::Closed`].
///
/// # Fairness
///
/// [`Semaphore::new`] makes a **strictly fair** semaphore
/// ([`Fairness::Strict`]): waiters are served in arrival order, and released
/// permits are handed to the first waiter directly. A large `acquire_many`
/// in line collects permits as they are released; smaller requests behind
/// it wait their turn, so it cannot be starved.
/// [`Semaphore::with_fairness`]`(n, Fairness::Eventual)` lets new arrivals
/// take free permits while others wait (a waiter that needs more than is
/// free is still never overtaken, and a starving one is served directly).
///
/// # Maximum
///
/// A semaphore holds at most [`Semaphore::MAX_PERMITS`] permits
/// (`usize::MAX >> 4`). Asking for more with `acquire_many` fails at once
/// with [`AcquireError::TooMany`] instead of waiting forever;
/// `add_permits` beyond the maximum panics.
///
/// # Cancellation
///
/// Dropping an [`Acquire`] future at any point is safe: permits already
/// set aside for it, or granted to it but not yet seen, go to the next
/// waiters.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use magpie_sync::Semaphore;
///
/// // At most two "connections" at a time.
/// let sem = Semaphore::new(2);
/// let busy = AtomicUsize::new(0);
/// futures::executor::block_on(futures::future::join_all((0..5).map(|_| async {
///     let _permit = sem.acquire().await.unwrap();
///     assert!(busy.fetch_add(1, Ordering::SeqCst) < 2);
///     futures::future::ready(()).await; // work
///     busy.fetch_sub(1, Ordering::SeqCst);
/// })));
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    permits: Permits,
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = permits::MAX_PERMITS;

    /// A strictly fair semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits > Semaphore::MAX_PERMITS`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        Semaphore::with_fairness(permits, Fairness::Strict)
    }

    /// A semaphore with `permits` permits and the given policy.
    ///
    /// # Panics
    ///
    /// If `permits > Semaphore::MAX_PERMITS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fairness, Semaphore};
    /// let sem = Semaphore::with_fairness(3, Fairness::Eventual);
    /// assert_eq!(sem.fairness(), Fairness::Eventual);
    /// ```
    #[track_caller]
    pub fn with_fairness(permits: usize, fairness: Fairness) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "Semaphore::new: {permits} permits exceed Semaphore::MAX_PERMITS ({})",
            Self::MAX_PERMITS
        );
        Semaphore {
            permits: Permits::new(permits, fairness),
        }
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is or gets closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(1);
    /// futures::executor::block_on(async {
    ///     let permit = sem.acquire().await.unwrap();
    ///     assert_eq!(sem.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken all at once.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is or gets closed;
    /// [`AcquireError::TooMany`] at once if `n > Semaphore::MAX_PERMITS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{AcquireError, Semaphore};
    ///
    /// let sem = Semaphore::new(5);
    /// futures::executor::block_on(async {
    ///     let permit = sem.acquire_many(3).await.unwrap();
    ///     assert_eq!(permit.num_permits(), 3);
    ///     assert_eq!(
    ///         sem.acquire_many(usize::MAX).await.unwrap_err(),
    ///         AcquireError::TooMany { requested: usize::MAX },
    ///     );
    /// });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire::from_op(AcquireOp { sem: self, n })
    }

    /// Like [`acquire`](Semaphore::acquire), for a semaphore in an
    /// [`Arc`]; the permit keeps the `Arc`.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(magpie_sync::Semaphore::new(1));
    /// let permit = futures::executor::block_on(sem.clone().acquire_owned()).unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Like [`acquire_many`](Semaphore::acquire_many), for a semaphore in
    /// an [`Arc`].
    ///
    /// # Errors
    ///
    /// As for [`acquire_many`](Semaphore::acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(magpie_sync::Semaphore::new(4));
    /// let permit = futures::executor::block_on(sem.clone().acquire_many_owned(4)).unwrap();
    /// assert_eq!(permit.num_permits(), 4);
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: usize) -> AcquireOwned {
        AcquireOwned::from_op(AcquireOwnedOp { sem: Some(self), n })
    }

    /// Takes one permit if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if none is free (or, under strict
    /// fairness, others are waiting); [`TryAcquireError::Closed`] if closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Semaphore, TryAcquireError};
    /// let sem = Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if that needs no waiting.
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Semaphore::try_acquire), and
    /// [`TryAcquireError::TooMany`] if `n > Semaphore::MAX_PERMITS`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(3);
    /// assert!(sem.try_acquire_many(4).is_err());
    /// assert_eq!(sem.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<Permit<'_>, TryAcquireError> {
        let held = self.permits.try_acquire(n)?;
        Ok(Permit { sem: self, held })
    }

    /// Like [`try_acquire`](Semaphore::try_acquire), for a semaphore in an
    /// [`Arc`].
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Semaphore::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(magpie_sync::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert!(sem.clone().try_acquire_owned().is_err());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Like [`try_acquire_many`](Semaphore::try_acquire_many), for a
    /// semaphore in an [`Arc`].
    ///
    /// # Errors
    ///
    /// As for [`try_acquire_many`](Semaphore::try_acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(magpie_sync::Semaphore::new(2));
    /// assert_eq!(sem.clone().try_acquire_many_owned(2).unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedPermit, TryAcquireError> {
        let held = self.permits.try_acquire(n)?;
        Ok(OwnedPermit { sem: self, held })
    }

    /// Adds `n` permits, waking waiters they satisfy.
    ///
    /// # Panics
    ///
    /// If that would make more than [`Semaphore::MAX_PERMITS`] available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        self.permits.add(n);
    }

    /// Permits free right now (not counting permits set aside for a waiter
    /// that asked for more than were free).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(2);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.permits.available()
    }

    /// Closes the semaphore: waiting acquires wake with
    /// [`AcquireError::Closed`], later ones fail at once. Permits already
    /// held stay valid; releasing them still adds to
    /// [`available_permits`](Semaphore::available_permits).
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{AcquireError, Semaphore};
    /// let sem = Semaphore::new(0);
    /// futures::executor::block_on(async {
    ///     let waiting = sem.acquire();
    ///     sem.close();
    ///     assert_eq!(waiting.await.unwrap_err(), AcquireError::Closed);
    /// });
    /// assert!(sem.is_closed());
    /// ```
    pub fn close(&self) {
        self.permits.close();
    }

    /// Whether [`close`](Semaphore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.permits.is_closed()
    }

    /// The fairness policy.
    pub fn fairness(&self) -> Fairness {
        self.permits.fairness()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .field("fairness", &self.fairness())
            .finish()
    }
}

struct AcquireOp<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl<'a> WaitOp for AcquireOp<'a> {
    type Output = Result<Permit<'a>, AcquireError>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let sem = self.sem;
        sem.permits
            .poll_acquire(me, self.n, cx)
            .map_ok(|held| Permit { sem, held })
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        self.sem.permits.cancel(me);
    }
}

struct AcquireOwnedOp {
    sem: Option<Arc<Semaphore>>,
    n: usize,
}

impl WaitOp for AcquireOwnedOp {
    type Output = Result<OwnedPermit, AcquireError>;

    #[inline(always)]
    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let sem = self
            .sem
            .as_ref()
            .expect("`AcquireOwned` polled after completion");
        match sem.permits.poll_acquire(me, self.n, cx) {
            Poll::Ready(result) => {
                let sem = self.sem.take().expect("checked above");
                Poll::Ready(result.map(|held| OwnedPermit { sem, held }))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if let Some(sem) = &self.sem {
            sem.permits.cancel(me);
        }
    }
}

wait_future! {
    /// The future returned by [`Semaphore::acquire`] and
    /// [`Semaphore::acquire_many`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Acquire, Semaphore};
    ///
    /// let sem = Semaphore::new(2);
    /// let fut: Acquire<'_> = sem.acquire_many(2);
    /// assert_eq!(futures::executor::block_on(fut).unwrap().num_permits(), 2);
    /// ```
    pub struct Acquire['a]['a](AcquireOp<'a>) -> Result<Permit<'a>, AcquireError>;
}

wait_future! {
    /// The future returned by [`Semaphore::acquire_owned`] and
    /// [`Semaphore::acquire_many_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use magpie_sync::{AcquireOwned, Semaphore};
    ///
    /// let fut: AcquireOwned = Arc::new(Semaphore::new(1)).acquire_owned();
    /// assert!(futures::executor::block_on(fut).is_ok());
    /// ```
    pub struct AcquireOwned[][](AcquireOwnedOp) -> Result<OwnedPermit, AcquireError>;
}

/// Permits from a [`Semaphore`], released when dropped.
///
/// # Examples
///
/// ```
/// let sem = magpie_sync::Semaphore::new(2);
/// let permit = sem.try_acquire_many(2).unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[must_use = "the permits are released as soon as a `Permit` is dropped"]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    held: Held,
}

impl Permit<'_> {
    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.held.count()
    }

    /// Drops the permit without releasing it: the semaphore has that many
    /// fewer permits for good.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = magpie_sync::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        let _ = core::mem::take(&mut self.held);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.permits.release(core::mem::take(&mut self.held));
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("permits", &self.num_permits())
            .finish()
    }
}

/// Permits from a [`Semaphore`] in an [`Arc`], released when dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(magpie_sync::Semaphore::new(1));
/// let permit = sem.clone().try_acquire_owned().unwrap();
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permits are released as soon as an `OwnedPermit` is dropped"]
pub struct OwnedPermit {
    sem: Arc<Semaphore>,
    held: Held,
}

impl OwnedPermit {
    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.held.count()
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Drops the permit without releasing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(magpie_sync::Semaphore::new(1));
    /// sem.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        let _ = core::mem::take(&mut self.held);
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        self.sem.permits.release(core::mem::take(&mut self.held));
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("permits", &self.num_permits())
            .finish()
    }
}
