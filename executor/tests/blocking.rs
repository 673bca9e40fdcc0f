//! `spawn_blocking`: the blocking pool.

mod support;

use magpie::task;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};
use support::{DropCounter, miri_or, rt, stretch, watchdog, with_timeout};

#[test]
fn a_blocking_closure_runs_on_a_pool_thread_and_returns_its_value() {
    let rt = rt(2);
    let (name, value) = rt.block_on(async {
        task::spawn_blocking(|| (std::thread::current().name().map(String::from), 6 * 7))
            .await
            .unwrap()
    });
    assert!(name.unwrap().starts_with("magpie-blocking-"));
    assert_eq!(value, 42);
}

#[test]
fn a_panicking_closure_surfaces_as_a_join_error() {
    let rt = rt(1);
    let err = rt
        .block_on(rt.spawn_blocking(|| -> u8 { panic!("disk on fire") }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("disk on fire"));
    // The pool survives.
    assert_eq!(
        rt.block_on(task::Builder::new().spawn_blocking_on(rt.handle(), || 1))
            .unwrap(),
        1
    );
}

#[test]
fn saturating_the_cap_queues_work_instead_of_failing() {
    with_timeout(Duration::from_secs(30), || {
        let rt = magpie::Runtime::builder()
            .worker_threads(2)
            .max_blocking_threads(3)
            .build()
            .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let n = miri_or(30, 6);
        let tasks: Vec<_> = (0..n as i32)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                rt.spawn_blocking(move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, SeqCst);
                    i
                })
            })
            .collect();
        let sum: i32 = rt.block_on(async {
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..n as i32).sum());
        assert!(peak.load(SeqCst) <= 3, "peak {}", peak.load(SeqCst));
        assert!(peak.load(SeqCst) >= 2, "work did run in parallel");
    });
}

#[test]
fn cancelling_queued_blocking_work_drops_it_unrun() {
    with_timeout(Duration::from_secs(30), || {
        let rt = magpie::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let first = rt.spawn_blocking(move || gate.recv().unwrap());
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = DropCounter::new();
        let token = drops.token();
        let r = ran.clone();
        let second = rt.spawn_blocking(move || {
            let _token = token;
            r.fetch_add(1, SeqCst);
        });
        second.cancel();
        release.send(()).unwrap();
        rt.block_on(first).unwrap();
        let err = rt.block_on(second).unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(ran.load(SeqCst), 0);
        assert_eq!(drops.drops(), 1, "the closure was dropped exactly once");
    });
}

#[test]
fn cancelling_running_blocking_work_still_delivers_its_result() {
    let rt = rt(1);
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    let task = rt.spawn_blocking(move || {
        s.wait();
        std::thread::sleep(Duration::from_millis(20));
        "finished"
    });
    started.wait();
    task.cancel();
    assert_eq!(rt.block_on(task).unwrap(), "finished");
}

#[test]
fn workers_keep_running_tasks_while_the_pool_is_busy() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(1);
        rt.block_on(async {
            let slow =
                task::spawn_blocking(|| std::thread::sleep(stretch(Duration::from_millis(300))));
            let start = Instant::now();
            let quick = magpie::spawn(async { 1 }).await.unwrap();
            assert_eq!(quick, 1);
            assert!(start.elapsed() < stretch(Duration::from_millis(250)));
            slow.await.unwrap();
        });
    });
}

#[test]
fn idle_pool_threads_exit_after_the_keep_alive() {
    with_timeout(Duration::from_secs(30), || {
        let stopped = Arc::new(AtomicUsize::new(0));
        let s = stopped.clone();
        let rt = magpie::Runtime::builder()
            .worker_threads(1)
            .thread_keep_alive(Duration::from_millis(30))
            .on_thread_stop(move || {
                s.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        rt.block_on(rt.spawn_blocking(|| ())).unwrap();
        let deadline = Instant::now() + watchdog(Duration::from_secs(10));
        while stopped.load(SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "the idle blocking thread never exited"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // The worker is still running: only the pool thread stopped.
        assert_eq!(stopped.load(SeqCst), 1);
        assert_eq!(
            rt.block_on(rt.spawn_blocking(|| 5)).unwrap(),
            5,
            "the pool regrows"
        );
    });
}

#[test]
fn spawn_blocking_from_a_blocking_closure_and_spawn_from_one() {
    let rt = rt(2);
    let v = rt.block_on(rt.spawn_blocking(|| {
        let inner = task::spawn_blocking(|| 20);
        let spawned = magpie::spawn(async { 22 });
        futures::executor::block_on(async { inner.await.unwrap() + spawned.await.unwrap() })
    }));
    assert_eq!(v.unwrap(), 42);
}

#[test]
fn shutdown_waits_for_running_blocking_work() {
    let rt = rt(1);
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    rt.spawn_blocking(move || {
        s.wait();
        std::thread::sleep(Duration::from_millis(50));
        d.fetch_add(1, SeqCst);
    });
    started.wait();
    let report = rt.shutdown_timeout(Duration::from_secs(10));
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        done.load(SeqCst),
        1,
        "shutdown returned before the closure did"
    );
}

#[test]
fn shutdown_reports_blocking_work_still_running_at_the_timeout() {
    let rt = rt(1);
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    let stuck = task::Builder::new()
        .name("slow-fsync")
        .spawn_blocking_on(rt.handle(), move || {
            s.wait();
            std::thread::sleep(stretch(Duration::from_millis(500)));
        });
    started.wait();
    let start = Instant::now();
    let report = rt.shutdown_timeout(stretch(Duration::from_millis(50)));
    assert!(
        start.elapsed() < stretch(Duration::from_millis(400)),
        "shutdown overran its timeout"
    );
    assert_eq!(report.unfinished().len(), 1);
    let t = &report.unfinished()[0];
    assert_eq!(t.id(), stuck.id());
    assert_eq!(t.name(), Some("slow-fsync"));
    assert!(t.is_blocking());
    assert!(report.to_string().contains("slow-fsync"), "{report}");
}

#[test]
fn queued_blocking_work_is_cancelled_at_shutdown() {
    let rt = magpie::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    let first = rt.spawn_blocking(move || {
        s.wait();
        std::thread::sleep(Duration::from_millis(30));
    });
    let drops = DropCounter::new();
    let token = drops.token();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let queued = rt.spawn_blocking(move || {
        let _token = token;
        r.fetch_add(1, SeqCst);
    });
    started.wait();
    let report = rt.shutdown_timeout(Duration::from_secs(10));
    assert!(report.is_complete());
    assert!(first.is_finished());
    assert!(
        futures::executor::block_on(queued)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn blocking_work_spawned_after_shutdown_is_refused() {
    let rt = rt(1);
    let handle = rt.handle().clone();
    drop(rt);
    let drops = DropCounter::new();
    let token = drops.token();
    let task = handle.spawn_blocking(move || drop(token));
    assert!(task.is_finished());
    assert!(
        futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(drops.drops(), 1);
}

#[test]
#[should_panic(expected = "there is no magpie runtime on this thread")]
fn spawn_blocking_outside_a_runtime_panics() {
    drop(task::spawn_blocking(|| ()));
}

#[test]
fn zero_blocking_threads_is_rejected() {
    let err = magpie::Runtime::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
