//! The soak: millions of tasks mixing random cancellation, panics, wakes
//! across workers through every primitive of `magpie::sync`, timers,
//! timeouts, `spawn_blocking`, `TaskGroup`, `gather`, `try_gather`, `wait`
//! and `as_completed`; everything counted, every handle checked, a
//! watchdog for lost progress, and RSS reported. See `docs/soak.md`.
//!
//! * `soak_short`: an ordinary test, a few tens of thousands of tasks.
//! * `soak_full` (ignored): `MAGPIE_SOAK_TASKS` tasks (10 million by
//!   default): `cargo test -p magpie-rt --release --test soak -- --ignored --nocapture`.
//!
//! `MAGPIE_SOAK_SEED=<n>` replays a run's choices (which scenarios, sizes,
//! who is cancelled or panics, delays); the interleaving is the
//! machine's.

#[path = "soak/scenarios.rs"]
mod scenarios;
#[path = "soak/track.rs"]
mod track;

use scenarios::Cx;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, Once, mpsc};
use std::time::{Duration, Instant};
use track::{Out, Plan, Rng, SCENARIOS, SoakPanic, Stats, check, tracked};

/// One run's settings.
#[derive(Debug, Clone)]
struct Config {
    tasks: u64,
    seed: u64,
    workers: usize,
    /// Scenarios running at once.
    inflight: usize,
    /// The watchdog fails the run if nothing progresses for this long.
    stall: Duration,
    /// Fail if RSS grew by more than this (MiB) from start to end.
    max_rss_growth_mib: u64,
    /// Print progress every so often (full run).
    report_every: Option<Duration>,
    /// `MAGPIE_SOAK_FAIRNESS`: force one policy (default: random per primitive).
    fairness: Option<magpie::sync::Fairness>,
}

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim().replace('_', "");
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}: not a number: {raw:?}")))
}

fn config(default_tasks: u64, report_every: Option<Duration>) -> Config {
    let seed = env_u64("MAGPIE_SOAK_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
    });
    let mut rng = Rng::new(seed);
    let (workers, inflight) = (rng.range(2, 4), rng.range(16, 96));
    Config {
        tasks: default_tasks,
        seed,
        workers: env_u64("MAGPIE_SOAK_WORKERS").unwrap_or(workers) as usize,
        inflight: inflight as usize,
        stall: Duration::from_secs(env_u64("MAGPIE_SOAK_STALL_SECS").unwrap_or(30)),
        max_rss_growth_mib: env_u64("MAGPIE_SOAK_MAX_RSS_GROWTH_MIB").unwrap_or(200),
        report_every,
        fairness: match std::env::var("MAGPIE_SOAK_FAIRNESS").as_deref() {
            Ok("strict") => Some(magpie::sync::Fairness::Strict),
            Ok("eventual") => Some(magpie::sync::Fairness::Eventual),
            Ok("random") | Err(_) => None,
            Ok(other) => panic!("MAGPIE_SOAK_FAIRNESS: strict, eventual or random, not {other:?}"),
        },
    }
}

/// Written straight to the process's stderr, past the test harness's
/// capture: the seed must be visible even if the run dies of a signal.
fn announce(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Keeps the soak's deliberate panics quiet, and every other panic loud.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<SoakPanic>().is_none() {
                previous(info);
            }
        }));
    });
}

/// VmRSS from /proc/self/status, in KiB (0 where there is no /proc).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the soak thread tells the watchdog.
enum Phase {
    /// Everything passed; the figures.
    Done(Report),
    /// The soak failed (a check, or the runtime panicked): re-raised.
    Failed(Box<dyn std::any::Any + Send>),
}

#[derive(Debug)]
struct Report {
    elapsed: Duration,
    rss_start: u64,
    rss_mid: u64,
    rss_end: u64,
}

/// Spawns scenarios until `tasks` tasks have been spawned, at most
/// `inflight` scenarios at a time; checks every scenario's handle.
async fn driver(cx: Arc<Cx>, mut rng: Rng, tasks: u64, inflight: usize, rss_mid: Arc<Mutex<u64>>) {
    let stats = cx.stats.clone();
    let mut running: VecDeque<(magpie::JoinHandle<Out>, usize)> = VecDeque::new();
    let mut mid_taken = false;
    while stats.spawned.load(SeqCst) < tasks {
        let kind = rng.below(SCENARIOS.len() as u64) as usize;
        let srng = rng.fork();
        let h = magpie::spawn(tracked(&stats, scenarios::run(cx.clone(), kind, srng)));
        running.push_back((h, kind));
        if running.len() >= inflight {
            let (h, kind) = running.pop_front().expect("not empty");
            let out = check(&stats, SCENARIOS[kind], h.await, Plan::CLEAN).expect("checked");
            assert_eq!(out.v, kind as u64);
        }
        if !mid_taken && stats.spawned.load(SeqCst) >= tasks / 2 {
            mid_taken = true;
            *rss_mid.lock().unwrap() = rss_kib();
        }
    }
    for (h, kind) in running {
        let out = check(&stats, SCENARIOS[kind], h.await, Plan::CLEAN).expect("checked");
        assert_eq!(out.v, kind as u64);
    }
}

/// Runs the soak on this thread: the runtime, the driver, the final
/// checks. Panics on any failure.
fn soak(
    cfg: &Config,
    stats: Arc<Stats>,
    handle_slot: Arc<Mutex<Option<magpie::Handle>>>,
) -> Report {
    let started = Instant::now();
    let rt = magpie::Runtime::builder()
        .worker_threads(cfg.workers)
        .thread_name("soak-worker")
        .build()
        .expect("runtime");
    *handle_slot.lock().unwrap() = Some(rt.handle().clone());
    let rss_start = rss_kib();
    let rss_mid = Arc::new(Mutex::new(0));
    let cx = Arc::new(Cx {
        stats: stats.clone(),
        handle: rt.handle().clone(),
        fairness: cfg.fairness,
    });
    let mut rng = Rng::new(cfg.seed);
    // The same draws as `config`, so the seed alone fixes everything.
    let _ = (rng.range(2, 4), rng.range(16, 96));
    rt.block_on(driver(
        cx,
        rng.fork(),
        cfg.tasks,
        cfg.inflight,
        rss_mid.clone(),
    ));

    // Every handle has been checked; what is left are tasks nobody joins
    // (the children of dropped groups, the losers of `try_gather`),
    // cancelled and on their way out. Wait for their futures to drop (the
    // watchdog fails the run if that never happens).
    while stats.futures.live() != 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // The runtime's own count lags the future's drop by a moment.
    while rt.handle().metrics().live_tasks != 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let metrics = rt.handle().metrics();
    let report = rt.shutdown_timeout(Duration::from_secs(10));
    assert!(report.is_complete(), "shutdown left tasks behind: {report}");
    let rss_end = rss_kib();

    let s = &*stats;
    assert_eq!(
        metrics.live_tasks, 0,
        "the runtime still counts live tasks: {metrics:#?}"
    );
    for (name, ledger) in [
        ("futures", &s.futures),
        ("outputs", &s.outputs),
        ("queue items", &s.items),
        ("on_done callbacks", &s.callbacks),
    ] {
        assert_eq!(
            ledger.created.load(SeqCst),
            ledger.dropped.load(SeqCst),
            "{name}: created != dropped (leaked, or run twice)\n{}",
            s.summary()
        );
    }
    assert_eq!(
        s.spawned.load(SeqCst),
        s.resolved.load(SeqCst),
        "a handle was never resolved\n{}",
        s.summary()
    );
    assert_eq!(
        s.items_put.load(SeqCst),
        s.items_got.load(SeqCst) + s.items_drained.load(SeqCst),
        "queue items in != out + drained\n{}",
        s.summary()
    );
    for (i, name) in SCENARIOS.iter().enumerate() {
        assert_eq!(
            s.scenario_started[i].load(SeqCst),
            s.scenario_finished[i].load(SeqCst),
            "scenario {name} did not finish"
        );
    }
    Report {
        elapsed: started.elapsed(),
        rss_start,
        rss_mid: *rss_mid.lock().unwrap(),
        rss_end,
    }
}

/// A dump of what the runtime holds, for a hang.
fn hang_report(handle: Option<&magpie::Handle>, stats: &Stats) -> String {
    let mut out = String::new();
    out.push_str(&stats.summary());
    out.push_str("\nprimitives in flight:\n");
    out.push_str(&stats.probes.report());
    let Some(handle) = handle else {
        out.push_str("(no runtime yet)\n");
        return out;
    };
    let tasks = handle.tasks();
    let mut by_place: BTreeMap<String, usize> = BTreeMap::new();
    for t in &tasks {
        *by_place
            .entry(format!("{} at {}", t.state, t.location))
            .or_default() += 1;
    }
    out.push_str(&format!(
        "Handle::tasks(): {} live tasks, by state and spawn location:\n",
        tasks.len()
    ));
    for (place, n) in &by_place {
        out.push_str(&format!("  {n:6}  {place}\n"));
    }
    out.push_str("first tasks:\n");
    for t in tasks.iter().take(30) {
        out.push_str(&format!("  {t}\n"));
    }
    out.push_str(&format!("Handle::metrics(): {:#?}\n", handle.metrics()));
    out
}

/// Runs the soak on its own thread, and watches it from this one: fails
/// if it panics, or if nothing progresses for `cfg.stall`.
fn run_soak(name: &str, cfg: Config) {
    install_panic_hook();
    announce(&format!(
        "{name}: seed {:#x} (replay: MAGPIE_SOAK_SEED={:#x}), {} tasks, {} workers, {} scenarios in flight, fairness {}",
        cfg.seed,
        cfg.seed,
        cfg.tasks,
        cfg.workers,
        cfg.inflight,
        cfg.fairness
            .map_or("random".to_string(), |f| format!("{f:?}"))
    ));
    let stats = Arc::new(Stats::default());
    let handle_slot: Arc<Mutex<Option<magpie::Handle>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    {
        let (cfg, stats, handle_slot) = (cfg.clone(), stats.clone(), handle_slot.clone());
        std::thread::Builder::new()
            .name("soak-main".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    soak(&cfg, stats, handle_slot)
                }));
                let _ = tx.send(match result {
                    Ok(report) => Phase::Done(report),
                    Err(payload) => Phase::Failed(payload),
                });
            })
            .expect("spawn the soak thread");
    }
    let begun = Instant::now();
    let mut last_progress = (stats.progress(), Instant::now());
    let mut last_report = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Phase::Done(report)) => {
                let growth = report.rss_end.saturating_sub(report.rss_start);
                let line = format!(
                    "{name}: passed, seed {:#x}: {} tasks in {:.1?} ({:.0} tasks/s); RSS start {:.1} MiB, mid {:.1} MiB, end {:.1} MiB (growth {:.1} MiB)\n{}",
                    cfg.seed,
                    stats.spawned.load(SeqCst),
                    report.elapsed,
                    stats.spawned.load(SeqCst) as f64 / report.elapsed.as_secs_f64(),
                    mib(report.rss_start),
                    mib(report.rss_mid),
                    mib(report.rss_end),
                    mib(growth),
                    stats.summary()
                );
                println!("{line}");
                assert!(
                    growth / 1024 <= cfg.max_rss_growth_mib,
                    "{name}: RSS grew by {:.1} MiB (limit {} MiB)",
                    mib(growth),
                    cfg.max_rss_growth_mib
                );
                return;
            }
            Ok(Phase::Failed(payload)) => {
                announce(&format!(
                    "{name}: FAILED, seed {:#x}, after {:.1?}:\n{}",
                    cfg.seed,
                    begun.elapsed(),
                    stats.summary()
                ));
                std::panic::resume_unwind(payload);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the soak thread always reports")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = stats.progress();
        if now != last_progress.0 {
            last_progress = (now, Instant::now());
        } else if last_progress.1.elapsed() >= cfg.stall {
            let handle = handle_slot.lock().unwrap().clone();
            let dump = hang_report(handle.as_ref(), &stats);
            announce(&format!(
                "{name}: NO PROGRESS for {:?} (seed {:#x}, after {:.1?}, RSS {:.1} MiB):\n{dump}",
                cfg.stall,
                cfg.seed,
                begun.elapsed(),
                mib(rss_kib())
            ));
            // The soak thread and the runtime are left hung; the test
            // process ends when the harness does.
            panic!(
                "{name}: no progress for {:?}: a lost wakeup or a stuck task (seed {:#x})",
                cfg.stall, cfg.seed
            );
        }
        if let Some(every) = cfg.report_every {
            if last_report.elapsed() >= every {
                last_report = Instant::now();
                announce(&format!(
                    "{name}: {:.0?}: {} tasks spawned, {} resolved, RSS {:.1} MiB",
                    begun.elapsed(),
                    stats.spawned.load(SeqCst),
                    stats.resolved.load(SeqCst),
                    mib(rss_kib())
                ));
            }
        }
    }
}

/// A short soak, part of `cargo test`: no timing-based assertion (only the
/// no-progress watchdog, which allows 30 seconds of silence).
#[test]
fn soak_short() {
    let tasks = if cfg!(miri) { 300 } else { 30_000 };
    run_soak("soak_short", config(tasks, None));
}

/// The full soak: `MAGPIE_SOAK_TASKS` tasks (10 million by default).
///
/// `cargo test -p magpie-rt --release --test soak -- --ignored --nocapture`
#[test]
#[ignore = "long: run with --ignored in release (see docs/soak.md)"]
fn soak_full() {
    let default = if cfg!(miri) { 2_000 } else { 10_000_000 };
    let tasks = env_u64("MAGPIE_SOAK_TASKS").unwrap_or(default);
    run_soak("soak_full", config(tasks, Some(Duration::from_secs(10))));
}
