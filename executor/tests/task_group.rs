//! `TaskGroup`: fail together, join together, no child outlives its group.

mod support;

use magpie::TaskGroup;
use magpie::time::{Duration, sleep};
use std::time::Instant;
use support::{DropCounter, rt, watchdog, with_timeout};

fn wait_for_drops(drops: &DropCounter, n: usize) {
    let deadline = Instant::now() + watchdog(Duration::from_secs(10));
    while drops.drops() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} dropped",
            drops.drops()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.drops(), n);
}

#[test]
fn join_returns_every_output_in_spawn_order() {
    let rt = rt(2);
    let out = rt.block_on(async {
        let group = TaskGroup::new();
        for i in 0..20u64 {
            group.spawn(async move {
                sleep(Duration::from_millis(20 - i)).await;
                i
            });
        }
        assert_eq!(group.len(), 20);
        group.join().await
    });
    assert_eq!(out.unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_panicking_child_cancels_its_siblings_whose_destructors_run() {
    with_timeout(Duration::from_secs(20), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let start = Instant::now();
        let err = rt.block_on(async {
            let group = TaskGroup::new();
            for _ in 0..6 {
                let token = drops.token();
                group.spawn(async move {
                    let _token = token;
                    sleep(Duration::from_secs(3600)).await;
                });
            }
            group.spawn(async {
                sleep(Duration::from_millis(5)).await;
                panic!("child bug");
            });
            group.join().await.unwrap_err()
        });
        assert!(start.elapsed() < watchdog(Duration::from_secs(5)));
        assert_eq!(err.errors().len(), 1);
        assert!(err.errors()[0].is_panic());
        assert_eq!(err.cancelled(), 6);
        // join waited for the cancelled children: their futures are gone.
        assert_eq!(drops.drops(), 6);
    });
}

#[test]
fn an_err_child_fails_a_fallible_group() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let err = rt.block_on(async {
        let group = TaskGroup::fallible();
        let token = drops.token();
        group.spawn_fallible(async move {
            let _token = token;
            sleep(Duration::from_secs(3600)).await;
            Ok(0)
        });
        group.spawn_fallible(async { Err(std::io::Error::other("connection reset")) });
        group.spawn(async { 3 });
        group.join().await.unwrap_err()
    });
    assert_eq!(drops.drops(), 1);
    assert_eq!(err.errors().len(), 1);
    assert_eq!(
        err.errors()[0].error().unwrap().to_string(),
        "connection reset"
    );
    assert!(err.to_string().contains("connection reset"), "{err}");
}

#[test]
fn children_spawned_after_a_failure_are_cancelled_at_once() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let err = rt.block_on(async {
        let group = TaskGroup::new();
        group.spawn(async { panic!("early") });
        while !group.has_failed() {
            magpie::task::yield_now().await;
        }
        let token = drops.token();
        group.spawn(async move {
            let _token = token;
            sleep(Duration::from_secs(3600)).await;
        });
        group.join().await.unwrap_err()
    });
    assert_eq!(err.cancelled(), 1);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn dropping_the_group_cancels_its_children() {
    let rt = rt(2);
    let drops = DropCounter::new();
    rt.block_on(async {
        let group = TaskGroup::<()>::new();
        for _ in 0..4 {
            let token = drops.token();
            group.spawn(async move {
                let _token = token;
                sleep(Duration::from_secs(3600)).await;
            });
        }
        drop(group);
    });
    wait_for_drops(&drops, 4);
}

#[test]
fn cancelling_the_owner_task_cancels_the_children() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let owner_drops = drops.clone();
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    let owner = rt.spawn(async move {
        let group = TaskGroup::<()>::new();
        for _ in 0..4 {
            let token = owner_drops.token();
            group.spawn(async move {
                let _token = token;
                sleep(Duration::from_secs(3600)).await;
            });
        }
        spawned_tx.send(()).unwrap();
        group.join().await
    });
    // Cancel once the children exist (a fixed 20 ms sleep is not enough
    // under Miri).
    spawned_rx.recv().unwrap();
    owner.cancel();
    assert!(rt.block_on(owner).unwrap_err().is_cancelled());
    wait_for_drops(&drops, 4);
}

#[test]
fn explicit_cancel_and_an_empty_group() {
    let rt = rt(1);
    rt.block_on(async {
        let empty = TaskGroup::<u8>::new();
        assert!(empty.join().await.unwrap().is_empty());

        let group = TaskGroup::<()>::new();
        group.spawn(std::future::pending());
        group.spawn(std::future::pending());
        group.cancel();
        let err = group.join().await.unwrap_err();
        assert!(err.errors().is_empty());
        assert_eq!(err.cancelled(), 2);
    });
}

#[test]
fn runtime_shutdown_cancels_group_children() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let d = drops.clone();
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let group = TaskGroup::<()>::new();
        for _ in 0..3 {
            let token = d.token();
            group.spawn(async move {
                let _token = token;
                std::future::pending::<()>().await;
            });
        }
        spawned_tx.send(()).unwrap();
        let _ = group.join().await;
    });
    // Shut down once the children exist (a fixed 20 ms sleep is not
    // enough under Miri).
    spawned_rx.recv().unwrap();
    drop(rt);
    assert_eq!(drops.drops(), 3);
}

#[test]
fn spawn_returns_a_handle_that_cancels_just_that_child() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let out = rt.block_on(async {
        let group = TaskGroup::new();
        let first = group.spawn(async {
            sleep(Duration::from_millis(5)).await;
            1
        });
        let token = drops.token();
        let stuck = group.spawn(async move {
            let _token = token;
            std::future::pending::<u32>().await
        });
        let last = group.spawn(async { 3 });
        assert_ne!(stuck.id(), first.id());
        assert_ne!(stuck.id(), last.id());
        assert_eq!(stuck.name(), None);
        stuck.cancel();
        // The siblings are not cancelled: the group did not fail.
        assert!(!group.has_failed());
        let out = group.join().await;
        assert!(stuck.is_finished());
        out
    });
    assert_eq!(
        out.unwrap(),
        [1, 3],
        "the child cancelled from outside is left out, not a failure"
    );
    assert_eq!(drops.drops(), 1);
}

#[test]
fn a_child_cancelled_from_outside_is_left_out_of_a_failed_groups_count() {
    let rt = rt(2);
    let err = rt.block_on(async {
        let group = TaskGroup::<()>::new();
        let stuck = group.spawn(std::future::pending());
        stuck.cancel();
        // Let the cancellation finish before the failure.
        while !stuck.is_finished() {
            magpie::task::yield_now().await;
        }
        group.spawn(std::future::pending());
        group.spawn(async { panic!("bug") });
        group.join().await.unwrap_err()
    });
    assert_eq!(err.errors().len(), 1);
    assert_eq!(err.cancelled(), 1, "only the sibling the failure cancelled");
    let join = err.into_errors().remove(0).into_join_error();
    assert_eq!(join.panic_message(), Some("bug"));
}

#[test]
fn cancelling_a_finished_child_through_its_handle_keeps_its_output() {
    let rt = rt(1);
    let out = rt.block_on(async {
        let group = TaskGroup::new();
        let done = group.spawn(async { 7 });
        while !done.is_finished() {
            magpie::task::yield_now().await;
        }
        done.cancel();
        group.join().await
    });
    assert_eq!(out.unwrap(), [7]);
}

#[test]
fn a_fallible_childs_handle_cancels_it_without_failing_the_group() {
    let rt = rt(2);
    let out = rt.block_on(async {
        let group = TaskGroup::fallible();
        let stuck = group.spawn_fallible(std::future::pending::<Result<u8, String>>());
        group.spawn_fallible(async { Ok(2) });
        stuck.cancel();
        group.join().await
    });
    assert_eq!(out.unwrap(), [2]);
}
