//! The harness of the primitive benches (`sync.rs`, `channels.rs`): every
//! workload runs on tokio's multi-thread runtime and on magpie's, 2 workers
//! each, so that only the primitive differs within a line of a group.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

/// A sendable boxed future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a workload needs from a runtime.
pub(crate) trait Runtime {
    /// Short name for benchmark ids.
    fn name(&self) -> &'static str;
    /// Runs `fut` to completion from the bench thread (the body runs on a
    /// worker, like every task it spawns).
    fn block_on(&self, fut: BoxFuture<()>);
    /// Spawns `fut` on a worker; the returned future waits for it.
    fn spawn(&self, fut: BoxFuture<()>) -> BoxFuture<()>;
}

/// A runtime to spawn on from inside a workload.
pub(crate) type Rt = Arc<dyn Runtime + Send + Sync>;

struct Tokio(tokio::runtime::Runtime);

impl Runtime for Tokio {
    fn name(&self) -> &'static str {
        "tokio-mt2"
    }

    fn block_on(&self, fut: BoxFuture<()>) {
        let handle = self.0.spawn(fut);
        self.0.block_on(handle).expect("bench task panicked");
    }

    fn spawn(&self, fut: BoxFuture<()>) -> BoxFuture<()> {
        let handle = self.0.spawn(fut);
        Box::pin(async move { handle.await.expect("bench task panicked") })
    }
}

struct Magpie(magpie::Runtime);

impl Runtime for Magpie {
    fn name(&self) -> &'static str {
        "magpie-mt2"
    }

    fn block_on(&self, fut: BoxFuture<()>) {
        let handle = self.0.spawn(fut);
        self.0.block_on(handle).expect("bench task panicked");
    }

    fn spawn(&self, fut: BoxFuture<()>) -> BoxFuture<()> {
        let handle = self.0.handle().spawn(fut);
        Box::pin(async move { handle.await.expect("bench task panicked") })
    }
}

/// The runtimes every workload runs on, 2 workers each: tokio's, so that
/// only the primitive differs from the peers' usual setting, and magpie's.
pub(crate) fn runtimes() -> Vec<Rt> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    let magpie = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("magpie runtime");
    vec![Arc::new(Tokio(tokio)), Arc::new(Magpie(magpie))]
}

/// Awaits each task in turn.
pub(crate) async fn join_all(tasks: Vec<BoxFuture<()>>) {
    for t in tasks {
        t.await;
    }
}

/// Adds `workload` for `rt` to `group` as `"{name}/{runtime}"`.
pub(crate) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Rt,
    name: &str,
    workload: fn(Rt) -> BoxFuture<()>,
) {
    group.bench_function(format!("{name}/{}", rt.name()), |b| {
        b.iter(|| rt.block_on(workload(rt.clone())));
    });
}

/// Like [`bench`], for a workload that times its own critical part and
/// adds the nanoseconds to the counter it is given.
pub(crate) fn bench_timed(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Rt,
    name: &str,
    workload: fn(Rt, Arc<AtomicU64>) -> BoxFuture<()>,
) {
    group.bench_function(format!("{name}/{}", rt.name()), |b| {
        b.iter_custom(|iters| {
            let elapsed = Arc::new(AtomicU64::new(0));
            for _ in 0..iters {
                rt.block_on(workload(rt.clone(), elapsed.clone()));
            }
            Duration::from_nanos(elapsed.load(Ordering::Relaxed))
        });
    });
}

/// A group of 10 samples, 0.5 s of warm-up and 3 s of measurement.
pub(crate) fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}
