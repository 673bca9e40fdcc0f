//! The soak's scenarios. Each is one task that spawns a few more around
//! one primitive or one structured-concurrency call, cancels some of them
//! at random moments, lets some panic, checks every handle against what
//! was done to it, and checks the primitive's invariant before it returns.
//!
//! Rules that keep a scenario from hanging by design (so that a hang is
//! the runtime's fault): a task is only cancelled where the primitive
//! promises that cancellation passes the resource on; a deliberate panic
//! never leaves a count unbalanced (guards unwind); nothing waits on a
//! party that may have been cancelled (barrier parties are never
//! cancelled; queue consumers end through `close`).

use super::track::{
    Fate, Inside, Item, Out, Plan, Probes, Rng, SCENARIOS, Stats, boom, check, fate_of, tracked,
    tracked_fn,
};
use futures::StreamExt;
use magpie::sync::{
    Barrier, Condition, Event, Fairness, GenericQueue, LifoQueue, Lock, Notify, PriorityQueue,
    Queue, RwLock, Semaphore, Storage, oneshot, watch,
};
use magpie::task::{CancelHandle, Id, JoinHandle, yield_now};
use magpie::time::{self, Duration, Instant};
use magpie::{TaskGroup, WaitFor};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// What every scenario shares.
pub(crate) struct Cx {
    pub(crate) stats: Arc<Stats>,
    pub(crate) handle: magpie::Handle,
    /// `Some` forces one fairness on every `Lock`, `RwLock` and
    /// `Semaphore` (`MAGPIE_SOAK_FAIRNESS=strict|eventual`), to tell a
    /// fault of one policy from the other.
    pub(crate) fairness: Option<Fairness>,
}

type Shared = Arc<Cx>;

/// Spawns a counted task (the caller's line is its spawn location in a
/// task dump).
#[track_caller]
fn spawn_t<T: Send + 'static>(
    cx: &Shared,
    fut: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<T> {
    magpie::spawn(tracked(&cx.stats, fut))
}

/// Spawns a counted task named after its scenario, index and plan, so a
/// task dump says who hangs (`lock#3 cancel`).
#[track_caller]
fn spawn_p<T: Send + 'static>(
    cx: &Shared,
    what: &str,
    i: u64,
    plan: Plan,
    fut: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<T> {
    let name = format!(
        "{what}#{i}{}{}",
        if plan.cancel { " cancel" } else { "" },
        if plan.panics { " panic" } else { "" }
    );
    magpie::task::Builder::new()
        .name(name)
        .spawn(tracked(&cx.stats, fut))
}

/// Spawns a counted blocking closure.
#[track_caller]
fn spawn_blocking_t<R: Send + 'static>(
    cx: &Shared,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<R> {
    magpie::task::spawn_blocking(tracked_fn(&cx.stats, f))
}

/// Yields a random number of times (0..=max): a random moment.
async fn jitter(rng: &mut Rng, max: u64) {
    for _ in 0..rng.below(max + 1) {
        yield_now().await;
    }
}

/// Cancels `targets` at random moments, from this task, from another
/// task, or from a blocking-pool thread (a wake from outside the workers).
async fn cancel_randomly(cx: &Shared, rng: &mut Rng, targets: Vec<CancelHandle>) {
    if targets.is_empty() {
        return;
    }
    match rng.below(3) {
        0 => {
            for c in targets {
                jitter(rng, 3).await;
                c.cancel();
            }
        }
        1 => {
            let mut r = rng.fork();
            let stats = cx.stats.clone();
            let h = spawn_t(cx, async move {
                for c in targets {
                    jitter(&mut r, 3).await;
                    c.cancel();
                }
                Out::new(&stats, 0)
            });
            check(&cx.stats, "canceller task", h.await, Plan::CLEAN);
        }
        _ => {
            let stats = cx.stats.clone();
            let h = spawn_blocking_t(cx, move || {
                for c in targets {
                    c.cancel();
                }
                Out::new(&stats, 0)
            });
            check(&cx.stats, "canceller thread", h.await, Plan::CLEAN);
        }
    }
}

/// A crew of tasks with their plans: cancels those planned, then awaits
/// and checks every handle. Returns how many ended each way.
struct Crew {
    what: &'static str,
    members: Vec<(JoinHandle<Out>, Plan, u64)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Ends {
    ok: u64,
    cancelled: u64,
    panicked: u64,
}

impl Crew {
    fn new(what: &'static str) -> Crew {
        Crew {
            what,
            members: Vec::new(),
        }
    }

    fn add(&mut self, handle: JoinHandle<Out>, plan: Plan, v: u64) {
        self.members.push((handle, plan, v));
    }

    async fn settle(self, cx: &Shared, rng: &mut Rng) -> Ends {
        let targets = self
            .members
            .iter()
            .filter(|(_, plan, _)| plan.cancel)
            .map(|(h, _, _)| h.cancel_handle())
            .collect();
        cancel_randomly(cx, rng, targets).await;
        let mut ends = Ends::default();
        for (handle, plan, v) in self.members {
            let result = handle.await;
            match fate_of(self.what, &result) {
                Fate::Ok => ends.ok += 1,
                Fate::Cancelled => ends.cancelled += 1,
                Fate::Panicked => ends.panicked += 1,
            }
            if let Some(out) = check(&cx.stats, self.what, result, plan) {
                assert_eq!(out.v, v, "{}: a task returned another's output", self.what);
            }
        }
        ends
    }
}

/// Runs scenario `kind`.
pub(crate) async fn run(cx: Shared, kind: usize, rng: Rng) -> Out {
    let stats = cx.stats.clone();
    stats.scenario_started[kind].fetch_add(1, SeqCst);
    match SCENARIOS[kind] {
        "lock" => lock(&cx, rng).await,
        "rwlock" => rwlock(&cx, rng).await,
        "event" => event(&cx, rng).await,
        "notify" => notify(&cx, rng).await,
        "oneshot" => oneshot(&cx, rng).await,
        "watch" => watch(&cx, rng).await,
        "condition" => condition(&cx, rng).await,
        "semaphore" => semaphore(&cx, rng).await,
        "barrier" => barrier(&cx, rng).await,
        "queue" => queue(&cx, rng).await,
        "timers" => timers(&cx, rng).await,
        "net" => net(&cx, rng).await,
        "blocking" => blocking(&cx, rng).await,
        "task_group" => task_group(&cx, rng).await,
        "gather" => gather(&cx, rng).await,
        "wait_as_completed" => wait_as_completed(&cx, rng).await,
        other => unreachable!("no scenario {other}"),
    }
    stats.scenario_finished[kind].fetch_add(1, SeqCst);
    Out::new(&stats, kind as u64)
}

fn fairness(cx: &Shared, rng: &mut Rng) -> Fairness {
    let coin = rng.chance(50);
    if let Some(forced) = cx.fairness {
        return forced;
    }
    if coin {
        Fairness::Strict
    } else {
        Fairness::Eventual
    }
}

/// `Lock`: held across awaits, cancelled and panicking holders; at most
/// one guard at a time, and the value counts exactly the increments made.
async fn lock(cx: &Shared, mut rng: Rng) {
    let lock = Arc::new(Lock::with_fairness(0u64, fairness(cx, &mut rng)));
    let _probe = {
        let lock = lock.clone();
        Probes::watch(&cx.stats, "lock", move || {
            format!("{:?}, is_locked {}", lock.fairness(), lock.is_locked())
        })
    };
    let inside = Arc::new(AtomicUsize::new(0));
    let bumps = Arc::new(AtomicU64::new(0));
    let mut crew = Crew::new("lock");
    for i in 0..rng.range(2, 12) {
        let plan = Plan::random(&mut rng, 10, 20);
        let (lock, inside, bumps, stats) = (
            lock.clone(),
            inside.clone(),
            bumps.clone(),
            cx.stats.clone(),
        );
        let mut r = rng.fork();
        let h = spawn_p(cx, "lock", i, plan, async move {
            jitter(&mut r, 2).await;
            if r.chance(20) {
                if let Ok(mut g) = lock.try_lock() {
                    let _in = Inside::enter(&inside, 1, 1, "Lock::try_lock");
                    *g += 1;
                    bumps.fetch_add(1, SeqCst);
                }
            }
            let mut g = if r.chance(30) {
                LockHold::Owned(lock.clone().lock_owned().await)
            } else {
                LockHold::Borrowed(lock.lock().await)
            };
            let _in = Inside::enter(&inside, 1, 1, "Lock");
            *g.value() += 1;
            bumps.fetch_add(1, SeqCst);
            jitter(&mut r, 2).await;
            if r.chance(5) {
                time::sleep(Duration::from_micros(r.range(1, 200))).await;
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    crew.settle(cx, &mut rng).await;
    assert!(!lock.is_locked(), "Lock: still held after every task ended");
    let value = *lock.try_lock().expect("Lock: free after every task ended");
    assert_eq!(
        value,
        bumps.load(SeqCst),
        "Lock: lost or doubled increments"
    );
}

enum LockHold<'a> {
    Borrowed(magpie::sync::LockGuard<'a, u64>),
    Owned(magpie::sync::OwnedLockGuard<u64>),
}

impl LockHold<'_> {
    fn value(&mut self) -> &mut u64 {
        match self {
            LockHold::Borrowed(g) => g,
            LockHold::Owned(g) => g,
        }
    }
}

/// `RwLock`: readers share, writers exclude everyone, downgrades.
async fn rwlock(cx: &Shared, mut rng: Rng) {
    const WRITER: usize = 1 << 20;
    let rw = Arc::new(RwLock::with_fairness(0u64, fairness(cx, &mut rng)));
    let _probe = {
        let rw = rw.clone();
        Probes::watch(&cx.stats, "rwlock", move || {
            format!(
                "{:?}, try_write ok: {}",
                rw.fairness(),
                rw.try_write().is_ok()
            )
        })
    };
    let inside = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let mut crew = Crew::new("rwlock");
    for i in 0..rng.range(2, 12) {
        let plan = Plan::random(&mut rng, 8, 20);
        let (rw, inside, writes, stats) =
            (rw.clone(), inside.clone(), writes.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let h = spawn_p(cx, "rwlock", i, plan, async move {
            jitter(&mut r, 2).await;
            if r.chance(40) {
                let mut w = rw.write().await;
                let in_w = Inside::enter(&inside, WRITER, WRITER, "RwLock writer");
                *w += 1;
                writes.fetch_add(1, SeqCst);
                jitter(&mut r, 2).await;
                if r.chance(30) {
                    drop(in_w);
                    let g = w.downgrade();
                    let _in = Inside::enter(&inside, 1, WRITER - 1, "RwLock downgraded reader");
                    assert!(*g >= 1, "RwLock: downgraded reader lost the write");
                    jitter(&mut r, 1).await;
                }
            } else if r.chance(50) {
                let g = rw.clone().read_owned().await;
                let _in = Inside::enter(&inside, 1, WRITER - 1, "RwLock reader");
                let _ = *g;
                jitter(&mut r, 2).await;
            } else {
                let g = rw.read().await;
                let _in = Inside::enter(&inside, 1, WRITER - 1, "RwLock reader");
                let _ = *g;
                jitter(&mut r, 2).await;
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    crew.settle(cx, &mut rng).await;
    let value = *rw.try_write().expect("RwLock: free after every task ended");
    assert_eq!(value, writes.load(SeqCst), "RwLock: lost or doubled writes");
}

/// `Event`: waiters cancelled at random while `set` (from a task, this
/// task or a blocking thread) wakes them; every waiter left is released.
async fn event(cx: &Shared, mut rng: Rng) {
    let ev = Arc::new(Event::new());
    let released = Arc::new(AtomicU64::new(0));
    let _probe = {
        let ev = ev.clone();
        Probes::watch(&cx.stats, "event", move || {
            format!("is_set {}", ev.is_set())
        })
    };
    let rounds = if rng.chance(30) { 2 } else { 1 };
    for round in 0..rounds {
        let before = released.load(SeqCst);
        let mut crew = Crew::new("event");
        for i in 0..rng.range(1, 12) {
            let plan = Plan::random(&mut rng, 8, 25);
            let (ev, released, stats) = (ev.clone(), released.clone(), cx.stats.clone());
            let mut r = rng.fork();
            let h = spawn_p(cx, "event", i, plan, async move {
                jitter(&mut r, 1).await;
                ev.wait().await;
                released.fetch_add(1, SeqCst);
                if plan.panics {
                    boom(&stats);
                }
                Out::new(&stats, i)
            });
            crew.add(h, plan, i);
        }
        let setter = match rng.below(3) {
            0 => {
                jitter(&mut rng, 3).await;
                ev.set();
                None
            }
            1 => {
                let (ev, stats) = (ev.clone(), cx.stats.clone());
                let mut r = rng.fork();
                Some(spawn_t(cx, async move {
                    jitter(&mut r, 3).await;
                    ev.set();
                    Out::new(&stats, 0)
                }))
            }
            _ => {
                let (ev, stats) = (ev.clone(), cx.stats.clone());
                Some(spawn_blocking_t(cx, move || {
                    ev.set();
                    Out::new(&stats, 0)
                }))
            }
        };
        let ends = crew.settle(cx, &mut rng).await;
        if let Some(h) = setter {
            check(&cx.stats, "event setter", h.await, Plan::CLEAN);
        }
        assert!(ev.is_set(), "Event: not set after set()");
        let woken = released.load(SeqCst) - before;
        assert!(
            woken >= ends.ok + ends.panicked,
            "Event: {} waiters finished but only {woken} were released",
            ends.ok + ends.panicked
        );
        if round + 1 < rounds {
            ev.clear();
        }
    }
}

/// `Notify`, used the two ways it is meant for, with waiters cancelled
/// or panicking at random and notifications from this task, another task
/// or a blocking thread:
///
/// * tokens: each waiter loops "register (`enable`), take a token if there
///   is one, else wait", and the notifier adds one token per waiter, each
///   followed by `notify_one`. A waiter picked by `notify_one` and
///   cancelled before it saw the notification passes it on, so every
///   waiter that is not cancelled gets a token;
/// * broadcast: each waiter loops "register, stop at the last round, else
///   wait", and the notifier bumps the round and calls `notify_waiters`,
///   which wakes every waiter registered before it.
///
/// A lost notification is a hang (the soak's watchdog names the waiter).
async fn notify(cx: &Shared, mut rng: Rng) {
    let notify = Arc::new(Notify::new());
    // Tokens left (token mode) or the current round (broadcast mode).
    let count = Arc::new(AtomicU64::new(0));
    let taken = Arc::new(AtomicU64::new(0));
    let broadcast = rng.chance(40);
    let _probe = {
        let (notify, count, taken) = (notify.clone(), count.clone(), taken.clone());
        Probes::watch(&cx.stats, "notify", move || {
            format!(
                "{notify:?}, broadcast {broadcast}, count {}, taken {}",
                count.load(SeqCst),
                taken.load(SeqCst)
            )
        })
    };
    let waiters = rng.range(1, 12);
    let rounds = if broadcast { rng.range(1, 4) } else { waiters };
    let mut crew = Crew::new("notify");
    for i in 0..waiters {
        let plan = Plan::random(&mut rng, 8, 25);
        let (notify, count, taken, stats) = (
            notify.clone(),
            count.clone(),
            taken.clone(),
            cx.stats.clone(),
        );
        let mut r = rng.fork();
        let h = spawn_p(cx, "notify", i, plan, async move {
            jitter(&mut r, 1).await;
            let mut seen = 0;
            loop {
                let mut notified = std::pin::pin!(notify.notified());
                notified.as_mut().enable();
                if broadcast {
                    let now = count.load(SeqCst);
                    assert!(now >= seen, "Notify: the round went backwards");
                    seen = now;
                    if now == rounds {
                        break;
                    }
                } else if count
                    .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    // No await from here to the end: a cancel cannot
                    // come between the take and the count.
                    taken.fetch_add(1, SeqCst);
                    break;
                }
                notified.await;
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    let bump = {
        let (notify, count) = (notify.clone(), count.clone());
        move || {
            count.fetch_add(1, SeqCst);
            if broadcast {
                notify.notify_waiters();
            } else {
                notify.notify_one();
            }
        }
    };
    let notifier = match rng.below(3) {
        0 => {
            for _ in 0..rounds {
                jitter(&mut rng, 2).await;
                bump();
            }
            None
        }
        1 => {
            let stats = cx.stats.clone();
            let mut r = rng.fork();
            Some(spawn_t(cx, async move {
                for _ in 0..rounds {
                    jitter(&mut r, 2).await;
                    bump();
                }
                Out::new(&stats, 0)
            }))
        }
        _ => {
            let stats = cx.stats.clone();
            Some(spawn_blocking_t(cx, move || {
                for _ in 0..rounds {
                    bump();
                }
                Out::new(&stats, 0)
            }))
        }
    };
    let ends = crew.settle(cx, &mut rng).await;
    if let Some(h) = notifier {
        check(&cx.stats, "notify notifier", h.await, Plan::CLEAN);
    }
    if !broadcast {
        assert_eq!(
            taken.load(SeqCst),
            ends.ok + ends.panicked,
            "Notify: tokens taken by waiters that did not finish, or finished without one"
        );
        assert_eq!(
            taken.load(SeqCst) + count.load(SeqCst),
            rounds,
            "Notify: tokens lost or doubled"
        );
    }
}

/// `oneshot`: pairs of a sender task and a receiver task, either cancelled
/// or panicking at random. A sender sends (perhaps racing its receiver's
/// close), drops without sending, or (if its receiver closes) waits for
/// `closed()` and then finds `send` refused; a receiver awaits the value,
/// or closes and takes what was sent before. A receiver that awaited and finished got the value if and
/// only if its sender's `send` succeeded; every value is dropped exactly
/// once (the soak's item ledger).
async fn oneshot(cx: &Shared, mut rng: Rng) {
    const SENT: u8 = 1;
    const GOT: u8 = 2;
    const GOT_NOTHING: u8 = 4;
    let mut crew = Crew::new("oneshot");
    let mut pairs = Vec::new();
    for i in 0..rng.range(1, 8) {
        let (tx, mut rx) = oneshot::channel::<Item>();
        let log = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let closes = rng.chance(25);
        let send_mode = rng.below(3);
        let plan = Plan::random(&mut rng, 8, 20);
        let (log_tx, stats) = (log.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let sender = spawn_p(cx, "oneshot", 2 * i, plan, async move {
            jitter(&mut r, 2).await;
            match send_mode {
                0 if closes => {
                    tx.closed().await;
                    assert!(tx.is_closed(), "oneshot: closed() returned while open");
                    let refused = tx.send(Item::new(&stats, i));
                    assert!(refused.is_err(), "oneshot: send accepted after close");
                }
                0 | 1 => {
                    if tx.send(Item::new(&stats, i)).is_ok() {
                        log_tx.fetch_or(SENT, SeqCst);
                    }
                }
                _ => drop(tx),
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, 2 * i)
        });
        crew.add(sender, plan, 2 * i);
        let plan = Plan::random(&mut rng, 8, 20);
        let (log_rx, stats) = (log.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let receiver = spawn_p(cx, "oneshot", 2 * i + 1, plan, async move {
            jitter(&mut r, 2).await;
            if closes {
                rx.close();
                jitter(&mut r, 1).await;
                if let Ok(item) = rx.try_recv() {
                    assert_eq!(item.seq, i, "oneshot: another pair's value");
                }
            } else {
                let got = match (&mut rx).await {
                    Ok(item) => {
                        assert_eq!(item.seq, i, "oneshot: another pair's value");
                        GOT
                    }
                    Err(_) => GOT_NOTHING,
                };
                // No await from here to the end (see `notify`).
                log_rx.fetch_or(got, SeqCst);
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, 2 * i + 1)
        });
        crew.add(receiver, plan, 2 * i + 1);
        pairs.push(log);
    }
    crew.settle(cx, &mut rng).await;
    for (i, log) in pairs.iter().enumerate() {
        let log = log.load(SeqCst);
        if log & (GOT | GOT_NOTHING) != 0 {
            assert_eq!(
                log & GOT != 0,
                log & SENT != 0,
                "oneshot pair {i}: the receiver's result disagrees with the sender's send ({log:#b})"
            );
        }
    }
}

/// `watch`: one sender publishes 1..=n (from this task or a blocking
/// thread) and is dropped; receivers (one subscribed late) loop on
/// `changed()`, some cancelled or panicking. Every receiver sees the
/// values in increasing order and, unless cancelled, ends on n: from a
/// change, or from the sender's drop after n was published.
async fn watch(cx: &Shared, mut rng: Rng) {
    let last = rng.range(1, 20);
    let (tx, rx) = watch::channel(0u64);
    let mut crew = Crew::new("watch");
    let receiver = |cx: &Shared, rng: &mut Rng, i: u64, mut rx: watch::Receiver<u64>| {
        let plan = Plan::random(rng, 8, 25);
        let stats = cx.stats.clone();
        let mut r = rng.fork();
        let h = spawn_p(cx, "watch", i, plan, async move {
            jitter(&mut r, 1).await;
            let mut seen = 0;
            loop {
                let now = *rx.borrow_and_update();
                assert!(now >= seen, "watch: saw {now} after {seen}");
                seen = now;
                if now == last {
                    break;
                }
                if rx.changed().await.is_err() {
                    // The sender is gone: its last value is final.
                    let now = *rx.borrow();
                    assert_eq!(now, last, "watch: the sender's last value was lost");
                    break;
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        (h, plan)
    };
    for i in 0..rng.range(1, 8) {
        let (h, plan) = receiver(cx, &mut rng, i, rx.clone());
        crew.add(h, plan, i);
    }
    drop(rx);
    let late = rng.range(1, last + 1);
    let publisher = if rng.chance(70) {
        for v in 1..=last {
            tx.send_replace(v);
            if v == late {
                let (h, plan) = receiver(cx, &mut rng, 100, tx.subscribe());
                crew.add(h, plan, 100);
            }
            jitter(&mut rng, 1).await;
        }
        drop(tx);
        None
    } else {
        let (h, plan) = receiver(cx, &mut rng, 100, tx.subscribe());
        crew.add(h, plan, 100);
        let stats = cx.stats.clone();
        Some(spawn_blocking_t(cx, move || {
            for v in 1..=last {
                tx.send_replace(v);
            }
            Out::new(&stats, 0)
        }))
    };
    crew.settle(cx, &mut rng).await;
    if let Some(h) = publisher {
        check(&cx.stats, "watch publisher", h.await, Plan::CLEAN);
    }
}

/// `Condition` with a `Lock`: waiters wait for a count, a producer bumps
/// it with `notify(1)` / `notify_all`; every waiter sees its target.
async fn condition(cx: &Shared, mut rng: Rng) {
    let state = Arc::new(Lock::with_fairness(0u64, fairness(cx, &mut rng)));
    let cond = Arc::new(Condition::new());
    let _probe = {
        let state = state.clone();
        Probes::watch(&cx.stats, "condition", move || {
            format!(
                "lock {:?} is_locked {}",
                state.fairness(),
                state.is_locked()
            )
        })
    };
    let steps = rng.range(1, 6);
    let mut crew = Crew::new("condition");
    for i in 0..rng.range(1, 10) {
        let plan = Plan::random(&mut rng, 8, 20);
        let target = rng.range(0, steps);
        let (state, cond, stats) = (state.clone(), cond.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let h = spawn_p(cx, "condition", i, plan, async move {
            jitter(&mut r, 1).await;
            let guard = if r.chance(50) {
                cond.wait_for(state.lock().await, |v| *v >= target).await
            } else {
                let mut g = state.lock().await;
                while *g < target {
                    g = cond.wait(g).await;
                }
                g
            };
            assert!(
                *guard >= target,
                "Condition: woken before its predicate held"
            );
            jitter(&mut r, 1).await;
            if plan.panics {
                boom(&stats);
            }
            drop(guard);
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    let producer = {
        let (state, cond, stats) = (state.clone(), cond.clone(), cx.stats.clone());
        let mut r = rng.fork();
        spawn_t(cx, async move {
            for _ in 0..steps {
                jitter(&mut r, 2).await;
                *state.lock().await += 1;
                if r.chance(50) {
                    cond.notify(1);
                } else {
                    cond.notify_all();
                }
            }
            cond.notify_all();
            Out::new(&stats, 0)
        })
    };
    crew.settle(cx, &mut rng).await;
    check(&cx.stats, "condition producer", producer.await, Plan::CLEAN);
    assert_eq!(*state.lock().await, steps, "Condition: lost an update");
    assert!(!state.is_locked(), "Condition: lock still held");
}

/// `Semaphore`: permits never over-issued, all back at the end.
async fn semaphore(cx: &Shared, mut rng: Rng) {
    let permits = rng.range(1, 4) as usize;
    let sem = Arc::new(Semaphore::with_fairness(permits, fairness(cx, &mut rng)));
    let _probe = {
        let sem = sem.clone();
        Probes::watch(&cx.stats, "semaphore", move || {
            format!(
                "{:?}, {} of {permits} permits available",
                sem.fairness(),
                sem.available_permits()
            )
        })
    };
    let inside = Arc::new(AtomicUsize::new(0));
    let mut crew = Crew::new("semaphore");
    for i in 0..rng.range(2, 12) {
        let plan = Plan::random(&mut rng, 8, 20);
        let n = rng.range(1, permits as u64) as usize;
        let (sem, inside, stats) = (sem.clone(), inside.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let h = spawn_p(cx, "semaphore", i, plan, async move {
            jitter(&mut r, 1).await;
            match r.below(4) {
                0 => {
                    let p = sem.acquire_many(n).await.expect("Semaphore: closed");
                    assert_eq!(p.num_permits(), n);
                    let in_ = Inside::enter(&inside, n, permits, "Semaphore");
                    jitter(&mut r, 2).await;
                    if r.chance(20) {
                        // Forget the permits and give them back by hand.
                        drop(in_);
                        p.forget();
                        sem.add_permits(n);
                    }
                }
                1 => {
                    let p = sem
                        .clone()
                        .acquire_many_owned(n)
                        .await
                        .expect("Semaphore: closed");
                    let in_ = Inside::enter(&inside, n, permits, "Semaphore (owned)");
                    jitter(&mut r, 2).await;
                    if r.chance(5) {
                        time::sleep(Duration::from_micros(r.range(1, 200))).await;
                    }
                    // Leave the section before the permits go back.
                    drop(in_);
                    drop(p);
                }
                2 => {
                    if let Ok(_p) = sem.try_acquire_many(n) {
                        let _in = Inside::enter(&inside, n, permits, "Semaphore::try_acquire");
                        jitter(&mut r, 1).await;
                    }
                }
                _ => {
                    let _p = sem.acquire().await.expect("Semaphore: closed");
                    let _in = Inside::enter(&inside, 1, permits, "Semaphore (one)");
                    jitter(&mut r, 2).await;
                    if plan.panics {
                        boom(&stats);
                    }
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    crew.settle(cx, &mut rng).await;
    assert_eq!(
        sem.available_permits(),
        permits,
        "Semaphore: permits lost or created"
    );
    if rng.chance(20) {
        sem.close();
        assert!(
            sem.acquire().await.is_err(),
            "Semaphore: acquired after close"
        );
    }
}

/// `Barrier`: for every generation, all parties arrive before anyone
/// leaves, and exactly one is the leader.
async fn barrier(cx: &Shared, mut rng: Rng) {
    let parties = rng.range(1, 6) as usize;
    let generations = rng.range(1, 4) as usize;
    let barrier = Arc::new(Barrier::new(parties));
    let _probe = {
        let barrier = barrier.clone();
        Probes::watch(&cx.stats, "barrier", move || format!("{barrier:?}"))
    };
    let arrived: Arc<Vec<AtomicUsize>> =
        Arc::new((0..generations).map(|_| AtomicUsize::new(0)).collect());
    let leaders: Arc<Vec<AtomicUsize>> =
        Arc::new((0..generations).map(|_| AtomicUsize::new(0)).collect());
    let mut crew = Crew::new("barrier");
    for i in 0..parties as u64 {
        // Parties are never cancelled (a missing party would be waited for
        // forever, by design); they may panic after the last generation.
        let plan = Plan {
            panics: rng.chance(10),
            cancel: false,
        };
        let (barrier, arrived, leaders, stats) = (
            barrier.clone(),
            arrived.clone(),
            leaders.clone(),
            cx.stats.clone(),
        );
        let mut r = rng.fork();
        let h = spawn_p(cx, "barrier", i, plan, async move {
            for g in 0..generations {
                jitter(&mut r, 2).await;
                arrived[g].fetch_add(1, SeqCst);
                let result = barrier.wait().await;
                assert_eq!(
                    arrived[g].load(SeqCst),
                    parties,
                    "Barrier: released before every party arrived"
                );
                if result.is_leader() {
                    leaders[g].fetch_add(1, SeqCst);
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    crew.settle(cx, &mut rng).await;
    for (g, n) in leaders.iter().enumerate() {
        assert_eq!(
            n.load(SeqCst),
            1,
            "Barrier: generation {g} had {} leaders",
            n.load(SeqCst)
        );
    }
    assert_eq!(barrier.n_waiting(), 0, "Barrier: someone still waits");
}

/// The queues: FIFO, LIFO, priority; bounded or not; producers and
/// consumers cancelled at random, consumers panicking or cancelled while
/// they hold an item (its `QueueItem` guard marks it done); `task_done`
/// (after `into_inner`) / `join` / `close`, or, in the producer/consumer
/// form, the queue closed by its last producer's drop. Items in == items
/// out + items drained, and every item is dropped in the end.
async fn queue(cx: &Shared, mut rng: Rng) {
    let cap = if rng.chance(50) {
        Some(rng.range(1, 4) as usize)
    } else {
        None
    };
    match rng.below(3) {
        0 => queue_with::<magpie::sync::Fifo<Item>>(cx, rng, make_queue(cap)).await,
        1 => queue_with::<magpie::sync::Lifo<Item>>(cx, rng, make_queue(cap)).await,
        _ => queue_with::<magpie::sync::Priority<Item>>(cx, rng, make_queue(cap)).await,
    }
}

fn make_queue<S: Storage<Item>>(cap: Option<usize>) -> GenericQueue<Item, S> {
    match cap {
        Some(c) => GenericQueue::bounded(c).expect("capacity > 0"),
        None => GenericQueue::unbounded(),
    }
}

// The aliases are the public names; make sure they are the types used.
const _: fn() = || {
    let _: Option<Queue<Item>> = None::<GenericQueue<Item, magpie::sync::Fifo<Item>>>;
    let _: Option<LifoQueue<Item>> = None::<GenericQueue<Item, magpie::sync::Lifo<Item>>>;
    let _: Option<PriorityQueue<Item>> = None::<GenericQueue<Item, magpie::sync::Priority<Item>>>;
};

async fn queue_with<S>(cx: &Shared, mut rng: Rng, q: GenericQueue<Item, S>)
where
    S: Storage<Item> + Send + 'static,
    GenericQueue<Item, S>: Send + Sync,
{
    let got = Arc::new(AtomicU64::new(0));
    let put = Arc::new(AtomicU64::new(0));
    let _probe = {
        let q = q.clone();
        Probes::watch(&cx.stats, "queue", move || format!("{q:?}"))
    };
    // The producer/consumer form: every producer task holds a `Producer`
    // and the queue closes when the last one is gone (nobody calls
    // `close`); every consumer task holds a `Consumer`, and so does this
    // scenario until it has drained the queue (so the last consumer's drop
    // never discards items).
    let (tx, rx) = if rng.chance(30) {
        let (tx, rx) = q.clone().split();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let mut consumers = Crew::new("queue consumer");
    for i in 0..rng.range(1, 4) {
        // Consumers may be cancelled while waiting in `get` or while
        // holding an item, or panic while holding one: its guard marks it
        // done, so `join` stays balanced. Consumer 0 is never cancelled
        // and never panics, so a bounded queue never fills up for good.
        let plan = if i == 0 {
            Plan::CLEAN
        } else {
            Plan::random(&mut rng, 10, 20)
        };
        let (q, got, stats) = (q.clone(), got.clone(), cx.stats.clone());
        let rx = rx.clone();
        let mut r = rng.fork();
        let h = spawn_p(cx, "queue consumer", i, plan, async move {
            let _rx = rx;
            let mut mine = 0u64;
            if r.chance(25) {
                let mut items = q.stream();
                while let Some(item) = items.next().await {
                    got.fetch_add(1, SeqCst);
                    stats.items_got.fetch_add(1, SeqCst);
                    // A cancel here drops `item`, which marks it done.
                    jitter(&mut r, 1).await;
                    drop(item);
                }
            } else {
                while let Ok(item) = q.get().await {
                    got.fetch_add(1, SeqCst);
                    stats.items_got.fetch_add(1, SeqCst);
                    mine += 1;
                    if plan.panics && mine >= 2 {
                        // Unwinding drops `item`, which marks it done.
                        boom(&stats);
                    }
                    if r.chance(50) {
                        // A cancel here drops `item`, which marks it done.
                        jitter(&mut r, 1).await;
                        drop(item);
                    } else {
                        // asyncio's protocol: the bare item, then
                        // `task_done` (no await in between to cancel).
                        drop(item.into_inner());
                        q.task_done();
                        jitter(&mut r, 1).await;
                    }
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        consumers.add(h, plan, i);
    }
    let mut producers = Crew::new("queue producer");
    let mut seq = 0u64;
    for i in 0..rng.range(1, 4) {
        // Producers may be cancelled mid-`put` (the item is dropped with
        // the future); they do not panic.
        let plan = Plan {
            panics: false,
            cancel: rng.chance(15),
        };
        let count = rng.range(1, 8);
        let first = seq;
        seq += count;
        let (q, put, stats) = (q.clone(), put.clone(), cx.stats.clone());
        let tx = tx.clone();
        let mut r = rng.fork();
        let h = spawn_p(cx, "queue producer", i, plan, async move {
            let _tx = tx;
            for s in first..first + count {
                let item = Item::new(&stats, r.below(1000) * 1000 + s);
                if r.chance(20) {
                    match q.try_put(item) {
                        Ok(()) => {
                            put.fetch_add(1, SeqCst);
                            stats.items_put.fetch_add(1, SeqCst);
                        }
                        Err(e) => {
                            // Full: wait for room with the item it gave back.
                            let item = match e {
                                magpie::sync::TryPutError::Full(item) => item,
                                magpie::sync::TryPutError::Closed(_) => {
                                    panic!("queue: closed while producers ran")
                                }
                            };
                            q.put(item)
                                .await
                                .expect("queue: closed while producers ran");
                            put.fetch_add(1, SeqCst);
                            stats.items_put.fetch_add(1, SeqCst);
                        }
                    }
                } else {
                    q.put(item)
                        .await
                        .expect("queue: closed while producers ran");
                    put.fetch_add(1, SeqCst);
                    stats.items_put.fetch_add(1, SeqCst);
                }
                jitter(&mut r, 1).await;
            }
            Out::new(&stats, i)
        });
        producers.add(h, plan, i);
    }
    // From here only the producer tasks hold producers.
    let split = tx.is_some();
    drop(tx);
    producers.settle(cx, &mut rng).await;
    // A joiner waits for every item put to be marked done.
    let joiner = {
        let (q, stats) = (q.clone(), cx.stats.clone());
        spawn_t(cx, async move {
            q.join().await;
            Out::new(&stats, 0)
        })
    };
    jitter(&mut rng, 2).await;
    if !split {
        q.close();
    }
    // In the producer/consumer form the consumers end only if the last
    // producer's drop closed the queue (a hang here is that bug).
    let ends = consumers.settle(cx, &mut rng).await;
    let _ = ends;
    // Whatever the (possibly cancelled) consumers left.
    let mut drained = 0u64;
    while let Ok(item) = q.try_get() {
        drop(item); // done
        drained += 1;
    }
    drop(rx);
    cx.stats.items_drained.fetch_add(drained, SeqCst);
    assert!(
        q.is_empty(),
        "queue: items left after draining a closed queue"
    );
    q.join().await;
    check(&cx.stats, "queue joiner", joiner.await, Plan::CLEAN);
    assert_eq!(q.unfinished_tasks(), 0, "queue: unfinished after join");
    assert_eq!(
        put.load(SeqCst),
        got.load(SeqCst) + drained,
        "queue: items put != items got + drained"
    );
    // A closed queue refuses, and gives the item back.
    match q.try_put(Item::new(&cx.stats, u64::MAX)) {
        Err(magpie::sync::TryPutError::Closed(item)) => {
            cx.stats.items_refused.fetch_add(1, SeqCst);
            drop(item);
        }
        _ => panic!("queue: a closed queue took an item"),
    }
    assert!(
        q.get().await.is_err(),
        "queue: get succeeded on a closed, empty queue"
    );
}

/// Timers: sleeps, timeouts that must elapse and timeouts that must not,
/// intervals, and long sleeps that only a cancel ends.
/// `magpie::net` on the runtime's reactor, over loopback. Mostly UDP:
/// receivers share one socket (each waits in its own slot), some
/// cancelled or panicking, and a sender (this task, a task, or a datagram
/// sent from a blocking thread through std) sends one datagram per
/// receiver; every receiver not cancelled gets one. Sometimes TCP: an echo
/// task and a client exchange a few messages, either cancelled or
/// panicking; the other ends (end of stream or an error), never hangs.
async fn net(cx: &Shared, mut rng: Rng) {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use magpie::net::{TcpListener, TcpStream, UdpSocket};
    if rng.chance(25) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("net: bind a TCP listener");
        let addr = listener.local_addr().expect("net: listener address");
        let messages = rng.range(1, 5);
        let mut crew = Crew::new("net");
        let plan = Plan::random(&mut rng, 8, 25);
        let (stats, mut r) = (cx.stats.clone(), rng.fork());
        let server = spawn_p(cx, "net", 0, plan, async move {
            let (mut stream, _) = listener.accept().await.expect("net: accept");
            let mut buf = [0u8; 64];
            loop {
                jitter(&mut r, 1).await;
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, 0)
        });
        crew.add(server, plan, 0);
        // Connected here, not in the client task: a client cancelled
        // before it connected would leave the echo task in `accept` for
        // ever, by design. The connection waits in the listener's backlog
        // (or is refused if the echo task already ended with its listener).
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            crew.settle(cx, &mut rng).await;
            return;
        };
        let plan = Plan::random(&mut rng, 8, 25);
        let (stats, mut r) = (cx.stats.clone(), rng.fork());
        let client = spawn_p(cx, "net", 1, plan, async move {
            for m in 0..messages {
                let msg = [m as u8; 16];
                if stream.write_all(&msg).await.is_err() {
                    break;
                }
                jitter(&mut r, 1).await;
                let mut back = [0u8; 16];
                match stream.read_exact(&mut back).await {
                    Ok(()) => assert_eq!(back, msg, "net: the echo differs"),
                    // The echo task was cancelled or panicked.
                    Err(_) => break,
                }
            }
            drop(stream);
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, 1)
        });
        crew.add(client, plan, 1);
        crew.settle(cx, &mut rng).await;
        return;
    }
    let socket = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("net: bind a UDP socket"),
    );
    let to = socket.local_addr().expect("net: socket address");
    let received = Arc::new(AtomicU64::new(0));
    let _probe = {
        let received = received.clone();
        Probes::watch(&cx.stats, "net", move || {
            format!("udp datagrams received {}", received.load(SeqCst))
        })
    };
    let receivers = rng.range(1, 10);
    let mut crew = Crew::new("net");
    for i in 0..receivers {
        let plan = Plan::random(&mut rng, 8, 25);
        let (socket, received, stats) = (socket.clone(), received.clone(), cx.stats.clone());
        let mut r = rng.fork();
        let h = spawn_p(cx, "net", i, plan, async move {
            jitter(&mut r, 1).await;
            let mut buf = [0u8; 8];
            let (n, _) = socket.recv_from(&mut buf).await.expect("net: recv_from");
            assert_eq!(n, 8, "net: a datagram was cut");
            // No await from here to the end (see `notify`).
            received.fetch_add(1, SeqCst);
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    let sender = match rng.below(3) {
        0 => {
            let from = UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("net: bind a UDP socket");
            for i in 0..receivers {
                jitter(&mut rng, 2).await;
                from.send_to(&i.to_le_bytes(), to)
                    .await
                    .expect("net: send_to");
            }
            None
        }
        1 => {
            let stats = cx.stats.clone();
            let mut r = rng.fork();
            Some(spawn_t(cx, async move {
                let from = UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("net: bind a UDP socket");
                for i in 0..receivers {
                    jitter(&mut r, 2).await;
                    from.send_to(&i.to_le_bytes(), to)
                        .await
                        .expect("net: send_to");
                }
                Out::new(&stats, 0)
            }))
        }
        _ => {
            let stats = cx.stats.clone();
            Some(spawn_blocking_t(cx, move || {
                let from = std::net::UdpSocket::bind("127.0.0.1:0").expect("net: bind");
                for i in 0..receivers {
                    from.send_to(&i.to_le_bytes(), to).expect("net: send_to");
                }
                Out::new(&stats, 0)
            }))
        }
    };
    let ends = crew.settle(cx, &mut rng).await;
    if let Some(h) = sender {
        check(&cx.stats, "net sender", h.await, Plan::CLEAN);
    }
    assert_eq!(
        received.load(SeqCst),
        ends.ok + ends.panicked,
        "net: datagrams received by receivers that did not finish"
    );
}

async fn timers(cx: &Shared, mut rng: Rng) {
    let mut crew = Crew::new("timers");
    for i in 0..rng.range(2, 10) {
        let mut plan = Plan::random(&mut rng, 5, 15);
        let kind = rng.below(6);
        if kind == 5 {
            // Sleeps for an hour: only the cancel ends it.
            plan = Plan {
                panics: false,
                cancel: true,
            };
        }
        let stats = cx.stats.clone();
        let mut r = rng.fork();
        let h = spawn_p(cx, "timers", i, plan, async move {
            match kind {
                0 => time::sleep(Duration::from_micros(r.range(0, 300))).await,
                1 => {
                    let d = Duration::from_micros(r.range(0, 300));
                    let result = time::timeout(d, std::future::pending::<()>()).await;
                    assert!(result.is_err(), "timeout: a pending future completed");
                }
                2 => {
                    let result = time::timeout(Duration::from_secs(3600), async {
                        jitter(&mut r, 2).await;
                        7
                    })
                    .await;
                    assert_eq!(result.ok(), Some(7), "timeout: a quick future timed out");
                }
                3 => {
                    let mut iv = time::interval(Duration::from_micros(r.range(50, 200)));
                    let mut last = iv.tick().await;
                    for _ in 0..r.range(1, 3) {
                        let t = iv.tick().await;
                        assert!(t >= last, "interval: ticks went back in time");
                        last = t;
                    }
                }
                4 => {
                    let past = Instant::now();
                    time::sleep_until(past).await;
                    assert!(Instant::now() >= past);
                }
                _ => {
                    time::sleep(Duration::from_secs(3600)).await;
                    panic!("timers: an hour-long sleep returned");
                }
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    crew.settle(cx, &mut rng).await;
}

/// `spawn_blocking`: closures that panic, are cancelled before they
/// start, wake tasks from outside the workers (an event, permits) and
/// spawn tasks through a `Handle` from a foreign thread.
async fn blocking(cx: &Shared, mut rng: Rng) {
    let ev = Arc::new(Event::new());
    let sem = Arc::new(Semaphore::new(0));
    let n = rng.range(1, 4);
    let mut waiters = Crew::new("blocking waiter");
    for i in 0..n {
        let (ev, sem, stats) = (ev.clone(), sem.clone(), cx.stats.clone());
        let h = spawn_t(cx, async move {
            ev.wait().await;
            let _p = sem.acquire().await.expect("semaphore closed");
            Out::new(&stats, i)
        });
        waiters.add(h, Plan::CLEAN, i);
    }
    let mut crew = Crew::new("blocking");
    for i in 0..rng.range(1, 6) {
        let plan = Plan::random(&mut rng, 10, 20);
        let (stats, handle) = (cx.stats.clone(), cx.handle.clone());
        let spawn_inner = rng.chance(30);
        let spin = rng.below(200);
        let h = spawn_blocking_t(cx, move || {
            let mut x = 0u64;
            for k in 0..spin {
                x = x.wrapping_add(k * k);
            }
            std::hint::black_box(x);
            if spawn_inner {
                // A spawn from a thread outside the workers.
                let s = stats.clone();
                let inner = handle.spawn(tracked(&stats, async move { Out::new(&s, i) }));
                let out = futures::executor::block_on(inner);
                let out = check(
                    &stats,
                    "task spawned from a blocking thread",
                    out,
                    Plan::CLEAN,
                )
                .expect("checked");
                assert_eq!(out.v, i);
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        crew.add(h, plan, i);
    }
    // The wakes come from a blocking thread.
    let waker = {
        let (ev, sem, stats) = (ev.clone(), sem.clone(), cx.stats.clone());
        spawn_blocking_t(cx, move || {
            ev.set();
            sem.add_permits(n as usize);
            Out::new(&stats, 0)
        })
    };
    crew.settle(cx, &mut rng).await;
    check(&cx.stats, "blocking waker", waker.await, Plan::CLEAN);
    waiters.settle(cx, &mut rng).await;
    assert_eq!(
        sem.available_permits(),
        n as usize,
        "blocking: permits lost"
    );
}

#[derive(Debug)]
struct SoakErr(u64);

impl std::fmt::Display for SoakErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "soak error {}", self.0)
    }
}

/// `TaskGroup`: plain and fallible groups, failing children cancelling
/// their siblings, `cancel`, and dropped groups.
async fn task_group(cx: &Shared, mut rng: Rng) {
    let n = rng.range(1, 8);
    let gate = Arc::new(Event::new()); // never set: children that wait on it end by cancel
    match rng.below(4) {
        0 => {
            // Plain group: children fail only by panicking.
            let group = TaskGroup::<Out>::new();
            let mut planned_panic = false;
            for i in 0..n {
                let panics = rng.chance(10);
                planned_panic |= panics;
                let stats = cx.stats.clone();
                let mut r = rng.fork();
                group.spawn(tracked(&cx.stats, async move {
                    jitter(&mut r, 3).await;
                    if panics {
                        boom(&stats);
                    }
                    Out::new(&stats, i)
                }));
            }
            let result = group.join().await;
            cx.stats.resolved.fetch_add(n, SeqCst);
            match result {
                Ok(outs) => {
                    assert!(
                        !planned_panic,
                        "TaskGroup: a panicking child went unnoticed"
                    );
                    for (i, out) in outs.iter().enumerate() {
                        assert_eq!(out.v, i as u64, "TaskGroup: outputs out of order");
                    }
                }
                Err(e) => {
                    assert!(
                        planned_panic,
                        "TaskGroup: failed with no failing child: {e}"
                    );
                    assert!(!e.errors().is_empty(), "TaskGroup: failed without errors");
                    for err in e.errors() {
                        assert!(err.is_panic(), "TaskGroup: an error that is no panic");
                        let msg = err.join_error().and_then(|j| j.panic_message());
                        assert!(msg.is_none(), "TaskGroup: a child failed: {msg:?}");
                    }
                }
            }
        }
        1 => {
            // Fallible group: one child may return Err; the rest wait on
            // the gate and must be cancelled by the failure.
            let group = TaskGroup::<Out, SoakErr>::fallible();
            let fail_at = if rng.chance(60) {
                Some(rng.below(n))
            } else {
                None
            };
            for i in 0..n {
                let (stats, gate) = (cx.stats.clone(), gate.clone());
                let mut r = rng.fork();
                let fail = fail_at == Some(i);
                let waits = fail_at.is_some() && !fail && r.chance(50);
                group.spawn_fallible(tracked(&cx.stats, async move {
                    jitter(&mut r, 3).await;
                    if fail {
                        return Err(SoakErr(i));
                    }
                    if waits {
                        gate.wait().await;
                        unreachable!("the gate is never set");
                    }
                    Ok(Out::new(&stats, i))
                }));
            }
            let result = group.join().await;
            cx.stats.resolved.fetch_add(n, SeqCst);
            match (result, fail_at) {
                (Ok(outs), None) => assert_eq!(outs.len() as u64, n),
                (Err(e), Some(at)) => {
                    assert_eq!(e.errors().len(), 1, "TaskGroup: {e}");
                    assert_eq!(e.errors()[0].error().map(|s| s.0), Some(at));
                }
                (Ok(_), Some(_)) => panic!("TaskGroup: a failing child went unnoticed"),
                (Err(e), None) => panic!("TaskGroup: failed with no failing child: {e}"),
            }
        }
        2 => {
            // Cancelled from outside: every child ends, cancelled or done.
            let group = TaskGroup::<Out>::new();
            for i in 0..n {
                let (stats, gate) = (cx.stats.clone(), gate.clone());
                let mut r = rng.fork();
                let waits = r.chance(50);
                group.spawn(tracked(&cx.stats, async move {
                    jitter(&mut r, 3).await;
                    if waits {
                        gate.wait().await;
                    }
                    Out::new(&stats, i)
                }));
            }
            jitter(&mut rng, 3).await;
            group.cancel();
            assert!(group.has_failed());
            let result = group.join().await;
            cx.stats.resolved.fetch_add(n, SeqCst);
            match result {
                Ok(outs) => assert_eq!(outs.len() as u64, n),
                Err(e) => {
                    assert!(
                        e.errors().is_empty(),
                        "TaskGroup: cancelled children failed: {e}"
                    );
                    assert!(e.cancelled() as u64 <= n);
                }
            }
        }
        _ => {
            // Dropped: the children still running are cancelled; their
            // futures must be dropped (the ledger checks it at the end).
            let group = TaskGroup::<Out>::new();
            for i in 0..n {
                let (stats, gate) = (cx.stats.clone(), gate.clone());
                let mut r = rng.fork();
                group.spawn(tracked(&cx.stats, async move {
                    jitter(&mut r, 3).await;
                    gate.wait().await;
                    Out::new(&stats, i)
                }));
            }
            assert_eq!(group.len() as u64, n);
            jitter(&mut rng, 3).await;
            drop(group);
            cx.stats.resolved.fetch_add(n, SeqCst);
        }
    }
}

/// `gather`, `try_gather` and `on_done`.
async fn gather(cx: &Shared, mut rng: Rng) {
    let n = rng.range(1, 8);
    if rng.chance(50) {
        let mut plans = Vec::new();
        let mut handles = Vec::new();
        let mut cancels = Vec::new();
        for i in 0..n {
            let plan = Plan::random(&mut rng, 10, 20);
            let stats = cx.stats.clone();
            let mut r = rng.fork();
            let h = spawn_t(cx, async move {
                jitter(&mut r, 3).await;
                if plan.panics {
                    boom(&stats);
                }
                Out::new(&stats, i)
            });
            if rng.chance(20) {
                let stats = cx.stats.clone();
                stats.callbacks.created.fetch_add(1, SeqCst);
                h.on_done(move |_| {
                    stats.callbacks.dropped.fetch_add(1, SeqCst);
                });
            }
            if plan.cancel {
                cancels.push(h.cancel_handle());
            }
            plans.push(plan);
            handles.push(h);
        }
        let all = magpie::gather(handles);
        cancel_randomly(cx, &mut rng, cancels).await;
        let results = all.await;
        assert_eq!(results.len() as u64, n, "gather: lost results");
        for (i, (result, plan)) in results.into_iter().zip(plans).enumerate() {
            if let Some(out) = check(&cx.stats, "gather", result, plan) {
                assert_eq!(out.v, i as u64, "gather: results out of order");
            }
        }
    } else {
        // try_gather: at most one child fails (Err or panic); the others
        // may wait on a gate that is never set, so only the fail-fast
        // cancellation ends them.
        let gate = Arc::new(Event::new());
        let fail_at = if rng.chance(60) {
            Some(rng.below(n))
        } else {
            None
        };
        let fail_by_panic = rng.chance(30);
        let mut handles = Vec::new();
        for i in 0..n {
            let (stats, gate) = (cx.stats.clone(), gate.clone());
            let mut r = rng.fork();
            let fail = fail_at == Some(i);
            let waits = fail_at.is_some() && !fail && r.chance(50);
            handles.push(spawn_t(cx, async move {
                jitter(&mut r, 3).await;
                if fail {
                    if fail_by_panic {
                        boom(&stats);
                    }
                    return Err(SoakErr(i));
                }
                if waits {
                    gate.wait().await;
                    unreachable!("the gate is never set");
                }
                Ok(Out::new(&stats, i))
            }));
        }
        let result = magpie::try_gather(handles).await;
        cx.stats.resolved.fetch_add(n, SeqCst);
        match (result, fail_at) {
            (Ok(outs), None) => {
                for (i, out) in outs.iter().enumerate() {
                    assert_eq!(out.v, i as u64, "try_gather: results out of order");
                }
            }
            (Err(e), Some(_)) => {
                if fail_by_panic {
                    assert!(e.is_panic(), "try_gather: {e}");
                    let msg = e.join_error().and_then(|j| j.panic_message());
                    assert!(msg.is_none(), "try_gather: a child failed: {msg:?}");
                } else {
                    assert!(e.error().is_some(), "try_gather: {e}");
                }
            }
            (Ok(_), Some(_)) => panic!("try_gather: a failing child went unnoticed"),
            (Err(e), None) => panic!("try_gather: failed with no failing child: {e}"),
        }
    }
}

/// `wait` in each mode (with and without a timeout) and `as_completed`.
async fn wait_as_completed(cx: &Shared, mut rng: Rng) {
    let n = rng.range(1, 8);
    let gate = Arc::new(Event::new());
    let mut plans: HashMap<Id, Plan> = HashMap::new();
    let mut by_value: Vec<Plan> = Vec::new();
    let mut handles = Vec::new();
    let mut cancels = Vec::new();
    let mut quick = 0;
    for i in 0..n {
        let plan = Plan::random(&mut rng, 10, 20);
        let (stats, gate) = (cx.stats.clone(), gate.clone());
        let mut r = rng.fork();
        let gated = rng.chance(40);
        quick += u64::from(!gated);
        let h = spawn_p(cx, "wait", i, plan, async move {
            jitter(&mut r, 3).await;
            if gated {
                gate.wait().await;
            }
            if plan.panics {
                boom(&stats);
            }
            Out::new(&stats, i)
        });
        if plan.cancel {
            cancels.push(h.cancel_handle());
        }
        plans.insert(h.id(), plan);
        by_value.push(plan);
        handles.push(h);
    }
    let finish = |cx: &Shared, h_result: Result<Out, magpie::task::JoinError>, id: Id| {
        let plan = plans[&id];
        check(&cx.stats, "wait/as_completed", h_result, plan);
    };
    if rng.chance(40) {
        gate.set();
        cancel_randomly(cx, &mut rng, cancels).await;
        let mut stream = magpie::as_completed(handles);
        let mut seen = 0;
        let mut outputs_seen = vec![false; n as usize];
        while let Some(result) = stream.next().await {
            match &result {
                Ok(out) => {
                    // An output carries no id: the value is the index.
                    let v = out.v as usize;
                    assert!(!outputs_seen[v], "as_completed: output {v} twice");
                    outputs_seen[v] = true;
                    check(&cx.stats, "as_completed", result, by_value[v]);
                }
                Err(e) => {
                    let id = e.id();
                    finish(cx, result, id);
                }
            }
            seen += 1;
        }
        assert_eq!(seen, n, "as_completed: lost results");
        assert_eq!(stream.remaining(), 0);
        return;
    }
    let mode = match rng.below(3) {
        0 => WaitFor::FirstCompleted,
        1 => WaitFor::FirstError,
        _ => WaitFor::AllCompleted,
    };
    let timed = rng.chance(30);
    let cancel_first = rng.chance(50);
    if cancel_first {
        cancel_randomly(cx, &mut rng, std::mem::take(&mut cancels)).await;
    }
    // Without a timeout, `wait` must be able to return: open the gate
    // unless quick tasks exist and one finishing is enough.
    let open_before = !timed && (quick == 0 || mode != WaitFor::FirstCompleted);
    if open_before {
        gate.set();
    }
    let mut w = magpie::wait(handles, mode);
    if timed {
        w = w.timeout(Duration::from_micros(rng.range(0, 300)));
    }
    let (done, pending) = w.await;
    assert_eq!((done.len() + pending.len()) as u64, n, "wait: lost handles");
    for h in &done {
        assert!(h.is_finished(), "wait: a handle in `done` has not finished");
    }
    if !timed {
        match mode {
            WaitFor::FirstCompleted => {
                assert!(!done.is_empty(), "wait: returned with nothing done")
            }
            WaitFor::AllCompleted => {
                assert!(pending.is_empty(), "wait: AllCompleted left some pending")
            }
            WaitFor::FirstError => {
                let panicked = done
                    .iter()
                    .any(|h| h.is_finished() && plans[&h.id()].panics);
                assert!(
                    panicked || pending.is_empty(),
                    "wait: FirstError returned with no error and tasks pending"
                );
            }
        }
    }
    gate.set();
    cancel_randomly(cx, &mut rng, cancels).await;
    for h in done.into_iter().chain(pending) {
        let id = h.id();
        finish(cx, h.await, id);
    }
}
