//! The soak's bookkeeping: a seeded RNG, ledgers of everything created and
//! dropped, the expected outcome of each task, and the deliberate panic.

use magpie::task::JoinError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// xorshift64*, seeded through splitmix64: tiny, no dependency, and the
/// same seed gives the same choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias does not matter here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 11) % n
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times out of 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An independent generator for a sub-scenario.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// Things created and dropped: equal at the end, or something leaked (or
/// was dropped twice).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) created: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Ledger {
    pub(crate) fn live(&self) -> i64 {
        // Read `dropped` first so a concurrent pair never shows negative.
        let dropped = self.dropped.load(SeqCst);
        self.created.load(SeqCst) as i64 - dropped as i64
    }
}

/// The scenarios, by index (for the per-scenario counters and reports).
pub(crate) const SCENARIOS: [&str; 16] = [
    "lock",
    "rwlock",
    "event",
    "notify",
    "oneshot",
    "watch",
    "condition",
    "semaphore",
    "barrier",
    "queue",
    "timers",
    "net",
    "blocking",
    "task_group",
    "gather",
    "wait_as_completed",
];

/// Everything the soak counts. One per run (tests in one binary may run
/// at the same time, so nothing is global).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Every future the soak spawns (task, group child, blocking closure).
    pub(crate) futures: Ledger,
    /// Every task output.
    pub(crate) outputs: Ledger,
    /// Every item made for a queue.
    pub(crate) items: Ledger,
    /// `on_done` callbacks registered / run.
    pub(crate) callbacks: Ledger,
    /// Tasks spawned (all kinds).
    pub(crate) spawned: AtomicU64,
    /// Tasks whose outcome was checked (a handle awaited, or accounted for
    /// by the `TaskGroup` / `try_gather` / dropped group that owned it).
    pub(crate) resolved: AtomicU64,
    pub(crate) ok: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) panicked: AtomicU64,
    /// Deliberate panics that actually ran.
    pub(crate) deliberate_panics: AtomicU64,
    pub(crate) scenario_started: [AtomicU64; SCENARIOS.len()],
    pub(crate) scenario_finished: [AtomicU64; SCENARIOS.len()],
    /// Queue items: put successfully / taken by consumers / drained at the
    /// end / refused by a closed queue.
    pub(crate) items_put: AtomicU64,
    pub(crate) items_got: AtomicU64,
    pub(crate) items_drained: AtomicU64,
    pub(crate) items_refused: AtomicU64,
    /// The state of the primitives in flight, for a hang report.
    pub(crate) probes: Probes,
}

type ProbeFn = Box<dyn Fn() -> String + Send + Sync>;

/// Descriptions of the primitives scenarios are using now.
#[derive(Default)]
pub(crate) struct Probes {
    next: AtomicU64,
    live: std::sync::Mutex<std::collections::BTreeMap<u64, (&'static str, ProbeFn)>>,
}

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Probes")
    }
}

impl Probes {
    /// Registers `describe` until the returned guard is dropped.
    pub(crate) fn watch(
        stats: &Arc<Stats>,
        what: &'static str,
        describe: impl Fn() -> String + Send + Sync + 'static,
    ) -> ProbeGuard {
        let id = stats.probes.next.fetch_add(1, SeqCst);
        stats
            .probes
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (what, Box::new(describe)));
        ProbeGuard {
            stats: stats.clone(),
            id,
        }
    }

    /// One line per primitive in flight.
    pub(crate) fn report(&self) -> String {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (id, (what, describe)) in live.iter() {
            out.push_str(&format!("  probe {id} {what}: {}\n", describe()));
        }
        out
    }
}

/// Unregisters a probe when the scenario ends (or is dropped).
pub(crate) struct ProbeGuard {
    stats: Arc<Stats>,
    id: u64,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.stats
            .probes
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Stats {
    /// Progress for the watchdog: moves whenever a task ends or is checked.
    pub(crate) fn progress(&self) -> u64 {
        self.futures.dropped.load(SeqCst) + self.resolved.load(SeqCst)
    }

    pub(crate) fn summary(&self) -> String {
        let mut s = format!(
            "spawned {} resolved {} (ok {} cancelled {} panicked {}; deliberate panics run {})\n\
             futures created {} dropped {} | outputs created {} dropped {} | \
             items created {} dropped {} | on_done registered {} run {}\n\
             queue items put {} got {} drained {} refused {}\n",
            self.spawned.load(SeqCst),
            self.resolved.load(SeqCst),
            self.ok.load(SeqCst),
            self.cancelled.load(SeqCst),
            self.panicked.load(SeqCst),
            self.deliberate_panics.load(SeqCst),
            self.futures.created.load(SeqCst),
            self.futures.dropped.load(SeqCst),
            self.outputs.created.load(SeqCst),
            self.outputs.dropped.load(SeqCst),
            self.items.created.load(SeqCst),
            self.items.dropped.load(SeqCst),
            self.callbacks.created.load(SeqCst),
            self.callbacks.dropped.load(SeqCst),
            self.items_put.load(SeqCst),
            self.items_got.load(SeqCst),
            self.items_drained.load(SeqCst),
            self.items_refused.load(SeqCst),
        );
        s.push_str("scenarios (started/finished):");
        for (i, name) in SCENARIOS.iter().enumerate() {
            let started = self.scenario_started[i].load(SeqCst);
            let finished = self.scenario_finished[i].load(SeqCst);
            s.push_str(&format!(" {name} {started}/{finished}"));
            if started != finished {
                s.push_str(&format!(" [{} in flight]", started - finished));
            }
        }
        s
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Future,
    Output,
    Item,
}

/// Counted on creation, and again when dropped.
pub(crate) struct Token {
    stats: Arc<Stats>,
    kind: Kind,
}

impl Token {
    fn new(stats: &Arc<Stats>, kind: Kind) -> Token {
        let token = Token {
            stats: stats.clone(),
            kind,
        };
        token.ledger().created.fetch_add(1, SeqCst);
        token
    }

    fn ledger(&self) -> &Ledger {
        match self.kind {
            Kind::Future => &self.stats.futures,
            Kind::Output => &self.stats.outputs,
            Kind::Item => &self.stats.items,
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.ledger().dropped.fetch_add(1, SeqCst);
    }
}

/// What every soak task returns: a value to check, and a token that
/// counts the output.
pub(crate) struct Out {
    pub(crate) v: u64,
    _token: Token,
}

impl Out {
    pub(crate) fn new(stats: &Arc<Stats>, v: u64) -> Out {
        Out {
            v,
            _token: Token::new(stats, Kind::Output),
        }
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Out({})", self.v)
    }
}

/// A queue item: ordered by `seq` (for the priority queue), counted.
pub(crate) struct Item {
    pub(crate) seq: u64,
    _token: Token,
}

impl Item {
    pub(crate) fn new(stats: &Arc<Stats>, seq: u64) -> Item {
        Item {
            seq,
            _token: Token::new(stats, Kind::Item),
        }
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Item) -> bool {
        self.seq == other.seq
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Item) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Item) -> std::cmp::Ordering {
        self.seq.cmp(&other.seq)
    }
}

/// Wraps a future the soak spawns: counts the spawn and carries a token,
/// so the future's drop (completed, cancelled, panicked, or swept) is
/// counted.
pub(crate) fn tracked<F: Future>(
    stats: &Arc<Stats>,
    fut: F,
) -> impl Future<Output = F::Output> + use<F> {
    stats.spawned.fetch_add(1, SeqCst);
    let token = Token::new(stats, Kind::Future);
    async move {
        let _token = token;
        fut.await
    }
}

/// Wraps a blocking closure the same way.
pub(crate) fn tracked_fn<R, F: FnOnce() -> R>(
    stats: &Arc<Stats>,
    f: F,
) -> impl FnOnce() -> R + use<R, F> {
    stats.spawned.fetch_add(1, SeqCst);
    let token = Token::new(stats, Kind::Future);
    move || {
        let _token = token;
        f()
    }
}

/// The payload of the soak's deliberate panics; the panic hook keeps
/// quiet about these, and only these.
#[derive(Debug)]
pub(crate) struct SoakPanic;

/// A deliberate panic.
pub(crate) fn boom(stats: &Stats) -> ! {
    stats.deliberate_panics.fetch_add(1, SeqCst);
    std::panic::panic_any(SoakPanic)
}

/// What was done to a task, so what its handle may give.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plan {
    /// The task panics (deliberately) at some point, unless cancelled first.
    pub(crate) panics: bool,
    /// The task is cancelled at a random moment (it may finish first).
    pub(crate) cancel: bool,
}

impl Plan {
    pub(crate) fn random(rng: &mut Rng, panic_pct: u64, cancel_pct: u64) -> Plan {
        Plan {
            panics: rng.chance(panic_pct),
            cancel: rng.chance(cancel_pct),
        }
    }

    pub(crate) const CLEAN: Plan = Plan {
        panics: false,
        cancel: false,
    };
}

/// The outcome of one handle, as the soak sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Ok,
    Cancelled,
    Panicked,
}

/// Checks a joined task's result against its plan, counts it, and returns
/// the output if it has one. A task that panicked with anything but the
/// soak's payload failed an invariant: its message is re-raised.
#[track_caller]
pub(crate) fn check<T>(
    stats: &Stats,
    what: &str,
    result: Result<T, JoinError>,
    plan: Plan,
) -> Option<T> {
    let fate = fate_of(what, &result);
    tally(stats, what, fate, plan);
    result.ok()
}

/// The fate of a result, re-raising an unexpected panic.
#[track_caller]
pub(crate) fn fate_of<T>(what: &str, result: &Result<T, JoinError>) -> Fate {
    match result {
        Ok(_) => Fate::Ok,
        Err(e) if e.is_cancelled() => Fate::Cancelled,
        Err(e) if e.is_panic() => {
            // `JoinError` gives the payload only by value; a clone of the
            // message is enough to tell ours from an invariant failure.
            match e.panic_message() {
                Some(msg) => panic!("{what}: a task failed: {msg}"),
                None => Fate::Panicked,
            }
        }
        Err(e) => panic!("{what}: a JoinError neither cancelled nor panic: {e:?}"),
    }
}

/// Counts a fate and checks it is one the plan allows.
#[track_caller]
pub(crate) fn tally(stats: &Stats, what: &str, fate: Fate, plan: Plan) {
    stats.resolved.fetch_add(1, SeqCst);
    match fate {
        Fate::Ok => {
            stats.ok.fetch_add(1, SeqCst);
            assert!(
                !plan.panics,
                "{what}: a task planned to panic returned normally"
            );
        }
        Fate::Cancelled => {
            stats.cancelled.fetch_add(1, SeqCst);
            assert!(
                plan.cancel,
                "{what}: a task nobody cancelled came back cancelled"
            );
        }
        Fate::Panicked => {
            stats.panicked.fetch_add(1, SeqCst);
            assert!(
                plan.panics,
                "{what}: a task not planned to panic panicked with a soak payload"
            );
        }
    }
}

/// Counts a section that at most `limit` tasks may be in at once; the
/// guard leaves it on drop (completion, cancellation or unwinding alike).
pub(crate) struct Inside {
    count: Arc<AtomicUsize>,
    n: usize,
}

impl Inside {
    #[track_caller]
    pub(crate) fn enter(count: &Arc<AtomicUsize>, n: usize, limit: usize, what: &str) -> Inside {
        let before = count.fetch_add(n, SeqCst);
        assert!(
            before + n <= limit,
            "{what}: {} inside a section that admits {limit}",
            before + n
        );
        Inside {
            count: count.clone(),
            n,
        }
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.count.fetch_sub(self.n, SeqCst);
    }
}
