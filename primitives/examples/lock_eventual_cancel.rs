//! Regression program for lost wakeups (issue 11, item 4): tasks hold a
//! [`Lock`] across an `.await` on magpie's runtime while 15% of them are
//! cancelled at random moments. A waiter that stays asleep while the lock is
//! free is reported as a hang.
//!
//! ```text
//! cargo run --release -p magpie-sync --example lock_eventual_cancel -- <strict|eventual> [iters] [n]
//! ```
//!
//! `NOSLEEP=1` holds the lock across yields only (the fastest to fail
//! before the fix); `NOCANCEL=1` cancels nothing.

use magpie::sync::{Fairness, Lock};
use magpie::time::{self, Duration};
use std::cell::Cell;
use std::sync::Arc;

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
    let fair = if a.get(1).map(String::as_str) == Some("strict") {
        Fairness::Strict
    } else {
        Fairness::Eventual
    };
    let iters: u64 = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
    let n: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let boxed = std::env::var("BOXED").is_ok();
    magpie::run(async move {
        for iter in 0..iters {
            let lock = Arc::new(Lock::with_fairness(0u64, fair));
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let lock = lock.clone();
                    let task = async move {
                        let mut g = lock.lock().await;
                        jitter().await; // hold across an await
                        *g += 1;
                    };
                    if boxed {
                        magpie::spawn(Box::pin(task))
                    } else {
                        magpie::spawn(task)
                    }
                })
                .collect();
            if std::env::var("NOCANCEL").is_err() {
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
                        "HANG iter {iter}: fairness={fair:?} is_locked={} n={n} {:?}",
                        lock.is_locked(),
                        lock,
                    );
                    std::process::exit(1);
                }
            }
        }
        println!("no hang in {iters} iterations ({fair:?}, n={n})");
    });
}
