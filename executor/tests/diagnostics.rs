//! Diagnostics: debug mode's reports (slow polls, blocked workers,
//! unobserved panics, tasks alive at shutdown), the task dump and the
//! metrics.
//!
//! Reports are captured by a `tracing` layer installed once for this test
//! binary; each test names its tasks uniquely and looks only at its own.

use magpie::runtime::TaskState;
use magpie::task::Builder as TaskBuilder;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

#[derive(Debug, Clone, Default)]
struct Report {
    level: String,
    message: String,
    fields: HashMap<String, String>,
}

impl Visit for Report {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields
                .insert(field.name().to_owned(), text.trim_matches('"').to_owned());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

struct Capture(Arc<Mutex<Vec<Report>>>);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != magpie::runtime::diagnostics::TARGET {
            return;
        }
        let mut report = Report {
            level: event.metadata().level().to_string(),
            ..Report::default()
        };
        event.record(&mut report);
        self.0.lock().unwrap().push(report);
    }
}

fn reports() -> &'static Arc<Mutex<Vec<Report>>> {
    static REPORTS: OnceLock<Arc<Mutex<Vec<Report>>>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(reports.clone()));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        reports
    })
}

/// The reports about the task named `name` whose message starts with
/// `kind`.
fn reports_about(name: &str, kind: &str) -> Vec<Report> {
    reports()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            r.fields.get("task_name").map(String::as_str) == Some(name)
                && r.message.starts_with(kind)
        })
        .cloned()
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn debug_runtime(workers: usize) -> magpie::Runtime {
    reports();
    magpie::Runtime::builder()
        .worker_threads(workers)
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[test]
fn a_worker_blocked_in_a_poll_is_reported_once_while_it_is_still_blocked() {
    let rt = debug_runtime(2);
    // The poll blocks its worker until the watchdog has reported it, and
    // then 150 ms more: the report can only come while the poll is stuck
    // (if the watchdog reported only returned polls, this would wait until
    // `wait_for` gives up), and no fixed sleep races a loaded machine.
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let blocker = TaskBuilder::new()
        .name("blocker-300ms")
        .spawn_on(rt.handle(), async move {
            while !released.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(150));
        });
    wait_for("the blocked-worker report", || {
        !reports_about("blocker-300ms", "blocked worker").is_empty()
    });
    release.store(true, Ordering::SeqCst);
    rt.block_on(blocker).unwrap();
    // Give the monitor a few more looks: it must not report the same poll
    // again.
    std::thread::sleep(Duration::from_millis(50));
    let blocked = reports_about("blocker-300ms", "blocked worker");
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let report = &blocked[0];
    assert_eq!(report.level, "WARN");
    assert!(
        report.fields["task_location"].contains("diagnostics.rs"),
        "{report:?}"
    );
    let blocked_ms: f64 = report.fields["blocked_ms"].parse().unwrap();
    assert!(
        blocked_ms >= 100.0,
        "reported under the threshold: {report:?}"
    );
    // And once it returned, the slow poll is reported with its duration
    // (measured from the watchdog's first sight of the poll, so up to a
    // look short of the truth, more on a loaded machine; the poll went on
    // for 150 ms after the blocked report).
    wait_for("the slow-poll report", || {
        !reports_about("blocker-300ms", "slow poll").is_empty()
    });
    let slow = reports_about("blocker-300ms", "slow poll");
    assert_eq!(slow.len(), 1, "{slow:?}");
    let poll_ms: f64 = slow[0].fields["poll_ms"].parse().unwrap();
    assert!(poll_ms >= blocked_ms + 150.0, "{slow:?}");
}

#[test]
fn quick_polls_are_not_reported() {
    let rt = debug_runtime(2);
    rt.block_on(async {
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                TaskBuilder::new().name("quick").spawn(async {
                    magpie::task::yield_now().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert!(reports_about("quick", "").is_empty());
}

#[test]
fn a_panic_nobody_observed_is_reported_with_name_and_message() {
    let rt = debug_runtime(2);
    let doomed = TaskBuilder::new()
        .name("doomed-detached")
        .spawn_on(rt.handle(), async { panic!("the disk is on fire") });
    drop(doomed);
    wait_for("the unobserved-panic report", || {
        !reports_about("doomed-detached", "unobserved panic").is_empty()
    });
    let report = &reports_about("doomed-detached", "unobserved panic")[0];
    assert_eq!(report.level, "ERROR");
    assert_eq!(report.fields["panic"], "the disk is on fire");

    // A panic that is read through the JoinHandle is not reported.
    let observed = TaskBuilder::new()
        .name("doomed-observed")
        .spawn_on(rt.handle(), async { panic!("seen") });
    assert!(rt.block_on(observed).unwrap_err().is_panic());
    drop(rt);
    assert!(reports_about("doomed-observed", "").is_empty());
}

#[test]
fn tasks_alive_at_shutdown_are_listed() {
    let rt = debug_runtime(1);
    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
    let forever = TaskBuilder::new()
        .name("forever")
        .spawn_on(rt.handle(), async move {
            let _ = rx.await;
        });
    wait_for("the task's first poll", || {
        rt.handle()
            .tasks()
            .iter()
            .any(|t| t.id == forever.id() && t.polls > 0)
    });
    drop(rt);
    let alive = reports_about("forever", "alive at shutdown");
    assert_eq!(alive.len(), 1, "{alive:?}");
    assert!(alive[0].fields["task_location"].contains("diagnostics.rs"));
}

#[test]
fn the_dump_lists_known_tasks_with_their_names_and_states() {
    // One worker, held by `busy`, so that a woken task stays scheduled.
    let rt = debug_runtime(1);
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (idle_tx, idle_rx) = futures::channel::oneshot::channel::<()>();
    let (woken_tx, woken_rx) = futures::channel::oneshot::channel::<()>();
    let idle = TaskBuilder::new()
        .name("dump-idle")
        .spawn_on(rt.handle(), async move {
            let _ = idle_rx.await;
        });
    let woken = TaskBuilder::new()
        .name("dump-woken")
        .spawn_on(rt.handle(), async move {
            let _ = woken_rx.await;
        });
    wait_for("both waiters to be idle", || {
        let tasks = rt.handle().tasks();
        [idle.id(), woken.id()].iter().all(|id| {
            tasks
                .iter()
                .any(|t| t.id == *id && t.polls == 1 && t.state == TaskState::Idle)
        })
    });
    let busy = TaskBuilder::new()
        .name("dump-busy")
        .spawn_on(rt.handle(), async move {
            release_rx.recv().unwrap();
        });
    wait_for("the busy task to run", || {
        rt.handle()
            .tasks()
            .iter()
            .any(|t| t.id == busy.id() && t.state == TaskState::Running { worker: Some(0) })
    });
    woken_tx.send(()).unwrap();

    let tasks = rt.handle().tasks();
    let find = |name: &str| {
        tasks
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in the dump: {tasks:?}"))
    };
    assert_eq!(find("dump-idle").state, TaskState::Idle);
    assert_eq!(find("dump-woken").state, TaskState::Scheduled);
    assert_eq!(
        find("dump-busy").state,
        TaskState::Running { worker: Some(0) }
    );
    for t in &tasks {
        assert!(t.location.file().ends_with("diagnostics.rs"), "{t}");
        assert!(t.age.is_some() && t.poll_time.is_some(), "debug mode: {t}");
    }
    assert_eq!(find("dump-idle").polls, 1);

    release_tx.send(()).unwrap();
    idle_tx.send(()).unwrap();
    rt.block_on(async {
        busy.await.unwrap();
        woken.await.unwrap();
        idle.await.unwrap();
    });
    wait_for("the list to empty", || rt.handle().tasks().is_empty());
}

#[test]
fn without_debug_mode_the_dump_has_no_timings() {
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .debug(false)
        .build()
        .unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let t = TaskBuilder::new()
        .name("plain")
        .spawn_on(rt.handle(), async move {
            let _ = rx.await;
        });
    wait_for("the first poll", || {
        rt.handle()
            .tasks()
            .iter()
            .any(|i| i.id == t.id() && i.polls == 1)
    });
    let info = rt
        .handle()
        .tasks()
        .into_iter()
        .find(|i| i.id == t.id())
        .unwrap();
    assert_eq!((info.age, info.poll_time), (None, None));
    tx.send(()).unwrap();
    rt.block_on(t).unwrap();
}

#[test]
fn metrics_count_spawns_exactly_and_polls_and_live_tasks() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let before = rt.handle().metrics();
    assert_eq!(before.spawned_tasks, 0);
    assert_eq!(before.live_tasks, 0);
    // 300 spawned from inside tasks, 200 from this thread, 10 blocking.
    let inner = rt.block_on(async {
        let tasks: Vec<_> = (0..300).map(|i| magpie::spawn(async move { i })).collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(inner, (0..300).sum::<i32>());
    let outer: Vec<_> = (0..200).map(|_| rt.spawn(async {})).collect();
    let blocking: Vec<_> = (0..10).map(|_| rt.spawn_blocking(|| ())).collect();
    rt.block_on(async {
        for t in outer {
            t.await.unwrap();
        }
        for t in blocking {
            t.await.unwrap();
        }
    });
    let m = rt.handle().metrics();
    assert_eq!(m.spawned_tasks, 510);
    assert!(m.total_polls() >= 500, "{m:?}");
    wait_for("live tasks to drop to zero", || {
        rt.handle().metrics().live_tasks == 0
    });
    assert_eq!(m.workers.len(), 2);
    assert!(m.uptime > Duration::ZERO);
}

#[test]
fn metrics_see_steals_when_one_worker_is_loaded() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        // All spawned from one task on one worker: the other can only get
        // work by stealing it.
        let root = magpie::spawn(async {
            let tasks: Vec<_> = (0..2_000)
                .map(|_| {
                    magpie::spawn(async {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_micros(20) {
                            std::hint::spin_loop();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        root.await.unwrap();
    });
    let m = rt.handle().metrics();
    assert!(m.total_steals() > 0, "{m:?}");
    assert!(m.workers.iter().map(|w| w.steal_operations).sum::<u64>() > 0);
    assert!(m.workers.iter().all(|w| w.polls > 0), "{m:?}");
    let busy: Duration = m.workers.iter().map(|w| w.busy_time).sum();
    assert!(busy >= Duration::from_millis(20), "{m:?}");
}

#[test]
fn metrics_show_parked_workers_and_pending_timers() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let sleeper = rt.spawn(magpie::time::sleep(Duration::from_secs(60)));
    wait_for("both workers to park with the timer pending", || {
        let m = rt.handle().metrics();
        m.parked_workers == 2 && m.pending_timers == 1 && m.workers.iter().all(|w| w.is_parked)
    });
    sleeper.cancel();
    let _ = rt.block_on(sleeper);
}

/// Run by `magpie_debug_env_turns_debug_mode_on` in a child process with
/// `MAGPIE_DEBUG=1` (setting the variable in this process would race with
/// the other tests).
#[test]
#[ignore = "run by magpie_debug_env_turns_debug_mode_on"]
fn child_debug_mode_from_env() {
    assert_eq!(std::env::var("MAGPIE_DEBUG").as_deref(), Ok("1"));
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let t = rt.spawn(async move {
        let _ = rx.await;
    });
    let info = rt
        .handle()
        .tasks()
        .into_iter()
        .find(|i| i.id == t.id())
        .unwrap();
    assert!(
        info.age.is_some(),
        "MAGPIE_DEBUG=1 did not turn debug mode on"
    );
    tx.send(()).unwrap();
    rt.block_on(t).unwrap();
    // An explicit `debug(false)` wins over the variable.
    let rt = magpie::Runtime::builder().debug(false).build().unwrap();
    let t = rt.spawn(std::future::pending::<()>());
    let info = rt
        .handle()
        .tasks()
        .into_iter()
        .find(|i| i.id == t.id())
        .unwrap();
    assert!(info.age.is_none());
}

#[test]
fn magpie_debug_env_turns_debug_mode_on() {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_debug_mode_from_env",
            "--ignored",
            "--quiet",
        ])
        .env("MAGPIE_DEBUG", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_slow_poll_that_returns_just_before_shutdown_is_still_reported() {
    let rt = debug_runtime(2);
    // The poll blocks its worker until the watchdog has reported it (a
    // fixed 150 ms against the 100 ms threshold was not always seen as
    // blocked on a loaded machine: the monitor times a poll from its first
    // sight of it).
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let blocker =
        TaskBuilder::new()
            .name("blocker-then-shutdown")
            .spawn_on(rt.handle(), async move {
                while !released.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
    wait_for("the blocked-worker report", || {
        !reports_about("blocker-then-shutdown", "blocked worker").is_empty()
    });
    release.store(true, Ordering::SeqCst);
    rt.block_on(blocker).unwrap();
    // Shut down at once, before the watchdog's next regular look.
    drop(rt);
    let slow = reports_about("blocker-then-shutdown", "slow poll");
    assert_eq!(slow.len(), 1, "{slow:?}");
}
