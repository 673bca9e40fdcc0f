//! The deterministic simulator's speed: task polls per second of
//! `magpie::sim` on one OS thread, beside tokio's `current_thread` runtime
//! doing the same work (the simulation's natural peer: one thread, no
//! stealing across threads; no timers here, so a paused clock would change
//! nothing). Issue 14's target: at least 2 million task polls per second,
//! so that thousands of seeds of a small test run in a second.
//!
//! Two workloads, each reported as throughput in task polls (criterion's
//! "elements"):
//!
//! * `sim_spawn_join_10k`: 10,000 tiny tasks spawned and joined (one poll
//!   each);
//! * `sim_yield_pingpong`: two tasks yielding 10,000 times each, turn
//!   about (10,001 polls each).
//!
//! Each magpie iteration builds a fresh `Sim` (two simulated workers, a
//! new seed each time), as `Explore` does per seed; tokio's runtime is
//! built once.
//!
//! Run with `cargo bench -p magpie-benches --bench sim`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::yield_now;

const TASKS: u64 = 10_000;
const YIELDS: u64 = 10_000;

async fn spawn_join_magpie() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| magpie::spawn(async move { i }))
        .collect();
    for t in tasks {
        black_box(t.await.unwrap());
    }
}

async fn spawn_join_tokio() {
    let tasks: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
    for t in tasks {
        black_box(t.await.unwrap());
    }
}

async fn yielder() {
    for _ in 0..YIELDS {
        yield_now().await;
    }
}

fn sim(seed: u64) -> magpie::sim::Sim {
    magpie::sim::Builder::new()
        .seed(seed)
        .max_steps(10 * (TASKS + 2 * YIELDS))
        .build()
}

fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_spawn_join_10k");
    group.throughput(Throughput::Elements(TASKS));
    let mut seed = 0;
    group.bench_function("magpie-sim", |b| {
        b.iter(|| {
            seed += 1;
            sim(seed).block_on(spawn_join_magpie());
        })
    });
    let rt = tokio_current_thread();
    group.bench_function("tokio-current-thread", |b| {
        b.iter(|| rt.block_on(spawn_join_tokio()))
    });
    group.finish();
}

fn yield_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_yield_pingpong");
    group.throughput(Throughput::Elements(2 * (YIELDS + 1)));
    let mut seed = 0;
    group.bench_function("magpie-sim", |b| {
        b.iter(|| {
            seed += 1;
            sim(seed).block_on(async {
                let (a, b) = (magpie::spawn(yielder()), magpie::spawn(yielder()));
                a.await.unwrap();
                b.await.unwrap();
            });
        })
    });
    let rt = tokio_current_thread();
    group.bench_function("tokio-current-thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (a, b) = (tokio::spawn(yielder()), tokio::spawn(yielder()));
                a.await.unwrap();
                b.await.unwrap();
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn_join, yield_pingpong);
criterion_main!(benches);
