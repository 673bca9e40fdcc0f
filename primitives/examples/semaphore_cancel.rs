//! Regression program for lost wakeups (issue 11, item 4): tasks take
//! 1..=p permits of a [`Semaphore`] (some with `try_acquire_many`) and hold
//! them across an `.await` on magpie's runtime while 15% of them are
//! cancelled at random moments. A waiter that stays asleep while permits
//! are free is reported as a hang, permits not all back as a leak.
//!
//! ```text
//! cargo run --release -p magpie-sync --example semaphore_cancel -- <strict|eventual|any> [cancel:0|1] [try:0|1] [n] [iters]
//! ```
//!
//! `NOSLEEP=1` holds permits across yields only; `K1=1` takes one permit
//! at a time; `NOHOLD=1` releases at once.

use magpie::sync::{Fairness, Semaphore};
use magpie::time::{self, Duration};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x2545_f491_4f6c_dd1d_u64);
        let here = &seed as *const u64 as u64;
        (seed ^ here.rotate_left(17)) | 1
    });
}

/// xorshift64: a uniform-enough number below `n`.
fn below(n: u64) -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x % n
    })
}

async fn jitter() {
    match below(4) {
        0 => {}
        1 => magpie::task::yield_now().await,
        _ => {
            if std::env::var("NOSLEEP").is_ok() {
                magpie::task::yield_now().await
            } else {
                time::sleep(Duration::from_micros(below(300))).await
            }
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mode = a.get(1).cloned().unwrap_or("any".into());
    let cancel = a.get(2).is_none_or(|s| s == "1");
    let use_try = a.get(3).is_none_or(|s| s == "1");
    let n: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let iters: u64 = a.get(5).and_then(|s| s.parse().ok()).unwrap_or(500);
    let boxed = std::env::var("BOXED").is_ok();
    magpie::run(async move {
        for iter in 0..iters {
            let p = 1 + below(7) as usize;
            let fair = match mode.as_str() {
                "strict" => Fairness::Strict,
                "eventual" => Fairness::Eventual,
                _ => {
                    if below(2) == 0 {
                        Fairness::Strict
                    } else {
                        Fairness::Eventual
                    }
                }
            };
            let sem = Arc::new(Semaphore::with_fairness(p, fair));
            let waiting = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (sem, waiting) = (sem.clone(), waiting.clone());
                    let k = if std::env::var("K1").is_ok() {
                        1
                    } else {
                        1 + below(p as u64) as usize
                    };
                    let try_it = use_try && below(5) == 0;
                    let task = async move {
                        let _pm = if try_it {
                            match sem.try_acquire_many(k) {
                                Ok(p) => p,
                                Err(_) => return,
                            }
                        } else {
                            waiting.fetch_add(1, SeqCst);
                            let p = sem.acquire_many(k).await.unwrap();
                            waiting.fetch_sub(1, SeqCst);
                            p
                        };
                        if std::env::var("NOHOLD").is_err() {
                            jitter().await;
                        }
                    };
                    if boxed {
                        magpie::spawn(Box::pin(task))
                    } else {
                        magpie::spawn(task)
                    }
                })
                .collect();
            if cancel {
                for _ in 0..n * 15 / 100 {
                    let j = below(n as u64) as usize;
                    if below(3) == 0 {
                        jitter().await;
                    }
                    hs[j].cancel();
                }
            }
            for h in hs {
                if time::timeout(Duration::from_secs(2), h).await.is_err() {
                    println!(
                        "HANG iter {iter}: p={p} fairness={fair:?} available={} waiting~{} (cancel={cancel} try={use_try} n={n}) {:?}",
                        sem.available_permits(),
                        waiting.load(SeqCst),
                        sem,
                    );
                    std::process::exit(1);
                }
            }
            if sem.available_permits() != p {
                println!(
                    "LEAK iter {iter}: available {} != {p}",
                    sem.available_permits()
                );
                std::process::exit(1);
            }
        }
        println!("no hang in {iters} iterations ({mode} cancel={cancel} try={use_try} n={n})");
    });
}
