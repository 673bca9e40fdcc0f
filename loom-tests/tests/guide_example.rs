//! The complete example of `docs/loom.md`: user code that runs on a magpie
//! runtime and uses a `magpie::sync` primitive, model-checked with loom.
//! Kept here so that the guide's example is known to work.
#![cfg(loom)]

// The code under test. In a real crate it lives in `src/` and picks its
// atomics from a shim, so that `--cfg loom` swaps them for loom's:
//
//     #[cfg(loom)]
//     use loom::sync::atomic::{AtomicUsize, Ordering};
//     #[cfg(not(loom))]
//     use std::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::atomic::{AtomicUsize, Ordering};

use loom::sync::Arc;
use magpie::sync::{Event, Lock};

/// Counts hits with a lock-free fast path and keeps a log behind an async
/// lock.
struct Hits {
    total: AtomicUsize,
    log: Lock<Vec<u32>>,
}

impl Hits {
    fn new() -> Hits {
        Hits {
            total: AtomicUsize::new(0),
            log: Lock::new(Vec::new()),
        }
    }

    async fn record(&self, who: u32) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.log.lock().await.push(who);
    }
}

#[test]
fn two_tasks_record_hits() {
    loom::model(|| {
        // One worker keeps the model small; `block_on` runs on the model's
        // main thread, so two threads race on `Hits`.
        let rt = magpie::Runtime::builder()
            .worker_threads(1)
            .build()
            .unwrap();
        let hits = Arc::new(Hits::new());
        let recorded = Arc::new(Event::new());

        let task = rt.spawn({
            let (hits, recorded) = (hits.clone(), recorded.clone());
            async move {
                hits.record(1).await;
                recorded.set();
            }
        });
        rt.block_on(async {
            hits.record(2).await;
            recorded.wait().await;
            task.await.unwrap();
        });
        drop(rt);

        assert_eq!(hits.total.load(Ordering::Relaxed), 2);
        let log = hits.log.try_lock().expect("nobody holds the lock");
        assert_eq!(log.len(), 2);
        assert!(log.contains(&1) && log.contains(&2));
    });
}
