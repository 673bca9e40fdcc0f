//! Timer promptness: 10,000 tasks each sleep a random 1..10 ms, on magpie,
//! tokio and smol (async-executor with async-io's timers), 2 worker threads
//! each. Two groups:
//!
//! * `timers_10k_lateness`: the *time* criterion reports is the mean
//!   lateness of the 10,000 wake-ups (how long after its deadline a task
//!   observed it), measured with `iter_custom`;
//! * `timers_10k_total`: the wall time from the first spawn until the last
//!   task finished.
//!
//! Run with `cargo bench -p magpie-benches --bench timers`.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::SmolPool;

const TASKS: u64 = 10_000;
const WORKERS: usize = 2;

/// The same pseudo-random durations for every runtime.
fn durations() -> Vec<Duration> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    (0..TASKS)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Duration::from_micros(1000 + seed % 9000)
        })
        .collect()
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a run needs from a runtime: spawn a sleeper, run to completion.
trait Rt {
    fn name(&self) -> &'static str;
    /// Spawns `TASKS` sleepers and returns (mean lateness, total time).
    fn run(&self, durations: &[Duration]) -> (Duration, Duration);
}

/// Sleeps until `deadline` and reports how late it woke.
async fn lateness_of<S: Future<Output = ()>>(deadline: Instant, sleep: S) -> Duration {
    sleep.await;
    Instant::now().saturating_duration_since(deadline)
}

fn summarise(start: Instant, lateness: Vec<Duration>) -> (Duration, Duration) {
    let total = start.elapsed();
    let sum: Duration = lateness.iter().sum();
    (sum / lateness.len() as u32, total)
}

struct Magpie(magpie::Runtime);

impl Rt for Magpie {
    fn name(&self) -> &'static str {
        "magpie"
    }
    fn run(&self, durations: &[Duration]) -> (Duration, Duration) {
        let durations = durations.to_vec();
        self.0.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = durations
                .into_iter()
                .map(|d| {
                    magpie::spawn(async move {
                        let deadline = Instant::now() + d;
                        lateness_of(deadline, magpie::time::sleep_until(deadline)).await
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for t in tasks {
                lateness.push(t.await.unwrap());
            }
            summarise(start, lateness)
        })
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn run(&self, durations: &[Duration]) -> (Duration, Duration) {
        let durations = durations.to_vec();
        self.0.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = durations
                .into_iter()
                .map(|d| {
                    tokio::spawn(async move {
                        let deadline = Instant::now() + d;
                        lateness_of(deadline, tokio::time::sleep_until(deadline.into())).await
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for t in tasks {
                lateness.push(t.await.unwrap());
            }
            summarise(start, lateness)
        })
    }
}

/// smol: async-executor driven by `WORKERS` threads, async-io's timers.
struct Smol(SmolPool);

impl Rt for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn run(&self, durations: &[Duration]) -> (Duration, Duration) {
        let ex = self.0.ex.clone();
        let durations = durations.to_vec();
        let fut: BoxFuture<(Duration, Duration)> = Box::pin(async move {
            let start = Instant::now();
            let tasks: Vec<_> = durations
                .into_iter()
                .map(|d| {
                    ex.spawn(async move {
                        let deadline = Instant::now() + d;
                        lateness_of(deadline, async {
                            async_io::Timer::at(deadline).await;
                        })
                        .await
                    })
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for t in tasks {
                lateness.push(t.await);
            }
            summarise(start, lateness)
        });
        futures_lite::future::block_on(self.0.ex.run(fut))
    }
}

fn runtimes() -> Vec<Box<dyn Rt>> {
    vec![
        Box::new(Magpie(
            magpie::Runtime::builder()
                .worker_threads(WORKERS)
                .build()
                .unwrap(),
        )),
        Box::new(Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .enable_time()
                .build()
                .unwrap(),
        )),
        Box::new(Smol(SmolPool::new(WORKERS))),
    ]
}

fn timers(c: &mut Criterion) {
    let durations = durations();
    let rts = runtimes();
    let mut lateness = c.benchmark_group("timers_10k_lateness");
    lateness.sample_size(20);
    for rt in &rts {
        lateness.bench_function(rt.name(), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.run(&durations).0).sum())
        });
    }
    lateness.finish();
    let mut total = c.benchmark_group("timers_10k_total");
    total.sample_size(20);
    for rt in &rts {
        total.bench_function(rt.name(), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.run(&durations).1).sum())
        });
    }
    total.finish();
}

criterion_group!(benches, timers);
criterion_main!(benches);
