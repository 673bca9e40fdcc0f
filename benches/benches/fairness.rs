//! Fairness under CPU-heavy load (issue 12), on magpie, tokio and smol
//! (async-executor with async-io's timers), 2 worker threads each. The
//! *time* criterion reports for each is a latency measured inside the run
//! (`iter_custom`), not the run's duration:
//!
//! * `fair_short_beside_slices_{p50,p99}`: 4 tasks spin 500 µs per poll, 20
//!   polls each, yielding in between, while 1,000 empty tasks are spawned
//!   from a plain thread in bursts of 25 every 200 µs: the spawn-to-finish
//!   latency of the empty tasks;
//! * `fair_sleepers_beside_spinners_{p50,p99}`: 2 tasks spin 50 ms per poll
//!   and yield, while 40 tasks, spawned from a plain thread one per
//!   millisecond, each sleep 1 ms: their spawn-to-finish latency
//!   (`shared/repros/long_poll_starvation.rs`);
//! * `fair_timer_lateness_busy`: 2 tasks spin 2 ms per poll and yield,
//!   keeping both workers busy, while 200 tasks sleep 1..10 ms: the mean
//!   lateness of their wake-ups.
//!
//! Run with `cargo bench -p magpie-benches --bench fairness`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{SmolPool, yield_now};

const WORKERS: usize = 2;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a workload needs from a runtime: spawn (detached) from any thread,
/// and sleep.
trait Rt: Send + Sync {
    fn name(&self) -> &'static str;
    fn spawn(&self, fut: BoxFuture);
    fn sleep(&self, d: Duration) -> BoxFuture;
}

struct Magpie(magpie::Runtime);

impl Rt for Magpie {
    fn name(&self) -> &'static str {
        "magpie"
    }
    fn spawn(&self, fut: BoxFuture) {
        drop(self.0.spawn(fut));
    }
    fn sleep(&self, d: Duration) -> BoxFuture {
        Box::pin(magpie::time::sleep(d))
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn spawn(&self, fut: BoxFuture) {
        drop(self.0.spawn(fut));
    }
    fn sleep(&self, d: Duration) -> BoxFuture {
        Box::pin(tokio::time::sleep(d))
    }
}

struct Smol(SmolPool);

impl Rt for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn spawn(&self, fut: BoxFuture) {
        self.0.ex.spawn(fut).detach();
    }
    fn sleep(&self, d: Duration) -> BoxFuture {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Spawns `n` tasks that spin `slice` per poll and yield, `polls` times
/// (or until `stop`); returns a receiver of their ends.
fn spinners(
    rt: &dyn Rt,
    n: usize,
    slice: Duration,
    polls: usize,
    stop: &Arc<AtomicBool>,
) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    for _ in 0..n {
        let (tx, stop) = (tx.clone(), stop.clone());
        rt.spawn(Box::pin(async move {
            for _ in 0..polls {
                if stop.load(SeqCst) {
                    break;
                }
                spin(slice);
                yield_now().await;
            }
            let _ = tx.send(());
        }));
    }
    rx
}

fn percentile(lat: &mut [Duration], q: f64) -> Duration {
    lat.sort();
    lat[((lat.len() - 1) as f64 * q) as usize]
}

/// 1,000 empty tasks spawned from outside in bursts beside 4 tasks slicing
/// 500 µs polls: their latencies.
fn short_beside_slices(rt: &dyn Rt) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let slicers = spinners(rt, 4, Duration::from_micros(500), 20, &stop);
    let (tx, rx) = mpsc::channel();
    for _ in 0..40 {
        for _ in 0..25 {
            let (tx, t0) = (tx.clone(), Instant::now());
            rt.spawn(Box::pin(async move {
                let _ = tx.send(t0.elapsed());
            }));
        }
        spin(Duration::from_micros(200));
    }
    let lat = rx.iter().take(1000).collect();
    for _ in 0..4 {
        slicers.recv().unwrap();
    }
    lat
}

/// 40 sleepers spawned from outside, one per millisecond, beside 2 tasks
/// spinning 50 ms per poll: their latencies.
fn sleepers_beside_spinners(rt: &'static dyn Rt) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let spinning = spinners(rt, 2, Duration::from_millis(50), usize::MAX, &stop);
    let (tx, rx) = mpsc::channel();
    for _ in 0..40 {
        let (tx, t0) = (tx.clone(), Instant::now());
        rt.spawn(Box::pin(async move {
            rt.sleep(Duration::from_millis(1)).await;
            let _ = tx.send(t0.elapsed());
        }));
        std::thread::sleep(Duration::from_millis(1));
    }
    let lat = rx.iter().take(40).collect();
    stop.store(true, SeqCst);
    for _ in 0..2 {
        spinning.recv().unwrap();
    }
    lat
}

/// 200 sleepers of 1..10 ms while 2 tasks keep both workers busy with
/// 2 ms polls: the mean lateness of their wake-ups.
fn timer_lateness_busy(rt: &'static dyn Rt) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let spinning = spinners(rt, 2, Duration::from_millis(2), usize::MAX, &stop);
    let (tx, rx) = mpsc::channel();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let d = Duration::from_micros(1000 + seed % 9000);
        let tx = tx.clone();
        rt.spawn(Box::pin(async move {
            let deadline = Instant::now() + d;
            rt.sleep(d).await;
            let _ = tx.send(Instant::now().saturating_duration_since(deadline));
        }));
    }
    let lateness: Vec<Duration> = rx.iter().take(200).collect();
    stop.store(true, SeqCst);
    for _ in 0..2 {
        spinning.recv().unwrap();
    }
    lateness.iter().sum::<Duration>() / lateness.len() as u32
}

fn runtimes() -> Vec<&'static dyn Rt> {
    let magpie: &'static Magpie = Box::leak(Box::new(Magpie(
        magpie::Runtime::builder()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
    )));
    let tokio: &'static Tokio = Box::leak(Box::new(Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .build()
            .unwrap(),
    )));
    let smol: &'static Smol = Box::leak(Box::new(Smol(SmolPool::new(WORKERS))));
    vec![magpie, tokio, smol]
}

fn fairness(c: &mut Criterion) {
    let rts = runtimes();
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        let mut g = c.benchmark_group(format!("fair_short_beside_slices_{name}"));
        g.sample_size(10);
        for &rt in &rts {
            g.bench_function(rt.name(), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| percentile(&mut short_beside_slices(rt), q))
                        .sum()
                })
            });
        }
        g.finish();
    }
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        let mut g = c.benchmark_group(format!("fair_sleepers_beside_spinners_{name}"));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        for &rt in &rts {
            g.bench_function(rt.name(), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| percentile(&mut sleepers_beside_spinners(rt), q))
                        .sum()
                })
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("fair_timer_lateness_busy");
    g.sample_size(10);
    for &rt in &rts {
        g.bench_function(rt.name(), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| timer_lateness_busy(rt)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, fairness);
criterion_main!(benches);
