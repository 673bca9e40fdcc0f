//! `RwLock`: every operation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};
use std::task::Poll;

use magpie_sync::{Fairness, RwLock};
use support::{poll_noop, run_on_each_executor, scaled, yield_now};

#[test]
fn readers_share_and_writers_exclude() {
    run_on_each_executor(|_| async {
        let lock = RwLock::new(1);
        let r1 = lock.read().await;
        let r2 = lock.read().await;
        assert_eq!(*r1 + *r2, 2);
        assert!(lock.try_write().is_err());
        drop((r1, r2));
        let mut w = lock.write().await;
        *w += 1;
        assert!(lock.try_read().is_err());
        assert!(lock.try_write().is_err());
        drop(w);
        assert_eq!(*lock.try_read().unwrap(), 2);
    });
}

#[test]
fn owned_variants() {
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(RwLock::new(String::new()));
        let r = lock.clone().read_owned().await;
        assert!(lock.clone().try_read_owned().is_ok());
        assert!(lock.clone().try_write_owned().is_err());
        let writer = exec.spawn({
            let lock = lock.clone();
            async move { lock.write_owned().await.push('w') }
        });
        yield_now().await;
        drop(r);
        writer.await;
        let mut w = lock.clone().try_write_owned().unwrap();
        w.push('x');
        drop(w);
        assert_eq!(*lock.read().await, "wx");
    });
}

#[test]
fn get_mut_into_inner_default_from_debug() {
    let mut lock = RwLock::new(vec![1]);
    lock.get_mut().push(2);
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { value: [1, 2], fairness: Eventual }"
    );
    let w = lock.try_write().unwrap();
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { value: <locked>, fairness: Eventual }"
    );
    assert_eq!(format!("{w:?}"), "[1, 2]");
    drop(w);
    assert_eq!(lock.into_inner(), [1, 2]);
    assert_eq!(RwLock::<u8>::default().into_inner(), 0);
    assert_eq!(RwLock::from(7).into_inner(), 7);
    assert_eq!(
        RwLock::with_fairness((), Fairness::Strict).fairness(),
        Fairness::Strict
    );
}

#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    let lock = RwLock::new(0);
    let mut w = lock.try_write().unwrap();
    *w = 5;
    let mut reader = Box::pin(lock.read());
    let mut writer = Box::pin(lock.write());
    assert!(poll_noop(&mut reader).is_pending());
    assert!(poll_noop(&mut writer).is_pending());
    let r = w.downgrade();
    assert_eq!(*r, 5);
    // The reader queued before the writer gets in beside us.
    match poll_noop(&mut reader) {
        Poll::Ready(g) => assert_eq!(*g, 5),
        Poll::Pending => panic!("a reader waiting before the writer was not let in"),
    }
    assert!(poll_noop(&mut writer).is_pending());
    drop(r);
    assert!(poll_noop(&mut writer).is_ready());
}

#[test]
fn a_stream_of_readers_does_not_starve_a_writer() {
    for fairness in [Fairness::Strict, Fairness::Eventual] {
        let lock = RwLock::with_fairness(0, fairness);
        let mut readers = vec![lock.try_read().unwrap(), lock.try_read().unwrap()];
        let mut writer = Box::pin(lock.write());
        assert!(poll_noop(&mut writer).is_pending());
        // Readers keep coming and going; new ones must queue behind the writer.
        for _ in 0..10 {
            drop(readers.remove(0));
            if let Ok(r) = lock.try_read() {
                readers.push(r);
            }
            if readers.is_empty() {
                break;
            }
        }
        assert!(
            readers.is_empty(),
            "{fairness:?}: readers overtook the waiting writer"
        );
        assert!(poll_noop(&mut writer).is_ready(), "{fairness:?}");
    }
}

#[test]
fn readers_queued_before_the_next_writer_enter_together() {
    let lock = RwLock::new(());
    let w = lock.try_write().unwrap();
    let mut r1 = Box::pin(lock.read());
    let mut r2 = Box::pin(lock.read());
    let mut w2 = Box::pin(lock.write());
    let mut r3 = Box::pin(lock.read());
    // Arrival order: r1, r2, w2, r3.
    assert!(poll_noop(&mut r1).is_pending());
    assert!(poll_noop(&mut r2).is_pending());
    assert!(poll_noop(&mut w2).is_pending());
    assert!(poll_noop(&mut r3).is_pending());
    drop(w);
    let g1 = match poll_noop(&mut r1) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("r1"),
    };
    let g2 = match poll_noop(&mut r2) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("r2"),
    };
    assert!(poll_noop(&mut w2).is_pending());
    assert!(poll_noop(&mut r3).is_pending(), "r3 came after the writer");
    drop((g1, g2));
    let gw = match poll_noop(&mut w2) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("w2"),
    };
    drop(gw);
    assert!(poll_noop(&mut r3).is_ready());
}

#[test]
fn readers_and_writers_under_contention_see_consistent_state() {
    run_on_each_executor(|exec| async move {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let holders = Arc::new(AtomicIsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (lock, holders) = (lock.clone(), holders.clone());
                exec.spawn(async move {
                    for _ in 0..scaled(200) {
                        if i % 4 == 0 {
                            let mut g = lock.write().await;
                            assert_eq!(holders.swap(-1, SeqCst), 0, "writer with others");
                            g.0 += 1;
                            yield_now().await;
                            g.1 += 1;
                            holders.store(0, SeqCst);
                        } else {
                            let g = lock.read().await;
                            assert!(holders.fetch_add(1, SeqCst) >= 0, "reader with writer");
                            assert_eq!(g.0, g.1, "torn write observed");
                            yield_now().await;
                            holders.fetch_sub(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        let writes = 2 * scaled(200) as u64;
        assert_eq!(*lock.read().await, (writes, writes));
    });
}
