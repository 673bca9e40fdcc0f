//! Run queues: each worker's local FIFO deque (with a stealer handle for the
//! other workers) and the shared injector.
//!
//! Normally these are crossbeam-deque's lock-free `Worker`, `Stealer` and
//! `Injector`. crossbeam-deque is not loom-aware, so under `cfg(loom)` they
//! are replaced by a small lock-based queue with the same interface and the
//! same *synchronisation contract* that the scheduler relies on:
//!
//! * `push` publishes the task with release semantics;
//! * `is_empty` is a lone acquire load, not a lock acquisition, exactly as
//!   crossbeam's `is_empty` is, so that the park protocol's fences are what
//!   makes a pushed task visible to a parking worker (a lock here would hide
//!   a missing fence from loom);
//! * a steal may fail with `Retry` when it races another thief (modelled
//!   with `try_lock`), so the retry paths are explored too.
//!
//! What loom therefore checks is the scheduler's use of the queues (the
//! park/unpark protocol, stealing, the LIFO slot, shutdown), assuming the
//! queues are linearizable. crossbeam-deque's own lock-free algorithm is not
//! model-checked here; it has its own test suite and years of use.

use crate::task_core::Notified;

/// The result of a steal attempt.
pub(crate) enum Stolen {
    Task(Notified),
    Empty,
    Retry,
}

#[cfg(not(loom))]
mod imp {
    use super::Stolen;
    use crate::task_core::Notified;
    use crossbeam_deque as cb;

    fn convert(steal: cb::Steal<Notified>) -> Stolen {
        match steal {
            cb::Steal::Success(task) => Stolen::Task(task),
            cb::Steal::Empty => Stolen::Empty,
            cb::Steal::Retry => Stolen::Retry,
        }
    }

    /// A worker's own end of its deque.
    pub(crate) struct Local(cb::Worker<Notified>);

    /// Another worker's handle for stealing from a deque.
    pub(crate) struct Stealer(cb::Stealer<Notified>);

    /// The shared queue for tasks scheduled from outside the workers.
    pub(crate) struct Injector(cb::Injector<Notified>);

    impl Local {
        pub(crate) fn new() -> (Local, Stealer) {
            let worker = cb::Worker::new_fifo();
            let stealer = worker.stealer();
            (Local(worker), Stealer(stealer))
        }

        #[inline]
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }

        #[inline]
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.pop()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Stealer {
        /// Moves up to `limit` tasks (at most half of the victim's) into
        /// `dest` and returns one of them.
        pub(crate) fn steal_into(&self, dest: &Local, limit: usize) -> Stolen {
            convert(self.0.steal_batch_with_limit_and_pop(&dest.0, limit))
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Injector {
        pub(crate) fn new() -> Injector {
            Injector(cb::Injector::new())
        }

        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }

        pub(crate) fn pop(&self) -> Stolen {
            convert(self.0.steal())
        }

        /// Moves up to `limit` tasks into `dest` and returns one of them.
        pub(crate) fn steal_into(&self, dest: &Local, limit: usize) -> Stolen {
            convert(self.0.steal_batch_with_limit_and_pop(&dest.0, limit))
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(loom)]
mod imp {
    use super::Stolen;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering};
    use crate::loom::sync::{Arc, Mutex};
    use crate::task_core::Notified;
    use std::collections::VecDeque;

    /// A linearizable queue for loom: contents under a lock, plus a length
    /// published with release stores for the lock-free `is_empty`.
    struct Queue {
        items: Mutex<VecDeque<Notified>>,
        len: AtomicUsize,
    }

    impl Queue {
        fn new() -> Queue {
            Queue {
                items: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            }
        }

        fn push(&self, task: Notified) {
            let mut items = self.items.lock();
            items.push_back(task);
            self.len.store(items.len(), Ordering::Release);
        }

        fn pop_front(&self) -> Option<Notified> {
            let mut items = self.items.lock();
            let task = items.pop_front();
            self.len.store(items.len(), Ordering::Release);
            task
        }

        /// Moves up to `limit` tasks (at most half, at least one) to `dest`,
        /// returning the first. Fails with `Retry` if another thread holds
        /// the lock, as crossbeam's steals may.
        fn steal_into(&self, dest: &Queue, limit: usize, half: bool) -> Stolen {
            let Some(mut items) = self.items.try_lock() else {
                // crossbeam's steals fail with `Retry` only when another
                // party's operation won the race, i.e. made progress; here
                // the lock holder may be descheduled. Yield, so that loom
                // lets it run instead of exploring a thief that spins
                // (retry, park, notify itself, retry) against a preempted
                // lock holder until the model exceeds its branch limit.
                crate::loom::thread::yield_now();
                return Stolen::Retry;
            };
            let Some(first) = items.pop_front() else {
                return Stolen::Empty;
            };
            let avail = items.len() + 1;
            let mut n = if half { avail.div_ceil(2) } else { avail };
            n = n.min(limit).saturating_sub(1);
            let n = n.min(items.len());
            let moved: Vec<Notified> = items.drain(..n).collect();
            self.len.store(items.len(), Ordering::Release);
            drop(items);
            for task in moved {
                dest.push(task);
            }
            Stolen::Task(first)
        }

        fn is_empty(&self) -> bool {
            self.len.load(Ordering::Acquire) == 0
        }

        fn len(&self) -> usize {
            self.len.load(Ordering::Acquire)
        }
    }

    pub(crate) struct Local(Arc<Queue>);
    pub(crate) struct Stealer(Arc<Queue>);
    pub(crate) struct Injector(Queue);

    impl Local {
        pub(crate) fn new() -> (Local, Stealer) {
            let queue = Arc::new(Queue::new());
            (Local(queue.clone()), Stealer(queue))
        }

        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }

        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.pop_front()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Stealer {
        pub(crate) fn steal_into(&self, dest: &Local, limit: usize) -> Stolen {
            self.0.steal_into(&dest.0, limit, true)
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Injector {
        pub(crate) fn new() -> Injector {
            Injector(Queue::new())
        }

        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }

        pub(crate) fn pop(&self) -> Stolen {
            match self.0.items.try_lock() {
                None => Stolen::Retry,
                Some(mut items) => {
                    let task = items.pop_front();
                    self.0.len.store(items.len(), Ordering::Release);
                    task.map_or(Stolen::Empty, Stolen::Task)
                }
            }
        }

        pub(crate) fn steal_into(&self, dest: &Local, limit: usize) -> Stolen {
            self.0.steal_into(&dest.0, limit, false)
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

pub(crate) use imp::{Injector, Local, Stealer};
