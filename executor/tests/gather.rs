//! `gather` and `try_gather`.

mod support;

use magpie::time::{Duration, sleep};
use magpie::{gather, gather_fail_fast, try_gather};
use std::time::Instant;
use support::{DropCounter, rt, watchdog, with_timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn gather_returns_every_outcome_in_argument_order() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks: Vec<_> = [30u64, 5, 15]
            .into_iter()
            .map(|d| {
                magpie::spawn(async move {
                    sleep(ms(d)).await;
                    d
                })
            })
            .collect();
        let out: Vec<_> = gather(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, [30, 5, 15]);
    });
}

#[test]
fn gather_keeps_going_past_failures_and_reports_them_in_place() {
    let rt = rt(2);
    rt.block_on(async {
        let ok = magpie::spawn(async {
            sleep(ms(10)).await;
            1
        });
        let panics = magpie::spawn(async { panic!("Task error") });
        let cancelled = magpie::spawn(std::future::pending::<i32>());
        cancelled.cancel();
        let out = gather([ok, panics, cancelled]).await;
        assert_eq!(*out[0].as_ref().unwrap(), 1);
        assert_eq!(
            out[1].as_ref().unwrap_err().panic_message(),
            Some("Task error")
        );
        assert!(out[2].as_ref().unwrap_err().is_cancelled());
    });
}

#[test]
fn gather_of_nothing_is_empty() {
    let rt = rt(1);
    let out = rt.block_on(gather(Vec::<magpie::JoinHandle<()>>::new()));
    assert!(out.is_empty());
}

#[test]
fn dropping_a_gather_cancels_the_unfinished_tasks() {
    let rt = rt(2);
    let drops = DropCounter::new();
    rt.block_on(async {
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let token = drops.token();
                magpie::spawn(async move {
                    let _token = token;
                    sleep(Duration::from_secs(3600)).await;
                })
            })
            .collect();
        let timed_out = magpie::time::timeout(ms(5), gather(tasks)).await;
        assert!(timed_out.is_err());
    });
    wait_for_drops(&drops, 5);
}

fn wait_for_drops(drops: &DropCounter, n: usize) {
    let deadline = Instant::now() + watchdog(Duration::from_secs(10));
    while drops.drops() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} dropped",
            drops.drops()
        );
        std::thread::sleep(ms(1));
    }
    assert_eq!(drops.drops(), n);
}

#[test]
fn try_gather_gives_the_values_in_order_when_all_succeed() {
    let rt = rt(2);
    let out = rt.block_on(async {
        let tasks: Vec<_> = (0..10u64)
            .map(|i| {
                magpie::spawn(async move {
                    sleep(ms(10 - i)).await;
                    Ok::<_, String>(i)
                })
            })
            .collect();
        try_gather(tasks).await
    });
    assert_eq!(out.unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn try_gather_fails_fast_and_cancels_the_rest_running_their_destructors() {
    with_timeout(Duration::from_secs(20), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let start = Instant::now();
        let err = rt.block_on(async {
            let mut tasks: Vec<_> = (0..8)
                .map(|_| {
                    let token = drops.token();
                    magpie::spawn(async move {
                        let _token = token;
                        sleep(Duration::from_secs(3600)).await;
                        Ok(())
                    })
                })
                .collect();
            tasks.push(magpie::task::Builder::new().name("validator").spawn(async {
                sleep(ms(5)).await;
                Err("bad record")
            }));
            try_gather(tasks).await.unwrap_err()
        });
        assert!(
            start.elapsed() < watchdog(Duration::from_secs(5)),
            "did not fail fast"
        );
        assert_eq!(err.error(), Some(&"bad record"));
        assert_eq!(err.name(), Some("validator"));
        assert!(err.to_string().contains("validator"), "{err}");
        wait_for_drops(&drops, 8);
    });
}

#[test]
fn try_gather_treats_a_panic_as_a_failure() {
    let rt = rt(2);
    let err = rt.block_on(async {
        let slow = magpie::spawn(async {
            sleep(Duration::from_secs(3600)).await;
            Ok::<(), ()>(())
        });
        let bug = magpie::spawn(async {
            if true {
                panic!("index out of bounds");
            }
            Ok::<(), ()>(())
        });
        try_gather([slow, bug]).await.unwrap_err()
    });
    assert!(err.is_panic());
    assert_eq!(
        err.join_error().unwrap().panic_message(),
        Some("index out of bounds")
    );
}

#[test]
fn gather_fail_fast_gives_the_outputs_in_order_when_all_succeed() {
    let rt = rt(2);
    let out = rt.block_on(async {
        let tasks: Vec<_> = (0..10u64)
            .map(|i| {
                magpie::spawn(async move {
                    sleep(ms(10 - i)).await;
                    i
                })
            })
            .collect();
        gather_fail_fast(tasks).await
    });
    assert_eq!(out.unwrap(), (0..10).collect::<Vec<_>>());
    assert!(
        rt.block_on(gather_fail_fast(Vec::<magpie::JoinHandle<()>>::new()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn gather_fail_fast_returns_the_first_panic_and_cancels_the_rest_running_their_destructors() {
    with_timeout(Duration::from_secs(20), || {
        let rt = rt(2);
        let drops = DropCounter::new();
        let start = Instant::now();
        let err = rt.block_on(async {
            let mut tasks: Vec<_> = (0..8)
                .map(|_| {
                    let token = drops.token();
                    magpie::spawn(async move {
                        let _token = token;
                        sleep(Duration::from_secs(3600)).await;
                        0
                    })
                })
                .collect();
            let parser = magpie::task::Builder::new().name("parser").spawn(async {
                sleep(ms(5)).await;
                if true {
                    panic!("bad record");
                }
                1
            });
            let id = parser.id();
            tasks.push(parser);
            (gather_fail_fast(tasks).await.unwrap_err(), id)
        });
        let (err, id) = err;
        assert!(
            start.elapsed() < watchdog(Duration::from_secs(5)),
            "did not fail fast"
        );
        assert_eq!(err.id(), id);
        assert_eq!(err.name(), Some("parser"));
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"bad record"));
        wait_for_drops(&drops, 8);
    });
}

#[test]
fn gather_fail_fast_treats_a_cancellation_as_a_failure() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let err = rt.block_on(async {
        let token = drops.token();
        let waiting = magpie::spawn(async move {
            let _token = token;
            std::future::pending::<()>().await;
        });
        let cancelled = magpie::spawn(std::future::pending::<()>());
        let id = cancelled.id();
        cancelled.cancel();
        let err = gather_fail_fast([waiting, cancelled]).await.unwrap_err();
        assert_eq!(err.id(), id);
        err
    });
    assert!(err.is_cancelled());
    wait_for_drops(&drops, 1);
}

#[test]
fn dropping_a_gather_fail_fast_cancels_the_unfinished_tasks() {
    let rt = rt(2);
    let drops = DropCounter::new();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let token = drops.token();
                magpie::spawn(async move {
                    let _token = token;
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        let gather = gather_fail_fast(tasks);
        let timed_out = magpie::time::timeout(ms(5), gather).await;
        assert!(timed_out.is_err());
    });
    wait_for_drops(&drops, 4);
}
