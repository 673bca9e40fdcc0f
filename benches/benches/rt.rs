//! Executor benches: magpie beside tokio (multi-thread runtime) and smol
//! (async-executor driven by the same number of threads), 2 workers each,
//! one criterion group per workload so the ratios come from one run.
//! `magpie-debug` is magpie with debug mode on (its overhead).
//!
//! * `spawn_many_local`: a task spawns 10,000 tiny tasks and awaits them.
//! * `spawn_many_remote`: a plain thread spawns 10,000 tiny tasks through a
//!   handle and awaits them.
//! * `yield_many`: 200 tasks each yield 1,000 times (scheduler round trips).
//! * `ping_pong`: 1,000 pairs of tasks exchange a message through oneshot
//!   channels (wake latency; the LIFO slot's workload).
//! * `chained_spawn`: each task spawns the next, 1,000 deep.
//! * `fork_join_fib22`: fib(22) where every call spawns both children and
//!   awaits them (57,313 tasks per iteration).
//!
//! Run with `cargo bench -p magpie-benches --bench rt`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{SmolPool, yield_now};
use futures::channel::oneshot;

const WORKERS: usize = 2;
const SPAWNS: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const PAIRS: usize = 1_000;
const CHAIN: usize = 1_000;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A workload, run once per iteration on one runtime.
type Workload = fn(&'static dyn Rt);

/// What the workloads need from a runtime.
trait Rt: Sync {
    fn name(&self) -> &'static str;
    /// Runs `f` to completion, with `f` inside the runtime.
    fn block_on(&self, f: BoxFuture);
    /// Spawns from inside the runtime; the returned future awaits the task.
    fn spawn(&self, f: BoxFuture) -> BoxFuture;
    /// Spawns from a thread outside the runtime.
    fn spawn_remote(&self, f: BoxFuture) -> BoxFuture;
    /// Spawns from inside the runtime, detached.
    fn spawn_detached(&self, f: BoxFuture) {
        drop(self.spawn(f));
    }
}

struct Magpie(magpie::Runtime, &'static str);

impl Rt for Magpie {
    fn name(&self) -> &'static str {
        self.1
    }
    fn block_on(&self, f: BoxFuture) {
        // The body runs on a worker, like every task it spawns (as in
        // tokio's benches, where "local" means spawned from a worker).
        let body = self.0.spawn(f);
        self.0.block_on(body).unwrap()
    }
    fn spawn(&self, f: BoxFuture) -> BoxFuture {
        let t = magpie::spawn(f);
        Box::pin(async move { t.await.unwrap() })
    }
    fn spawn_remote(&self, f: BoxFuture) -> BoxFuture {
        let t = self.0.handle().spawn(f);
        Box::pin(async move { t.await.unwrap() })
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn block_on(&self, f: BoxFuture) {
        // The body runs on a worker, like every task it spawns (as in
        // tokio's benches, where "local" means spawned from a worker).
        let body = self.0.spawn(f);
        self.0.block_on(body).unwrap()
    }
    fn spawn(&self, f: BoxFuture) -> BoxFuture {
        let t = tokio::spawn(f);
        Box::pin(async move { t.await.unwrap() })
    }
    fn spawn_remote(&self, f: BoxFuture) -> BoxFuture {
        let t = self.0.spawn(f);
        Box::pin(async move { t.await.unwrap() })
    }
}

/// smol: async-executor driven by `WORKERS` threads.
struct Smol(SmolPool);

impl Rt for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn block_on(&self, f: BoxFuture) {
        // Run `f` as a task on the executor (as the others do) and wait.
        futures_lite::future::block_on(self.0.ex.spawn(f))
    }
    fn spawn(&self, f: BoxFuture) -> BoxFuture {
        Box::pin(self.0.ex.spawn(f))
    }
    fn spawn_remote(&self, f: BoxFuture) -> BoxFuture {
        Box::pin(self.0.ex.spawn(f))
    }
    fn spawn_detached(&self, f: BoxFuture) {
        // Dropping an async-executor task cancels it: detach instead.
        self.0.ex.spawn(f).detach();
    }
}

fn runtimes() -> Vec<Box<dyn Rt>> {
    vec![
        Box::new(Magpie(
            magpie::Runtime::builder()
                .worker_threads(WORKERS)
                .debug(false)
                .build()
                .unwrap(),
            "magpie",
        )),
        // Debug mode's cost: every poll timed, every task stamped.
        Box::new(Magpie(
            magpie::Runtime::builder()
                .worker_threads(WORKERS)
                .debug(true)
                .build()
                .unwrap(),
            "magpie-debug",
        )),
        Box::new(Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .build()
                .unwrap(),
        )),
        Box::new(Smol(SmolPool::new(WORKERS))),
    ]
}

fn spawn_many_local(rt: &'static dyn Rt) {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    rt.block_on(Box::pin(async move {
        let tasks: Vec<_> = (0..SPAWNS)
            .map(|_| {
                let c = c.clone();
                rt.spawn(Box::pin(async move {
                    c.fetch_add(1, Ordering::Relaxed);
                }))
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }));
    assert_eq!(counter.load(Ordering::Relaxed), SPAWNS);
}

fn spawn_many_remote(rt: &'static dyn Rt) {
    let counter = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..SPAWNS)
        .map(|_| {
            let c = counter.clone();
            rt.spawn_remote(Box::pin(async move {
                c.fetch_add(1, Ordering::Relaxed);
            }))
        })
        .collect();
    rt.block_on(Box::pin(async move {
        for t in tasks {
            t.await;
        }
    }));
    assert_eq!(counter.load(Ordering::Relaxed), SPAWNS);
}

fn yield_many(rt: &'static dyn Rt) {
    rt.block_on(Box::pin(async move {
        let tasks: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                rt.spawn(Box::pin(async move {
                    for _ in 0..YIELDS {
                        yield_now().await;
                    }
                }))
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }));
}

fn ping_pong(rt: &'static dyn Rt) {
    rt.block_on(Box::pin(async move {
        let tasks: Vec<_> = (0..PAIRS)
            .map(|_| {
                rt.spawn(Box::pin(async move {
                    let (ping_tx, ping_rx) = oneshot::channel::<()>();
                    let (pong_tx, pong_rx) = oneshot::channel::<()>();
                    let pong = rt.spawn(Box::pin(async move {
                        ping_rx.await.unwrap();
                        pong_tx.send(()).unwrap();
                    }));
                    ping_tx.send(()).unwrap();
                    pong_rx.await.unwrap();
                    pong.await;
                }))
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }));
}

fn chain(rt: &'static dyn Rt, left: usize, done: oneshot::Sender<()>) -> BoxFuture {
    Box::pin(async move {
        if left == 0 {
            done.send(()).unwrap();
        } else {
            // Detached: the chain's end reports through `done`.
            rt.spawn_detached(chain(rt, left - 1, done));
        }
    })
}

fn chained_spawn(rt: &'static dyn Rt) {
    rt.block_on(Box::pin(async move {
        let (tx, rx) = oneshot::channel();
        rt.spawn_detached(chain(rt, CHAIN, tx));
        rx.await.unwrap();
    }));
}

fn fib(rt: &'static dyn Rt, n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return u64::from(n);
        }
        let (a_tx, a_rx) = oneshot::channel();
        let (b_tx, b_rx) = oneshot::channel();
        let a = rt.spawn(Box::pin(async move {
            let _ = a_tx.send(fib(rt, n - 1).await);
        }));
        let b = rt.spawn(Box::pin(async move {
            let _ = b_tx.send(fib(rt, n - 2).await);
        }));
        a.await;
        b.await;
        a_rx.await.unwrap() + b_rx.await.unwrap()
    })
}

fn fork_join_fib22(rt: &'static dyn Rt) {
    rt.block_on(Box::pin(async move {
        assert_eq!(fib(rt, 22).await, 17_711);
    }));
}

fn rt_benches(c: &mut Criterion) {
    // Leaked so that tasks can hold `&'static dyn Rt`; the process ends
    // right after the benches.
    let rts: Vec<&'static dyn Rt> = runtimes().into_iter().map(|rt| &*Box::leak(rt)).collect();
    let workloads: [(&str, Workload); 6] = [
        ("spawn_many_local", spawn_many_local),
        ("spawn_many_remote", spawn_many_remote),
        ("yield_many", yield_many),
        ("ping_pong", ping_pong),
        ("chained_spawn", chained_spawn),
        ("fork_join_fib22", fork_join_fib22),
    ];
    for (name, workload) in workloads {
        let mut g = c.benchmark_group(name);
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for &rt in &rts {
            g.bench_function(rt.name(), |b| b.iter(|| workload(rt)));
        }
        g.finish();
    }
}

/// The cost of `Handle::tasks()` and `Handle::metrics()` with 100,000
/// live (idle) tasks: what a monitoring task calling them every second
/// pays. magpie only: tokio's task dump needs `tokio_unstable` and smol has
/// none.
fn diagnostics_benches(c: &mut Criterion) {
    const LIVE: usize = 100_000;
    let rt = magpie::Runtime::builder()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let release = Arc::new(magpie::sync::Event::new());
    let tasks: Vec<_> = (0..LIVE)
        .map(|_| {
            let release = release.clone();
            rt.spawn(async move { release.wait().await })
        })
        .collect();
    while rt.handle().metrics().total_polls() < LIVE as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut g = c.benchmark_group("diagnostics_100k_live_tasks");
    g.sample_size(20);
    g.bench_function("tasks", |b| {
        b.iter(|| assert_eq!(rt.handle().tasks().len(), LIVE))
    });
    g.bench_function("metrics", |b| b.iter(|| rt.handle().metrics()));
    g.finish();
    release.set();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
}

criterion_group!(benches, rt_benches, diagnostics_benches);
criterion_main!(benches);
