//! Spawning: from inside and outside the runtime, nested, in bulk, and
//! misuse (no runtime, after shutdown).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;
use support::{DropCounter, miri_or, rt, with_timeout};

/// "A million" tasks: far fewer under Miri (each spawn is interpreted).
const MANY: usize = miri_or(1_000_000, 100);
/// Workers of the bulk tests: fewer under Miri, where every thread is
/// interpreted in turn.
const WORKERS: usize = miri_or(4, 2);

#[test]
fn a_million_tasks_spawned_from_inside_a_task_all_complete() {
    with_timeout(Duration::from_secs(60), || {
        let rt = rt(WORKERS);
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        rt.block_on(async move {
            magpie::spawn(async move {
                let handles: Vec<_> = (0..MANY)
                    .map(|_| {
                        let d = d.clone();
                        magpie::spawn(async move {
                            d.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
            .await
            .unwrap();
        });
        assert_eq!(done.load(SeqCst), MANY);
    });
}

#[test]
fn a_million_tasks_spawned_from_outside_all_complete() {
    with_timeout(Duration::from_secs(60), || {
        let rt = rt(WORKERS);
        let done = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..MANY)
            .map(|_| {
                let d = done.clone();
                rt.spawn(async move {
                    d.fetch_add(1, SeqCst);
                })
            })
            .collect();
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
        assert_eq!(done.load(SeqCst), MANY);
    });
}

#[test]
fn spawns_from_several_plain_threads_at_once_all_complete() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let done = Arc::new(AtomicUsize::new(0));
        let (n_threads, per_thread) = (miri_or(4, 2), miri_or(10_000, 25));
        let threads: Vec<_> = (0..n_threads)
            .map(|_| {
                let handle = rt.handle().clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let d = done.clone();
                            handle.spawn(async move {
                                d.fetch_add(1, SeqCst);
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            for h in t.join().unwrap() {
                futures::executor::block_on(h).unwrap();
            }
        }
        assert_eq!(done.load(SeqCst), n_threads * per_thread);
    });
}

fn fib(n: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return n as u64;
        }
        let a = magpie::spawn(fib(n - 1));
        let b = magpie::spawn(fib(n - 2));
        a.await.unwrap() + b.await.unwrap()
    })
}

#[test]
fn nested_spawns_compute_fib_by_fork_join() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(WORKERS);
        // fib(20) spawns 21,890 tasks; fib(8) (67 tasks) under Miri.
        let (n, expected) = if cfg!(miri) { (8, 21) } else { (20, 6765) };
        assert_eq!(rt.block_on(fib(n)), expected);
    });
}

#[test]
fn tasks_woken_from_a_plain_thread_run_to_completion() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let (senders, tasks): (Vec<_>, Vec<_>) = (0..miri_or(1000, 30))
            .map(|_| {
                let (tx, rx) = futures::channel::oneshot::channel::<usize>();
                (tx, rt.spawn(async move { rx.await.unwrap() * 2 }))
            })
            .unzip();
        // Let the tasks park on their channels first, then wake them all
        // from a thread that is not a worker.
        std::thread::sleep(Duration::from_millis(20));
        std::thread::spawn(move || {
            for (i, tx) in senders.into_iter().enumerate() {
                tx.send(i).unwrap();
            }
        })
        .join()
        .unwrap();
        rt.block_on(async {
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), i * 2);
            }
        });
    });
}

#[test]
fn handle_spawn_works_from_another_thread_and_is_awaitable_anywhere() {
    let rt = rt(2);
    let handle = rt.handle().clone();
    let task = std::thread::spawn(move || handle.spawn(async { 7 }))
        .join()
        .unwrap();
    // A JoinHandle is a plain future: any executor may await it.
    assert_eq!(futures::executor::block_on(task).unwrap(), 7);
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let panic = std::panic::catch_unwind(|| magpie::spawn(async {})).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("no magpie runtime on this thread"), "{msg}");
}

#[test]
fn try_spawn_outside_a_runtime_is_an_error() {
    assert_eq!(
        magpie::try_spawn(async {}).unwrap_err(),
        magpie::SpawnError::NoRuntime
    );
    let err = magpie::try_spawn(async {}).unwrap_err().to_string();
    assert!(err.contains("Handle::spawn"), "{err}");
}

#[test]
fn spawn_after_shutdown_is_refused_and_the_future_dropped() {
    let rt = rt(2);
    let handle = rt.handle().clone();
    drop(rt);
    let drops = DropCounter::new();
    let token = drops.token();
    let err = handle.try_spawn(async move { drop(token) }).unwrap_err();
    assert_eq!(err, magpie::SpawnError::Shutdown);
    assert_eq!(
        drops.drops(),
        1,
        "the refused future is dropped, not leaked"
    );

    // `spawn` gives a handle that reports the cancellation instead.
    let token = drops.token();
    let task = handle.spawn(async move { drop(token) });
    assert!(task.is_finished());
    assert!(
        futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(drops.drops(), 2);
}

#[test]
fn spawn_inside_block_on_runs_on_the_workers() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .thread_name("spawn-test")
        .build()
        .unwrap();
    let name = rt.block_on(async {
        magpie::spawn(async { std::thread::current().name().unwrap().to_owned() })
            .await
            .unwrap()
    });
    assert!(name.starts_with("spawn-test-"), "{name}");
}

#[test]
fn task_ids_are_unique_and_names_are_kept() {
    let rt = rt(2);
    rt.block_on(async {
        let mut ids = std::collections::HashSet::new();
        for _ in 0..miri_or(1000, 50) {
            assert!(ids.insert(magpie::spawn(async {}).id()));
        }
        let named = magpie::task::Builder::new().name("named").spawn(async {
            let me = magpie::task::current();
            (me.id(), me.name().map(str::to_owned))
        });
        let id = named.id();
        assert_eq!(named.name(), Some("named"));
        assert_eq!(named.await.unwrap(), (id, Some("named".to_owned())));
    });
}
