//! `LocalSet`: tasks whose futures are not `Send`, run on the thread that
//! drives the set.
//!
//! A local task is an ordinary task (the same allocation, state word,
//! wakers, `JoinHandle`, cancellation and panic capture) with its own
//! scheduler, [`LocalScheduler`]:
//!
//! * Its run queue is a locked `VecDeque` of entries. Anyone may push
//!   (a waker is `Send`, so a local task may be woken from a worker, a
//!   plain thread or a timer); only the set's thread pops and runs, inside
//!   [`LocalSet::run_until`]'s poll. The set is `!Send` and `!Sync`, and so
//!   is the future `run_until` returns, so that is always the thread that
//!   created the set.
//! * The "unpark" is the waker of whoever polls `run_until`: a push stores
//!   the entry, then wakes that waker. `run_until` registers its waker
//!   before it looks at the queue, so an entry pushed after its last look
//!   finds the new waker and polls it again: no wake-up is lost. A push
//!   made on the set's thread during `run_until`'s poll needs no wake: the
//!   loop looks at the queue again before it returns.
//! * Its owned list holds a reference to every task not yet complete, as
//!   the runtime's does. Dropping the set closes the list and shuts every
//!   task down on this thread (their futures are dropped here), then drops
//!   the queued entries. A `JoinHandle` of such a task resolves to a
//!   cancelled [`JoinError`](super::JoinError).
//!
//! Why that is sound without `Send` (see `RawTask::new_local`): a task's
//! future and output are only touched by running an entry, by a shutdown
//! or by the `JoinHandle`; entries are only run by `run_until` and tasks
//! only shut down by the set's drop, both on the set's thread; the handle
//! is `!Send` when the output is.

use crate::loom::sync::Mutex;
use crate::task_core::{Header, Id, JoinHandle, Notified, OwnedTasks, RawTask, Schedule, TaskMeta};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Local tasks run per poll of [`LocalSet::run_until`] before it yields to
/// whoever drives it (asyncio's loop runs every ready callback per turn;
/// a bound keeps the driver's own future and timers responsive).
const TASKS_PER_POLL: usize = 61;

/// A set of tasks that need not be `Send`, run on the thread that drives
/// the set: tokio's `LocalSet`, asyncio's single-threaded loop.
///
/// [`spawn`](crate::spawn) needs a `Send` future because any worker may
/// run it. A future holding an `Rc`, a `RefCell` borrow across an
/// `.await`, or a `!Send` library handle cannot be spawned that way; spawn
/// it with [`LocalSet::spawn_local`] (or [`spawn_local`] from inside the
/// set) instead, and drive the set with [`LocalSet::block_on`] or
/// [`LocalSet::run_until`]. Its tasks run only while the set is driven,
/// interleaved on that one thread; they may still `magpie::spawn` work
/// onto the runtime's workers, sleep, and be woken from any thread.
///
/// A local task is a task like any other: its [`JoinHandle`] awaits its
/// output, [`cancel`](JoinHandle::cancel)s it, sees its panic as a
/// [`JoinError`](super::JoinError). Dropping the set drops every task it
/// still holds, on this thread.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use magpie::task::LocalSet;
///
/// let rt = magpie::Runtime::new().unwrap();
/// let local = LocalSet::new();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let total = local.block_on(&rt, async {
///     let tasks: Vec<_> = (1..=3)
///         .map(|i| {
///             let log = log.clone(); // an `Rc`: not `Send`
///             magpie::task::spawn_local(async move {
///                 magpie::task::yield_now().await;
///                 log.borrow_mut().push(i);
///                 i * 10
///             })
///         })
///         .collect();
///     let mut total = 0;
///     for task in tasks {
///         total += task.await.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 60);
/// assert_eq!(log.borrow().len(), 3);
/// ```
pub struct LocalSet {
    scheduler: LocalScheduler,
    /// `!Send` and `!Sync`: the set's tasks run on the thread that has it.
    _not_send: PhantomData<Rc<()>>,
}

/// The scheduler stored in each local task: the set's shared part.
#[derive(Clone)]
struct LocalScheduler(Arc<Shared>);

struct Shared {
    /// Entries due to run, pushed from any thread, run by the set's.
    queue: Mutex<VecDeque<Notified>>,
    /// The waker of the `run_until` poll that last looked at the queue.
    waker: Mutex<Option<Waker>>,
    /// Every task of the set not yet complete (one reference each).
    owned: OwnedTasks,
}

#[cfg(not(loom))]
crate::loom::thread_local! {
    /// The set whose `run_until` is being polled on this thread, for
    /// [`spawn_local`] (and to skip the wake of a push made by that poll).
    static CURRENT: RefCell<Option<LocalScheduler>> = const { RefCell::new(None) };
}

#[cfg(loom)]
crate::loom::thread_local! {
    static CURRENT: RefCell<Option<LocalScheduler>> = RefCell::new(None);
}

impl LocalSet {
    /// An empty set. Its tasks will run on this thread, while it is driven.
    ///
    /// ```
    /// let local = magpie::task::LocalSet::new();
    /// let rt = magpie::Runtime::new().unwrap();
    /// assert_eq!(local.block_on(&rt, async { 1 }), 1);
    /// ```
    pub fn new() -> LocalSet {
        LocalSet {
            scheduler: LocalScheduler(Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                waker: Mutex::new(None),
                owned: OwnedTasks::new(1),
            })),
            _not_send: PhantomData,
        }
    }

    /// Spawns a future that need not be `Send` onto this set: asyncio's
    /// `create_task` on a single-threaded loop. It runs when the set is
    /// driven ([`block_on`](Self::block_on), [`run_until`](Self::run_until)),
    /// on this thread.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let rt = magpie::Runtime::new().unwrap();
    /// let local = magpie::task::LocalSet::new();
    /// let shared = Rc::new(5);
    /// let task = local.spawn_local({
    ///     let shared = shared.clone();
    ///     async move { *shared * 2 }
    /// });
    /// assert_eq!(local.block_on(&rt, task).unwrap(), 10);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.scheduler
            .spawn(future, TaskMeta::new(None, Location::caller()))
    }

    /// Runs `future` on `rt`'s [`block_on`](crate::runtime::Runtime::block_on)
    /// with this set driven alongside it; returns when `future` does.
    /// Tasks still unfinished then stay in the set for its next run (or
    /// are dropped with it).
    ///
    /// # Panics
    ///
    /// As [`Runtime::block_on`](crate::runtime::Runtime::block_on): on a worker
    /// thread.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let rt = magpie::Runtime::new().unwrap();
    /// let local = magpie::task::LocalSet::new();
    /// let name = Rc::new(String::from("local"));
    /// let len = local.block_on(&rt, async move {
    ///     magpie::task::spawn_local(async move { name.len() }).await.unwrap()
    /// });
    /// assert_eq!(len, 5);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, rt: &crate::runtime::Runtime, future: F) -> F::Output {
        rt.block_on(self.run_until(future))
    }

    /// A future that runs `future` and this set's tasks, interleaved, on
    /// the thread that polls it, until `future` completes. Inside, both
    /// `future` and the tasks may call [`spawn_local`].
    ///
    /// It is `!Send`: await it in `Runtime::block_on`, or in another local
    /// task, not in a `magpie::spawn`ed task.
    ///
    /// ```
    /// let rt = magpie::Runtime::new().unwrap();
    /// let local = magpie::task::LocalSet::new();
    /// let out = rt.block_on(local.run_until(async {
    ///     let a = magpie::task::spawn_local(async { std::rc::Rc::new(20) });
    ///     *a.await.unwrap() + 1
    /// }));
    /// assert_eq!(out, 21);
    /// ```
    pub fn run_until<F: Future>(&self, future: F) -> RunUntil<'_, F> {
        RunUntil { set: self, future }
    }

    /// Local tasks spawned on this set and not finished yet.
    ///
    /// ```
    /// let local = magpie::task::LocalSet::new();
    /// let task = local.spawn_local(async {});
    /// assert_eq!(local.len(), 1);
    /// drop(local);
    /// assert!(task.is_finished());
    /// ```
    pub fn len(&self) -> usize {
        self.scheduler.0.owned.len()
    }

    /// Whether every task of the set has finished.
    ///
    /// ```
    /// assert!(magpie::task::LocalSet::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LocalSet {
    fn default() -> LocalSet {
        LocalSet::new()
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet")
            .field("tasks", &self.len())
            .finish()
    }
}

impl Drop for LocalSet {
    fn drop(&mut self) {
        // Futures dropped here may call `spawn_local`: they find this set
        // current and closed, and their spawn is cancelled at once.
        let _current = enter(&self.scheduler);
        let shared = &self.scheduler.0;
        // No `run_until` borrows the set, so no task is running: each
        // shutdown drops its future here and completes it.
        shared.owned.close_and_drain(|task| {
            task.shutdown();
            // The list's reference, handed to us by the drain.
            task.drop_reference();
        });
        // Entries of tasks now complete (a drain's destructor may have
        // woken a sibling meanwhile); dropped outside the lock.
        let queued = std::mem::take(&mut *shared.queue.lock());
        drop(queued);
    }
}

pin_project_lite::pin_project! {
    /// [`LocalSet::run_until`]'s future.
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntil<'a, F> {
        set: &'a LocalSet,
        #[pin]
        future: F,
    }
}

impl<F> fmt::Debug for RunUntil<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntil")
            .field("set", self.set)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for RunUntil<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let scheduler = &this.set.scheduler;
        let _current = enter(scheduler);
        // Before looking at the queue: a push after our last look wakes
        // this waker.
        scheduler.0.register(cx.waker());
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out);
        }
        for _ in 0..TASKS_PER_POLL {
            let next = scheduler.0.queue.lock().pop_front();
            let Some(task) = next else {
                return Poll::Pending;
            };
            if let Some(again) = task.run() {
                // Woken during its poll: behind what is queued.
                scheduler.0.queue.lock().push_back(again);
            }
        }
        // More may be queued: let the driver run its other work, and come
        // back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Shared {
    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl LocalScheduler {
    /// Creates, registers and queues a local task (on the set's thread).
    fn spawn<F>(&self, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // SAFETY: `RawTask::new_local`'s contract. This runs on the set's
        // thread (through `&LocalSet`, which is `!Sync`, or through
        // `CURRENT`, a thread-local set only by the set's own `run_until`
        // and drop). The scheduler queues entries in `Shared::queue`, which
        // only `RunUntil::poll` pops and runs, on the set's thread (the
        // future is `!Send`, borrowing the `!Sync` set). Shutdowns happen
        // only in `LocalSet::drop` (the set's thread) and below, here. The
        // owned list's reference is released only by the drop's drain,
        // after the shutdown that completes the task, or by `release`,
        // when the task has completed.
        let raw = unsafe { RawTask::new_local(future, self.clone(), Id::next(), meta) };
        let handle = JoinHandle::new(raw);
        // Refused while the set is being dropped: then the task is
        // cancelled here, on the set's thread.
        if raw.insert_or_cancel(&self.0.owned).is_ok() {
            raw.schedule();
        }
        handle
    }

    fn is_current(&self) -> bool {
        CURRENT
            .try_with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|cur| Arc::ptr_eq(&cur.0, &self.0))
            })
            .unwrap_or(false)
    }
}

impl Schedule for LocalScheduler {
    fn schedule(&self, task: Notified) {
        self.0.queue.lock().push_back(task);
        if self.is_current() {
            // Pushed by the set's own `run_until` poll (a task, or the
            // driven future, woke a task), which looks at the queue again
            // before it returns; or by its drop, which drains the queue.
            return;
        }
        let waker = self.0.waker.lock().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn release(&self, task: RawTask) -> bool {
        self.0.owned.remove(task)
    }

    fn unobserved_panic(&self, header: &Header, message: Option<&str>) {
        crate::runtime::diagnostics::report_unobserved_panic(header, message);
    }
}

/// Makes `scheduler` this thread's current set until the guard drops.
fn enter(scheduler: &LocalScheduler) -> CurrentGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(scheduler.clone()));
    CurrentGuard { prev }
}

struct CurrentGuard {
    prev: Option<LocalScheduler>,
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Spawns a future that need not be `Send` onto the [`LocalSet`] being
/// driven on this thread: from the future given to
/// [`LocalSet::block_on`] / [`run_until`](LocalSet::run_until), or from one
/// of the set's tasks.
///
/// # Panics
///
/// Outside a `LocalSet` (in a `magpie::spawn`ed task, say, which may run
/// on any worker), with a message that says so.
///
/// ```
/// use std::rc::Rc;
///
/// let rt = magpie::Runtime::new().unwrap();
/// let local = magpie::task::LocalSet::new();
/// local.block_on(&rt, async {
///     let inner = magpie::task::spawn_local(async {
///         // Local tasks spawn local tasks too.
///         magpie::task::spawn_local(async { Rc::new("nested") }).await.unwrap()
///     });
///     assert_eq!(*inner.await.unwrap(), "nested");
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    let scheduler = CURRENT.with(|c| c.borrow().clone());
    match scheduler {
        Some(scheduler) => scheduler.spawn(future, TaskMeta::new(None, location)),
        None => panic!(
            "magpie::task::spawn_local called outside a LocalSet: call it from inside \
             `LocalSet::block_on` / `LocalSet::run_until` (or a task they run), or use \
             `LocalSet::spawn_local`; for a `Send` future, `magpie::spawn`"
        ),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every task allocation holds a clone of the set's scheduler: once the
    /// set and every handle are gone, only our clone is left, so no task
    /// leaked.
    #[test]
    fn dropping_the_set_and_the_handles_frees_every_task() {
        let rt = crate::runtime::Runtime::builder()
            .worker_threads(1)
            .build()
            .unwrap();
        let local = LocalSet::new();
        let shared = local.scheduler.0.clone();
        let done = local.spawn_local(async { Rc::new(1) });
        let pending = local.spawn_local(std::future::pending::<()>());
        // The timer wheel holds a clone of this one's waker.
        let waiting = local.spawn_local(crate::time::sleep(std::time::Duration::from_secs(3600)));
        assert_eq!(*local.block_on(&rt, done).unwrap(), 1);
        assert_eq!(local.len(), 2);
        drop(local);
        assert!(pending.is_finished());
        assert!(waiting.is_finished());
        drop((pending, waiting));
        assert_eq!(Arc::strong_count(&shared), 1, "a task leaked");
    }
}
