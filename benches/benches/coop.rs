//! The cooperative budget: a latency-sensitive task beside tasks that loop
//! on a queue that always has items, magpie (its `coop` budget) beside
//! tokio (tokio's coop), 2 workers each, in one criterion group.
//!
//! Each worker runs a *looper*: `get().await` on a queue it keeps full
//! (magpie: `magpie_sync::Queue`; tokio: `tokio::sync::mpsc`, whose `recv`
//! spends tokio's budget), one budget unit per iteration. A *pinger* task
//! on the same runtime hands a oneshot sender to the loopers and awaits it;
//! the looper that picks it up (it looks every 64 iterations) sends the
//! current `Instant`, which wakes the pinger onto that looper's worker
//! (its LIFO slot, on both runtimes). The pinger can only run when the
//! looper yields, which without a budget is never: the measured time is
//! the wake-to-run latency that the budget buys.
//!
//! Criterion reports the mean latency per ping (`iter_custom` times only
//! the latency); p50/p99 of one extra run per runtime are printed to
//! stderr.
//!
//! Run with `cargo bench -p magpie-benches --bench coop`.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::channel::oneshot;

const WORKERS: usize = 2;
/// Pings per iteration.
const PINGS: usize = 200;
/// A looper looks for a ping every this many iterations.
const LOOK_EVERY: u64 = 64;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where the pinger leaves its sender for a looper to fire.
type Slot = Arc<Mutex<Option<oneshot::Sender<Instant>>>>;

/// Looks at the slot: fires the sender if one is waiting.
fn fire(slot: &Slot) {
    if let Ok(mut s) = slot.try_lock() {
        if let Some(tx) = s.take() {
            let _ = tx.send(Instant::now());
        }
    }
}

/// `PINGS` pings; returns every latency.
async fn pinger(slot: Slot) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let (tx, rx) = oneshot::channel();
        *slot.lock().unwrap() = Some(tx);
        let sent = rx.await.expect("a looper fires it");
        lat.push(sent.elapsed());
    }
    lat
}

trait Rt: Sync {
    fn name(&self) -> &'static str;
    /// Runs one iteration: `WORKERS` loopers and a pinger, on workers.
    fn run(&self) -> Vec<Duration>;
}

struct Magpie(magpie::Runtime);

impl Rt for Magpie {
    fn name(&self) -> &'static str {
        "magpie"
    }
    fn run(&self) -> Vec<Duration> {
        let rt = &self.0;
        rt.block_on(rt.spawn(async {
            let stop = Arc::new(AtomicBool::new(false));
            let slot: Slot = Arc::default();
            let loopers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let (stop, slot) = (stop.clone(), slot.clone());
                    magpie::spawn(async move {
                        let queue = magpie_sync::Queue::unbounded();
                        queue.try_put(0u64).unwrap();
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let x = *queue.get().await.unwrap();
                            queue.try_put(black_box(x + 1)).unwrap();
                            n += 1;
                            if n % LOOK_EVERY == 0 {
                                fire(&slot);
                            }
                        }
                    })
                })
                .collect();
            let lat = magpie::spawn(pinger(slot)).await.unwrap();
            stop.store(true, Ordering::Relaxed);
            for l in loopers {
                l.await.unwrap();
            }
            lat
        }))
        .unwrap()
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn run(&self) -> Vec<Duration> {
        let body: BoxFuture<Vec<Duration>> = Box::pin(async {
            let stop = Arc::new(AtomicBool::new(false));
            let slot: Slot = Arc::default();
            let loopers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let (stop, slot) = (stop.clone(), slot.clone());
                    tokio::spawn(async move {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                        tx.send(0u64).unwrap();
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let x = rx.recv().await.unwrap();
                            tx.send(black_box(x + 1)).unwrap();
                            n += 1;
                            if n % LOOK_EVERY == 0 {
                                fire(&slot);
                            }
                        }
                    })
                })
                .collect();
            let lat = tokio::spawn(pinger(slot)).await.unwrap();
            stop.store(true, Ordering::Relaxed);
            for l in loopers {
                l.await.unwrap();
            }
            lat
        });
        self.0.block_on(async { tokio::spawn(body).await.unwrap() })
    }
}

fn runtimes() -> Vec<Box<dyn Rt>> {
    vec![
        Box::new(Magpie(
            magpie::Runtime::builder()
                .worker_threads(WORKERS)
                .build()
                .expect("magpie runtime"),
        )),
        Box::new(Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .build()
                .expect("tokio runtime"),
        )),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn coop_benches(c: &mut Criterion) {
    let rts = runtimes();
    let mut g = c.benchmark_group("coop_ping_beside_ready_queue_loopers");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for rt in &rts {
        g.bench_function(format!("ping_latency_x{PINGS}/{}", rt.name()), |b| {
            b.iter_custom(|iters| (0..iters).flat_map(|_| rt.run()).sum::<Duration>());
        });
    }
    g.finish();
    for rt in &rts {
        let mut lat: Vec<_> = (0..10).flat_map(|_| rt.run()).collect();
        lat.sort_unstable();
        eprintln!(
            "coop ping latency on {}: p50 {:?}, p99 {:?}, max {:?} ({} pings)",
            rt.name(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat[lat.len() - 1],
            lat.len(),
        );
    }
}

criterion_group!(benches, coop_benches);
criterion_main!(benches);
