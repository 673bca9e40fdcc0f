//! Fairness: FIFO service, bounded barging under eventual fairness, and no
//! starvation under real contention (threads hammering a primitive while
//! one waiter waits).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::Poll;
use std::time::{Duration, Instant};

use magpie_sync::{Fairness, Lock, RwLock, Semaphore};
use support::{poll_noop, with_timeout};

/// After at most this many bypasses an eventually fair waiter is served.
const MAX_BYPASS: usize = 16;

#[test]
fn eventual_lock_bounds_barging_by_count() {
    let lock = Lock::new(());
    let mut holder = lock.try_lock().unwrap();
    let mut waiter = Box::pin(lock.lock());
    assert!(poll_noop(&mut waiter).is_pending());
    let mut barged = 0;
    loop {
        drop(holder); // wakes the waiter to retry
        match lock.try_lock() {
            Ok(g) => {
                barged += 1;
                holder = g;
                // The waiter retries and finds the lock taken again.
                assert!(poll_noop(&mut waiter).is_pending());
            }
            Err(_) => break, // handed to the waiter directly
        }
        assert!(barged <= MAX_BYPASS, "barged {barged} times");
    }
    assert!(barged >= 1, "eventual fairness should allow some barging");
    assert!(poll_noop(&mut waiter).is_ready());
}

#[test]
fn eventual_lock_bounds_barging_by_time() {
    let lock = Lock::new(());
    let mut holder = lock.try_lock().unwrap();
    let mut waiter = Box::pin(lock.lock());
    assert!(poll_noop(&mut waiter).is_pending());
    // Overtaken once...
    drop(holder);
    holder = lock.try_lock().expect("one barge");
    assert!(poll_noop(&mut waiter).is_pending());
    // ...and again, more than the fair timeout later.
    std::thread::sleep(Duration::from_millis(2));
    drop(holder);
    holder = lock.try_lock().expect("a second barge");
    assert!(poll_noop(&mut waiter).is_pending());
    drop(holder);
    assert!(
        lock.try_lock().is_err(),
        "a waiter overtaken for 2 ms must be handed the lock"
    );
    assert!(poll_noop(&mut waiter).is_ready());
}

#[test]
fn strict_lock_never_lets_anyone_barge() {
    let lock = Lock::with_fairness((), Fairness::Strict);
    let holder = lock.try_lock().unwrap();
    let mut waiter = Box::pin(lock.lock());
    assert!(poll_noop(&mut waiter).is_pending());
    drop(holder);
    assert!(lock.try_lock().is_err());
    assert!(matches!(poll_noop(&mut waiter), Poll::Ready(_)));
}

/// A thread that hammers `op` until told to stop.
fn hammer(
    stop: Arc<AtomicBool>,
    mut op: impl FnMut() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(SeqCst) {
            op();
        }
    })
}

/// Runs `wait` on its own thread while two threads hammer, and returns how
/// long `wait` took.
fn latency_under_hammering(
    hammers: Vec<Box<dyn FnMut() + Send>>,
    wait: impl FnOnce() + Send + 'static,
) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = hammers
        .into_iter()
        .map(|h| hammer(stop.clone(), h))
        .collect();
    std::thread::sleep(Duration::from_millis(5)); // let them get going
    let elapsed = with_timeout("latency", Duration::from_secs(10), move || {
        let start = Instant::now();
        wait();
        start.elapsed()
    });
    stop.store(true, SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    elapsed
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a wall-clock latency bound (2 s) while threads spin on the primitive: interpreted, the bound measures Miri, not fairness"
)]
fn a_lock_waiter_is_not_starved_by_greedy_threads() {
    for fairness in [Fairness::Eventual, Fairness::Strict] {
        let lock = Arc::new(Lock::with_fairness(0u64, fairness));
        let hammers: Vec<Box<dyn FnMut() + Send>> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                Box::new(move || {
                    *futures::executor::block_on(lock.lock()) += 1;
                }) as Box<dyn FnMut() + Send>
            })
            .collect();
        let l = lock.clone();
        let took = latency_under_hammering(hammers, move || {
            for _ in 0..20 {
                drop(futures::executor::block_on(l.lock()));
            }
        });
        assert!(
            took < Duration::from_secs(2),
            "{fairness:?}: 20 acquisitions took {took:?}"
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a wall-clock latency bound (2 s) while threads spin on the primitive: interpreted, the bound measures Miri, not fairness"
)]
fn a_writer_is_not_starved_by_a_stream_of_readers() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let lock = Arc::new(RwLock::with_fairness(0u64, fairness));
        let hammers: Vec<Box<dyn FnMut() + Send>> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                Box::new(move || {
                    let _r = futures::executor::block_on(lock.read());
                    std::hint::spin_loop();
                }) as Box<dyn FnMut() + Send>
            })
            .collect();
        let l = lock.clone();
        let took = latency_under_hammering(hammers, move || {
            for _ in 0..20 {
                *futures::executor::block_on(l.write()) += 1;
            }
        });
        assert!(
            took < Duration::from_secs(2),
            "{fairness:?}: 20 writes took {took:?}"
        );
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a wall-clock latency bound (2 s) while threads spin on the primitive: interpreted, the bound measures Miri, not fairness"
)]
fn a_large_acquire_is_not_starved_by_small_ones() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let sem = Arc::new(Semaphore::with_fairness(4, fairness));
        let hammers: Vec<Box<dyn FnMut() + Send>> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                Box::new(move || {
                    let _p = futures::executor::block_on(sem.acquire()).unwrap();
                    std::hint::spin_loop();
                }) as Box<dyn FnMut() + Send>
            })
            .collect();
        let s = sem.clone();
        let took = latency_under_hammering(hammers, move || {
            for _ in 0..20 {
                drop(futures::executor::block_on(s.acquire_many(4)).unwrap());
            }
        });
        assert!(
            took < Duration::from_secs(2),
            "{fairness:?}: 20 large acquires took {took:?}"
        );
    }
}
