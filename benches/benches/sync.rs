//! magpie-sync beside tokio::sync, async-lock, futures::lock, async-channel,
//! flume and event-listener.
//!
//! Every workload runs on the same runtime (tokio, multi-thread, 2 workers)
//! so that only the primitive differs; each criterion group is one
//! workload with one line per primitive. Run with
//! `cargo bench -p magpie-benches --bench sync`.
//!
//! To add a runtime: implement [`Runtime`] for it and add one line to
//! [`runtimes`]. Every workload then also runs on it, with the runtime's
//! name in the benchmark id.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::harness::{BoxFuture, Rt, bench, bench_timed, group, join_all, runtimes};
use common::yield_now;

// ---- locks -----------------------------------------------------------------

/// A lock around a counter.
trait CounterLock: Send + Sync + 'static {
    fn new() -> Self;
    fn incr(&self) -> impl Future<Output = ()> + Send;
    fn get(&self) -> u64;
}

struct MagpieLock(magpie_sync::Lock<u64>);
struct MagpieStrictLock(magpie_sync::Lock<u64>);
struct MagpieRwLockWrite(magpie_sync::RwLock<u64>);
struct TokioMutex(tokio::sync::Mutex<u64>);
struct TokioRwLockWrite(tokio::sync::RwLock<u64>);
struct AsyncLockMutex(async_lock::Mutex<u64>);
struct FuturesMutex(futures::lock::Mutex<u64>);

impl CounterLock for MagpieLock {
    fn new() -> Self {
        MagpieLock(magpie_sync::Lock::new(0))
    }
    async fn incr(&self) {
        *self.0.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_lock().unwrap()
    }
}

impl CounterLock for MagpieStrictLock {
    fn new() -> Self {
        MagpieStrictLock(magpie_sync::Lock::with_fairness(
            0,
            magpie_sync::Fairness::Strict,
        ))
    }
    async fn incr(&self) {
        *self.0.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_lock().unwrap()
    }
}

impl CounterLock for MagpieRwLockWrite {
    fn new() -> Self {
        MagpieRwLockWrite(magpie_sync::RwLock::new(0))
    }
    async fn incr(&self) {
        *self.0.write().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_read().unwrap()
    }
}

impl CounterLock for TokioMutex {
    fn new() -> Self {
        TokioMutex(tokio::sync::Mutex::new(0))
    }
    async fn incr(&self) {
        *self.0.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_lock().unwrap()
    }
}

impl CounterLock for TokioRwLockWrite {
    fn new() -> Self {
        TokioRwLockWrite(tokio::sync::RwLock::new(0))
    }
    async fn incr(&self) {
        *self.0.write().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_read().unwrap()
    }
}

impl CounterLock for AsyncLockMutex {
    fn new() -> Self {
        AsyncLockMutex(async_lock::Mutex::new(0))
    }
    async fn incr(&self) {
        *self.0.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_lock().unwrap()
    }
}

impl CounterLock for FuturesMutex {
    fn new() -> Self {
        FuturesMutex(futures::lock::Mutex::new(0))
    }
    async fn incr(&self) {
        *self.0.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.0.try_lock().unwrap()
    }
}

const LOCK_TASKS: usize = 8;
const LOCK_ITERS: usize = 10_000;
const UNCONTENDED_ITERS: usize = 1_000_000;

/// 8 tasks x 10,000 lock/increment/unlock.
fn contended<L: CounterLock>(rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let lock = Arc::new(L::new());
        let tasks = (0..LOCK_TASKS)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(Box::pin(async move {
                    for _ in 0..LOCK_ITERS {
                        lock.incr().await;
                    }
                }))
            })
            .collect();
        join_all(tasks).await;
        assert_eq!(lock.get(), (LOCK_TASKS * LOCK_ITERS) as u64);
    })
}

const HOLD_ITERS: usize = 1_000;

/// 8 tasks x 1,000 lock/yield/increment/unlock: the lock is held across an
/// await, as async code often does. (Not one of the required workloads: it
/// shows what each fairness policy costs when waiters pile up.)
fn contended_hold<L: HoldLock>(rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let lock = Arc::new(L::new());
        let tasks = (0..LOCK_TASKS)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(Box::pin(async move {
                    for _ in 0..HOLD_ITERS {
                        lock.incr_across_yield().await;
                    }
                }))
            })
            .collect();
        join_all(tasks).await;
        assert_eq!(lock.get(), (LOCK_TASKS * HOLD_ITERS) as u64);
    })
}

/// A lock that can be held across a yield.
trait HoldLock: CounterLock {
    fn incr_across_yield(&self) -> impl Future<Output = ()> + Send;
}

impl HoldLock for MagpieLock {
    async fn incr_across_yield(&self) {
        let mut g = self.0.lock().await;
        yield_now().await;
        *g += 1;
    }
}

impl HoldLock for MagpieStrictLock {
    async fn incr_across_yield(&self) {
        let mut g = self.0.lock().await;
        yield_now().await;
        *g += 1;
    }
}

impl HoldLock for TokioMutex {
    async fn incr_across_yield(&self) {
        let mut g = self.0.lock().await;
        yield_now().await;
        *g += 1;
    }
}

impl HoldLock for AsyncLockMutex {
    async fn incr_across_yield(&self) {
        let mut g = self.0.lock().await;
        yield_now().await;
        *g += 1;
    }
}

impl HoldLock for FuturesMutex {
    async fn incr_across_yield(&self) {
        let mut g = self.0.lock().await;
        yield_now().await;
        *g += 1;
    }
}

/// 1,000,000 lock/unlock in one task.
fn uncontended<L: CounterLock>(_rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let lock = L::new();
        for _ in 0..UNCONTENDED_ITERS {
            lock.incr().await;
        }
        assert_eq!(black_box(&lock).get(), UNCONTENDED_ITERS as u64);
    })
}

// ---- semaphores ------------------------------------------------------------

trait BenchSemaphore: Send + Sync + 'static {
    fn new(permits: usize) -> Self;
    /// Acquires a permit, yields while holding it, releases it.
    fn hold_across_yield(&self) -> impl Future<Output = ()> + Send;
}

struct MagpieSemaphore(magpie_sync::Semaphore);
struct MagpieEventualSemaphore(magpie_sync::Semaphore);
struct TokioSemaphore(tokio::sync::Semaphore);
struct AsyncLockSemaphore(async_lock::Semaphore);

impl BenchSemaphore for MagpieSemaphore {
    fn new(permits: usize) -> Self {
        MagpieSemaphore(magpie_sync::Semaphore::new(permits))
    }
    async fn hold_across_yield(&self) {
        let _p = self.0.acquire().await.unwrap();
        yield_now().await;
    }
}

impl BenchSemaphore for MagpieEventualSemaphore {
    fn new(permits: usize) -> Self {
        MagpieEventualSemaphore(magpie_sync::Semaphore::with_fairness(
            permits,
            magpie_sync::Fairness::Eventual,
        ))
    }
    async fn hold_across_yield(&self) {
        let _p = self.0.acquire().await.unwrap();
        yield_now().await;
    }
}

impl BenchSemaphore for TokioSemaphore {
    fn new(permits: usize) -> Self {
        TokioSemaphore(tokio::sync::Semaphore::new(permits))
    }
    async fn hold_across_yield(&self) {
        let _p = self.0.acquire().await.unwrap();
        yield_now().await;
    }
}

impl BenchSemaphore for AsyncLockSemaphore {
    fn new(permits: usize) -> Self {
        AsyncLockSemaphore(async_lock::Semaphore::new(permits))
    }
    async fn hold_across_yield(&self) {
        let _p = self.0.acquire().await;
        yield_now().await;
    }
}

const SEM_PERMITS: usize = 4;
const SEM_TASKS: usize = 16;
const SEM_ITERS: usize = 1_000;

/// Semaphore(4), 16 tasks x 1,000 acquire/yield/release.
fn semaphore<S: BenchSemaphore>(rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let sem = Arc::new(S::new(SEM_PERMITS));
        let tasks = (0..SEM_TASKS)
            .map(|_| {
                let sem = sem.clone();
                rt.spawn(Box::pin(async move {
                    for _ in 0..SEM_ITERS {
                        sem.hold_across_yield().await;
                    }
                }))
            })
            .collect();
        join_all(tasks).await;
    })
}

// ---- queues ----------------------------------------------------------------

/// A bounded MPMC (or MPSC) queue of `u64`.
trait BenchQueue: Sized + Send + 'static {
    type Tx: Clone + Send + 'static;
    type Rx: Clone + Send + 'static;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, item: u64) -> impl Future<Output = ()> + Send;
    /// `None` once the queue is closed (or every sender dropped) and empty.
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send;
    /// Called once the producers are done (and their senders dropped).
    fn close(tx: Self::Tx);
}

struct MagpieQueue;
struct AsyncChannel;
struct Flume;
struct TokioMpsc;

impl BenchQueue for MagpieQueue {
    type Tx = magpie_sync::Queue<u64>;
    type Rx = magpie_sync::Queue<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        let q = magpie_sync::Queue::bounded(cap).unwrap();
        (q.clone(), q)
    }
    async fn send(tx: &Self::Tx, item: u64) {
        tx.put(item).await.unwrap();
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.get().await.ok().map(|item| *item)
    }
    fn close(tx: Self::Tx) {
        tx.close();
    }
}

impl BenchQueue for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    async fn send(tx: &Self::Tx, item: u64) {
        tx.send(item).await.unwrap();
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
    fn close(tx: Self::Tx) {
        drop(tx);
    }
}

impl BenchQueue for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    async fn send(tx: &Self::Tx, item: u64) {
        tx.send_async(item).await.unwrap();
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
    fn close(tx: Self::Tx) {
        drop(tx);
    }
}

/// tokio's mpsc has one receiver: only for the one-consumer workload.
impl BenchQueue for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        let (tx, rx) = tokio::sync::mpsc::channel(cap);
        (tx, Arc::new(tokio::sync::Mutex::new(rx)))
    }
    async fn send(tx: &Self::Tx, item: u64) {
        tx.send(item).await.unwrap();
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        // Uncontended: one consumer holds it for the whole run.
        rx.try_lock().expect("one consumer").recv().await
    }
    fn close(tx: Self::Tx) {
        drop(tx);
    }
}

const QUEUE_CAP: usize = 1024;
const PRODUCERS: usize = 4;
const ITEMS_PER_PRODUCER: u64 = 25_000;

/// Bounded(1024), 4 producers x 25,000 items, `consumers` consumers.
fn queue<Q: BenchQueue>(rt: Rt, consumers: usize) -> BoxFuture<()> {
    Box::pin(async move {
        let (tx, rx) = Q::bounded(QUEUE_CAP);
        let received = Arc::new(AtomicUsize::new(0));
        let consumer_tasks: Vec<_> = (0..consumers)
            .map(|_| {
                let (rx, received) = (rx.clone(), received.clone());
                rt.spawn(Box::pin(async move {
                    let mut n = 0;
                    while let Some(item) = Q::recv(&rx).await {
                        black_box(item);
                        n += 1;
                    }
                    received.fetch_add(n, Ordering::Relaxed);
                }))
            })
            .collect();
        drop(rx);
        let producer_tasks = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                rt.spawn(Box::pin(async move {
                    for i in 0..ITEMS_PER_PRODUCER {
                        Q::send(&tx, p as u64 * ITEMS_PER_PRODUCER + i).await;
                    }
                }))
            })
            .collect();
        join_all(producer_tasks).await;
        Q::close(tx);
        join_all(consumer_tasks).await;
        assert_eq!(
            received.load(Ordering::Relaxed),
            PRODUCERS * ITEMS_PER_PRODUCER as usize
        );
    })
}

// ---- events ----------------------------------------------------------------

/// Something 1,000 tasks wait on and one call wakes.
trait BenchEvent: Send + Sync + 'static {
    fn new() -> Self;
    /// Registers as a waiter, calls `registered`, then waits.
    fn wait(&self, registered: impl FnOnce() + Send) -> impl Future<Output = ()> + Send;
    fn wake_all(&self);
}

struct MagpieEvent(magpie_sync::Event);
struct TokioNotify(tokio::sync::Notify);
struct EventListener(event_listener::Event);

/// Polls `fut` once (registering it), calls `registered`, then awaits it.
async fn register_then_wait<F: Future<Output = ()>>(fut: F, registered: impl FnOnce()) {
    let mut fut = std::pin::pin!(fut);
    let first = futures::poll!(fut.as_mut());
    registered();
    if first.is_pending() {
        fut.await;
    }
}

impl BenchEvent for MagpieEvent {
    fn new() -> Self {
        MagpieEvent(magpie_sync::Event::new())
    }
    async fn wait(&self, registered: impl FnOnce() + Send) {
        register_then_wait(self.0.wait(), registered).await;
    }
    fn wake_all(&self) {
        self.0.set();
    }
}

impl BenchEvent for TokioNotify {
    fn new() -> Self {
        TokioNotify(tokio::sync::Notify::new())
    }
    async fn wait(&self, registered: impl FnOnce() + Send) {
        let mut notified = std::pin::pin!(self.0.notified());
        notified.as_mut().enable();
        registered();
        notified.await;
    }
    fn wake_all(&self) {
        self.0.notify_waiters();
    }
}

impl BenchEvent for EventListener {
    fn new() -> Self {
        EventListener(event_listener::Event::new())
    }
    async fn wait(&self, registered: impl FnOnce() + Send) {
        let listener = self.0.listen();
        registered();
        listener.await;
    }
    fn wake_all(&self) {
        self.0.notify(usize::MAX);
    }
}

const EVENT_WAITERS: usize = 1_000;

/// 1,000 tasks wait; one call wakes them all. Times from that call until
/// every task has finished (spawning and registering are not timed) and
/// adds it to `elapsed_ns`.
fn event<E: BenchEvent>(rt: Rt, elapsed_ns: Arc<AtomicU64>) -> BoxFuture<()> {
    Box::pin(async move {
        let event = Arc::new(E::new());
        let registered = Arc::new(AtomicUsize::new(0));
        let (all_registered, registration) = futures::channel::oneshot::channel();
        let all_registered = Arc::new(Mutex::new(Some(all_registered)));
        let tasks = (0..EVENT_WAITERS)
            .map(|_| {
                let (event, registered, all_registered) =
                    (event.clone(), registered.clone(), all_registered.clone());
                rt.spawn(Box::pin(async move {
                    event
                        .wait(|| {
                            if registered.fetch_add(1, Ordering::AcqRel) + 1 == EVENT_WAITERS {
                                let tx = all_registered.lock().unwrap().take().unwrap();
                                let _ = tx.send(());
                            }
                        })
                        .await;
                }))
            })
            .collect();
        registration.await.expect("every waiter registers");
        let start = Instant::now();
        event.wake_all();
        join_all(tasks).await;
        elapsed_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    })
}

// ---- rwlock (read-mostly) --------------------------------------------------

trait BenchRwLock: Send + Sync + 'static {
    fn new() -> Self;
    fn read(&self) -> impl Future<Output = u64> + Send;
    fn write(&self) -> impl Future<Output = ()> + Send;
}

struct MagpieRwLock(magpie_sync::RwLock<u64>);
struct MagpieStrictRwLock(magpie_sync::RwLock<u64>);
struct TokioRwLock(tokio::sync::RwLock<u64>);
struct AsyncLockRwLock(async_lock::RwLock<u64>);

impl BenchRwLock for MagpieRwLock {
    fn new() -> Self {
        MagpieRwLock(magpie_sync::RwLock::new(0))
    }
    async fn read(&self) -> u64 {
        *self.0.read().await
    }
    async fn write(&self) {
        *self.0.write().await += 1;
    }
}

impl BenchRwLock for MagpieStrictRwLock {
    fn new() -> Self {
        MagpieStrictRwLock(magpie_sync::RwLock::with_fairness(
            0,
            magpie_sync::Fairness::Strict,
        ))
    }
    async fn read(&self) -> u64 {
        *self.0.read().await
    }
    async fn write(&self) {
        *self.0.write().await += 1;
    }
}

impl BenchRwLock for TokioRwLock {
    fn new() -> Self {
        TokioRwLock(tokio::sync::RwLock::new(0))
    }
    async fn read(&self) -> u64 {
        *self.0.read().await
    }
    async fn write(&self) {
        *self.0.write().await += 1;
    }
}

impl BenchRwLock for AsyncLockRwLock {
    fn new() -> Self {
        AsyncLockRwLock(async_lock::RwLock::new(0))
    }
    async fn read(&self) -> u64 {
        *self.0.read().await
    }
    async fn write(&self) {
        *self.0.write().await += 1;
    }
}

/// 8 tasks x 10,000 operations, one in eight a write.
fn rwlock<L: BenchRwLock>(rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let lock = Arc::new(L::new());
        let tasks = (0..LOCK_TASKS)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(Box::pin(async move {
                    for i in 0..LOCK_ITERS {
                        if i % 8 == 0 {
                            lock.write().await;
                        } else {
                            black_box(lock.read().await);
                        }
                    }
                }))
            })
            .collect();
        join_all(tasks).await;
    })
}

/// 1,000,000 put/get pairs in one task on a queue that never blocks: the
/// uncontended fast path (and, on magpie's runtime, the cooperative
/// budget's yields: one every 64 pairs).
fn queue_uncontended<Q: BenchQueue>(_rt: Rt) -> BoxFuture<()> {
    Box::pin(async move {
        let (tx, rx) = Q::bounded(1024);
        let mut sum = 0;
        for i in 0..UNCONTENDED_ITERS as u64 {
            Q::send(&tx, i).await;
            sum += Q::recv(&rx).await.expect("just put");
        }
        assert_eq!(
            black_box(sum),
            (UNCONTENDED_ITERS as u64 - 1) * UNCONTENDED_ITERS as u64 / 2
        );
    })
}

fn sync_benches(c: &mut Criterion) {
    for rt in runtimes() {
        let mut g = group(c, "lock_contended_8x10k");
        bench(&mut g, &rt, "magpie::Lock", contended::<MagpieLock>);
        bench(
            &mut g,
            &rt,
            "magpie::Lock(strict)",
            contended::<MagpieStrictLock>,
        );
        bench(
            &mut g,
            &rt,
            "magpie::RwLock::write",
            contended::<MagpieRwLockWrite>,
        );
        bench(&mut g, &rt, "tokio::Mutex", contended::<TokioMutex>);
        bench(
            &mut g,
            &rt,
            "tokio::RwLock::write",
            contended::<TokioRwLockWrite>,
        );
        bench(
            &mut g,
            &rt,
            "async_lock::Mutex",
            contended::<AsyncLockMutex>,
        );
        bench(
            &mut g,
            &rt,
            "futures::lock::Mutex",
            contended::<FuturesMutex>,
        );
        g.finish();

        let mut g = group(c, "lock_hold_across_yield_8x1k");
        bench(&mut g, &rt, "magpie::Lock", contended_hold::<MagpieLock>);
        bench(
            &mut g,
            &rt,
            "magpie::Lock(strict)",
            contended_hold::<MagpieStrictLock>,
        );
        bench(&mut g, &rt, "tokio::Mutex", contended_hold::<TokioMutex>);
        bench(
            &mut g,
            &rt,
            "async_lock::Mutex",
            contended_hold::<AsyncLockMutex>,
        );
        bench(
            &mut g,
            &rt,
            "futures::lock::Mutex",
            contended_hold::<FuturesMutex>,
        );
        g.finish();

        let mut g = group(c, "lock_uncontended_1m");
        bench(&mut g, &rt, "magpie::Lock", uncontended::<MagpieLock>);
        bench(
            &mut g,
            &rt,
            "magpie::Lock(strict)",
            uncontended::<MagpieStrictLock>,
        );
        bench(&mut g, &rt, "tokio::Mutex", uncontended::<TokioMutex>);
        bench(
            &mut g,
            &rt,
            "async_lock::Mutex",
            uncontended::<AsyncLockMutex>,
        );
        bench(
            &mut g,
            &rt,
            "futures::lock::Mutex",
            uncontended::<FuturesMutex>,
        );
        g.finish();

        let mut g = group(c, "semaphore4_16x1k_hold_across_yield");
        bench(
            &mut g,
            &rt,
            "magpie::Semaphore",
            semaphore::<MagpieSemaphore>,
        );
        bench(
            &mut g,
            &rt,
            "magpie::Semaphore(eventual)",
            semaphore::<MagpieEventualSemaphore>,
        );
        bench(&mut g, &rt, "tokio::Semaphore", semaphore::<TokioSemaphore>);
        bench(
            &mut g,
            &rt,
            "async_lock::Semaphore",
            semaphore::<AsyncLockSemaphore>,
        );
        g.finish();

        let mut g = group(c, "queue1024_4p4c_100k");
        bench(&mut g, &rt, "magpie::Queue", |rt| {
            queue::<MagpieQueue>(rt, 4)
        });
        bench(&mut g, &rt, "async_channel", |rt| {
            queue::<AsyncChannel>(rt, 4)
        });
        bench(&mut g, &rt, "flume", |rt| queue::<Flume>(rt, 4));
        g.finish();

        let mut g = group(c, "queue1024_4p1c_100k");
        bench(&mut g, &rt, "magpie::Queue", |rt| {
            queue::<MagpieQueue>(rt, 1)
        });
        bench(&mut g, &rt, "tokio::mpsc", |rt| queue::<TokioMpsc>(rt, 1));
        bench(&mut g, &rt, "async_channel", |rt| {
            queue::<AsyncChannel>(rt, 1)
        });
        bench(&mut g, &rt, "flume", |rt| queue::<Flume>(rt, 1));
        g.finish();

        let mut g = group(c, "queue_uncontended_1m");
        bench(
            &mut g,
            &rt,
            "magpie::Queue",
            queue_uncontended::<MagpieQueue>,
        );
        bench(&mut g, &rt, "tokio::mpsc", queue_uncontended::<TokioMpsc>);
        bench(
            &mut g,
            &rt,
            "async_channel",
            queue_uncontended::<AsyncChannel>,
        );
        g.finish();

        let mut g = group(c, "event_wake_1000");
        bench_timed(&mut g, &rt, "magpie::Event", event::<MagpieEvent>);
        bench_timed(&mut g, &rt, "tokio::Notify", event::<TokioNotify>);
        bench_timed(&mut g, &rt, "event_listener", event::<EventListener>);
        g.finish();

        let mut g = group(c, "rwlock_8x10k_1in8_writes");
        bench(&mut g, &rt, "magpie::RwLock", rwlock::<MagpieRwLock>);
        bench(
            &mut g,
            &rt,
            "magpie::RwLock(strict)",
            rwlock::<MagpieStrictRwLock>,
        );
        bench(&mut g, &rt, "tokio::RwLock", rwlock::<TokioRwLock>);
        bench(&mut g, &rt, "async_lock::RwLock", rwlock::<AsyncLockRwLock>);
        g.finish();
    }
}

criterion_group!(benches, sync_benches);
criterion_main!(benches);
