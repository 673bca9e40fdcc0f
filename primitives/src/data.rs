//! The values inside [`Lock`](crate::Lock) and [`RwLock`](crate::RwLock):
//! the only `UnsafeCell` outside the wait list.
//!
//! A [`Guarded`] value sits beside the [`Permits`] that guard it. Access is
//! granted against a [`Held`] from those very permits: any number of permits
//! gives shared access, all of them ([`Kind::FULL`]) exclusive access. The
//! permits are created once, with `FULL` of them, and this module never adds
//! any, so at most `FULL` are held at any time: a holder of all of them is
//! alone.

use core::marker::PhantomData;
use core::task::{Context, Poll};

use crate::error::TryAcquireError;
use crate::fairness::Fairness;
use crate::loom::cell::UnsafeCell;
use crate::permits::{Held, Permits};
use crate::wait_list::Waiter;

/// What kind of sharing a [`Guarded`] allows.
pub(crate) trait Kind {
    /// The number of permits; holding all of them is exclusive access.
    const FULL: usize;
}

/// One holder at a time (a `Lock`).
#[derive(Debug)]
pub(crate) enum Exclusive {}

impl Kind for Exclusive {
    const FULL: usize = 1;
}

/// Many readers or one writer (an `RwLock`).
#[derive(Debug)]
pub(crate) enum Shared {}

impl Kind for Shared {
    const FULL: usize = crate::permits::MAX_PERMITS;
}

/// A value and the permits that guard it.
pub(crate) struct Guarded<T, K: Kind> {
    permits: Permits,
    value: UnsafeCell<T>,
    _kind: PhantomData<K>,
}

// SAFETY: an exclusive value is only ever accessed by the single holder of
// its one permit, so sharing the `Guarded` between threads amounts to
// sending the value from one holder to the next: `T: Send` suffices, as for
// `std::sync::Mutex`.
unsafe impl<T: Send> Sync for Guarded<T, Exclusive> {}

// SAFETY: a shared value is read by several threads at once (readers) or
// written by one (a writer), as for `std::sync::RwLock`: `T: Send + Sync`.
unsafe impl<T: Send + Sync> Sync for Guarded<T, Shared> {}

impl<T, K: Kind> Guarded<T, K> {
    pub(crate) fn new(value: T, fairness: Fairness) -> Self {
        Guarded {
            permits: Permits::new(K::FULL, fairness),
            value: UnsafeCell::new(value),
            _kind: PhantomData,
        }
    }

    /// Free permits (`FULL` when nobody holds any).
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.permits.available()
    }

    /// The fairness policy of the permits.
    pub(crate) fn fairness(&self) -> Fairness {
        self.permits.fairness()
    }

    /// Takes `n` permits (at most `FULL`) if that needs no waiting.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> Option<Access<T, K>> {
        assert!(n >= 1 && n <= K::FULL);
        match self.permits.try_acquire(n) {
            Ok(held) => Some(Access::new(held)),
            Err(TryAcquireError::NoPermits) => None,
            Err(e) => unreachable!("a lock's permits are never closed: {e}"),
        }
    }

    /// Polls for `n` permits (at most `FULL`).
    #[inline(always)]
    pub(crate) fn poll_acquire(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Access<T, K>> {
        assert!(n >= 1 && n <= K::FULL);
        match self.permits.poll_acquire(me, n, cx) {
            Poll::Ready(Ok(held)) => Poll::Ready(Access::new(held)),
            Poll::Ready(Err(e)) => unreachable!("a lock's permits are never closed: {e}"),
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`poll_acquire`](Self::poll_acquire) without the [`coop`](crate::coop)
    /// budget, for a waiter that has waited already (see
    /// [`Permits::poll_reacquire`]).
    #[inline]
    pub(crate) fn poll_reacquire(
        &self,
        me: &mut Waiter<'_>,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Access<T, K>> {
        assert!(n >= 1 && n <= K::FULL);
        match self.permits.poll_reacquire(me, n, cx) {
            Poll::Ready(Ok(held)) => Poll::Ready(Access::new(held)),
            Poll::Ready(Err(e)) => unreachable!("a lock's permits are never closed: {e}"),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Withdraws a waiting acquire.
    pub(crate) fn cancel(&self, me: &mut Waiter<'_>) {
        self.permits.cancel(me);
    }

    /// Gives the permits of `access` back.
    #[inline]
    pub(crate) fn release(&self, access: &mut Access<T, K>) {
        self.permits.release(core::mem::take(&mut access.held));
    }

    /// Exclusive access through `&mut self`.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.with_mut(|p| {
            // SAFETY: `&mut self` proves that nobody else can reach the value
            // (every access goes through a borrow of `self`).
            unsafe { &mut *p }
        })
    }

    pub(crate) fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Permits held against a [`Guarded`] value, and so the right to access it.
/// Handed out only by [`Guarded`]; given back with [`Guarded::release`].
#[derive(Debug)]
pub(crate) struct Access<T, K: Kind> {
    held: Held,
    _value: PhantomData<fn() -> (T, K)>,
}

// SAFETY: `&Access` gives `&T` (see `get`), so sharing an `Access` between
// threads shares `&T`: sound when `T: Sync`. (`Held` alone is not `Sync`,
// which is what keeps `Access` from being `Sync` for other `T`.)
unsafe impl<T: Sync, K: Kind> Sync for Access<T, K> {}

impl<T, K: Kind> Access<T, K> {
    #[inline]
    fn new(held: Held) -> Self {
        Access {
            held,
            _value: PhantomData,
        }
    }

    /// An `Access` with no permits: it grants nothing.
    pub(crate) fn empty() -> Self {
        Access::new(Held::default())
    }

    /// Shared access to the value.
    ///
    /// # Panics
    ///
    /// If these permits are not `cell`'s, or were given back.
    #[inline]
    pub(crate) fn get<'a>(&'a self, cell: &'a Guarded<T, K>) -> &'a T {
        assert!(self.held.count() >= 1 && self.held.is_from(&cell.permits));
        cell.value.with(|p| {
            // SAFETY: we hold at least one of `cell`'s permits, so nobody
            // holds all of them, so nobody has `&mut T` (see `get_mut`). If
            // other readers exist, `K` is `Shared` and `Guarded` is only
            // `Sync` for `T: Sync`. The reference lives as long as the borrow
            // of `self`, that is, no longer than the permits are held.
            unsafe { &*p }
        })
    }

    /// Exclusive access to the value.
    ///
    /// # Panics
    ///
    /// If these permits are not all of `cell`'s.
    #[inline]
    pub(crate) fn get_mut<'a>(&'a mut self, cell: &'a Guarded<T, K>) -> &'a mut T {
        assert!(self.held.count() == K::FULL && self.held.is_from(&cell.permits));
        cell.value.with_mut(|p| {
            // SAFETY: we hold all of `cell`'s permits, so no other `Access`
            // with any permit exists, and `&mut self` keeps this one from
            // handing out another reference while this one lives.
            unsafe { &mut *p }
        })
    }

    /// Gives up all permits but one (a writer becomes a reader).
    pub(crate) fn downgrade(&mut self, cell: &Guarded<T, K>) {
        let extra = self.held.count() - 1;
        let rest = self.held.split(extra);
        cell.permits.release(rest);
    }
}
