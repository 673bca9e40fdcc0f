//! Loom models of `Queue`: put and get blocking on a full and an empty
//! queue, `close` racing a put and a get, granted getters and putters
//! dropped before they poll (the item or place goes to the next in line),
//! `task_done`/`join`, item guards marking their item done racing `join`,
//! and the last producer's drop closing the queue.
//!
//! The invariant throughout is exactly-once delivery: every item put
//! successfully is got exactly once (by a getter, or drained at the end),
//! every item whose put failed comes back in the error, and nothing is
//! duplicated or lost. Every waiter completes (loom reports a deadlock
//! otherwise).
#![cfg(loom)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::Queue;

fn drain(queue: &Queue<u32>) -> Vec<u32> {
    std::iter::from_fn(|| queue.try_get().ok().map(|item| *item)).collect()
}

/// A queue of capacity 1: a producer puts 1 then 2, a consumer gets two
/// items. Both block at times (full, empty); the items arrive in order.
#[test]
fn put_and_get_on_full_and_empty() {
    loom::model(|| {
        let queue = Queue::bounded(1).unwrap();
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                block_on(async {
                    queue.put(1).await.unwrap();
                    queue.put(2).await.unwrap();
                });
            })
        };
        let got = block_on(async { [*queue.get().await.unwrap(), *queue.get().await.unwrap()] });
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
        assert!(queue.is_empty());
    });
}

/// A full queue; a putter waits for room, a getter takes an item, and the
/// queue is closed meanwhile. Each item ends up in exactly one place.
#[test]
fn close_racing_put_and_get() {
    loom::model(|| {
        let queue = Queue::bounded(1).unwrap();
        queue.try_put(0).unwrap();
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.put(1)).err().map(|e| e.into_inner()))
        };
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()).ok().map(|item| *item))
        };
        queue.close();
        let mut seen: Vec<u32> = putter.join().unwrap().into_iter().collect();
        seen.extend(getter.join().unwrap());
        seen.extend(drain(&queue));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1], "not delivered exactly once");
        assert!(queue.try_put(2).is_err());
    });
}

/// `close` alone must wake a getter waiting on an empty queue.
#[test]
fn close_wakes_a_waiting_getter() {
    loom::model(|| {
        let queue: Queue<u32> = Queue::unbounded();
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()).is_err())
        };
        queue.close();
        assert!(
            getter.join().unwrap(),
            "a getter got an item that was never put"
        );
    });
}

/// `Queue::get` as a `'static` future.
async fn get_owned(queue: Queue<u32>) -> Option<u32> {
    queue.get().await.ok().map(|item| *item)
}

/// `Queue::put` as a `'static` future; returns the item if the put failed.
async fn put_owned(queue: Queue<u32>, item: u32) -> Option<u32> {
    queue.put(item).await.err().map(|e| e.into_inner())
}

/// Two getters wait; an item is put and the first getter is dropped at the
/// same time. If the item was claimed for the dropped getter, it goes to
/// the second; it is delivered exactly once either way.
#[test]
fn dropped_granted_getter_passes_the_item_on() {
    loom::model(|| {
        let queue = Queue::unbounded();
        let mut first = Box::pin(get_owned(queue.clone()));
        let mut second = Box::pin(get_owned(queue.clone()));
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let getter = thread::spawn(move || block_on(second));
        queue.try_put(7).unwrap();
        dropper.join().unwrap();
        assert_eq!(getter.join().unwrap(), Some(7));
        assert!(drain(&queue).is_empty(), "delivered twice");
        assert!(queue.try_put(8).is_ok() && queue.try_get().is_ok_and(|item| *item == 8));
    });
}

/// A full queue of capacity 1 with two putters waiting; an item is taken
/// and the first putter is dropped at the same time. The place freed must
/// go to the second putter.
#[test]
fn dropped_granted_putter_passes_the_place_on() {
    loom::model(|| {
        let queue = Queue::bounded(1).unwrap();
        queue.try_put(0).unwrap();
        let mut first = Box::pin(put_owned(queue.clone(), 1));
        let mut second = Box::pin(put_owned(queue.clone(), 2));
        assert!(poll_noop(&mut first).is_pending());
        assert!(poll_noop(&mut second).is_pending());
        let dropper = thread::spawn(move || drop(first));
        let putter = thread::spawn(move || block_on(second));
        assert_eq!(*queue.try_get().unwrap(), 0);
        dropper.join().unwrap();
        assert_eq!(putter.join().unwrap(), None, "the put failed");
        assert_eq!(drain(&queue), [2]);
    });
}

/// A processed result, written before `task_done` and read after `join`.
struct Result(UnsafeCell<u32>);

// SAFETY: written by the worker before `task_done`, read after `join`;
// loom checks that this is a real happens-before edge.
unsafe impl Sync for Result {}

/// A worker gets the item, records a result and calls `task_done`, while
/// the producer joins: `join` returns only after `task_done`, and the
/// result is visible.
#[test]
fn task_done_releases_join() {
    loom::model(|| {
        let queue = Queue::unbounded();
        let result = Arc::new(Result(UnsafeCell::new(0)));
        queue.try_put(5).unwrap();
        let worker = {
            let (queue, result) = (queue.clone(), result.clone());
            thread::spawn(move || {
                // asyncio's protocol: the bare item, then `task_done`.
                let item = block_on(queue.get()).unwrap().into_inner();
                // SAFETY: read only after `join`, which follows `task_done`.
                result.0.with_mut(|p| unsafe { *p = item * 2 });
                queue.task_done();
            })
        };
        block_on(queue.join());
        assert_eq!(queue.unfinished_tasks(), 0);
        // SAFETY: `join` returned, so `task_done` (after the write) ran.
        result.0.with(|p| assert_eq!(unsafe { *p }, 10));
        worker.join().unwrap();
    });
}

/// Two producers each put an item and drop, while the consumer waits on
/// the queue: the last producer's drop closes it. The consumer gets both
/// items and is then woken with the end (loom reports a deadlock if the
/// close, or its wake-up, is lost).
#[test]
fn last_producer_drop_wakes_a_waiting_consumer() {
    loom::model(|| {
        let (tx, rx) = Queue::unbounded().split();
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|item| {
                let tx = tx.clone();
                thread::spawn(move || {
                    tx.try_put(item)
                        .expect("a producer lives: the queue is open");
                    drop(tx);
                })
            })
            .collect();
        drop(tx);
        let mut got = block_on(async {
            let mut got = Vec::new();
            while let Ok(item) = rx.get().await {
                got.push(*item);
            }
            got
        });
        for producer in producers {
            producer.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2], "an item was lost or duplicated");
        assert!(rx.is_closed());
    });
}

/// A value each worker writes before its item is marked done, read after
/// `join`.
struct Written(UnsafeCell<u32>);

// SAFETY: each cell is written by one worker before its item is marked
// done and read only after `join`; loom checks that this is a real
// happens-before edge.
unsafe impl Sync for Written {}

/// Two items held in guards by two workers, which write a result and drop
/// their guard (marking the item done: one takes the lock-free path, the
/// last may take the lock to wake the joiner), racing `join`. `join`
/// returns only after both are done, and sees both writes.
#[test]
fn item_guards_dropped_racing_join() {
    loom::model(|| {
        let queue = Queue::unbounded();
        queue.try_put(1).unwrap();
        queue.try_put(2).unwrap();
        let mut items = queue.stream();
        let results = Arc::new([Written(UnsafeCell::new(0)), Written(UnsafeCell::new(0))]);
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let item = block_on(futures::StreamExt::next(&mut items)).unwrap();
                let results = results.clone();
                thread::spawn(move || {
                    // SAFETY: read only after `join`, which follows the
                    // guard's drop below.
                    results[i].0.with_mut(|p| unsafe { *p = *item * 10 });
                    drop(item); // marks it done
                })
            })
            .collect();
        block_on(queue.join());
        assert_eq!(queue.unfinished_tasks(), 0);
        for (i, result) in results.iter().enumerate() {
            // SAFETY: `join` returned, so both guards (after the writes)
            // were dropped.
            result
                .0
                .with(|p| assert_eq!(unsafe { *p }, (i as u32 + 1) * 10));
        }
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
