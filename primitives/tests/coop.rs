//! The cooperative budget: every operation that can complete at once
//! consults it; a granted waiter never refuses its grant; where nobody
//! drives the budget (tokio, `futures::executor`) it is a no-op.

mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use magpie_sync::{
    Barrier, Event, Fairness, LifoQueue, Lock, PriorityQueue, Queue, RwLock, Semaphore, coop,
};
use support::{CountingWaker, run_on_each_executor};

/// Polls `fut` to completion, each poll under `coop::budget(n)`, and
/// returns how many polls it took. Every `Pending` must have woken the
/// waker (by reference): a refusal that did not would be a lost wakeup.
fn polls_under_budget<F: Future>(n: u32, fut: F) -> usize {
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 10_000, "never completes");
        if coop::budget(n, || fut.as_mut().poll(&mut cx)).is_ready() {
            return polls;
        }
        assert_eq!(count.count(), polls, "pending without a wake");
    }
}

/// 20 operations that never wait, under a budget of 4: 5 polls (4 each).
const OPS: usize = 20;
const BUDGET: u32 = 4;
const POLLS: usize = OPS / BUDGET as usize;

#[test]
fn every_operation_that_completes_at_once_spends_the_budget() {
    for fairness in [Fairness::Eventual, Fairness::Strict] {
        let lock = Lock::with_fairness(0, fairness);
        let polls = polls_under_budget(BUDGET, async {
            for _ in 0..OPS {
                *lock.lock().await += 1;
            }
        });
        assert_eq!(polls, POLLS, "lock ({fairness:?})");

        let lock = Arc::new(Lock::with_fairness(0, fairness));
        let polls = polls_under_budget(BUDGET, async {
            for _ in 0..OPS {
                *lock.clone().lock_owned().await += 1;
            }
        });
        assert_eq!(polls, POLLS, "lock_owned ({fairness:?})");

        let rw = Arc::new(RwLock::with_fairness(0, fairness));
        for (what, polls) in [
            (
                "read",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        let _ = *rw.read().await;
                    }
                }),
            ),
            (
                "write",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        *rw.write().await += 1;
                    }
                }),
            ),
            (
                "read_owned",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        let _ = *rw.clone().read_owned().await;
                    }
                }),
            ),
            (
                "write_owned",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        *rw.clone().write_owned().await += 1;
                    }
                }),
            ),
        ] {
            assert_eq!(polls, POLLS, "rwlock {what} ({fairness:?})");
        }

        let sem = Arc::new(Semaphore::with_fairness(3, fairness));
        for (what, polls) in [
            (
                "acquire",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        drop(sem.acquire().await.unwrap());
                    }
                }),
            ),
            (
                "acquire_many",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        drop(sem.acquire_many(2).await.unwrap());
                    }
                }),
            ),
            (
                "acquire_owned",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        drop(sem.clone().acquire_owned().await.unwrap());
                    }
                }),
            ),
            (
                "acquire_many_owned",
                polls_under_budget(BUDGET, async {
                    for _ in 0..OPS {
                        drop(sem.clone().acquire_many_owned(3).await.unwrap());
                    }
                }),
            ),
        ] {
            assert_eq!(polls, POLLS, "semaphore {what} ({fairness:?})");
        }
    }

    let queue = Queue::unbounded();
    let polls = polls_under_budget(BUDGET, async {
        for i in 0..OPS / 2 {
            queue.put(i).await.unwrap();
            assert_eq!(*queue.get().await.unwrap(), i);
        }
    });
    assert_eq!(polls, POLLS, "queue put/get");

    let queue = Queue::bounded(OPS).unwrap();
    let polls = polls_under_budget(BUDGET, async {
        for i in 0..OPS {
            queue.put(i).await.unwrap();
        }
    });
    assert_eq!(polls, POLLS, "bounded queue put");
    let mut stream = queue.stream();
    let polls = polls_under_budget(BUDGET, async {
        for i in 0..OPS {
            assert_eq!(stream.next().await.map(|item| *item), Some(i));
        }
    });
    assert_eq!(polls, POLLS, "queue stream");

    let queue = PriorityQueue::unbounded();
    let polls = polls_under_budget(BUDGET, async {
        for i in 0..OPS / 2 {
            queue.put(i).await.unwrap();
            queue.get().await.unwrap();
        }
    });
    assert_eq!(polls, POLLS, "priority queue");

    let queue = LifoQueue::unbounded();
    let polls = polls_under_budget(BUDGET, async {
        for i in 0..OPS / 2 {
            queue.put(i).await.unwrap();
            queue.get().await.unwrap();
        }
    });
    assert_eq!(polls, POLLS, "lifo queue");

    let queue = Queue::<u8>::unbounded();
    let polls = polls_under_budget(BUDGET, async {
        for _ in 0..OPS {
            queue.join().await;
        }
    });
    assert_eq!(polls, POLLS, "queue join");

    let event = Event::new();
    event.set();
    let polls = polls_under_budget(BUDGET, async {
        for _ in 0..OPS {
            event.wait().await;
        }
    });
    assert_eq!(polls, POLLS, "event wait when set");

    let barrier = Barrier::new(1);
    let polls = polls_under_budget(BUDGET, async {
        for _ in 0..OPS {
            assert!(barrier.wait().await.is_leader());
        }
    });
    assert_eq!(polls, POLLS, "barrier of one");
}

#[test]
fn closed_primitives_count_too_so_a_loop_on_errors_yields() {
    let sem = Semaphore::new(0);
    sem.close();
    let polls = polls_under_budget(BUDGET, async {
        for _ in 0..OPS {
            assert!(sem.acquire().await.is_err());
        }
    });
    assert_eq!(polls, POLLS, "closed semaphore");
    let queue = Queue::<u8>::unbounded();
    queue.close();
    let polls = polls_under_budget(BUDGET, async {
        for _ in 0..OPS {
            assert!(queue.get().await.is_err());
            assert!(queue.put(1).await.is_err());
        }
    });
    assert_eq!(polls, 2 * POLLS, "closed queue");
}

#[test]
fn the_try_forms_never_consult_it() {
    let lock = Lock::new(0);
    let queue = Queue::unbounded();
    let sem = Semaphore::new(1);
    coop::budget(0, || {
        for i in 0..100 {
            drop(lock.try_lock().unwrap());
            queue.try_put(i).unwrap();
            queue.try_get().unwrap();
            drop(sem.try_acquire().unwrap());
        }
        assert_eq!(coop::remaining(), Some(0));
    });
}

/// Polls once under `budget(n)`.
fn poll_with<F: Future + ?Sized>(
    n: Option<u32>,
    fut: Pin<&mut F>,
    waker: &Waker,
) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    match n {
        Some(n) => coop::budget(n, || fut.poll(&mut cx)),
        None => fut.poll(&mut cx),
    }
}

#[test]
fn a_refused_operation_leaves_nothing_behind() {
    // Budget 0 refuses the first poll: nothing is taken or linked.
    let lock = Lock::new(0);
    let mut fut = pin!(lock.lock());
    assert!(poll_with(Some(0), fut.as_mut(), Waker::noop()).is_pending());
    assert!(!lock.is_locked(), "a refused lock took the lock");
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    let mut get = Box::pin(queue.get());
    assert!(poll_with(Some(0), get.as_mut(), Waker::noop()).is_pending());
    assert_eq!(queue.len(), 1, "a refused get took the item");
    // Dropped after a refusal: nothing to pass on, and others proceed.
    drop(get);
    assert_eq!(*queue.try_get().unwrap(), 1);
    let sem = Semaphore::new(1);
    let mut acq = pin!(sem.acquire());
    assert!(poll_with(Some(0), acq.as_mut(), Waker::noop()).is_pending());
    assert_eq!(sem.available_permits(), 1);
    // Polled again with budget, it completes.
    assert!(poll_with(Some(1), acq.as_mut(), Waker::noop()).is_ready());
}

#[test]
fn a_waiter_that_was_granted_takes_its_grant_whatever_the_budget() {
    for fairness in [Fairness::Eventual, Fairness::Strict] {
        let lock = Lock::with_fairness(0, fairness);
        let guard = lock.try_lock().unwrap();
        let (woken, waker) = CountingWaker::new();
        let mut fut = pin!(lock.lock());
        assert!(poll_with(Some(8), fut.as_mut(), &waker).is_pending());
        drop(guard);
        assert_eq!(woken.count(), 1);
        // Spent budget: the grant (strict) or the retry (eventual) still
        // completes.
        assert!(
            poll_with(Some(0), fut.as_mut(), &waker).is_ready(),
            "granted lock refused ({fairness:?})"
        );

        let sem = Semaphore::with_fairness(0, fairness);
        let mut acq = pin!(sem.acquire_many(2));
        assert!(poll_with(Some(8), acq.as_mut(), &waker).is_pending());
        sem.add_permits(2);
        assert!(
            poll_with(Some(0), acq.as_mut(), &waker).is_ready(),
            "granted semaphore refused ({fairness:?})"
        );
    }

    let (_, waker) = CountingWaker::new();
    let queue = Queue::bounded(1).unwrap();
    let mut get = pin!(queue.get());
    assert!(poll_with(Some(8), get.as_mut(), &waker).is_pending());
    queue.try_put(7).unwrap(); // claimed for the waiting getter
    assert_eq!(
        poll_with(Some(0), get.as_mut(), &waker).map_ok(|item| *item),
        Poll::Ready(Ok(7))
    );

    queue.try_put(1).unwrap();
    let mut put = pin!(queue.put(2));
    assert!(poll_with(Some(8), put.as_mut(), &waker).is_pending());
    assert_eq!(*queue.try_get().unwrap(), 1); // a place is reserved for the putter
    assert!(poll_with(Some(0), put.as_mut(), &waker).is_ready());

    let event = Event::new();
    let mut wait = pin!(event.wait());
    assert!(poll_with(Some(8), wait.as_mut(), &waker).is_pending());
    event.set();
    assert!(poll_with(Some(0), wait.as_mut(), &waker).is_ready());

    let barrier = Barrier::new(2);
    let mut first = pin!(barrier.wait());
    assert!(poll_with(Some(8), first.as_mut(), &waker).is_pending());
    let mut second = pin!(barrier.wait());
    assert!(poll_with(Some(8), second.as_mut(), &waker).is_ready());
    assert!(poll_with(Some(0), first.as_mut(), &waker).is_ready());

    let queue = Queue::<u8>::unbounded();
    queue.try_put(1).unwrap();
    let mut join = pin!(queue.join());
    assert!(poll_with(Some(8), join.as_mut(), &waker).is_pending());
    drop(queue.try_get().unwrap()); // done
    assert!(poll_with(Some(0), join.as_mut(), &waker).is_ready());
}

#[test]
fn a_condition_wait_is_not_budgeted() {
    let lock = Lock::new(0);
    let cond = magpie_sync::Condition::new();
    let (_, waker) = CountingWaker::new();
    let guard = lock.try_lock().unwrap();
    let mut wait = pin!(cond.wait(guard));
    assert!(poll_with(Some(0), wait.as_mut(), &waker).is_pending());
    assert_eq!(cond.notify(1), 1);
    // Notified; it takes the (free) lock back even with a spent budget.
    assert!(poll_with(Some(0), wait.as_mut(), &waker).is_ready());
}

/// A future that counts its polls.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: usize,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = (F::Output, usize);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        let polls = self.polls;
        self.inner.as_mut().poll(cx).map(|out| (out, polls))
    }
}

#[test]
fn a_no_op_where_nobody_drives_it() {
    // tokio (its own coop is its own business) and futures::executor do not
    // drive magpie's budget: 10 000 ready operations complete in one poll.
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(Lock::new(0u32));
        let queue = Arc::new(Queue::unbounded());
        let body = {
            let (lock, queue) = (lock.clone(), queue.clone());
            async move {
                assert_eq!(coop::remaining(), None);
                for i in 0..10_000u32 {
                    *lock.lock().await += 1;
                    queue.put(i).await.unwrap();
                    assert_eq!(*queue.get().await.unwrap(), i);
                }
            }
        };
        let counted = CountPolls {
            inner: Box::pin(body),
            polls: 0,
        };
        let ((), polls) = exec.spawn(counted).await;
        assert_eq!(polls, 1, "made to yield on {}", exec.name());
        assert_eq!(*lock.lock().await, 10_000);
    });
}
