//! Many tasks waking each other across workers, and plain threads waking
//! them from outside, for a couple of seconds. A lost wakeup shows up as a
//! token that never arrives; the timeout turns that hang into a failure.

mod support;

use futures::StreamExt;
use futures::channel::mpsc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};
use support::with_timeout;

const TASKS: usize = 256;
const TOKENS: usize = 512;
const RUN_FOR: Duration = Duration::from_secs(2);

fn run_token_ring(workers: usize) {
    with_timeout(Duration::from_secs(60), move || {
        let rt = magpie::Runtime::builder()
            .worker_threads(workers)
            .build()
            .unwrap();
        let deadline = Instant::now() + RUN_FOR;
        let retired = Arc::new(AtomicUsize::new(0));
        let hops = Arc::new(AtomicU64::new(0));
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..TASKS).map(|_| mpsc::unbounded::<u64>()).unzip();
        let senders = Arc::new(senders);
        let tasks: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(me, mut rx)| {
                let (senders, retired, hops) = (senders.clone(), retired.clone(), hops.clone());
                rt.spawn(async move {
                    let mut seed = (me as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    while let Some(token) = rx.next().await {
                        hops.fetch_add(1, SeqCst);
                        if Instant::now() >= deadline {
                            retired.fetch_add(1, SeqCst);
                            continue;
                        }
                        if token % 7 == 0 {
                            magpie::task::yield_now().await;
                        }
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let next = (seed % TASKS as u64) as usize;
                        senders[next].unbounded_send(token + 1).unwrap();
                    }
                })
            })
            .collect();
        // Half the tokens start from inside, half are injected from plain
        // threads while the ring runs.
        rt.block_on(async {
            for i in 0..TOKENS / 2 {
                senders[i % TASKS].unbounded_send(0).unwrap();
            }
        });
        let injectors: Vec<_> = (0..2)
            .map(|t| {
                let senders = senders.clone();
                std::thread::spawn(move || {
                    for i in 0..TOKENS / 4 {
                        senders[(i * 31 + t) % TASKS].unbounded_send(1).unwrap();
                        std::thread::sleep(Duration::from_micros(500));
                    }
                })
            })
            .collect();
        for t in injectors {
            t.join().unwrap();
        }
        while retired.load(SeqCst) < TOKENS {
            std::thread::sleep(Duration::from_millis(5));
        }
        for s in senders.iter() {
            s.close_channel();
        }
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(retired.load(SeqCst), TOKENS);
        assert!(
            hops.load(SeqCst) > TOKENS as u64 * 10,
            "the ring barely moved"
        );
    });
}

#[test]
fn tokens_passed_between_tasks_across_two_workers_all_arrive() {
    run_token_ring(2);
}

#[test]
fn tokens_passed_between_tasks_across_four_workers_all_arrive() {
    run_token_ring(4);
}

/// Workers keep going to sleep and being woken: short bursts of work with
/// pauses in between exercise the park protocol thousands of times.
#[test]
fn bursts_separated_by_idle_gaps_never_strand_a_task() {
    with_timeout(Duration::from_secs(60), || {
        let rt = magpie::Runtime::builder()
            .worker_threads(4)
            .build()
            .unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for round in 0..2000 {
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let d = done.clone();
            let task = rt.spawn(async move {
                rx.await.unwrap();
                d.fetch_add(1, SeqCst);
            });
            if round % 3 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
            tx.send(()).unwrap();
            futures::executor::block_on(task).unwrap();
        }
        assert_eq!(done.load(SeqCst), 2000);
    });
}
