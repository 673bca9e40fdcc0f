//! `magpie::sim`: deterministic simulation. Same seed, same trace; other
//! seeds, other schedules; a virtual clock; deadlocks and livelocks
//! reported with the unfinished tasks; exploration finds a planted
//! ordering bug and replays it from its seed; the runtime's API works
//! unchanged inside; dropping a sim drops each unfinished future once.

mod planted;
mod support;

/// What `planted` builds on: the standard library's (loom's, in
/// `loom-tests/tests/teeth.rs`).
mod shim {
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::sync::atomic::AtomicBool;
}

use magpie::sim::{Builder, Explore, Failure, Schedule, Scheduler, Sim};
use magpie::sync::{Event, Lock, Queue, Semaphore};
use magpie::task::{self, JoinError};
use magpie::time::{self, Duration};
use magpie::{TaskGroup, WaitFor};
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use support::DropCounter;

/// A program with real choices: tasks that yield, contend for a lock,
/// spawn children, sleep, and pass items through a queue.
async fn busy_program() -> Vec<u32> {
    let log = Arc::new(Lock::new(Vec::new()));
    let queue = Arc::new(Queue::<u32>::unbounded());
    let mut tasks = Vec::new();
    for i in 0..4u32 {
        let (log, queue) = (log.clone(), queue.clone());
        tasks.push(magpie::spawn(async move {
            for step in 0..3 {
                task::yield_now().await;
                log.lock().await.push(i * 10 + step);
            }
            let child = magpie::spawn(async move { i * 100 });
            queue.put(child.await.unwrap()).await.unwrap();
            time::sleep(Duration::from_millis(u64::from(i % 2))).await;
        }));
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(queue.get().await.unwrap().into_inner());
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut log = log.lock().await.clone();
    log.extend(got);
    log
}

fn traced(seed: u64, workers: usize) -> (Vec<(u64, u64)>, Vec<u32>) {
    let sim = Builder::new().seed(seed).workers(workers).build();
    let out = sim.block_on(busy_program());
    (sim.trace(), out)
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [0, 1, 0xDEAD_BEEF, u64::MAX] {
        let (trace, out) = traced(seed, 2);
        let (again, out_again) = traced(seed, 2);
        assert_eq!(trace, again, "seed {seed:#x}");
        assert_eq!(out, out_again, "seed {seed:#x}");
        // Every step is in the trace: the main future's first poll opens
        // it, and each of the 8 tasks ran at least once.
        assert_eq!(trace[0], (0, 1));
        let tasks: BTreeSet<u64> = trace.iter().map(|&(t, _)| t).collect();
        assert_eq!(tasks, (0..=8).collect(), "seed {seed:#x}");
        // Runs are numbered 1, 2, ... per task, in order.
        let mut runs = [0u64; 9];
        for &(t, run) in &trace {
            runs[t as usize] += 1;
            assert_eq!(run, runs[t as usize]);
        }
    }
}

#[test]
fn random_u64_replays_with_the_seed_and_leaves_the_schedule_alone() {
    let run = |seed, draw: bool| {
        let sim = Builder::new().seed(seed).build();
        let draws = sim.block_on(async move {
            let draws: Vec<u64> = if draw {
                (0..4).map(|_| magpie::sim::random_u64()).collect()
            } else {
                Vec::new()
            };
            busy_program().await;
            draws
        });
        (draws, sim.trace())
    };
    let (draws, trace) = run(12, true);
    assert_eq!(run(12, true), (draws.clone(), trace.clone()));
    assert_ne!(run(13, true).0, draws);
    assert_eq!(run(12, false).1, trace, "drawing changed the schedule");
    assert_eq!(draws.iter().collect::<BTreeSet<_>>().len(), 4);
}

#[test]
fn different_seeds_give_different_schedules() {
    let traces: BTreeSet<_> = (0..32).map(|seed| traced(seed, 2).0).collect();
    // Deterministic: this count is the same on every run.
    assert!(
        traces.len() >= 24,
        "only {} distinct traces of 32",
        traces.len()
    );
    // The interleaving shows in the program's output too.
    let outputs: BTreeSet<_> = (0..32).map(|seed| traced(seed, 2).1).collect();
    assert!(outputs.len() > 1, "every seed produced the same order");
    // More workers, more choices, other traces.
    assert_ne!(traced(7, 1).0, traced(7, 4).0);
}

#[test]
fn a_ten_minute_timeout_completes_in_virtual_time() {
    let real = std::time::Instant::now();
    let sim = Builder::new().seed(3).build();
    let (result, waited) = sim.block_on(async {
        let start = time::now();
        let result = time::timeout(Duration::from_secs(600), std::future::pending::<()>()).await;
        (result, time::now() - start)
    });
    assert!(result.is_err(), "the pending future cannot complete");
    // The timer wheel's resolution is 16.4 µs: the deadline is rounded up
    // to it, never down.
    assert!(waited >= Duration::from_secs(600), "{waited:?}");
    assert!(
        waited < Duration::from_secs(600) + Duration::from_micros(17),
        "{waited:?}"
    );
    assert_eq!(sim.elapsed(), waited);
    // A loose bound: the point is that it did not take ten minutes.
    assert!(real.elapsed() < Duration::from_secs(30));
}

#[test]
fn timers_fire_in_deadline_order_and_interval_ticks_in_virtual_time() {
    let order = magpie::sim::run(5, async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|secs| {
                let order = order.clone();
                magpie::spawn(async move {
                    time::sleep(Duration::from_secs(secs)).await;
                    order.lock().unwrap().push(secs);
                })
            })
            .collect();
        magpie::gather(tasks).await;
        let start = time::now();
        let mut interval = time::interval(Duration::from_secs(60));
        for _ in 0..4 {
            interval.tick().await;
        }
        // The first tick is immediate, then one per minute.
        let ticked = time::now() - start;
        assert!(ticked >= Duration::from_secs(180), "{ticked:?}");
        assert!(ticked < Duration::from_secs(181), "{ticked:?}");
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, [10, 20, 30]);
}

#[test]
fn the_seed_orders_timers_due_at_the_same_instant() {
    // One worker, and the main future waiting: the woken tasks run in the
    // order their timers were woken in.
    let order = |seed| {
        let sim = Builder::new().seed(seed).workers(1).build();
        sim.block_on(async {
            let order = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..3)
                .map(|i| {
                    let order = order.clone();
                    magpie::spawn(async move {
                        time::sleep(Duration::from_secs(1)).await;
                        order.lock().unwrap().push(i);
                    })
                })
                .collect();
            magpie::gather(tasks).await;
            Arc::try_unwrap(order).unwrap().into_inner().unwrap()
        })
    };
    let orders: BTreeSet<Vec<i32>> = (0..32).map(order).collect();
    assert!(
        orders.len() > 1,
        "the same order for every seed: {orders:?}"
    );
    assert_eq!(order(3), order(3));
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast::<&str>().map(|s| s.to_string()).unwrap(),
    }
}

#[test]
fn a_deadlock_panics_with_a_report_naming_the_waiting_tasks() {
    let sim = Builder::new().seed(1).build();
    let event = Arc::new(Event::new());
    let report = catch_unwind(AssertUnwindSafe(|| {
        sim.block_on(async {
            let e = event.clone();
            let waiter = task::Builder::new()
                .name("waits-for-event")
                .spawn(async move { e.wait().await });
            // A task that finished is not in the report.
            magpie::spawn(async {}).await.unwrap();
            waiter.await.unwrap();
        })
    }))
    .map(|_| ())
    .map_err(panic_text)
    .unwrap_err();
    assert!(report.contains("deadlock"), "{report}");
    assert!(report.contains("seed 0x1"), "{report}");
    assert!(report.contains("1 unfinished task(s)"), "{report}");
    assert!(
        report.contains("task #1 \"waits-for-event\" spawned at ")
            && report.contains("deterministic.rs"),
        "{report}"
    );
    assert!(!report.contains("task #2"), "{report}");
    // The sim is still usable: setting the event lets the waiter finish.
    event.set();
    sim.block_on(async {});
    assert!(sim.is_empty());
}

#[test]
fn a_livelock_panics_after_max_steps() {
    let sim = Builder::new().seed(2).max_steps(500).build();
    let report = catch_unwind(AssertUnwindSafe(|| {
        sim.block_on(async {
            let spinner = task::Builder::new().name("spinner").spawn(async {
                loop {
                    task::yield_now().await;
                }
            });
            spinner.await.unwrap();
        })
    }))
    .map_err(panic_text)
    .unwrap_err();
    assert!(
        report.contains("livelock") && report.contains("500"),
        "{report}"
    );
    assert!(report.contains("task #1 \"spinner\""), "{report}");
    assert_eq!(sim.steps(), 501);
}

#[test]
fn a_panic_in_the_main_future_propagates_and_a_task_panic_is_a_join_error() {
    let sim = Builder::new().build();
    let err: JoinError = sim.block_on(async {
        magpie::spawn(async { panic!("task boom") })
            .await
            .unwrap_err()
    });
    assert!(err.is_panic());
    let main = catch_unwind(AssertUnwindSafe(|| {
        sim.block_on(async { panic!("main boom") })
    }))
    .map_err(panic_text)
    .unwrap_err();
    assert_eq!(main, "main boom");
}

/// Two tasks check a shared flag, yield, then act on what they saw: only
/// some schedules let both pass the check.
async fn check_then_act() {
    let claimed = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (claimed, taken) = (claimed.clone(), taken.clone());
            magpie::spawn(async move {
                if !taken.load(SeqCst) {
                    task::yield_now().await;
                    taken.store(true, SeqCst);
                    claimed.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    magpie::gather(tasks).await;
    assert_eq!(claimed.load(SeqCst), 1, "both tasks claimed the resource");
}

#[test]
fn explore_finds_a_check_then_act_bug_and_its_seed_replays_it() {
    let failure: Failure = Explore::new().check(check_then_act).unwrap_err();
    assert!(
        failure.message().contains("both tasks claimed"),
        "{failure}"
    );
    let report = failure.to_string();
    assert!(
        report.contains(&format!("MAGPIE_SEED={:#x} cargo test", failure.seed())),
        "{report}"
    );
    // Replaying the seed fails the same way, every time.
    for _ in 0..3 {
        let again = Explore::new()
            .first_seed(failure.seed())
            .seeds(1)
            .check(check_then_act)
            .unwrap_err();
        assert_eq!(again.message(), failure.message());
    }
    // Another seed passes: the bug is in the schedule, not the program.
    let passing = (0..100)
        .find(|&seed| {
            Explore::new()
                .first_seed(seed)
                .seeds(1)
                .check(check_then_act)
                .is_ok()
        })
        .expect("some schedule runs the tasks one after the other");
    assert_ne!(passing, failure.seed());
}

/// A hand-written notification with a lost wakeup: the waiter checks the
/// flag, yields, then registers its waker without checking the flag again,
/// so a `notify` in that window wakes nobody and the waiter waits forever.
#[derive(Default)]
struct LeakyNotify {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl LeakyNotify {
    fn notify(&self) {
        self.set.store(true, SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        if self.set.load(SeqCst) {
            return;
        }
        task::yield_now().await; // the window
        let mut registered = false;
        std::future::poll_fn(|cx: &mut Context<'_>| {
            // The bug: the flag is only looked at once registered, not
            // before the first registration.
            if registered && self.set.load(SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            registered = true;
            Poll::Pending
        })
        .await
    }
}

async fn lost_wakeup() {
    let notify = Arc::new(LeakyNotify::default());
    let n = notify.clone();
    let waiter = task::Builder::new()
        .name("leaky-waiter")
        .spawn(async move { n.wait().await });
    let n = notify.clone();
    let notifier = magpie::spawn(async move {
        task::yield_now().await;
        n.notify();
    });
    notifier.await.unwrap();
    waiter.await.unwrap();
}

#[test]
fn explore_finds_a_lost_wakeup_as_a_deadlock() {
    let failure = Explore::new().check(lost_wakeup).unwrap_err();
    assert!(failure.message().contains("deadlock"), "{failure}");
    assert!(failure.message().contains("\"leaky-waiter\""), "{failure}");
    let replay = Explore::new()
        .first_seed(failure.seed())
        .seeds(1)
        .check(lost_wakeup)
        .unwrap_err();
    assert_eq!(replay.message(), failure.message());
    // Schedules that notify outside the window pass.
    let passing = (0..100).find(|&seed| {
        Explore::new()
            .first_seed(seed)
            .seeds(1)
            .check(lost_wakeup)
            .is_ok()
    });
    assert!(passing.is_some());
}

#[test]
fn explore_passes_a_correct_program_over_many_seeds() {
    let runs = Explore::new()
        .seeds(200)
        .check(|| async {
            let lock = Arc::new(Lock::new(0u32));
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let lock = lock.clone();
                    magpie::spawn(async move {
                        let mut n = lock.lock().await;
                        let seen = *n;
                        task::yield_now().await;
                        *n = seen + 1;
                    })
                })
                .collect();
            magpie::gather(tasks).await;
            assert_eq!(*lock.lock().await, 3);
        })
        .unwrap();
    if std::env::var_os(magpie::sim::SEED_VAR).is_none() {
        assert_eq!(runs, 200);
    }
}

/// Run as a child process by `magpie_seed_replays_one_seed`.
#[test]
#[ignore = "run by magpie_seed_replays_one_seed in a child process, with MAGPIE_SEED set"]
fn explore_child() {
    Explore::new().run(check_then_act);
}

#[test]
fn magpie_seed_replays_one_seed() {
    let failing = Explore::new().check(check_then_act).unwrap_err().seed();
    let passing = (0..100)
        .find(|&seed| {
            Explore::new()
                .first_seed(seed)
                .seeds(1)
                .check(check_then_act)
                .is_ok()
        })
        .unwrap();
    let child = |seed: String| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "explore_child", "--ignored", "--test-threads=1"])
            .env(magpie::sim::SEED_VAR, seed)
            .output()
            .unwrap()
    };
    let out = child(format!("{failing:#x}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("seed {failing:#x} failed (seed 1 of")),
        "{stdout}"
    );
    assert!(stdout.contains("both tasks claimed"), "{stdout}");
    // Decimal works too, and a passing seed passes alone.
    let out = child(passing.to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A malformed seed is refused with an explanation, not ignored.
    let out = child("0xnope".to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("MAGPIE_SEED=\"0xnope\" is not a seed"),
        "{stdout}"
    );
}

/// `check_then_act` among busy bystanders: tasks that yield many times,
/// so that a failing schedule is full of preemptions unrelated to the bug.
async fn noisy_check_then_act() {
    let noise: Vec<_> = (0..4)
        .map(|_| {
            magpie::spawn(async {
                for _ in 0..8 {
                    task::yield_now().await;
                }
            })
        })
        .collect();
    check_then_act().await;
    magpie::gather(noise).await;
}

#[test]
fn a_failing_schedule_is_shrunk_and_the_shrunk_schedule_replays() {
    let failure = Explore::new().check(noisy_check_then_act).unwrap_err();
    assert!(
        failure.message().contains("both tasks claimed"),
        "{failure}"
    );
    // The bystanders' preemptions are taken out; the bug needs one switch
    // between a check and the act.
    assert!(
        failure.preemptions() < failure.original_preemptions(),
        "{failure}"
    );
    assert!(failure.preemptions() >= 1, "{failure}");
    assert!(failure.shrink_runs() >= 1);
    assert!(
        failure.shrunk_message().contains("both tasks claimed"),
        "{failure}"
    );
    let report = failure.to_string();
    assert!(
        report.contains(&format!(
            "shrunk from {} to {} preemption(s)",
            failure.original_preemptions(),
            failure.preemptions()
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "MAGPIE_SCHEDULE={} cargo test",
            failure.schedule()
        )),
        "{report}"
    );
    // The replay string round-trips, and the schedule replays the failure,
    // with exactly its preemptions, every time.
    let parsed: Schedule = failure.schedule().to_string().parse().unwrap();
    assert_eq!(&parsed, failure.schedule());
    for _ in 0..3 {
        let sim = Builder::new().replay(parsed.clone()).build();
        let replayed = catch_unwind(AssertUnwindSafe(|| sim.block_on(noisy_check_then_act())))
            .map_err(panic_text)
            .unwrap_err();
        assert!(replayed.contains("both tasks claimed"), "{replayed}");
        assert_eq!(sim.preemptions(), failure.preemptions());
    }
}

#[test]
fn a_replayed_schedule_takes_the_same_steps() {
    for seed in [0, 7, 0xFEED] {
        let sim = Builder::new().seed(seed).workers(3).build();
        let out = sim.block_on(busy_program());
        let replay = Builder::new().replay(sim.schedule()).build();
        assert_eq!(replay.block_on(busy_program()), out);
        assert_eq!(replay.trace(), sim.trace());
        assert_eq!(replay.schedule(), sim.schedule());
        assert_eq!(replay.preemptions(), sim.preemptions());
    }
    // PCT's priorities and change points are recorded too.
    let pct = Scheduler::Pct {
        depth: 3,
        steps: 50,
    };
    let sim = Builder::new().seed(3).scheduler(pct).build();
    sim.block_on(busy_program());
    let replay = Builder::new().replay(sim.schedule()).build();
    replay.block_on(busy_program());
    assert_eq!(replay.trace(), sim.trace());
}

/// Run as a child process by `magpie_schedule_replays_the_shrunk_schedule`.
#[test]
#[ignore = "run by magpie_schedule_replays_the_shrunk_schedule in a child process, with MAGPIE_SCHEDULE set"]
fn explore_schedule_child() {
    Explore::new().run(noisy_check_then_act);
}

#[test]
fn magpie_schedule_replays_the_shrunk_schedule() {
    let failure = Explore::new().check(noisy_check_then_act).unwrap_err();
    let child = |schedule: String| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "explore_schedule_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(magpie::sim::SCHEDULE_VAR, schedule)
            .env_remove(magpie::sim::SEED_VAR)
            .output()
            .unwrap()
    };
    let schedule = failure.schedule().to_string();
    let out = child(schedule.clone());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("both tasks claimed"), "{stdout}");
    assert!(stdout.contains("(seed 1 of this exploration)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "shrunk from {0} to {0} preemption(s) in 0 run(s)",
            failure.preemptions()
        )),
        "{stdout}"
    );
    // Garbage is refused with an explanation, not run as some schedule.
    let out = child("not-a-schedule".to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("MAGPIE_SCHEDULE: \"not-a-schedule\" is not a magpie::sim schedule"),
        "{stdout}"
    );
    // So is a corrupted one: one choice changed, the check no longer fits.
    let (body, check) = schedule.rsplit_once(':').unwrap();
    let corrupted = format!("{body}_1:{check}");
    let out = child(corrupted);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("the check does not match"), "{stdout}");
}

#[test]
fn misuse_panics_with_an_explanation() {
    let nested = catch_unwind(|| {
        magpie::sim::run(1, async { magpie::sim::run(2, async {}) });
    })
    .map_err(panic_text)
    .unwrap_err();
    assert!(
        nested.contains("nested simulations are not supported"),
        "{nested}"
    );
    let no_workers = catch_unwind(|| Builder::new().workers(0))
        .map_err(panic_text)
        .unwrap_err();
    assert!(no_workers.contains("at least one worker"), "{no_workers}");
    // Outside a sim (and a runtime), spawning is still refused as before.
    assert_eq!(
        magpie::try_spawn(async {}).unwrap_err(),
        magpie::SpawnError::NoRuntime
    );
}

#[test]
fn primitives_and_structured_concurrency_work_inside() {
    let schedulers = [
        Scheduler::Random,
        Scheduler::Pct {
            depth: 3,
            steps: 200,
        },
    ];
    for (seed, scheduler) in (0..20).flat_map(|seed| schedulers.map(|s| (seed, s))) {
        let sim = Builder::new()
            .seed(seed)
            .workers(3)
            .scheduler(scheduler)
            .build();
        sim.block_on(async {
            // Semaphore: at most 2 inside at once.
            let sem = Arc::new(Semaphore::new(2));
            let inside = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                    magpie::spawn(async move {
                        let _permit = sem.acquire().await;
                        let now = inside.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        task::yield_now().await;
                        inside.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for r in magpie::gather(tasks).await {
                r.unwrap();
            }
            // Never more than 2 (under PCT, the highest-priority holder
            // may well finish before anyone else gets in).
            assert!((1..=2).contains(&most.load(SeqCst)));

            // Queue: a bounded producer/consumer keeps every item, in order.
            let queue = Arc::new(Queue::bounded(2).unwrap());
            let q = queue.clone();
            let producer = magpie::spawn(async move {
                for i in 0..10 {
                    q.put(i).await.unwrap();
                }
            });
            let mut got = Vec::new();
            for _ in 0..10 {
                got.push(queue.get().await.unwrap().into_inner());
            }
            producer.await.unwrap();
            assert_eq!(got, (0..10).collect::<Vec<_>>());

            // TaskGroup: a failure cancels the sleeping sibling.
            let group = TaskGroup::<(), &str>::fallible();
            group.spawn_fallible(async {
                time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            });
            group.spawn_fallible(async { Err("refused") });
            let err = group.join().await.unwrap_err();
            assert_eq!(err.errors().len(), 1);
            assert_eq!(err.cancelled(), 1);

            // wait / as_completed.
            let tasks: Vec<_> = (1..=3u64)
                .map(|n| {
                    magpie::spawn(async move {
                        time::sleep(Duration::from_secs(n)).await;
                        n
                    })
                })
                .collect();
            let (done, pending) = magpie::wait(tasks, WaitFor::FirstCompleted).await;
            assert_eq!(done.len(), 1);
            assert_eq!(pending.len(), 2);
            let mut rest = magpie::as_completed(pending);
            let mut order = Vec::new();
            while let Some(r) = rest.next().await {
                order.push(r.unwrap());
            }
            assert_eq!(order, [2, 3]);

            // spawn_blocking: a simulated task, its metadata kept.
            let blocking = task::Builder::new()
                .name("hash")
                .spawn_blocking(|| task::current().is_blocking());
            assert_eq!(blocking.name(), Some("hash"));
            assert!(blocking.await.unwrap());
            assert_eq!(task::spawn_blocking(|| 40 + 2).await.unwrap(), 42);

            // try_spawn, cancel, on_done, task::current.
            let named = task::Builder::new()
                .name("me")
                .try_spawn(async { task::current().name().map(str::to_owned) })
                .unwrap();
            assert_eq!(named.await.unwrap().as_deref(), Some("me"));
            let sleeper = magpie::try_spawn(time::sleep(Duration::from_secs(5))).unwrap();
            let seen = Arc::new(AtomicBool::new(false));
            let s = seen.clone();
            sleeper.on_done(move |outcome| s.store(outcome.is_err(), SeqCst));
            sleeper.cancel();
            assert!(sleeper.await.unwrap_err().is_cancelled());
            assert!(seen.load(SeqCst));
        });
        assert!(sim.is_empty(), "seed {seed}, {scheduler:?}");
    }
}

#[test]
fn pct_is_deterministic_and_finds_a_depth_two_bug_that_depth_one_cannot() {
    let pct = |depth| Scheduler::Pct { depth, steps: 20 };
    for seed in 0..10 {
        let trace = |seed| {
            let sim = Builder::new().seed(seed).scheduler(pct(3)).build();
            sim.block_on(busy_program());
            sim.trace()
        };
        assert_eq!(trace(seed), trace(seed));
    }
    // Depth 1 (no priority change): the higher-priority task checks,
    // yields, and is still the highest: it always finishes its claim
    // before the other task checks.
    let runs = Explore::new()
        .seeds(200)
        .first_seed(0)
        .scheduler(pct(1))
        .check(check_then_act);
    if std::env::var_os(magpie::sim::SEED_VAR).is_none() {
        assert_eq!(runs, Ok(200));
    }
    // Depth 2: one change point, right after a check, exposes it.
    let failure = Explore::new()
        .scheduler(pct(2))
        .check(check_then_act)
        .unwrap_err();
    assert!(
        failure.message().contains("both tasks claimed"),
        "{failure}"
    );
    let replay = Explore::new()
        .first_seed(failure.seed())
        .seeds(1)
        .scheduler(pct(2))
        .check(check_then_act)
        .unwrap_err();
    assert_eq!(replay.message(), failure.message());
    // And the lost wakeup, as a deadlock.
    let failure = Explore::new()
        .scheduler(pct(2))
        .check(lost_wakeup)
        .unwrap_err();
    assert!(failure.message().contains("deadlock"), "{failure}");
}

/// A future that counts its drops and never completes.
struct Pending(#[allow(dead_code)] support::DropToken);

impl std::future::Future for Pending {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn dropping_a_sim_drops_each_unfinished_future_once() {
    let drops = DropCounter::new();
    let sim: Sim = Builder::new().seed(9).build();
    let event = Arc::new(Event::new());
    let late = Arc::new(Mutex::new(None));
    let handles = sim.block_on(async {
        let waiting = {
            let (token, event) = (drops.token(), event.clone());
            magpie::spawn(async move {
                let _token = token;
                event.wait().await;
            })
        };
        let sleeping = {
            let token = drops.token();
            magpie::spawn(async move {
                let _token = token;
                time::sleep(Duration::from_secs(3600)).await;
            })
        };
        let pending = magpie::spawn(Pending(drops.token()));
        // A destructor that spawns while the sim is being dropped: the
        // spawn is refused (cancelled at once), its future dropped too. The
        // handle is checked after the drop, not in the destructor, where a
        // failed assertion would be a panic in a dropped future.
        let spawner = {
            struct SpawnOnDrop {
                _token: support::DropToken,
                late_token: Option<support::DropToken>,
                late: Arc<Mutex<Option<task::JoinHandle<()>>>>,
            }
            impl Drop for SpawnOnDrop {
                fn drop(&mut self) {
                    let token = self.late_token.take();
                    let late = magpie::spawn(async move { drop(token) });
                    *self.late.lock().unwrap() = Some(late);
                }
            }
            let guard = SpawnOnDrop {
                _token: drops.token(),
                late_token: Some(drops.token()),
                late: late.clone(),
            };
            magpie::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
        };
        // Let every task reach its wait.
        time::sleep(Duration::from_secs(1)).await;
        [waiting, sleeping, pending, spawner]
    });
    assert_eq!(sim.len(), 4);
    assert_eq!(drops.drops(), 0);
    drop(sim);
    assert_eq!(
        drops.drops(),
        5,
        "each future dropped exactly once, the late one's too"
    );
    for handle in handles {
        assert!(handle.is_finished());
    }
    let late = late.lock().unwrap().take().expect("the destructor spawned");
    assert!(late.is_finished(), "a spawn during the drop was accepted");
    let refused = futures::executor::block_on(late).unwrap_err();
    assert!(refused.is_cancelled());
    // Nothing holds a task any more: the event's waiter list is empty.
    event.set();
    assert_eq!(drops.drops(), 5);
}

/// Two tasks take the planted `FairLock` in turn: the holder twice (its
/// first unlock passes the waiter over, its second hands the lock over),
/// the waiter once; nobody may hold it together.
async fn fair_lock_program(buggy: bool) {
    let lock = Arc::new(planted::FairLock::new(buggy));
    let inside = Arc::new(AtomicUsize::new(0));
    let critical = |id: usize, times: usize| {
        let (lock, inside) = (lock.clone(), inside.clone());
        async move {
            for _ in 0..times {
                lock.lock(id).await;
                assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                task::yield_now().await;
                inside.fetch_sub(1, SeqCst);
                lock.unlock();
            }
        }
    };
    let holder = task::Builder::new().name("holder").spawn(critical(1, 2));
    let waiter = task::Builder::new().name("waiter").spawn(critical(2, 1));
    holder.await.unwrap();
    waiter.await.unwrap();
}

/// A waiter on the planted `Completion`, and a task that completes it.
async fn completion_program(buggy: bool, yield_in_window: bool) {
    let done = Arc::new(planted::Completion::new(buggy, yield_in_window));
    let d = done.clone();
    let waiter = task::Builder::new()
        .name("waiter")
        .spawn(async move { d.wait().await });
    let completer = magpie::spawn(async move { done.complete() });
    completer.await.unwrap();
    waiter.await.unwrap();
}

/// Teeth: how many seeds, and how long, the explorer needs to find each
/// planted bug (printed, for docs/deterministic.md's "Teeth"); the fixed
/// copies pass as many seeds as the search was given.
const TEETH_SEEDS: u64 = 1_000;

fn teeth(
    name: &str,
    buggy: impl Fn() -> Result<u64, Failure>,
    fixed: impl Fn() -> Result<u64, Failure>,
) {
    let start = std::time::Instant::now();
    let failure = buggy().unwrap_err();
    let took = start.elapsed();
    assert!(failure.message().contains("deadlock"), "{failure}");
    assert!(failure.message().contains("\"waiter\""), "{failure}");
    assert!(failure.preemptions() <= failure.original_preemptions());
    println!(
        "teeth: {name}: found by seed {:#x}, after {} seed(s), in {took:?} (shrinking \
         included: {} -> {} preemption(s) in {} run(s))",
        failure.seed(),
        failure.runs(),
        failure.original_preemptions(),
        failure.preemptions(),
        failure.shrink_runs()
    );
    let start = std::time::Instant::now();
    let runs = fixed().unwrap();
    println!(
        "teeth: {name}: the fixed copy passes {runs} seed(s) in {:?}",
        start.elapsed()
    );
    if std::env::var_os(magpie::sim::SEED_VAR).is_none()
        && std::env::var_os(magpie::sim::SCHEDULE_VAR).is_none()
    {
        assert_eq!(runs, TEETH_SEEDS);
    }
}

#[test]
fn teeth_a_lost_wakeup_in_a_fair_hand_over() {
    let explore = Explore::new().seeds(TEETH_SEEDS);
    teeth(
        "lost wakeup in a fair hand-over",
        || explore.check(|| fair_lock_program(true)),
        || explore.check(|| fair_lock_program(false)),
    );
    // PCT finds it at depth 3: the holder must be passed over while it
    // holds the lock, and the waiter stopped between its look and its park.
    let pct = explore.clone().scheduler(Scheduler::Pct {
        depth: 3,
        steps: 12,
    });
    teeth(
        "lost wakeup in a fair hand-over, PCT depth 3",
        || pct.check(|| fair_lock_program(true)),
        || pct.check(|| fair_lock_program(false)),
    );
}

#[test]
fn teeth_a_wake_racing_completion() {
    let explore = Explore::new().seeds(TEETH_SEEDS);
    teeth(
        "wake racing completion",
        || explore.check(|| completion_program(true, true)),
        || explore.check(|| completion_program(false, true)),
    );
}

#[test]
fn a_window_inside_one_poll_is_beyond_the_simulation() {
    // With no await between the check and the registration, the window is
    // between two instructions of one poll: on the simulation's one
    // thread, no other task can run there, so every seed passes (loom,
    // which interleaves threads at every atomic, finds it: see
    // loom-tests/tests/teeth.rs).
    let runs = Explore::new()
        .seeds(TEETH_SEEDS)
        .check(|| completion_program(true, false))
        .unwrap();
    if std::env::var_os(magpie::sim::SEED_VAR).is_none() {
        assert_eq!(runs, TEETH_SEEDS);
    }
}

/// Run as a child process by `a_task_that_blocks_the_thread_is_reported_and_aborts`.
#[test]
#[ignore = "run by a_task_that_blocks_the_thread_is_reported_and_aborts in a child process"]
fn blocking_child() {
    let sim = Builder::new()
        .seed(0xB10C)
        .blocked_after(std::time::Duration::from_millis(150))
        .build();
    sim.block_on(async {
        magpie::spawn(async { task::yield_now().await })
            .await
            .unwrap();
        let sleeper = task::Builder::new().name("sleeper").spawn(async {
            // Real time: the simulation cannot take its thread back.
            std::thread::sleep(std::time::Duration::from_secs(20));
        });
        sleeper.await.unwrap();
    });
}

#[test]
fn a_task_that_blocks_the_thread_is_reported_and_aborts() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "blocking_child", "--ignored", "--test-threads=1"])
        .env_remove(magpie::sim::SEED_VAR)
        .env_remove(magpie::sim::SCHEDULE_VAR)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Aborted, not finished (it would pass after the 20 s sleep).
    assert!(!out.status.success(), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "not SIGABRT: {stderr}");
    }
    assert!(
        stderr.contains("magpie::sim: blocked: task #2 \"sleeper\" spawned at "),
        "{stderr}"
    );
    assert!(stderr.contains("deterministic.rs:"), "{stderr}");
    assert!(
        stderr.contains("in one poll for more than 150ms of real time (seed 0xb10c, step "),
        "{stderr}"
    );
    assert!(stderr.contains("thread \"blocking_child\""), "{stderr}");
    // The schedule so far replays up to the blocking poll.
    let schedule = stderr
        .split("MAGPIE_SCHEDULE=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a replay string");
    let schedule: Schedule = schedule.parse().unwrap();
    assert_eq!(schedule.seed(), 0xB10C);
}
