//! `Producer` / `Consumer`, the channel form of a queue: the last producer
//! to drop closes the queue (consumers drain it, then see the end), the
//! last consumer to drop closes and empties it (puts fail and give their
//! item back, items left are dropped and marked done). Items are counted
//! as they drop: none is lost or dropped twice.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Instant;

use futures::StreamExt;
use magpie_sync::{PutError, Queue, QueueItem, TryGetError, TryPutError};
use support::{Rng, or_cancel, run_on_each_executor, stress, yield_now};

/// An item that counts its drops.
#[derive(Debug)]
struct Tracked {
    n: u64,
    dropped: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, SeqCst);
    }
}

#[test]
fn the_last_producer_to_drop_closes_the_queue() {
    run_on_each_executor(|exec| async move {
        let (tx, rx) = Queue::bounded(2).unwrap().split();
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                exec.spawn(async move {
                    for i in 0..20 {
                        tx.put(p * 100 + i).await.unwrap();
                    }
                    // `tx` drops here.
                })
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Ok(item) = rx.get().await {
            got.push(*item);
        }
        futures::future::join_all(producers).await;
        got.sort_unstable();
        let mut expected: Vec<u64> = (0..3)
            .flat_map(|p| (0..20).map(move |i| p * 100 + i))
            .collect();
        expected.sort_unstable();
        assert_eq!(got, expected);
        assert!(rx.is_closed());
        assert_eq!(rx.try_get().unwrap_err(), TryGetError::Closed);
        assert!(rx.stream().next().await.is_none());
    });
}

#[test]
fn a_waiting_consumer_is_woken_when_the_last_producer_drops() {
    run_on_each_executor(|exec| async move {
        let (tx, rx) = Queue::<u32>::unbounded().split();
        let tx2 = tx.clone();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                exec.spawn(async move { rx.get().await.map(QueueItem::into_inner) })
            })
            .collect();
        let mut stream = rx.stream();
        let streamer = exec.spawn(async move { stream.next().await.is_none() });
        for _ in 0..3 {
            yield_now().await;
        }
        drop(tx);
        assert!(!rx.is_closed(), "a producer is left");
        drop(tx2);
        assert!(rx.is_closed());
        for c in consumers {
            assert!(c.await.is_err());
        }
        assert!(streamer.await, "the stream ended");
    });
}

#[test]
fn the_last_consumer_to_drop_fails_puts_and_discards_the_items() {
    run_on_each_executor(|exec| async move {
        let dropped = Arc::new(AtomicUsize::new(0));
        let item = |n| Tracked {
            n,
            dropped: dropped.clone(),
        };
        let (tx, rx) = Queue::bounded(2).unwrap().split();
        tx.put(item(0)).await.unwrap();
        tx.put(item(1)).await.unwrap();
        let waiting = {
            let (tx, third) = (tx.clone(), item(2));
            exec.spawn(async move { tx.put(third).await.map_err(PutError::into_inner) })
        };
        for _ in 0..3 {
            yield_now().await;
        }
        let joiner = {
            let q = tx.queue().clone();
            exec.spawn(async move { q.join().await })
        };
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed(), "a consumer is left");
        drop(rx2);
        assert!(tx.is_closed());
        // The waiting put gets its item back; the two queued are dropped
        // and marked done, so `join` returns.
        let back = waiting.await.expect_err("the put must fail");
        assert_eq!(back.n, 2);
        joiner.await;
        assert_eq!(dropped.load(SeqCst), 2);
        assert!(tx.queue().is_empty());
        assert_eq!(tx.queue().unfinished_tasks(), 0);
        match tx.try_put(item(3)) {
            Err(TryPutError::Closed(it)) => assert_eq!(it.n, 3),
            other => panic!("put into a queue without consumers: {other:?}"),
        }
        drop(back);
        assert_eq!(dropped.load(SeqCst), 4, "every item dropped once");
    });
}

#[test]
fn a_stream_counts_as_a_consumer_while_it_lives() {
    let (tx, rx) = Queue::unbounded().split();
    let stream = rx.stream();
    drop(rx);
    assert!(!tx.is_closed());
    tx.try_put(1).unwrap();
    drop(stream);
    assert!(tx.is_closed());
    assert!(tx.queue().is_empty(), "discarded with the last consumer");
}

#[test]
fn mixing_handles_and_halves() {
    let q = Queue::unbounded();
    // Plain handles do not count: dropping one closes nothing.
    drop(q.clone());
    assert!(!q.is_closed());
    let rx = q.consumer();
    let tx = q.producer();
    tx.try_put(1).unwrap();
    q.try_put(2).unwrap(); // the queue itself still puts
    assert_eq!(format!("{tx:?}"), format!("Producer({q:?})"));
    assert_eq!(format!("{rx:?}"), format!("Consumer({q:?})"));
    drop(tx);
    assert!(q.is_closed(), "the last producer closed it");
    // A producer made afterwards: its puts fail.
    let late = q.producer();
    assert_eq!(late.try_put(3), Err(TryPutError::Closed(3)));
    drop(late);
    // Closed by producers, consumers still drain.
    assert_eq!(*rx.try_get().unwrap(), 1);
    assert_eq!(*rx.queue().try_get().unwrap(), 2);
    assert_eq!(rx.try_get().unwrap_err(), TryGetError::Closed);
}

/// Producers and consumers cloned and dropped at random moments, puts and
/// gets cancelled at random: every item accepted is delivered once, the
/// consumers end when the last producer is gone, and nothing leaks.
#[test]
#[cfg_attr(miri, ignore)] // a stress test: real time, many threads
fn stress_halves_dropped_at_random() {
    stress(|exec, until| async move {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = Queue::bounded(4).unwrap().split();
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let (tx, dropped) = (tx.clone(), dropped.clone());
                exec.spawn(async move {
                    let mut rng = Rng::new(1000 + p);
                    let mut tx = Some(tx);
                    let (mut put, mut made) = (0u64, 0u64);
                    while Instant::now() < until {
                        let Some(current) = tx.as_ref() else { break };
                        let item = Tracked {
                            n: p,
                            dropped: dropped.clone(),
                        };
                        made += 1;
                        match or_cancel(current.put(item), rng.below(3) as usize).await {
                            Some(Ok(())) => put += 1,
                            Some(Err(_)) => panic!("closed while a producer lives"),
                            None => {} // cancelled: the item was dropped
                        }
                        match rng.below(16) {
                            // Hand over to a clone, dropping the old one.
                            0 => tx = tx.clone(),
                            // Leave early.
                            1 if p > 0 => tx = None,
                            _ => {}
                        }
                    }
                    (put, made)
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3u64)
            .map(|c| {
                let rx = rx.clone();
                exec.spawn(async move {
                    let mut rng = Rng::new(2000 + c);
                    let mut got = 0u64;
                    loop {
                        if rng.below(16) == 0 {
                            // A stream for a few items.
                            let mut items = rx.stream().take(3);
                            while let Some(item) = items.next().await {
                                drop(item);
                                got += 1;
                            }
                            if rx.is_closed() && rx.queue().is_empty() {
                                return got;
                            }
                            continue;
                        }
                        match or_cancel(rx.get(), rng.below(3) as usize).await {
                            Some(Ok(item)) => {
                                drop(item);
                                got += 1;
                            }
                            Some(Err(_)) => return got,
                            None => {} // cancelled: any item claimed is passed on
                        }
                    }
                })
            })
            .collect();
        let counts = futures::future::join_all(producers).await;
        let put: u64 = counts.iter().map(|c| c.0).sum();
        let made: u64 = counts.iter().map(|c| c.1).sum();
        let got: u64 = futures::future::join_all(consumers).await.iter().sum();
        assert!(rx.is_closed(), "closed by the last producer");
        assert_eq!(got, put, "items lost or duplicated");
        rx.queue().join().await;
        drop(rx);
        // Accepted items were dropped by the consumers; cancelled puts
        // dropped theirs: every item made was dropped exactly once.
        assert_eq!(
            dropped.load(SeqCst) as u64,
            made,
            "an item leaked or dropped twice"
        );
    });
}
