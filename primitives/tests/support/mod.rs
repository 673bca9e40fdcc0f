//! Test support: run a test body on every executor we support, with a
//! timeout that fails the test if it hangs.
//!
//! Adding an executor is one variant of [`Exec`], one arm in each of its
//! methods and one line in [`EXECUTORS`].

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures::task::SpawnExt;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where a test body runs and spawns.
#[derive(Clone)]
pub enum Exec {
    /// tokio, `current_thread` flavour: every task on one thread.
    TokioCurrent(tokio::runtime::Handle),
    /// tokio, multi-thread flavour with 2 workers.
    TokioMulti(tokio::runtime::Handle),
    /// `futures::executor::ThreadPool` with 2 threads (body on the test
    /// thread under `block_on`).
    Futures(futures::executor::ThreadPool),
}

/// The executors every runtime-agnostic test runs on.
pub const EXECUTORS: &[&str] = &[
    "tokio-current-thread",
    "tokio-multi-thread",
    "futures-thread-pool",
];

impl Exec {
    pub fn name(&self) -> &'static str {
        match self {
            Exec::TokioCurrent(_) => "tokio-current-thread",
            Exec::TokioMulti(_) => "tokio-multi-thread",
            Exec::Futures(_) => "futures-thread-pool",
        }
    }

    /// Spawns `fut`; the returned future resolves to its output (a panic in
    /// the task is propagated).
    pub fn spawn<F>(&self, fut: F) -> BoxFuture<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Exec::TokioCurrent(h) | Exec::TokioMulti(h) => {
                let handle = h.spawn(fut);
                Box::pin(async move {
                    match handle.await {
                        Ok(v) => v,
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }
                })
            }
            Exec::Futures(pool) => Box::pin(pool.spawn_with_handle(fut).expect("spawn")),
        }
    }

    /// Whether tasks may run on several threads at once.
    pub fn is_parallel(&self) -> bool {
        !matches!(self, Exec::TokioCurrent(_))
    }
}

/// Builds executor `name` and runs the body made by `test` on it.
fn run_one<F, Fut>(name: &str, test: &F)
where
    F: Fn(Exec) -> Fut,
    Fut: Future<Output = ()>,
{
    match name {
        "tokio-current-thread" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(test(Exec::TokioCurrent(rt.handle().clone())));
        }
        "tokio-multi-thread" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            rt.block_on(test(Exec::TokioMulti(rt.handle().clone())));
        }
        "futures-thread-pool" => {
            let pool = futures::executor::ThreadPool::builder()
                .pool_size(2)
                .create()
                .unwrap();
            futures::executor::block_on(test(Exec::Futures(pool)));
        }
        other => panic!("unknown executor {other}"),
    }
}

/// Runs the test body once per executor, each under `timeout`: a hang
/// fails the test (naming the executor) instead of stalling the suite.
#[track_caller]
pub fn run_on_each_executor_with<F, Fut>(timeout: Duration, test: F)
where
    F: Fn(Exec) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()>,
{
    let test = Arc::new(test);
    for &name in EXECUTORS {
        let test = test.clone();
        with_timeout(name, timeout, move || run_one(name, &*test));
    }
}

/// [`run_on_each_executor_with`] a 20 s timeout (20 minutes under Miri).
#[track_caller]
pub fn run_on_each_executor<F, Fut>(test: F)
where
    F: Fn(Exec) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()>,
{
    let secs = if cfg!(miri) { 1200 } else { 20 };
    run_on_each_executor_with(Duration::from_secs(secs), test);
}

/// Runs `f` on a fresh thread; fails if it does not finish within
/// `timeout`, re-raises its panic if it panics.
#[track_caller]
pub fn with_timeout<R: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("test on {what}"))
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .unwrap();
    match rx.recv_timeout(timeout) {
        Ok(Ok(r)) => {
            thread.join().unwrap();
            r
        }
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("hang: the test did not finish on {what} within {timeout:?}"),
    }
}

/// Yields once to the executor.
pub fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}

/// A waker that counts how often it was woken.
#[derive(Default)]
pub struct CountingWaker {
    pub wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    pub fn new() -> (Arc<Self>, Waker) {
        let w = Arc::new(CountingWaker::default());
        let waker = Waker::from(w.clone());
        (w, waker)
    }

    pub fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

/// Polls a pinned future once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Polls a boxed future once with a no-op waker.
pub fn poll_noop<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    poll_once(fut.as_mut(), Waker::noop())
}

/// A deadline `d` from now.
pub fn deadline(d: Duration) -> Instant {
    Instant::now() + d
}

/// How long stress tests run (shorter under Miri, which skips them anyway).
pub const STRESS: Duration = Duration::from_millis(1200);

/// A xorshift generator, for deterministic "random" choices in tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `fut` until it finishes or `yields` other turns of the executor
/// have passed, whichever is first; in the second case `fut` is dropped
/// (cancelled) wherever it was.
pub async fn or_cancel<F: Future>(fut: F, yields: usize) -> Option<F::Output> {
    let timer = Box::pin(async move {
        for _ in 0..yields {
            yield_now().await;
        }
    });
    match futures::future::select(Box::pin(fut), timer).await {
        futures::future::Either::Left((out, _)) => Some(out),
        futures::future::Either::Right(((), _)) => None,
    }
}

/// Runs a stress body on every executor for `STRESS / executors` each,
/// failing on a hang.
#[track_caller]
pub fn stress<F, Fut>(test: F)
where
    F: Fn(Exec, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()>,
{
    let per_executor = STRESS / EXECUTORS.len() as u32;
    run_on_each_executor_with(Duration::from_secs(30), move |exec| {
        test(exec, Instant::now() + per_executor)
    });
}

/// `n` normally; far fewer under Miri, which is ~1000 times slower (the
/// same interleavings matter, not the repetitions).
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        let m = n / 50;
        if m < 2 { 2 } else { m }
    } else {
        n
    }
}
