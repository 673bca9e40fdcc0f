//! `yield_now` and LIFO-slot fairness: a task that yields or keeps waking
//! others cannot starve what is already queued.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::time::Duration;
use support::{rt, with_timeout};

#[test]
fn a_yielding_task_runs_after_the_tasks_already_queued() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        rt.block_on(rt.spawn(async move {
            let a = o.clone();
            let b = o.clone();
            let t1 = magpie::spawn(async move { a.lock().unwrap().push("first") });
            let t2 = magpie::spawn(async move { b.lock().unwrap().push("second") });
            magpie::task::yield_now().await;
            o.lock().unwrap().push("yielder");
            t1.await.unwrap();
            t2.await.unwrap();
        }))
        .unwrap();
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 3);
        assert_eq!(order[2], "yielder", "{order:?}");
    });
}

#[test]
fn a_busy_yield_loop_does_not_starve_a_task_spawned_from_outside() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = rt.spawn(async move {
            while !s.load(SeqCst) {
                magpie::task::yield_now().await;
            }
        });
        std::thread::sleep(Duration::from_millis(10));
        let s = stop.clone();
        rt.block_on(rt.spawn(async move { s.store(true, SeqCst) }))
            .unwrap();
        rt.block_on(spinner).unwrap();
    });
}

/// Two tasks that wake each other forever (each wake lands in the LIFO
/// slot) must not starve a third task on the same worker.
#[test]
fn a_ping_pong_pair_in_the_lifo_slot_does_not_starve_others() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(1);
        let stop = Arc::new(AtomicBool::new(false));
        let bounces = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<Mutex<[Option<Waker>; 2]>> = Arc::default();
        let mut players = Vec::new();
        for me in 0..2 {
            let (stop, bounces, wakers) = (stop.clone(), bounces.clone(), wakers.clone());
            players.push(rt.spawn(std::future::poll_fn(move |cx| {
                if stop.load(SeqCst) {
                    if let Some(w) = wakers.lock().unwrap()[1 - me].take() {
                        w.wake();
                    }
                    return Poll::Ready(());
                }
                bounces.fetch_add(1, SeqCst);
                let other = {
                    let mut w = wakers.lock().unwrap();
                    w[me] = Some(cx.waker().clone());
                    w[1 - me].take()
                };
                if let Some(w) = other {
                    w.wake();
                }
                Poll::Pending
            })));
        }
        // Once the pair is bouncing, a third task must still get its turn.
        while bounces.load(SeqCst) < 1000 {
            std::thread::yield_now();
        }
        let s = stop.clone();
        rt.block_on(rt.spawn(async move { s.store(true, SeqCst) }))
            .unwrap();
        for p in players {
            rt.block_on(p).unwrap();
        }
    });
}

/// tokio-rs/tokio#4941: a task woken into the LIFO slot of a worker that
/// then blocks in a long poll must be picked up by another worker.
#[test]
fn a_task_in_the_lifo_slot_of_a_blocked_worker_is_stolen() {
    with_timeout(Duration::from_secs(10), || {
        let rt = rt(2);
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let (ran_tx, ran_rx) = mpsc::channel();
        rt.spawn(async move {
            rx.await.unwrap();
            let _ = ran_tx.send(());
        });
        std::thread::sleep(Duration::from_millis(20)); // let it wait
        let (verdict_tx, verdict_rx) = mpsc::channel();
        rt.spawn(async move {
            // Give the other worker time to finish searching and park, so
            // that nobody is awake to notice the LIFO slot by chance.
            std::thread::sleep(Duration::from_millis(50));
            tx.send(()).unwrap(); // the waiter goes to this worker's LIFO slot
            // A long poll, which lasts until the woken task has run (it can
            // only run elsewhere: this worker is inside this poll) or 5 s
            // have passed; no fixed sleep races a loaded machine.
            let stolen = ran_rx.recv_timeout(Duration::from_secs(5)).is_ok();
            verdict_tx.send(stolen).unwrap();
        });
        assert!(
            verdict_rx.recv().unwrap(),
            "the woken task waited for the long poll to finish"
        );
    });
}
