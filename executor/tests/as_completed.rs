//! `as_completed`: outcomes in completion order.

mod support;

use futures::StreamExt;
use magpie::time::{Duration, sleep};
use support::rt;

#[test]
fn outcomes_arrive_in_completion_order() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks: Vec<_> = [40u64, 10, 30, 20]
            .into_iter()
            .map(|ms| {
                magpie::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                })
            })
            .collect();
        let order: Vec<_> = magpie::as_completed(tasks)
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(order, [10, 20, 30, 40]);
    });
}

#[test]
fn failures_are_yielded_too() {
    let rt = rt(2);
    rt.block_on(async {
        let (release, gate) = futures::channel::oneshot::channel::<()>();
        let bad = magpie::spawn(async { panic!("bad") });
        let good = magpie::spawn(async {
            gate.await.unwrap();
            1
        });
        let mut c = magpie::as_completed([good, bad]);
        assert_eq!(c.remaining(), 2);
        assert!(c.next().await.unwrap().unwrap_err().is_panic());
        release.send(()).unwrap();
        assert_eq!(c.next().await.unwrap().unwrap(), 1);
        assert!(c.next().await.is_none());
        assert_eq!(c.remaining(), 0);
    });
}

#[test]
fn many_tasks_each_arrive_exactly_once() {
    let rt = rt(2);
    rt.block_on(async {
        let tasks: Vec<_> = (0..5000u64)
            .map(|i| {
                magpie::spawn(async move {
                    for _ in 0..i % 4 {
                        magpie::task::yield_now().await;
                    }
                    i
                })
            })
            .collect();
        let mut seen: Vec<_> = magpie::as_completed(tasks)
            .map(Result::unwrap)
            .collect()
            .await;
        seen.sort();
        assert_eq!(seen, (0..5000).collect::<Vec<_>>());
    });
}
