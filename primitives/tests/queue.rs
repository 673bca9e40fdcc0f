//! `Queue`, `LifoQueue`, `PriorityQueue`: every operation and error, on
//! every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use futures::StreamExt;
use magpie_sync::{
    GetError, LifoQueue, OwnedQueueItem, PriorityQueue, PutError, Queue, QueueItem, TryGetError,
    TryPutError,
};
use support::{poll_noop, run_on_each_executor, scaled, yield_now};

#[test]
fn capacity_zero_is_an_error_at_construction() {
    let err = Queue::<u8>::bounded(0).unwrap_err();
    assert_eq!(err.capacity(), 0);
    assert_eq!(
        err.to_string(),
        "a bounded queue needs a capacity of at least 1"
    );
    let err = LifoQueue::<u8>::bounded(LifoQueue::<u8>::MAX_CAPACITY + 1).unwrap_err();
    assert!(err.to_string().contains("exceeds the maximum"));
    assert!(PriorityQueue::<u8>::bounded(0).is_err());
    assert!(Queue::<u8>::bounded(Queue::<u8>::MAX_CAPACITY).is_ok());
}

#[test]
fn put_get_fifo_with_len_empty_full() {
    run_on_each_executor(|_| async {
        let q = Queue::bounded(3).unwrap();
        assert!(q.is_empty());
        assert_eq!(q.capacity(), Some(3));
        for i in 0..3 {
            q.put(i).await.unwrap();
        }
        assert_eq!(q.len(), 3);
        assert!(q.is_full());
        for i in 0..3 {
            assert_eq!(*q.get().await.unwrap(), i);
        }
        assert!(q.is_empty() && !q.is_full());
    });
}

#[test]
fn try_forms_and_their_errors() {
    let q = Queue::bounded(1).unwrap();
    assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
    assert_eq!(q.try_put("a"), Ok(()));
    assert_eq!(q.try_put("b"), Err(TryPutError::Full("b")));
    assert_eq!(*q.try_get().unwrap(), "a");
    q.close();
    assert_eq!(q.try_put("c"), Err(TryPutError::Closed("c")));
    assert_eq!(q.try_get().unwrap_err(), TryGetError::Closed);
    assert_eq!(TryPutError::Full(1).into_inner(), 1);
    assert_eq!(format!("{:?}", TryPutError::Closed(1)), "Closed(..)");
}

#[test]
fn unbounded_never_waits_and_is_never_full() {
    let q = Queue::unbounded();
    for i in 0..scaled(10_000) {
        q.try_put(i).unwrap();
    }
    assert!(!q.is_full());
    assert_eq!(q.len(), scaled(10_000));
    assert_eq!(q.capacity(), None);
    for i in 0..scaled(10_000) {
        assert_eq!(*q.try_get().unwrap(), i);
    }
}

#[test]
fn put_waits_for_room_and_get_waits_for_items() {
    run_on_each_executor(|exec| async move {
        let q = Queue::bounded(1).unwrap();
        q.put(0).await.unwrap();
        let q2 = q.clone();
        let putter = exec.spawn(async move { q2.put(1).await });
        yield_now().await;
        assert_eq!(*q.get().await.unwrap(), 0);
        putter.await.unwrap();
        assert_eq!(*q.get().await.unwrap(), 1);
        let q2 = q.clone();
        let getter = exec.spawn(async move { q2.get().await.map(QueueItem::into_inner) });
        yield_now().await;
        q.put(2).await.unwrap();
        assert_eq!(getter.await, Ok(2));
    });
}

#[test]
fn close_fails_puts_returning_the_item_and_drains_gets() {
    run_on_each_executor(|exec| async move {
        let q = Queue::bounded(2).unwrap();
        q.put(1).await.unwrap();
        q.put(2).await.unwrap();
        let q2 = q.clone();
        let waiting_putter = exec.spawn(async move { q2.put(3).await });
        yield_now().await;
        q.close();
        assert!(q.is_closed());
        assert_eq!(waiting_putter.await, Err(PutError(3)));
        assert_eq!(q.put(4).await.unwrap_err().into_inner(), 4);
        assert_eq!(*q.get().await.unwrap(), 1);
        assert_eq!(*q.get().await.unwrap(), 2);
        let err: GetError = q.get().await.unwrap_err();
        assert_eq!(err.to_string(), "the queue is closed and empty");
        q.close(); // twice is fine
    });
}

#[test]
fn close_wakes_waiting_getters_with_an_error() {
    run_on_each_executor(|exec| async move {
        let q: Queue<u32> = Queue::unbounded();
        let getters: Vec<_> = (0..5)
            .map(|_| {
                let q = q.clone();
                exec.spawn(async move { q.get().await.map(QueueItem::into_inner) })
            })
            .collect();
        for _ in 0..3 {
            yield_now().await;
        }
        q.close();
        for g in getters {
            assert!(g.await.is_err());
        }
    });
}

#[test]
fn task_done_and_join() {
    run_on_each_executor(|exec| async move {
        let q = Queue::unbounded();
        q.join().await; // nothing unfinished
        for i in 0..10 {
            q.put(i).await.unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 10);
        let q2 = q.clone();
        let worker = exec.spawn(async move {
            for _ in 0..10 {
                // Asyncio's protocol: the bare item, then `task_done`.
                let _item = q2.get().await.unwrap().into_inner();
                yield_now().await;
                q2.task_done();
            }
        });
        q.join().await;
        assert_eq!(q.unfinished_tasks(), 0);
        worker.await;
    });
}

#[test]
fn join_waits_until_the_last_task_is_done() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut join = Box::pin(q.join());
    assert!(poll_noop(&mut join).is_pending());
    let first = q.try_get().unwrap();
    let second = q.try_get().unwrap().into_inner();
    assert!(poll_noop(&mut join).is_pending());
    drop(first);
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(poll_noop(&mut join).is_pending());
    assert_eq!(second, 2);
    q.task_done();
    assert!(poll_noop(&mut join).is_ready());
}

#[test]
#[should_panic(expected = "task_done called with no item taken out by QueueItem::into_inner")]
fn task_done_too_often_panics() {
    let q = Queue::unbounded();
    q.try_put(()).unwrap();
    q.try_get().unwrap().into_inner();
    q.task_done();
    q.task_done();
}

/// The asyncio habit, `task_done` for an item still held in its guard,
/// would count it twice (the guard marks it again when it drops) and let
/// `join` return early: it panics instead, even with other items
/// unfinished.
#[test]
fn task_done_for_an_item_still_in_its_guard_panics() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let item = q.try_get().unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done()))
        .expect_err("task_done for a guarded item must panic");
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        msg.contains("a QueueItem marks its item done when it drops"),
        "{msg}"
    );
    // Nothing was counted: the accounting is intact.
    assert_eq!(q.unfinished_tasks(), 2);
    drop(item);
    drop(q.try_get().unwrap());
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn stream_yields_items_until_closed() {
    run_on_each_executor(|exec| async move {
        let q = Queue::bounded(4).unwrap();
        let q2 = q.clone();
        let producer = exec.spawn(async move {
            for i in 0..50 {
                q2.put(i).await.unwrap();
            }
            q2.close();
        });
        let items: Vec<_> = q.stream().map(OwnedQueueItem::into_inner).collect().await;
        assert_eq!(items, (0..50).collect::<Vec<_>>());
        producer.await;
        let mut s = q.stream();
        assert!(s.next().await.is_none());
        assert!(futures::stream::FusedStream::is_terminated(&s));
    });
}

#[test]
fn lifo_and_priority_orders() {
    run_on_each_executor(|_| async {
        let lifo = LifoQueue::bounded(3).unwrap();
        for i in 0..3 {
            lifo.put(i).await.unwrap();
        }
        assert_eq!(lifo.try_put(9), Err(TryPutError::Full(9)));
        for i in (0..3).rev() {
            assert_eq!(*lifo.get().await.unwrap(), i);
        }
        let prio = PriorityQueue::unbounded();
        for p in [5, 1, 4, 2, 3] {
            prio.put(p).await.unwrap();
        }
        for p in 1..=5 {
            assert_eq!(*prio.get().await.unwrap(), p);
        }
        let largest_first = PriorityQueue::unbounded();
        for p in [1, 3, 2] {
            largest_first.try_put(std::cmp::Reverse(p)).unwrap();
        }
        assert_eq!(*largest_first.try_get().unwrap(), std::cmp::Reverse(3));
    });
}

#[test]
fn clones_are_the_same_queue() {
    let q = Queue::unbounded();
    let q2 = q.clone();
    q.try_put(1).unwrap();
    assert_eq!(*q2.try_get().unwrap(), 1);
    q2.close();
    assert!(q.is_closed());
    assert_eq!(
        format!("{q:?}"),
        "GenericQueue { len: 0, capacity: None, closed: true }"
    );
}

#[test]
fn getters_are_served_in_arrival_order() {
    let q = Queue::unbounded();
    let mut getters: Vec<_> = (0..5).map(|_| Box::pin(q.get())).collect();
    for g in &mut getters {
        assert!(poll_noop(g).is_pending());
    }
    for i in 0..5 {
        q.try_put(i).unwrap();
        // A try does not overtake waiting getters.
        assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
    }
    for (i, g) in getters.iter_mut().enumerate() {
        assert_eq!(
            poll_noop(g).map_ok(QueueItem::into_inner),
            Poll::Ready(Ok(i))
        );
    }
}

#[test]
fn mpmc_delivers_every_item_once() {
    run_on_each_executor(|exec| async move {
        let q = Queue::bounded(8).unwrap();
        let sum = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let q = q.clone();
                exec.spawn(async move {
                    for i in 0..scaled(250) {
                        q.put(p * 1000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (q, sum) = (q.clone(), sum.clone());
                exec.spawn(async move {
                    while let Ok(item) = q.get().await {
                        sum.fetch_add(*item, SeqCst);
                    }
                })
            })
            .collect();
        futures::future::join_all(producers).await;
        q.close();
        futures::future::join_all(consumers).await;
        let expected: usize = (0..4)
            .map(|p| (0..scaled(250)).map(|i| p * 1000 + i).sum::<usize>())
            .sum();
        assert_eq!(sum.load(SeqCst), expected);
    });
}
