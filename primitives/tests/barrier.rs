//! `Barrier`: every operation, on every executor.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use magpie_sync::Barrier;
use support::{poll_noop, run_on_each_executor};

#[test]
fn exactly_one_leader_per_generation_and_reuse() {
    run_on_each_executor(|exec| async move {
        let barrier = Arc::new(Barrier::new(4));
        let leaders = Arc::new(AtomicUsize::new(0));
        let arrived: Arc<Vec<AtomicUsize>> =
            Arc::new((0..20).map(|_| AtomicUsize::new(0)).collect());
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, leaders, arrived) =
                    (barrier.clone(), leaders.clone(), arrived.clone());
                exec.spawn(async move {
                    for generation in 0..20 {
                        arrived[generation].fetch_add(1, SeqCst);
                        if barrier.wait().await.is_leader() {
                            leaders.fetch_add(1, SeqCst);
                        }
                        // Nobody passes before everyone arrived.
                        assert_eq!(arrived[generation].load(SeqCst), 4);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        assert_eq!(leaders.load(SeqCst), 20);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn waiters_wait_until_all_parties_arrive() {
    let barrier = Barrier::new(3);
    let mut a = Box::pin(barrier.wait());
    let mut b = Box::pin(barrier.wait());
    assert!(poll_noop(&mut a).is_pending());
    assert!(poll_noop(&mut b).is_pending());
    assert_eq!(barrier.n_waiting(), 2);
    let mut c = Box::pin(barrier.wait());
    let leader = match poll_noop(&mut c) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("third arrival must trip the barrier"),
    };
    assert!(leader.is_leader());
    for f in [&mut a, &mut b] {
        match poll_noop(f) {
            std::task::Poll::Ready(r) => assert!(!r.is_leader()),
            std::task::Poll::Pending => panic!("not released"),
        }
    }
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn a_dropped_waiter_does_not_count_as_arrived() {
    let barrier = Barrier::new(2);
    let mut a = Box::pin(barrier.wait());
    assert!(poll_noop(&mut a).is_pending());
    drop(a);
    assert_eq!(barrier.n_waiting(), 0);
    let mut b = Box::pin(barrier.wait());
    assert!(
        poll_noop(&mut b).is_pending(),
        "the dropped waiter was counted"
    );
    let mut c = Box::pin(barrier.wait());
    assert!(poll_noop(&mut c).is_ready());
    assert!(poll_noop(&mut b).is_ready());
}

#[test]
fn one_party_barrier_never_waits() {
    let barrier = Barrier::new(1);
    for _ in 0..3 {
        assert!(futures::executor::block_on(barrier.wait()).is_leader());
    }
    assert_eq!(barrier.parties(), 1);
    assert_eq!(
        format!("{barrier:?}"),
        "Barrier { parties: 1, n_waiting: 0 }"
    );
}

#[test]
#[should_panic(expected = "at least one party")]
fn zero_parties_is_refused() {
    let _ = Barrier::new(0);
}
