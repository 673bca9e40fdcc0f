//! Fairness under CPU-heavy polls (issue 12): work from outside the
//! workers, and timers, are served at poll boundaries, not every 61 polls.
//! The latency figures are measured by `benches/benches/fairness.rs`; these
//! tests only prove that nothing starves, with bounds loose enough for a
//! loaded 2-core machine (the code before issue 12 missed them by orders of
//! magnitude: none of 20 sleepers beside 50 ms polls finished in 40 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Long polls on every worker: 2 workers, 2 tasks spinning `slice` per
/// poll and yielding, until the returned flag is set.
fn busy_runtime(slice: Duration) -> (magpie::Runtime, Arc<AtomicBool>) {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..2 {
        let stop = stop.clone();
        drop(rt.spawn(async move {
            while !stop.load(SeqCst) {
                spin(slice);
                magpie::task::yield_now().await;
            }
        }));
    }
    // Let both workers pick a spinner up.
    std::thread::sleep(Duration::from_millis(20));
    (rt, stop)
}

/// `shared/repros/long_poll_starvation.rs`: 1 ms sleepers spawned from
/// outside beside two 50 ms spinners all finish, each within a few poll
/// boundaries (bound: 5 s, a hundred boundaries).
#[test]
#[cfg_attr(miri, ignore = "real-time spinning: far too slow interpreted")]
fn sleepers_beside_long_polls_finish() {
    let (rt, stop) = busy_runtime(Duration::from_millis(50));
    let sleepers: Vec<_> = (0..20)
        .map(|_| {
            let t0 = Instant::now();
            let task = rt.spawn(async move {
                magpie::time::sleep(Duration::from_millis(1)).await;
                t0.elapsed()
            });
            std::thread::sleep(Duration::from_millis(1));
            task
        })
        .collect();
    for task in sleepers {
        let waited = rt.block_on(task).unwrap();
        assert!(
            waited < Duration::from_secs(5),
            "a 1 ms sleeper took {waited:?} beside 50 ms polls"
        );
    }
    stop.store(true, SeqCst);
}

/// Bursts of empty tasks spawned from outside beside 500 µs slices all run
/// (bound: 5 s for the lot).
#[test]
#[cfg_attr(miri, ignore = "real-time spinning: far too slow interpreted")]
fn outside_spawns_beside_short_slices_run() {
    let (rt, stop) = busy_runtime(Duration::from_micros(500));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..20)
        .flat_map(|_| {
            let burst: Vec<_> = (0..25).map(|i| rt.spawn(async move { i })).collect();
            spin(Duration::from_micros(200));
            burst
        })
        .collect();
    for task in tasks {
        rt.block_on(task).unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    stop.store(true, SeqCst);
}

/// A task that keeps the injector non-empty (it re-spawns from outside,
/// through a plain thread) cannot starve local work: a local ping-pong
/// pair still makes progress, because a share of the injector is taken
/// only after a local poll.
#[test]
#[cfg_attr(miri, ignore = "real-time bounds")]
fn a_busy_injector_does_not_starve_local_work() {
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (handle, stop) = (rt.handle().clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                drop(handle.spawn(async { spin(Duration::from_micros(5)) }));
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    };
    let rounds = rt.block_on(async {
        let local = magpie::spawn(async {
            // Spawned from the worker: local work, re-queued at every yield.
            let mut rounds = 0u32;
            while rounds < 2_000 {
                magpie::task::yield_now().await;
                rounds += 1;
            }
            rounds
        });
        magpie::time::timeout(Duration::from_secs(10), local).await
    });
    stop.store(true, SeqCst);
    flood.join().unwrap();
    assert_eq!(rounds.expect("local work starved").unwrap(), 2_000);
}

/// A task spawned from outside whose first poll is long, and which yields,
/// does not run twice in a row while outside work that arrived during its
/// first poll waits: that work waited behind nothing local, so the next
/// poll boundary serves it (the alternation counted in polls that this
/// replaced ran the task again first, and made 1 ms sleepers beside freshly
/// spawned 50 ms spinners wait two long polls). One worker, so the order is
/// the rule's alone.
#[test]
fn outside_work_runs_before_a_fresh_outside_task_polls_again() {
    use std::sync::Mutex;
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let in_first_poll = Arc::new(AtomicBool::new(false));
    let marker_spawned = Arc::new(AtomicBool::new(false));
    let long = {
        let (log, in_first_poll, marker_spawned) =
            (log.clone(), in_first_poll.clone(), marker_spawned.clone());
        rt.spawn(async move {
            log.lock().unwrap().push("long poll 1");
            in_first_poll.store(true, SeqCst);
            // The poll lasts until the outside spawn has happened.
            let t = Instant::now();
            while !marker_spawned.load(SeqCst) && t.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
            magpie::task::yield_now().await;
            log.lock().unwrap().push("long poll 2");
        })
    };
    let t = Instant::now();
    while !in_first_poll.load(SeqCst) {
        assert!(t.elapsed() < Duration::from_secs(10), "the task never ran");
        std::thread::yield_now();
    }
    let marker = {
        let log = log.clone();
        rt.spawn(async move { log.lock().unwrap().push("outside") })
    };
    marker_spawned.store(true, SeqCst);
    rt.block_on(async {
        long.await.unwrap();
        marker.await.unwrap();
    });
    assert_eq!(
        *log.lock().unwrap(),
        ["long poll 1", "outside", "long poll 2"]
    );
}
