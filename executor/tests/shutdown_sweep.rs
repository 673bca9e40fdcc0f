//! Queued blocking tasks against the shutdown sweep
//! (`shared/repros/shutdown_sweep.rs`): with 200 short blocking tasks
//! queued, `shutdown_timeout` used to leave handles that never resolved in
//! about one round in ten, because a pool thread popped a task the sweep
//! had claimed and became a second owner of its closure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

const ROUNDS: usize = if cfg!(miri) { 6 } else { 60 };
const TASKS: usize = if cfg!(miri) { 8 } else { 200 };

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Counts its drops, and spins in its destructor so that the sweep's drop
/// of a queued closure overlaps the pool's threads popping the queue.
struct Slow(Arc<AtomicUsize>);

impl Drop for Slow {
    fn drop(&mut self) {
        spin(Duration::from_micros(20));
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn every_queued_blocking_task_is_run_or_cancelled_exactly_once() {
    for round in 0..ROUNDS {
        let rt = magpie::Runtime::builder()
            .worker_threads(1)
            .max_blocking_threads(8)
            .build()
            .unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let slow = Slow(dropped.clone());
                let ran = ran.clone();
                rt.spawn_blocking(move || {
                    let _slow = slow;
                    spin(Duration::from_micros(20));
                    ran.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let report = rt.shutdown_timeout(Duration::from_secs(10));
        assert!(report.is_complete(), "round {round}: {report}");
        let mut cancelled = 0;
        for h in handles {
            assert!(h.is_finished(), "round {round}: a handle never resolved");
            match futures::executor::block_on(h) {
                Ok(()) => {}
                Err(e) if e.is_cancelled() => cancelled += 1,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(
            dropped.load(SeqCst),
            TASKS,
            "round {round}: every closure dropped once"
        );
        assert_eq!(
            ran.load(SeqCst) + cancelled,
            TASKS,
            "round {round}: ran or cancelled"
        );
    }
}
