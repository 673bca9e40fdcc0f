//! `Notify`: permits, edge-triggered broadcasts, `enable`, cancellation,
//! on every executor.

mod support;

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use magpie_sync::Notify;
use support::{
    CountingWaker, Rng, poll_noop, poll_once, run_on_each_executor, scaled, stress, yield_now,
};

#[test]
fn notify_one_stores_one_permit() {
    let notify = Notify::default();
    notify.notify_one();
    notify.notify_one();
    assert_eq!(
        format!("{notify:?}"),
        "Notify { permit: true, has_waiters: false }"
    );
    let mut a = Box::pin(notify.notified());
    let mut b = Box::pin(notify.notified());
    assert!(poll_noop(&mut a).is_ready());
    assert!(
        poll_noop(&mut b).is_pending(),
        "two calls stored two permits"
    );
    assert!(
        poll_noop(&mut a).is_ready(),
        "a finished future stays ready"
    );
}

#[test]
fn notify_one_wakes_waiters_in_order() {
    let notify = Notify::new();
    let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..3).map(|_| Box::pin(notify.notified())).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&wakers) {
        assert!(poll_once(f.as_mut(), w).is_pending());
    }
    for i in 0..3 {
        notify.notify_one();
        let woken: Vec<_> = wakers.iter().map(|(c, _)| c.count()).collect();
        let expected: Vec<_> = (0..3).map(|j| usize::from(j <= i)).collect();
        assert_eq!(woken, expected);
        assert!(poll_once(futs[i].as_mut(), &wakers[i].1).is_ready());
    }
    // Nobody waits now: the next one is stored.
    notify.notify_one();
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_ready());
}

#[test]
fn notify_waiters_wakes_futures_created_before_it_polled_or_not() {
    let notify = Notify::new();
    let (counter, waker) = CountingWaker::new();
    let mut polled = Box::pin(notify.notified());
    assert!(poll_once(polled.as_mut(), &waker).is_pending());
    let mut unpolled = Box::pin(notify.notified());
    notify.notify_waiters();
    assert_eq!(counter.count(), 1);
    let mut after = Box::pin(notify.notified());
    assert!(poll_once(polled.as_mut(), &waker).is_ready());
    assert!(poll_noop(&mut unpolled).is_ready());
    assert!(poll_noop(&mut after).is_pending(), "created after the call");
    // No permit was stored either.
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_pending());
}

#[test]
fn enable_registers_for_notify_one_before_the_first_poll() {
    let notify = Notify::new();
    let mut n = pin!(notify.notified());
    assert!(!n.as_mut().enable());
    assert!(!n.as_mut().enable(), "a second enable changes nothing");
    notify.notify_one();
    // The enabled waiter took it; no permit was stored.
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_pending());
    assert!(n.as_mut().enable(), "notified already");
    assert!(poll_once(n.as_mut(), Waker::noop()).is_ready());
}

#[test]
fn enable_takes_a_stored_permit() {
    let notify = Notify::new();
    notify.notify_one();
    let mut n = pin!(notify.notified());
    assert!(n.as_mut().enable());
    assert!(poll_once(n.as_mut(), Waker::noop()).is_ready());
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_pending());
}

#[test]
fn an_enabled_waiter_is_woken_by_its_next_poll_waker() {
    let notify = Notify::new();
    let (counter, waker) = CountingWaker::new();
    let mut n = pin!(notify.notified());
    n.as_mut().enable();
    assert!(poll_once(n.as_mut(), &waker).is_pending());
    notify.notify_waiters();
    assert_eq!(counter.count(), 1);
    assert!(poll_once(n.as_mut(), &waker).is_ready());
}

#[test]
fn an_enabled_waiter_polled_with_two_wakers_has_the_second_woken_by_notify_one() {
    // The first poll hands its waker to the node without the lock; the
    // second takes the lock, moves that waker back into the node, and
    // replaces it as any re-poll does.
    let notify = Notify::new();
    let (c1, w1) = CountingWaker::new();
    let (c2, w2) = CountingWaker::new();
    let mut n = pin!(notify.notified());
    assert!(!n.as_mut().enable());
    assert!(poll_once(n.as_mut(), &w1).is_pending());
    assert!(poll_once(n.as_mut(), &w2).is_pending());
    notify.notify_one();
    assert_eq!((c1.count(), c2.count()), (0, 1));
    assert!(poll_once(n.as_mut(), &w2).is_ready());
    assert!(
        poll_noop(&mut Box::pin(notify.notified())).is_pending(),
        "the notification was used twice"
    );
}

#[test]
fn a_dropped_granted_waiter_passes_the_notification_on() {
    let notify = Notify::new();
    let (c2, w2) = CountingWaker::new();
    let mut first = Box::pin(notify.notified());
    let mut second = Box::pin(notify.notified());
    assert!(poll_noop(&mut first).is_pending());
    assert!(poll_once(second.as_mut(), &w2).is_pending());
    notify.notify_one(); // picks `first`
    assert_eq!(c2.count(), 0);
    drop(first); // never saw it
    assert_eq!(c2.count(), 1, "passed to the next waiter");
    assert!(poll_once(second.as_mut(), &w2).is_ready());

    // With nobody else waiting, it goes back to the permit.
    let mut only = Box::pin(notify.notified());
    assert!(poll_noop(&mut only).is_pending());
    notify.notify_one();
    drop(only);
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_ready());
}

#[test]
fn a_dropped_enabled_waiter_passes_the_notification_on() {
    let notify = Notify::new();
    {
        let mut n = pin!(notify.notified());
        n.as_mut().enable();
        notify.notify_one();
    }
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_ready());
}

#[test]
fn a_dropped_waiter_woken_by_notify_waiters_passes_nothing_on() {
    let notify = Notify::new();
    let mut n = Box::pin(notify.notified());
    assert!(poll_noop(&mut n).is_pending());
    notify.notify_waiters();
    drop(n);
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_pending());
}

/// A waker that, the first time it is called (in the first batch of a
/// `notify_waiters`), registers a new waiter and calls `notify_one`.
struct NotifyOneMidBroadcast {
    notify: Arc<Notify>,
    late: Mutex<Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>>,
    late_waker: Waker,
    fired: AtomicBool,
}

impl Wake for NotifyOneMidBroadcast {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.fired.swap(true, SeqCst) {
            // Created (on its first poll) inside the broadcast, after the
            // generation moved: not a waiter this broadcast wakes.
            let notify = self.notify.clone();
            let mut late: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(async move { notify.notified().await });
            assert!(poll_once(late.as_mut(), &self.late_waker).is_pending());
            self.notify.notify_one();
            *self.late.lock().unwrap() = Some(late);
        }
    }
}

#[test]
fn notify_one_during_a_broadcast_goes_to_a_waiter_it_did_not_wake() {
    // More waiters than one batch of wakes, so `notify_waiters` releases
    // the lock with old waiters still linked; a `notify_one` then must
    // skip them and reach the waiter that registered after the broadcast.
    let notify = Arc::new(Notify::new());
    let (late_count, late_waker) = CountingWaker::new();
    let owned = notify.clone();
    let hook = Arc::new(NotifyOneMidBroadcast {
        notify: notify.clone(),
        late: Mutex::new(None),
        late_waker,
        fired: AtomicBool::new(false),
    });
    let fire = Waker::from(hook.clone());
    let n = 100;
    let mut futs: Vec<_> = (0..n).map(|_| Box::pin(notify.notified())).collect();
    for f in &mut futs {
        assert!(poll_once(f.as_mut(), &fire).is_pending());
    }
    notify.notify_waiters();
    assert!(hook.fired.load(SeqCst));
    assert_eq!(late_count.count(), 1, "the notify_one was absorbed");
    let mut late = hook.late.lock().unwrap().take().unwrap();
    assert!(poll_once(late.as_mut(), Waker::noop()).is_ready());
    // And no permit was stored besides.
    assert!(poll_noop(&mut Box::pin(notify.notified())).is_pending());
    for f in &mut futs {
        assert!(poll_noop(f).is_ready());
    }
    drop(owned);
}

#[test]
fn a_waiter_created_after_a_broadcast_waits_for_the_next() {
    let notify = Notify::new();
    let mut a = Box::pin(notify.notified());
    assert!(poll_noop(&mut a).is_pending());
    notify.notify_waiters();
    let mut b = Box::pin(notify.notified());
    assert!(poll_noop(&mut b).is_pending());
    notify.notify_waiters();
    assert!(poll_noop(&mut b).is_ready());
}

/// Waits once: `enable`d before the first poll (which then hands the node
/// its waker without the lock), or plainly.
async fn wait(notify: &Notify, enabled: bool) {
    let mut notified = pin!(notify.notified());
    if enabled {
        notified.as_mut().enable();
    }
    notified.await;
}

/// Two tasks wake each other with `notify_one`, on every executor.
fn ping_pong(enabled: bool) {
    run_on_each_executor(move |exec| async move {
        let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let rounds = scaled(1000);
        let player = {
            let (ping, pong) = (ping.clone(), pong.clone());
            exec.spawn(async move {
                for _ in 0..rounds {
                    wait(&ping, enabled).await;
                    pong.notify_one();
                }
            })
        };
        for _ in 0..rounds {
            ping.notify_one();
            wait(&pong, enabled).await;
        }
        player.await;
    });
}

#[test]
fn ping_pong_on_every_executor() {
    ping_pong(false);
}

#[test]
fn enabled_ping_pong_on_every_executor() {
    // Every wait registers before its first poll, so every notification
    // races the first poll's hand-over of the waker (on the threaded
    // executors, from another thread).
    ping_pong(true);
}

#[test]
fn repeated_broadcasts_reach_every_registered_waiter() {
    // The pattern `Event::set(); clear()` cannot do: each round, every
    // waiter registers (creates its `Notified`) and reports; the notifier
    // waits for all reports, then broadcasts once.
    run_on_each_executor(|exec| async move {
        let (tasks, rounds) = (scaled(20), scaled(50));
        let round = Arc::new(Notify::new());
        let reported = Arc::new(Notify::new());
        let registered = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (round, reported) = (round.clone(), reported.clone());
                let (registered, woken) = (registered.clone(), woken.clone());
                exec.spawn(async move {
                    for r in 0..rounds {
                        let mut notified = pin!(round.notified());
                        // Half the rounds enabled: the broadcast then races
                        // the first poll's hand-over of the waker.
                        if r % 2 == 1 {
                            notified.as_mut().enable();
                        }
                        if registered.fetch_add(1, SeqCst) + 1 == tasks * (r + 1) {
                            reported.notify_one();
                        }
                        notified.await;
                        woken.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for r in 0..rounds {
            while registered.load(SeqCst) < tasks * (r + 1) {
                reported.notified().await;
            }
            round.notify_waiters();
        }
        futures::future::join_all(handles).await;
        assert_eq!(woken.load(SeqCst), tasks * rounds);
    });
}

/// Waits until `count` reaches `target`, woken by `notify`.
async fn wait_for_count(count: &AtomicUsize, notify: &Notify, target: usize) {
    loop {
        let notified = notify.notified();
        if count.load(SeqCst) >= target {
            return;
        }
        notified.await;
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a timed stress run on thread pools: the same interleavings are explored by the loom models"
)]
fn cancelled_waiters_never_lose_a_notification() {
    // Each round: two decoys register (`enable`) in the line, then one
    // consumer behind them; one token is handed out with `notify_one`,
    // which picks a decoy first. Each decoy is dropped a random number
    // of yields later (before or after it was picked) without looking.
    // A picked decoy that did not pass its notification on would leave
    // the consumer asleep beside its token: a hang, and the test fails.
    stress(|exec, until| async move {
        let notify = Arc::new(Notify::new());
        let (decoy_round, consumer_round) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (ready, ready_count) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
        let (took, taken) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
        let tokens = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..2 {
            let (notify, decoy_round, ready, ready_count, finished) = (
                notify.clone(),
                decoy_round.clone(),
                ready.clone(),
                ready_count.clone(),
                finished.clone(),
            );
            tasks.push(exec.spawn(async move {
                let mut rng = Rng::new(i + 1);
                loop {
                    // Created before the check: the final broadcast after
                    // `finished` is set cannot be missed.
                    let next = decoy_round.notified();
                    if finished.load(SeqCst) {
                        return;
                    }
                    let mut decoy = Box::pin(notify.notified());
                    decoy.as_mut().enable();
                    ready_count.fetch_add(1, SeqCst);
                    ready.notify_one();
                    for _ in 0..rng.below(4) {
                        yield_now().await;
                    }
                    drop(decoy);
                    next.await;
                }
            }));
        }
        {
            let (notify, consumer_round, ready, ready_count) = (
                notify.clone(),
                consumer_round.clone(),
                ready.clone(),
                ready_count.clone(),
            );
            let (took, taken, tokens, finished) = (
                took.clone(),
                taken.clone(),
                tokens.clone(),
                finished.clone(),
            );
            tasks.push(exec.spawn(async move {
                let mut go = consumer_round.notified();
                loop {
                    ready_count.fetch_add(1, SeqCst);
                    ready.notify_one();
                    go.await;
                    if finished.load(SeqCst) {
                        return;
                    }
                    loop {
                        let notified = notify.notified();
                        if tokens
                            .fetch_update(SeqCst, SeqCst, |t| t.checked_sub(1))
                            .is_ok()
                        {
                            go = consumer_round.notified();
                            taken.fetch_add(1, SeqCst);
                            took.notify_one();
                            break;
                        }
                        notified.await;
                    }
                }
            }));
        }
        let mut rounds = 0;
        while std::time::Instant::now() < until {
            wait_for_count(&ready_count, &ready, 3 * (rounds + 1)).await;
            consumer_round.notify_waiters();
            tokens.fetch_add(1, SeqCst);
            notify.notify_one();
            wait_for_count(&taken, &took, rounds + 1).await;
            rounds += 1;
            decoy_round.notify_waiters();
        }
        finished.store(true, SeqCst);
        decoy_round.notify_waiters();
        consumer_round.notify_waiters();
        futures::future::join_all(tasks).await;
        assert_eq!(taken.load(SeqCst), rounds);
        assert!(rounds > 0);
    });
}

#[test]
fn the_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Notify>();
    send_sync::<magpie_sync::Notified<'static>>();
    send_sync::<magpie_sync::oneshot::Sender<u8>>();
    send_sync::<magpie_sync::oneshot::Receiver<u8>>();
    send_sync::<magpie_sync::oneshot::Closed<'static, u8>>();
    send_sync::<magpie_sync::watch::Sender<u8>>();
    send_sync::<magpie_sync::watch::Receiver<u8>>();
    send_sync::<magpie_sync::watch::Changed<'static, u8>>();
    send_sync::<magpie_sync::watch::Closed<'static, u8>>();
}
