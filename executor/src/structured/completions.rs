//! Waiting on many `JoinHandle`s at once, in completion order: the engine of
//! `gather`, `try_gather`, `wait`, `as_completed` and `TaskGroup::join`.
//!
//! Each handle is polled with a waker of its own that records its index in
//! a ready list and wakes the waiting task, so every wake-up polls only the
//! handles that finished: waiting on `n` tasks costs O(n) in all, not O(n²).

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::task_core::{JoinError, JoinHandle};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What the per-handle wakers share with the waiting task.
///
/// The `Arc` is std's even under loom (`Waker::from` needs it); the state
/// inside is the shim's, so loom sees every access that matters.
struct Ready {
    indices: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

struct IndexWaker {
    index: usize,
    /// Set while the index is in the ready list (or about to be polled), so
    /// that repeated wakes queue it once.
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for IndexWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.indices.lock().push(self.index);
        }
        let parent = self.ready.parent.lock().clone();
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

/// A set of handles, yielding the index of each as it finishes.
pub(crate) struct Completions<T> {
    handles: Vec<Option<JoinHandle<T>>>,
    wakers: Vec<(Arc<IndexWaker>, Waker)>,
    ready: Arc<Ready>,
    /// Indices to poll before looking at the ready list again.
    local: VecDeque<usize>,
    /// Which handles were reported finished (or taken).
    done: Vec<bool>,
    /// Handles not yet reported finished.
    pending: usize,
}

impl<T> Completions<T> {
    pub(crate) fn new(handles: impl IntoIterator<Item = JoinHandle<T>>) -> Completions<T> {
        let ready = Arc::new(Ready {
            indices: Mutex::new(Vec::new()),
            parent: Mutex::new(None),
        });
        let handles: Vec<_> = handles.into_iter().map(Some).collect();
        let wakers = (0..handles.len())
            .map(|index| {
                let w = Arc::new(IndexWaker {
                    index,
                    // Every handle starts out queued: the first poll looks
                    // at all of them.
                    queued: AtomicBool::new(true),
                    ready: ready.clone(),
                });
                (w.clone(), Waker::from(w))
            })
            .collect();
        Completions {
            pending: handles.len(),
            done: vec![false; handles.len()],
            local: (0..handles.len()).collect(),
            handles,
            wakers,
            ready,
        }
    }

    /// Handles not yet reported finished.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// The index of a handle that has finished (its output can be taken
    /// with [`take`](Self::take)), or `None` once every handle was reported.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        if self.pending == 0 {
            return Poll::Ready(None);
        }
        {
            let mut parent = self.ready.parent.lock();
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        loop {
            while let Some(index) = self.local.pop_front() {
                let (flag, waker) = &self.wakers[index];
                flag.queued.store(false, Ordering::Release);
                if self.done[index] {
                    continue;
                }
                let handle = self.handles[index]
                    .as_mut()
                    .expect("a handle not done is in the set");
                if handle
                    .poll_finished(&mut Context::from_waker(waker))
                    .is_ready()
                {
                    self.done[index] = true;
                    self.pending -= 1;
                    return Poll::Ready(Some(index));
                }
            }
            let batch = std::mem::take(&mut *self.ready.indices.lock());
            if batch.is_empty() {
                return Poll::Pending;
            }
            self.local.extend(batch);
        }
    }

    /// Takes each handle out of the set as it finishes and hands its
    /// outcome to `each` (with its index, and the handle for its id and
    /// name), until every handle finished (`Ready(Continue)`) or `each`
    /// breaks (`Ready(Break)`; the handles not finished stay in the set).
    /// The loop of `gather`, `gather_fail_fast`, `try_gather` and
    /// `TaskGroup::join`.
    #[inline]
    pub(crate) fn poll_outcomes<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut each: impl FnMut(usize, &JoinHandle<T>, Result<T, JoinError>) -> ControlFlow<B>,
    ) -> Poll<ControlFlow<B>> {
        loop {
            match self.poll_next(cx) {
                Poll::Ready(Some(index)) => {
                    let mut handle = self.take(index).expect("reported once");
                    let outcome = handle.take_finished();
                    if let ControlFlow::Break(b) = each(index, &handle, outcome) {
                        return Poll::Ready(ControlFlow::Break(b));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(ControlFlow::Continue(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Takes the handle at `index` out of the set.
    pub(crate) fn take(&mut self, index: usize) -> Option<JoinHandle<T>> {
        let handle = self.handles[index].take();
        if handle.is_some() && !std::mem::replace(&mut self.done[index], true) {
            // Taken before it was reported: it no longer counts.
            self.pending -= 1;
        }
        handle
    }

    /// The handles still in the set, with their indices.
    pub(crate) fn handles(&self) -> impl Iterator<Item = (usize, &JoinHandle<T>)> {
        self.handles
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|h| (i, h)))
    }

    /// Takes every handle still in the set, in index order.
    pub(crate) fn take_all(&mut self) -> Vec<JoinHandle<T>> {
        self.pending = 0;
        self.done.fill(true);
        self.handles.iter_mut().filter_map(Option::take).collect()
    }

    /// The number of handles the set started with.
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }
}
