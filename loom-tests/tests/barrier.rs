//! Loom models of `Barrier`: one leader per generation over two
//! generations, all parties released together, and a waiter dropped while
//! its generation completes (it either counted as arrived or withdrew, and
//! the count stays consistent).
#![cfg(loom)]

use std::sync::Arc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::thread;
use loom_tests::{counting_waker, poll_noop, poll_once};
use magpie_sync::Barrier;

/// Two parties pass a barrier of 2 twice: each generation has exactly one
/// leader, and nobody gets through a generation before its partner arrived.
#[test]
fn one_leader_per_generation() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let leaders = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let party = |barrier: &Barrier, leaders: &AtomicUsize, arrived: &AtomicUsize| {
            for generation in 1..=2 {
                arrived.fetch_add(1, SeqCst);
                let result = block_on(barrier.wait());
                assert!(
                    arrived.load(SeqCst) >= 2 * generation,
                    "released before the partner arrived"
                );
                if result.is_leader() {
                    leaders.fetch_add(1, SeqCst);
                }
            }
        };
        let t = {
            let (barrier, leaders, arrived) = (barrier.clone(), leaders.clone(), arrived.clone());
            thread::spawn(move || party(&barrier, &leaders, &arrived))
        };
        party(&barrier, &leaders, &arrived);
        t.join().unwrap();
        assert_eq!(leaders.load(SeqCst), 2);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// Three parties: the last to arrive releases both others at once.
#[test]
fn every_party_is_released() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(3));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || block_on(barrier.wait()).is_leader())
            })
            .collect();
        let mut leaders = usize::from(block_on(barrier.wait()).is_leader());
        for w in waiters {
            leaders += usize::from(w.join().unwrap());
        }
        assert_eq!(leaders, 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// `Barrier::wait` on an `Arc`, as a `'static` future.
async fn wait_owned(barrier: Arc<Barrier>) -> bool {
    barrier.wait().await.is_leader()
}

/// A waiting party is dropped while another arrives. Either the drop came
/// first (it withdrew: one party waits, the newcomer), or the arrival did
/// (the generation completed with the dropped party in it). Then a last
/// arrival must release whoever waits.
#[test]
fn dropped_waiter_withdraws_or_counts() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let mut dropped = Box::pin(wait_owned(barrier.clone()));
        assert!(poll_noop(&mut dropped).is_pending());
        let withdrawn = Arc::new(AtomicBool::new(false));
        let dropper = {
            let withdrawn = withdrawn.clone();
            thread::spawn(move || {
                drop(dropped);
                withdrawn.store(true, SeqCst);
            })
        };
        let (woken, waker) = counting_waker();
        let mut arriving = Box::pin(wait_owned(barrier.clone()));
        let dropped_before = withdrawn.load(SeqCst);
        let first = poll_once(&mut arriving, &waker);
        dropper.join().unwrap();
        if dropped_before {
            assert!(first.is_pending(), "a withdrawn party still counted");
        }
        match first {
            Poll::Ready(leader) => {
                assert!(leader);
                assert_eq!(barrier.n_waiting(), 0);
            }
            Poll::Pending => {
                assert_eq!(
                    barrier.n_waiting(),
                    1,
                    "the dropped party was not withdrawn"
                );
                assert!(block_on(barrier.wait()).is_leader());
                assert_eq!(woken.wakes(), 1);
                assert_eq!(poll_once(&mut arriving, &waker), Poll::Ready(false));
            }
        }
        assert_eq!(barrier.n_waiting(), 0);
    });
}
