//! The concurrency shim: every atomic, cell, lock, condition variable, thread
//! and thread-local that magpie touches comes from here.
//!
//! Normally these are `std`'s atomics and threads and `parking_lot`'s locks.
//! Built with `RUSTFLAGS="--cfg loom"`, they are [loom]'s, so the very same
//! code runs inside `loom::model` and loom can explore its interleavings.
//!
//! The API is the intersection both sides can offer:
//!
//! * [`cell::UnsafeCell`] is accessed through `with` / `with_mut` closures
//!   (loom tracks every access to detect data races);
//! * [`sync::Mutex`], [`sync::RwLock`] and [`sync::Condvar`] have
//!   `parking_lot`'s API (no poisoning, `Condvar::wait(&mut guard)`);
//! * atomics cannot live in `static`s (loom's constructors are not `const`):
//!   keep shared state in structures owned by the runtime or the primitive.
//!
//! This module is public only so that the `magpie` crate uses the same shim;
//! it is not part of the supported API.
//!
//! [loom]: https://docs.rs/loom

#![allow(missing_docs, unreachable_pub)]

/// Synchronisation: `Arc`, atomics, `Mutex`, `Condvar`.
pub mod sync {
    #[cfg(not(loom))]
    pub use std::sync::Arc;

    #[cfg(loom)]
    pub use loom::sync::Arc;

    /// Atomics and fences.
    pub mod atomic {
        #[cfg(not(loom))]
        pub use std::sync::atomic::{
            AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
        };

        #[cfg(loom)]
        pub use loom::sync::atomic::{
            AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }

    #[cfg(not(loom))]
    pub use parking_lot::{Condvar, Mutex, MutexGuard};

    #[cfg(loom)]
    pub use self::loom_lock::{Condvar, Mutex, MutexGuard};

    #[cfg(not(loom))]
    pub use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    #[cfg(loom)]
    pub use self::loom_rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// A `parking_lot`-shaped wrapper around loom's `std`-shaped `RwLock`.
    #[cfg(loom)]
    mod loom_rwlock {
        pub use loom::sync::{RwLockReadGuard, RwLockWriteGuard};

        #[derive(Debug)]
        pub struct RwLock<T>(loom::sync::RwLock<T>);

        impl<T> RwLock<T> {
            pub fn new(value: T) -> Self {
                RwLock(loom::sync::RwLock::new(value))
            }

            #[track_caller]
            pub fn read(&self) -> RwLockReadGuard<'_, T> {
                self.0.read().expect("loom rwlock poisoned")
            }

            #[track_caller]
            pub fn write(&self) -> RwLockWriteGuard<'_, T> {
                self.0.write().expect("loom rwlock poisoned")
            }

            pub fn into_inner(self) -> T {
                self.0.into_inner().expect("loom rwlock poisoned")
            }
        }
    }

    /// `parking_lot`-shaped wrappers around loom's `std`-shaped lock types.
    #[cfg(loom)]
    mod loom_lock {
        use std::ops::{Deref, DerefMut};
        use std::time::Instant;

        #[derive(Debug, Default)]
        pub struct Mutex<T>(loom::sync::Mutex<T>);

        #[derive(Debug)]
        pub struct MutexGuard<'a, T> {
            /// The mutex, so that a timed wait can take it back.
            mutex: &'a loom::sync::Mutex<T>,
            /// `None` only inside a `Condvar` wait.
            guard: Option<loom::sync::MutexGuard<'a, T>>,
        }

        impl<T> Mutex<T> {
            pub fn new(value: T) -> Self {
                Mutex(loom::sync::Mutex::new(value))
            }

            #[track_caller]
            pub fn lock(&self) -> MutexGuard<'_, T> {
                MutexGuard {
                    mutex: &self.0,
                    guard: Some(self.0.lock().expect("loom mutex poisoned")),
                }
            }

            pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
                self.0.try_lock().ok().map(|g| MutexGuard {
                    mutex: &self.0,
                    guard: Some(g),
                })
            }

            pub fn into_inner(self) -> T {
                self.0.into_inner().expect("loom mutex poisoned")
            }

            pub fn get_mut(&mut self) -> &mut T {
                self.0.get_mut().expect("loom mutex poisoned")
            }
        }

        impl<T> MutexGuard<'_, T> {
            /// Mirrors `parking_lot::MutexGuard::unlocked`: releases the
            /// lock while `f` runs and takes it back.
            pub fn unlocked<U>(s: &mut Self, f: impl FnOnce() -> U) -> U {
                s.guard = None;
                let out = f();
                s.guard = Some(s.mutex.lock().expect("loom mutex poisoned"));
                out
            }
        }

        impl<T> Deref for MutexGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                self.guard
                    .as_ref()
                    .expect("guard is present outside Condvar::wait")
            }
        }

        impl<T> DerefMut for MutexGuard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                self.guard
                    .as_mut()
                    .expect("guard is present outside Condvar::wait")
            }
        }

        /// A loom condition variable that can also time out (see
        /// [`Condvar::wait_until`]).
        #[derive(Debug, Default)]
        pub struct Condvar {
            inner: loom::sync::Condvar,
            /// Counts notifications, so that a timed wait can tell whether
            /// it was notified while it had released the lock.
            notifications: loom::sync::atomic::AtomicUsize,
        }

        /// Mirrors `parking_lot::WaitTimeoutResult`.
        #[derive(Debug, Clone, Copy)]
        pub struct WaitTimeoutResult(bool);

        impl WaitTimeoutResult {
            pub fn timed_out(self) -> bool {
                self.0
            }
        }

        impl Condvar {
            pub fn new() -> Self {
                Condvar {
                    inner: loom::sync::Condvar::new(),
                    notifications: loom::sync::atomic::AtomicUsize::new(0),
                }
            }

            pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
                let inner = guard.guard.take().expect("guard is present");
                guard.guard = Some(self.inner.wait(inner).expect("loom mutex poisoned"));
            }

            /// Loom has no clock, so a deadline can neither be reached nor
            /// missed in real time. Modelled instead: the deadline may pass
            /// at *any* moment the waiter is scheduled. The waiter releases
            /// the lock, yields to the model's other threads (which run
            /// until they block, or until loom preempts them), takes the
            /// lock back and reports a timeout unless it was notified
            /// meanwhile. Loom explores the timeout happening at once
            /// (before anyone else moved), late (after everyone else
            /// blocked: a waiter nobody will notify does time out instead
            /// of deadlocking), and everywhere in between; a notification
            /// during the window is a wake-up without timeout. The
            /// deadline's value is ignored: no execution reads real time.
            ///
            /// Like a real timed wait, it may also return early without
            /// either (callers already loop on their condition). It never
            /// blocks, so a waiter nobody notifies is not a deadlock here:
            /// code that needs a notification to make progress must use
            /// [`wait`](Self::wait).
            pub fn wait_until<T>(
                &self,
                guard: &mut MutexGuard<'_, T>,
                _deadline: Instant,
            ) -> WaitTimeoutResult {
                use loom::sync::atomic::Ordering::SeqCst;
                let seen = self.notifications.load(SeqCst);
                drop(guard.guard.take().expect("guard is present"));
                loom::thread::yield_now();
                guard.guard = Some(guard.mutex.lock().expect("loom mutex poisoned"));
                WaitTimeoutResult(self.notifications.load(SeqCst) == seen)
            }

            pub fn notify_one(&self) -> bool {
                self.notifications
                    .fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                self.inner.notify_one();
                true
            }

            pub fn notify_all(&self) -> usize {
                self.notifications
                    .fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                self.inner.notify_all();
                1
            }
        }
    }
}

/// `UnsafeCell` accessed through closures, so loom can check every access.
pub mod cell {
    #[cfg(loom)]
    pub use loom::cell::UnsafeCell;

    #[cfg(not(loom))]
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    #[cfg(not(loom))]
    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a shared pointer to the contents.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a unique pointer to the contents.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Threads, thread-locals and spinning.
pub mod thread {
    #[cfg(not(loom))]
    pub use std::thread::{Builder, JoinHandle, Thread, current, panicking, spawn, yield_now};

    #[cfg(loom)]
    pub use loom::thread::{Builder, JoinHandle, Thread, current, spawn, yield_now};

    #[cfg(loom)]
    pub use std::thread::panicking;
}

/// Spin-loop hint (under loom, a yield point).
pub mod hint {
    #[cfg(not(loom))]
    pub use std::hint::spin_loop;

    #[cfg(loom)]
    pub use loom::hint::spin_loop;
}

#[cfg(not(loom))]
pub use std::thread_local;

#[cfg(loom)]
pub use loom::thread_local;

/// True when built for loom (`--cfg loom`): sizes shrink so that models reach
/// multi-batch paths.
pub const IS_LOOM: bool = cfg!(loom);
