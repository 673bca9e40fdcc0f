//! `JoinHandle::on_done`: asyncio's `add_done_callback`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use support::{DropCounter, miri_or, rt, watchdog, with_timeout};

#[test]
fn a_callback_added_before_completion_runs_at_completion_before_the_joiner_sees_the_output() {
    let rt = rt(2);
    let (release, gate) = futures::channel::oneshot::channel::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(async move {
        gate.await.unwrap();
        7
    });
    let r = ran.clone();
    task.on_done(move |outcome| {
        assert_eq!(outcome.ok(), Some(&7));
        r.fetch_add(1, SeqCst);
    });
    assert_eq!(ran.load(SeqCst), 0);
    release.send(()).unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 7);
    assert_eq!(
        ran.load(SeqCst),
        1,
        "the callback ran before the output was handed over"
    );
}

#[test]
fn a_callback_added_after_completion_runs_at_once() {
    let rt = rt(1);
    let task = rt.spawn(async { "done" });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    task.on_done(move |outcome| tx.send(*outcome.unwrap()).unwrap());
    assert_eq!(rx.try_recv().unwrap(), "done", "ran inline");
    assert_eq!(rt.block_on(task).unwrap(), "done");
}

#[test]
fn callbacks_run_in_the_order_they_were_added() {
    let rt = rt(2);
    let (release, gate) = futures::channel::oneshot::channel::<()>();
    let order = Arc::new(Mutex::new(Vec::new()));
    let task = rt.spawn(async move { gate.await.unwrap() });
    for i in 0..5 {
        let order = order.clone();
        task.on_done(move |_| order.lock().unwrap().push(i));
    }
    release.send(()).unwrap();
    rt.block_on(task).unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn callbacks_see_panics_and_cancellations() {
    let rt = rt(2);
    let (tx, rx) = mpsc::channel();
    let panicking = rt.spawn(async { panic!("boom") });
    let t = tx.clone();
    panicking.on_done(move |outcome: Result<&(), _>| {
        let err = outcome.unwrap_err();
        t.send(format!("panic: {}", err.panic_message().unwrap()))
            .unwrap();
    });
    let cancelled = rt.spawn(std::future::pending::<()>());
    cancelled.on_done(move |outcome| {
        tx.send(format!(
            "cancelled: {}",
            outcome.unwrap_err().is_cancelled()
        ))
        .unwrap();
    });
    cancelled.cancel();
    let mut got = vec![rx.recv().unwrap(), rx.recv().unwrap()];
    got.sort();
    assert_eq!(got, ["cancelled: true", "panic: boom"]);
    assert!(rt.block_on(panicking).unwrap_err().is_panic());
    assert!(rt.block_on(cancelled).unwrap_err().is_cancelled());
}

#[test]
fn a_detached_task_still_runs_its_callbacks_and_drops_its_output_once() {
    let rt = rt(2);
    let drops = DropCounter::new();
    let token = drops.token();
    let (release, gate) = futures::channel::oneshot::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let task = rt.spawn(async move {
        gate.await.unwrap();
        token
    });
    task.on_done(move |outcome| tx.send(outcome.is_ok()).unwrap());
    drop(task);
    release.send(()).unwrap();
    assert!(rx.recv_timeout(watchdog(Duration::from_secs(10))).unwrap());
    // The output is dropped by the runtime right after the callback.
    let deadline = std::time::Instant::now() + watchdog(Duration::from_secs(10));
    while drops.drops() == 0 {
        assert!(std::time::Instant::now() < deadline, "output never dropped");
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(drops.drops(), 1);
}

#[test]
fn a_panicking_callback_does_not_stop_the_others() {
    let rt = rt(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, gate) = futures::channel::oneshot::channel::<()>();
    let task = rt.spawn(async move { gate.await.unwrap() });
    task.on_done(|_| panic!("callback bug"));
    let r = ran.clone();
    task.on_done(move |_| {
        r.fetch_add(1, SeqCst);
    });
    release.send(()).unwrap();
    rt.block_on(task).unwrap();
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn shutdown_runs_the_callbacks_of_the_tasks_it_cancels() {
    let rt = rt(2);
    let cancelled = Arc::new(AtomicUsize::new(0));
    let n = miri_or(50, 8);
    for _ in 0..n {
        let c = cancelled.clone();
        let t = rt.spawn(std::future::pending::<()>());
        t.on_done(move |outcome| {
            if outcome.is_err_and(|e| e.is_cancelled()) {
                c.fetch_add(1, SeqCst);
            }
        });
    }
    drop(rt);
    assert_eq!(cancelled.load(SeqCst), n);
}

#[test]
fn on_done_after_the_output_was_taken_returns_false_and_drops_the_callback_uncalled() {
    let rt = rt(1);
    let mut task = rt.spawn(async { 1 });
    rt.block_on(&mut task).unwrap();
    let drops = DropCounter::new();
    let token = drops.token();
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    assert!(!task.on_done(move |_| {
        drop(token);
        c.fetch_add(1, SeqCst);
    }));
    assert_eq!(called.load(SeqCst), 0, "nothing to show the callback");
    assert_eq!(drops.drops(), 1, "the callback was dropped at once");
    // A handle that still holds its output says `true`.
    let task = rt.spawn(async { 2 });
    assert!(task.on_done(|_| {}));
    assert_eq!(rt.block_on(task).unwrap(), 2);
}

#[test]
fn callbacks_added_through_shared_references_from_many_threads_each_run_once() {
    with_timeout(Duration::from_secs(60), || {
        let rt = rt(2);
        let n = miri_or(2_000, 10);
        let threads = 3;
        let runs = Arc::new(AtomicUsize::new(0));
        for i in 0..n {
            let task = Arc::new(rt.spawn(async move {
                for _ in 0..(i % 3) {
                    magpie::task::yield_now().await;
                }
                i
            }));
            let adders: Vec<_> = (0..threads)
                .map(|_| {
                    let task = task.clone();
                    let runs = runs.clone();
                    std::thread::spawn(move || {
                        assert!(task.on_done(move |outcome| {
                            assert_eq!(outcome.ok(), Some(&i));
                            runs.fetch_add(1, SeqCst);
                        }));
                    })
                })
                .collect();
            for adder in adders {
                adder.join().unwrap();
            }
            let task = Arc::into_inner(task).expect("the adders are gone");
            assert_eq!(rt.block_on(task).unwrap(), i);
            assert_eq!(
                runs.load(SeqCst),
                threads * (i + 1),
                "every callback ran before the output was handed over"
            );
        }
    });
}

#[test]
fn callbacks_never_run_two_at_a_time() {
    with_timeout(Duration::from_secs(60), || {
        let rt = rt(2);
        let n = miri_or(500, 5);
        let inside = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let task = Arc::new(rt.spawn(async { magpie::task::yield_now().await }));
            let adders: Vec<_> = (0..2)
                .map(|_| {
                    let (task, inside, runs) = (task.clone(), inside.clone(), runs.clone());
                    std::thread::spawn(move || {
                        for _ in 0..3 {
                            let (inside, runs) = (inside.clone(), runs.clone());
                            task.on_done(move |_| {
                                assert_eq!(inside.fetch_add(1, SeqCst), 0, "overlap");
                                std::thread::yield_now();
                                inside.fetch_sub(1, SeqCst);
                                runs.fetch_add(1, SeqCst);
                            });
                        }
                    })
                })
                .collect();
            for adder in adders {
                adder.join().unwrap();
            }
            let task = Arc::into_inner(task).unwrap();
            rt.block_on(task).unwrap();
        }
        assert_eq!(runs.load(SeqCst), 6 * n);
    });
}

#[test]
fn a_callback_can_add_another_through_the_same_handle() {
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(1);
        for finished_first in [false, true] {
            let (release, gate) = futures::channel::oneshot::channel::<()>();
            let mut release = Some(release);
            let task = Arc::new(rt.spawn(async move {
                gate.await.unwrap();
                3
            }));
            if finished_first {
                release.take().unwrap().send(()).unwrap();
                while !task.is_finished() {
                    std::thread::yield_now();
                }
            }
            let order = Arc::new(Mutex::new(Vec::new()));
            let (inner_task, o) = (Arc::downgrade(&task), order.clone());
            assert!(task.on_done(move |outcome| {
                assert_eq!(outcome.ok(), Some(&3));
                o.lock().unwrap().push("outer");
                let task = inner_task.upgrade().expect("the handle is alive");
                let o2 = o.clone();
                assert!(task.on_done(move |_| o2.lock().unwrap().push("inner")));
                // It runs after this callback returns, not inside it.
                assert_eq!(*o.lock().unwrap(), ["outer"]);
            }));
            if let Some(release) = release {
                release.send(()).unwrap();
            }
            while order.lock().unwrap().len() < 2 {
                std::thread::yield_now();
            }
            assert_eq!(*order.lock().unwrap(), ["outer", "inner"]);
            let task = Arc::into_inner(task).unwrap();
            assert_eq!(rt.block_on(task).unwrap(), 3);
        }
    });
}

#[test]
fn callbacks_racing_completion_run_exactly_once() {
    with_timeout(Duration::from_secs(60), || {
        let rt = rt(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let n = miri_or(20_000, 50);
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let t = rt.spawn(async move {
                    for _ in 0..(i % 3) {
                        magpie::task::yield_now().await;
                    }
                    i
                });
                for _ in 0..2 {
                    let runs = runs.clone();
                    t.on_done(move |outcome| {
                        assert_eq!(outcome.ok(), Some(&i));
                        runs.fetch_add(1, SeqCst);
                    });
                }
                t
            })
            .collect();
        rt.block_on(async {
            for (i, t) in handles.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), i);
            }
        });
        assert_eq!(runs.load(SeqCst), 2 * n);
    });
}
