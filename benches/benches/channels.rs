//! magpie-sync's `oneshot`, `watch` and `Notify` beside tokio::sync's
//! (and, where the API fits, futures' oneshot and event-listener).
//!
//! Every workload runs on tokio's runtime and on magpie's (multi-thread, 2
//! workers each, as in `sync.rs`), so that only the primitive differs
//! within a line of a group. Run with
//! `cargo bench -p magpie-benches --bench channels`.
//!
//! Targets (issue 15): each at most 1.0x tokio's equivalent; `Notify`
//! waking 1,000 registered waiters 100 rounds at most 0.9x tokio's
//! `notify_waiters`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::harness::{BoxFuture, Rt, bench, bench_timed, group, runtimes};
use common::yield_now;

// ---- oneshot ---------------------------------------------------------------

const PING_PONG_ROUNDS: usize = 10_000;

/// Two tasks throw a ball back and forth 10,000 times; the ball is the
/// sender of the next throw's channel, so every throw makes a channel,
/// sends once and receives once (as a request/reply does).
macro_rules! oneshot_ping_pong {
    ($name:ident, $($oneshot:ident)::+) => {
        fn $name(rt: Rt) -> BoxFuture<()> {
            use $($oneshot)::+ as oneshot;
            struct Ball(oneshot::Sender<Ball>);
            Box::pin(async move {
                let (first_tx, first_rx) = oneshot::channel::<Ball>();
                let other = rt.spawn(Box::pin(async move {
                    let mut rx = first_rx;
                    for _ in 0..PING_PONG_ROUNDS {
                        let Ok(Ball(reply)) = rx.await else {
                            panic!("the ball was dropped")
                        };
                        let (tx, next) = oneshot::channel();
                        if reply.send(Ball(tx)).is_err() {
                            panic!("the thrower is gone");
                        }
                        rx = next;
                    }
                }));
                let mut tx = first_tx;
                for _ in 0..PING_PONG_ROUNDS {
                    let (reply, back) = oneshot::channel();
                    if tx.send(Ball(reply)).is_err() {
                        panic!("the catcher is gone");
                    }
                    let Ok(Ball(next)) = back.await else {
                        panic!("the ball was dropped")
                    };
                    tx = next;
                }
                drop(tx);
                other.await;
            })
        }
    };
}

oneshot_ping_pong!(oneshot_magpie, magpie_sync::oneshot);
oneshot_ping_pong!(oneshot_tokio, tokio::sync::oneshot);
oneshot_ping_pong!(oneshot_futures, futures::channel::oneshot);

// ---- watch -----------------------------------------------------------------

const WATCH_RECEIVERS: usize = 8;
const WATCH_SENDS: usize = 1_000;

/// One sender sends 1,000 values (yielding after each) to 8 receiver
/// tasks, each of which loops on `changed()` and reads the latest value
/// until it sees the last one.
macro_rules! watch_fan_out {
    ($name:ident, $($watch:ident)::+) => {
        fn $name(rt: Rt) -> BoxFuture<()> {
            use $($watch)::+ as watch;
            Box::pin(async move {
                let (tx, rx) = watch::channel(0usize);
                let receivers: Vec<_> = (0..WATCH_RECEIVERS)
                    .map(|_| {
                        let mut rx = rx.clone();
                        rt.spawn(Box::pin(async move {
                            loop {
                                let v = *rx.borrow_and_update();
                                if black_box(v) == WATCH_SENDS {
                                    return;
                                }
                                rx.changed().await.expect("the sender lives");
                            }
                        }))
                    })
                    .collect();
                drop(rx);
                for i in 1..=WATCH_SENDS {
                    if tx.send(i).is_err() {
                        panic!("every receiver is gone");
                    }
                    yield_now().await;
                }
                for r in receivers {
                    r.await;
                }
            })
        }
    };
}

watch_fan_out!(watch_magpie, magpie_sync::watch);
watch_fan_out!(watch_tokio, tokio::sync::watch);

// ---- Notify ----------------------------------------------------------------

/// A wake-up without data.
trait BenchNotify: Send + Sync + 'static {
    fn new() -> Self;
    /// Registers as a waiter; returns at once if `done()` (called after
    /// registering) says so, otherwise waits to be notified.
    fn wait_unless(&self, done: impl FnOnce() -> bool + Send) -> impl Future<Output = ()> + Send;
    fn notify_one(&self);
    fn notify_waiters(&self);
}

struct MagpieNotify(magpie_sync::Notify);
struct TokioNotify(tokio::sync::Notify);
struct EventListener(event_listener::Event);

impl BenchNotify for MagpieNotify {
    fn new() -> Self {
        MagpieNotify(magpie_sync::Notify::new())
    }
    async fn wait_unless(&self, done: impl FnOnce() -> bool + Send) {
        let mut notified = pin!(self.0.notified());
        notified.as_mut().enable();
        if !done() {
            notified.await;
        }
    }
    fn notify_one(&self) {
        self.0.notify_one();
    }
    fn notify_waiters(&self) {
        self.0.notify_waiters();
    }
}

impl BenchNotify for TokioNotify {
    fn new() -> Self {
        TokioNotify(tokio::sync::Notify::new())
    }
    async fn wait_unless(&self, done: impl FnOnce() -> bool + Send) {
        let mut notified = pin!(self.0.notified());
        notified.as_mut().enable();
        if !done() {
            notified.await;
        }
    }
    fn notify_one(&self) {
        self.0.notify_one();
    }
    fn notify_waiters(&self) {
        self.0.notify_waiters();
    }
}

impl BenchNotify for EventListener {
    fn new() -> Self {
        EventListener(event_listener::Event::new())
    }
    async fn wait_unless(&self, done: impl FnOnce() -> bool + Send) {
        let listener = self.0.listen();
        if !done() {
            listener.await;
        }
    }
    /// Not sticky (no permit is stored): only for the broadcast workload,
    /// whose waits re-check their condition after registering.
    fn notify_one(&self) {
        self.0.notify(1);
    }
    fn notify_waiters(&self) {
        self.0.notify(usize::MAX);
    }
}

const BROADCAST_WAITERS: usize = 1_000;
const BROADCAST_ROUNDS: usize = 100;

/// 1,000 tasks, 100 rounds: in each round every task registers and
/// reports, and once all have, one `notify_waiters` wakes them all.
/// Times from the first spawn until every task has finished (the 100
/// rounds dominate) and adds it to `elapsed_ns`.
fn broadcast<N: BenchNotify>(rt: Rt, elapsed_ns: Arc<AtomicU64>) -> BoxFuture<()> {
    Box::pin(async move {
        let round = Arc::new(N::new());
        let ready = Arc::new(N::new());
        let registered = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..BROADCAST_WAITERS)
            .map(|_| {
                let (round, ready, registered) = (round.clone(), ready.clone(), registered.clone());
                rt.spawn(Box::pin(async move {
                    for r in 0..BROADCAST_ROUNDS {
                        round
                            .wait_unless(|| {
                                let n = registered.fetch_add(1, Ordering::AcqRel) + 1;
                                if n == BROADCAST_WAITERS * (r + 1) {
                                    ready.notify_one();
                                }
                                false
                            })
                            .await;
                    }
                }))
            })
            .collect();
        for r in 0..BROADCAST_ROUNDS {
            let target = BROADCAST_WAITERS * (r + 1);
            while registered.load(Ordering::Acquire) < target {
                ready
                    .wait_unless(|| registered.load(Ordering::Acquire) >= target)
                    .await;
            }
            round.notify_waiters();
        }
        for t in tasks {
            t.await;
        }
        elapsed_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    })
}

/// Two tasks wake each other 10,000 times with `notify_one` (its stored
/// permit makes the order of wait and notify irrelevant).
fn notify_ping_pong<N: BenchNotify>(rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let (ping, pong) = (Arc::new(N::new()), Arc::new(N::new()));
        let other = {
            let (ping, pong) = (ping.clone(), pong.clone());
            rt.spawn(Box::pin(async move {
                for _ in 0..PING_PONG_ROUNDS {
                    ping.wait_unless(|| false).await;
                    pong.notify_one();
                }
            }))
        };
        for _ in 0..PING_PONG_ROUNDS {
            ping.notify_one();
            pong.wait_unless(|| false).await;
        }
        other.await;
    })
}

fn channel_benches(c: &mut Criterion) {
    for rt in runtimes() {
        let mut g = group(c, "oneshot_ping_pong_10k");
        bench(&mut g, &rt, "magpie::oneshot", oneshot_magpie);
        bench(&mut g, &rt, "tokio::oneshot", oneshot_tokio);
        bench(&mut g, &rt, "futures::oneshot", oneshot_futures);
        g.finish();

        let mut g = group(c, "watch_8rx_1k_sends");
        bench(&mut g, &rt, "magpie::watch", watch_magpie);
        bench(&mut g, &rt, "tokio::watch", watch_tokio);
        g.finish();

        let mut g = group(c, "notify_waiters_1000x100");
        bench_timed(&mut g, &rt, "magpie::Notify", broadcast::<MagpieNotify>);
        bench_timed(&mut g, &rt, "tokio::Notify", broadcast::<TokioNotify>);
        bench_timed(&mut g, &rt, "event_listener", broadcast::<EventListener>);
        g.finish();

        // event-listener stores no permit, so it cannot play ping-pong
        // with blind waits: magpie and tokio only.
        let mut g = group(c, "notify_one_ping_pong_10k");
        bench(
            &mut g,
            &rt,
            "magpie::Notify",
            notify_ping_pong::<MagpieNotify>,
        );
        bench(
            &mut g,
            &rt,
            "tokio::Notify",
            notify_ping_pong::<TokioNotify>,
        );
        g.finish();
    }
}

criterion_group!(benches, channel_benches);
criterion_main!(benches);
