//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// `n` normally, `miri` under Miri: Miri interprets every step (roughly
/// a thousand times slower, and the runtime's monitor ticks every
/// interpreted millisecond), so the tests run Miri-sized workloads there.
/// The interleavings matter, not the repetitions.
pub const fn miri_or(n: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { n }
}

/// A watchdog limit: `limit` normally, 30 times longer (at least 10
/// minutes) under Miri, where a hang is still a failure but every step is
/// interpreted.
pub fn watchdog(limit: Duration) -> Duration {
    if cfg!(miri) {
        (limit * 30).max(Duration::from_secs(600))
    } else {
        limit
    }
}

/// A real-time interval a test's logic compares against (a sleep that
/// must outlast some work, a bound that work must meet): `d` normally, 20
/// times longer under Miri, so that the comparison means the same thing
/// when every step is interpreted.
pub fn stretch(d: Duration) -> Duration {
    if cfg!(miri) { d * 20 } else { d }
}

/// Runs `f` on a fresh thread and fails the test if it has not finished
/// within `limit` ([`watchdog`]-scaled under Miri): a lost wakeup shows
/// up as a hang, and a hang must fail.
pub fn with_timeout<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let limit = watchdog(limit);
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            worker.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // `f` panicked: surface its panic.
            match worker.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!(),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "test did not finish within {limit:?}: a task was never woken (lost wakeup) or never ran"
            )
        }
    }
}

/// Counts how many times values it handed out were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A value whose drop increments the counter.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }

    pub fn drops(&self) -> usize {
        self.0.load(SeqCst)
    }
}

pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

pub fn rt(workers: usize) -> magpie::Runtime {
    magpie::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}
