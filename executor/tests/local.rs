//! `LocalSet` / `spawn_local`: `!Send` tasks run on the thread that drives
//! the set; wakes from any thread reach them; cancel, panic and the set's
//! drop end them there, each future dropped once.

mod support;

use magpie::sync::Event;
use magpie::task::{self, LocalSet};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread::{self, ThreadId};
use std::time::Duration;
use support::{DropCounter, rt, with_timeout};

/// Counts its drops and remembers the thread of the last one.
struct Witness {
    drops: Arc<AtomicUsize>,
    dropped_on: Rc<Cell<Option<ThreadId>>>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        self.dropped_on.set(Some(thread::current().id()));
    }
}

#[test]
fn rc_and_refcell_live_inside_local_tasks() {
    let rt = rt(2);
    let local = LocalSet::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let log = log.clone();
            local.spawn_local(async move {
                // An `Rc` held across an `.await`: the future is `!Send`.
                task::yield_now().await;
                log.borrow_mut().push(i);
                Rc::new(i)
            })
        })
        .collect();
    let outputs = local.block_on(&rt, async {
        let mut outputs = Vec::new();
        for t in tasks {
            outputs.push(*t.await.unwrap());
        }
        outputs
    });
    assert_eq!(outputs, (0..10).collect::<Vec<_>>());
    let mut logged = log.borrow().clone();
    logged.sort();
    assert_eq!(logged, (0..10).collect::<Vec<_>>());
    assert!(local.is_empty());
}

#[test]
fn local_tasks_run_on_the_driving_thread() {
    // `b` is woken by the timer, from another thread: a lost wake-up
    // would hang.
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let local = LocalSet::new();
        let me = thread::current().id();
        let seen = local.block_on(&rt, async {
            let a = task::spawn_local(async { thread::current().id() });
            let b = task::spawn_local(async {
                magpie::time::sleep(Duration::from_millis(2)).await;
                thread::current().id()
            });
            // A local task may hand `Send` work to the workers.
            let worker = magpie::spawn(async { thread::current().id() })
                .await
                .unwrap();
            (a.await.unwrap(), b.await.unwrap(), worker)
        });
        assert_eq!((seen.0, seen.1), (me, me));
        assert_ne!(seen.2, me);
    });
}

#[test]
fn wakes_from_workers_and_plain_threads_reach_local_tasks() {
    // 200 local tasks each wait on an event set from elsewhere: half by a
    // worker task, half by a plain thread. A lost wakeup hangs: the
    // watchdog fails the test.
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let local = LocalSet::new();
        let events: Vec<Arc<Event>> = (0..200).map(|_| Arc::new(Event::new())).collect();
        let woken = Rc::new(Cell::new(0));
        for e in &events {
            let (e, woken) = (e.clone(), woken.clone());
            local.spawn_local(async move {
                e.wait().await;
                woken.set(woken.get() + 1);
            });
        }
        let (by_workers, by_thread) = events.split_at(100);
        let by_thread = by_thread.to_vec();
        let setter = thread::spawn(move || {
            for e in by_thread {
                thread::yield_now();
                e.set();
            }
        });
        for e in by_workers {
            let e = e.clone();
            rt.spawn(async move { e.set() });
        }
        local.block_on(&rt, async {
            while woken.get() < 200 {
                magpie::time::sleep(Duration::from_millis(1)).await;
            }
        });
        setter.join().unwrap();
        assert!(local.is_empty());
    });
}

#[test]
fn a_woken_set_runs_while_its_driver_waits_for_nothing_else() {
    // The driven future waits on a task that waits on another thread: only
    // the set's waker (the driver's) can bring the thread back.
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(1);
        let local = LocalSet::new();
        for _ in 0..50 {
            let event = Arc::new(Event::new());
            let task = local.spawn_local({
                let event = event.clone();
                async move {
                    event.wait().await;
                    Rc::new(7)
                }
            });
            let setter = thread::spawn(move || event.set());
            assert_eq!(*local.block_on(&rt, task).unwrap(), 7);
            setter.join().unwrap();
        }
    });
}

#[test]
fn cancel_drops_the_future_once_on_the_sets_thread() {
    // Cancelled from another thread: a lost wake-up would hang.
    with_timeout(Duration::from_secs(30), || {
        let rt = rt(2);
        let local = LocalSet::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped_on = Rc::new(Cell::new(None));
        let witness = Witness {
            drops: drops.clone(),
            dropped_on: dropped_on.clone(),
        };
        let task = local.spawn_local(async move {
            let _witness = witness;
            std::future::pending::<()>().await
        });
        // Cancelled from a plain thread: the handle's output is `()`, `Send`.
        let cancel = task.cancel_handle();
        let err = local.block_on(&rt, async move {
            task::yield_now().await; // let it start waiting
            thread::spawn(move || cancel.cancel()).join().unwrap();
            task.await.unwrap_err()
        });
        assert!(err.is_cancelled());
        assert_eq!(drops.load(SeqCst), 1);
        assert_eq!(dropped_on.get(), Some(thread::current().id()));
    });
}

#[test]
fn a_panicking_local_task_is_a_join_error_and_the_set_lives_on() {
    let rt = rt(1);
    let local = LocalSet::new();
    let (failed, fine) = local.block_on(&rt, async {
        let failed = task::spawn_local(async {
            task::yield_now().await;
            panic!("local boom");
        });
        let fine = task::spawn_local(async { Rc::new("still running") });
        (failed.await, fine.await)
    });
    let err = failed.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("local boom"));
    assert_eq!(*fine.unwrap(), "still running");
}

#[test]
fn dropping_the_set_drops_every_task_once_on_its_thread() {
    let rt = rt(2);
    let local = LocalSet::new();
    let drops = DropCounter::new();
    let witness_drops = Arc::new(AtomicUsize::new(0));
    let dropped_on = Rc::new(Cell::new(None));
    let mut handles = Vec::new();
    for i in 0..20 {
        let token = drops.token();
        handles.push(local.spawn_local(async move {
            let _token = token;
            if i % 2 == 0 {
                // Started and waiting on a timer.
                magpie::time::sleep(Duration::from_secs(3600)).await;
            } else {
                std::future::pending::<()>().await;
            }
        }));
    }
    local.block_on(&rt, task::yield_now());
    let witness = Witness {
        drops: witness_drops.clone(),
        dropped_on: dropped_on.clone(),
    };
    // Never polled: dropped all the same.
    let never_run = local.spawn_local(async move {
        let _witness = witness;
    });
    assert_eq!(local.len(), 21);
    assert_eq!(drops.drops(), 0);
    drop(local);
    assert_eq!(drops.drops(), 20);
    assert_eq!(witness_drops.load(SeqCst), 1);
    assert_eq!(dropped_on.get(), Some(thread::current().id()));
    for h in handles {
        assert!(rt.block_on(h).unwrap_err().is_cancelled());
    }
    assert!(rt.block_on(never_run).unwrap_err().is_cancelled());
}

#[test]
fn spawning_from_a_dropped_tasks_destructor_is_cancelled_at_once() {
    struct SpawnOnDrop(Rc<RefCell<Option<task::JoinHandle<()>>>>, DropCounter);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let token = self.1.token();
            let late = task::spawn_local(async move {
                let _token = token;
            });
            *self.0.borrow_mut() = Some(late);
        }
    }
    let rt = rt(1);
    let local = LocalSet::new();
    let late = Rc::new(RefCell::new(None));
    let drops = DropCounter::new();
    let guard = SpawnOnDrop(late.clone(), drops.clone());
    local.spawn_local(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    local.block_on(&rt, task::yield_now());
    drop(local);
    assert_eq!(drops.drops(), 1, "the late task's future was dropped");
    let late = late.borrow_mut().take().expect("the destructor spawned");
    assert!(rt.block_on(late).unwrap_err().is_cancelled());
}

#[test]
fn unfinished_tasks_wait_for_the_next_run() {
    let rt = rt(1);
    let local = LocalSet::new();
    let event = Arc::new(Event::new());
    let task = local.spawn_local({
        let event = event.clone();
        async move {
            event.wait().await;
            Rc::new("second run")
        }
    });
    local.block_on(&rt, task::yield_now());
    assert_eq!(local.len(), 1);
    event.set();
    assert_eq!(*local.block_on(&rt, task).unwrap(), "second run");
}

#[test]
fn run_until_is_driven_by_any_block_on() {
    let rt = rt(1);
    let local = LocalSet::new();
    let out = rt.block_on(local.run_until(async {
        let counter = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let counter = counter.clone();
                task::spawn_local(async move {
                    for _ in 0..3 {
                        counter.set(counter.get() + 1);
                        task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        counter.get()
    }));
    assert_eq!(out, 300);
}

#[test]
#[should_panic(expected = "spawn_local called outside a LocalSet")]
fn spawn_local_outside_a_set_panics_with_a_clear_message() {
    let rt = rt(1);
    rt.block_on(async {
        drop(task::spawn_local(async {}));
    });
}
