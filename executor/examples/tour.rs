//! A tour of magpie, following the scenarios of the asyncio articles in
//! `shared/asyncio-articles/`: each section is the Rust counterpart of one
//! asyncio idiom, and prints what happens.
//!
//! Run it with `cargo run --release --example tour`.

use magpie::sync::{Event, Lock, Queue, Semaphore};
use magpie::task::{self, JoinError};
use magpie::time::{self, Duration, Instant};
use magpie::{TaskGroup, WaitFor};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// The articles sleep for seconds; the tour scales them down.
fn ticks(n: u64) -> Duration {
    Duration::from_millis(40 * n)
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// A duration as a person writes it: `40.4 ms`, `1.63 s`.
fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1e3)
    }
}

/// Set while the simulation section explores: its failing runs panic on
/// purpose, dozens of times, and the section reports them in its own words.
static QUIET_PANICS: AtomicBool = AtomicBool::new(false);

/// Two sections panic in a task on purpose, to show that the panic is
/// caught and handed to whoever awaits the task. Rust's default hook would
/// print each with a backtrace, as if the tour had crashed; this one says
/// in one line what happened and where.
fn one_line_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if QUIET_PANICS.load(Ordering::SeqCst) {
            return;
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("<not a string>");
        let thread = std::thread::current();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        println!(
            "  [panic hook] {} panicked{place}: {message}",
            thread.name().unwrap_or("a thread")
        );
    }));
}

fn main() {
    let start = Instant::now();
    one_line_panic_hook();
    // asyncio.run(main())
    magpie::run(async {
        spawning_and_joining().await;
        a_panic_is_caught().await;
        gather_two_coroutines().await;
        an_exception_in_a_gathered_task().await;
        cancelling_a_long_running_task().await;
        graceful_shutdown_of_a_set_of_tasks().await;
        a_task_group().await;
        to_thread_for_cpu_bound_work().await;
        wait_first_completed_then_cancel_the_rest().await;
        a_timeout().await;
        a_queue_pipeline().await;
        taking_turns_on_a_lock().await;
        waiting_for_an_event().await;
        a_semaphore_limits_concurrency().await;
        a_done_callback().await;
        monitoring_a_task().await;
        tasks_that_are_not_send().await;
        an_echo_server().await;
    });
    runtime_shutdown_with_a_report();
    finding_a_race_by_seed();
    debug_mode_and_the_task_dump();
    println!("\ntour finished in {}", human(start.elapsed()));
}

async fn spawning_and_joining() {
    section("create_task and await: spawning and joining");
    let task = task::Builder::new().name("greeter").spawn(async {
        println!("  Coroutine started");
        time::sleep(ticks(1)).await;
        println!("  Coroutine finished");
        "greeting done"
    });
    println!(
        "  spawned task {} named {}",
        task.id(),
        task.name().unwrap_or("(unnamed)")
    );
    println!("  joined: {}", task.await.unwrap());
}

async fn a_panic_is_caught() {
    section("a task that raises: the panic is caught and handed to the joiner");
    println!("  (this task panics on purpose: expect one line from the panic hook)");
    let task = magpie::spawn(async {
        time::sleep(ticks(1)).await;
        panic!("An error occurred!");
    });
    match task.await {
        Ok(()) => unreachable!(),
        Err(err) => println!("  Caught an exception: {err}"),
    }
}

async fn fetch_data() -> &'static str {
    time::sleep(ticks(1)).await;
    "Data fetched"
}

async fn process_data() -> &'static str {
    time::sleep(ticks(1)).await;
    "Data processed"
}

async fn gather_two_coroutines() {
    section("asyncio.gather(fetch_data(), process_data())");
    let started = Instant::now();
    let results =
        magpie::gather([magpie::spawn(fetch_data()), magpie::spawn(process_data())]).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    println!(
        "  {} after {} (concurrently, not one after the other: each took {})",
        results.join(", "),
        human(started.elapsed()),
        human(ticks(1))
    );
}

async fn an_exception_in_a_gathered_task() {
    section("an exception in a gathered task");
    async fn task_that_fails() -> Result<&'static str, String> {
        time::sleep(ticks(1)).await;
        Err("Task error".to_string())
    }
    let fetch = magpie::spawn(async { Ok(fetch_data().await) });
    let failing = magpie::spawn(task_that_fails());
    match magpie::try_gather([fetch, failing]).await {
        Ok(values) => println!("  all succeeded: {}", values.join(", ")),
        Err(e) => println!("  Caught an exception: {e}"),
    }
}

/// Runs its cleanup when dropped: Rust's counterpart of `except CancelledError`.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  {}: cleaned up", self.0);
    }
}

async fn cancelling_a_long_running_task() {
    section("task.cancel() and the task's cleanup");
    let task = magpie::spawn(async {
        let _cleanup = Cleanup("long_running_task");
        loop {
            println!("  Working...");
            time::sleep(ticks(1)).await;
        }
    });
    time::sleep(ticks(2) + ticks(1) / 2).await;
    task.cancel();
    match task.await {
        Err(err) if err.is_cancelled() => println!("  Main: task was cancelled ({err})"),
        other => unreachable!("{other:?}"),
    }
}

async fn graceful_shutdown_of_a_set_of_tasks() {
    section("graceful shutdown: cancel a set of tasks and gather them");
    let tasks: Vec<_> = (1..=3)
        .map(|n| {
            magpie::spawn(async move {
                let _cleanup = Cleanup(["worker 1", "worker 2", "worker 3"][n - 1]);
                time::sleep(Duration::from_secs(3600)).await;
            })
        })
        .collect();
    time::sleep(ticks(1)).await;
    for t in &tasks {
        t.cancel();
    }
    let outcomes = magpie::gather(tasks).await;
    let cancelled = outcomes
        .iter()
        .filter(|o| o.as_ref().is_err_and(JoinError::is_cancelled))
        .count();
    println!("  Cleaned up: {cancelled} tasks cancelled");
}

async fn process_item(item: &'static str) -> String {
    time::sleep(ticks(1)).await;
    format!("Processed {item}")
}

async fn a_task_group() {
    section("async with TaskGroup() as tg");
    let group = TaskGroup::new();
    for item in ["A", "B", "C"] {
        group.spawn(process_item(item));
    }
    for result in group.join().await.unwrap() {
        println!("  {result}");
    }

    let group = TaskGroup::fallible();
    group.spawn_fallible(async {
        let _cleanup = Cleanup("sibling of a failing child");
        time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    group.spawn_fallible(async {
        time::sleep(ticks(1)).await;
        Err("child failed")
    });
    let err = group.join().await.unwrap_err();
    println!(
        "  the group failed: {} error(s) ({}), {} sibling cancelled",
        err.errors().len(),
        err.errors()[0],
        err.cancelled()
    );
}

async fn to_thread_for_cpu_bound_work() {
    section("asyncio.to_thread(cpu_bound_task)");
    let heartbeat = magpie::spawn(async {
        for _ in 0..3 {
            time::sleep(ticks(1)).await;
            println!("  (the workers stay responsive)");
        }
    });
    let result = task::spawn_blocking(|| {
        let started = Instant::now();
        let mut x: u64 = 1;
        while started.elapsed() < ticks(4) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        format!("Task completed (crunched to {:x})", x & 0xffff)
    })
    .await
    .unwrap();
    println!("  {result}");
    heartbeat.await.unwrap();
}

async fn wait_first_completed_then_cancel_the_rest() {
    section("asyncio.wait(tasks, return_when=FIRST_COMPLETED)");
    let tasks: Vec<_> = (1..=5u64)
        .map(|n| {
            magpie::spawn(async move {
                time::sleep(ticks(n)).await;
                n
            })
        })
        .collect();
    let (done, pending) = magpie::wait(tasks, WaitFor::FirstCompleted).await;
    for t in done {
        println!("  Task completed with result: {}", t.await.unwrap());
    }
    for t in &pending {
        t.cancel();
    }
    println!("  cancelled the {} pending tasks", pending.len());
}

async fn a_timeout() {
    section("asyncio.wait_for(slow(), timeout)");
    let slow = async {
        time::sleep(ticks(10)).await;
        "too late"
    };
    match time::timeout(ticks(2), slow).await {
        Ok(value) => println!("  finished: {value}"),
        Err(elapsed) => println!("  gave up: {elapsed}"),
    }
}

async fn a_queue_pipeline() {
    section("producer -> processor -> consumer on two queues, with a sentinel");
    let q1: Queue<Option<u32>> = Queue::unbounded();
    let q2: Queue<Option<u32>> = Queue::unbounded();
    let producer = {
        let q1 = q1.clone();
        magpie::spawn(async move {
            for item in 0..5 {
                q1.put(Some(item)).await.unwrap();
                time::sleep(ticks(1) / 4).await;
            }
            q1.put(None).await.unwrap(); // signal the end of data
        })
    };
    let processor = {
        let (q1, q2) = (q1.clone(), q2.clone());
        magpie::spawn(async move {
            while let Some(item) = *q1.get().await.unwrap() {
                q2.put(Some(item * 2)).await.unwrap();
            }
            q2.put(None).await.unwrap();
        })
    };
    let consumer = magpie::spawn(async move {
        while let Some(item) = *q2.get().await.unwrap() {
            println!("  Consumed: {item}");
        }
    });
    for outcome in magpie::gather([producer, processor, consumer]).await {
        outcome.unwrap();
    }
}

async fn taking_turns_on_a_lock() {
    section("three tasks taking turns on an asyncio.Lock");
    let lock = Arc::new(Lock::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|id| {
            let lock = lock.clone();
            magpie::spawn(async move {
                let mut log = lock.lock().await;
                println!("  Task {id} is entering the critical section");
                time::sleep(ticks(1)).await;
                log.push(id);
                println!("  Task {id} is leaving the critical section");
            })
        })
        .collect();
    for outcome in magpie::gather(tasks).await {
        outcome.unwrap();
    }
    let order: Vec<String> = lock.lock().await.iter().map(u32::to_string).collect();
    println!("  order of entry: {}", order.join(", "));
}

async fn waiting_for_an_event() {
    section("a waiter on an asyncio.Event");
    let event = Arc::new(Event::new());
    let waiter = {
        let event = event.clone();
        magpie::spawn(async move {
            println!("  Waiting for the event to be set...");
            event.wait().await;
            println!("  Event has been set, resuming execution.");
        })
    };
    time::sleep(ticks(2)).await;
    println!("  Setting the event.");
    event.set();
    waiter.await.unwrap();
}

async fn a_semaphore_limits_concurrency() {
    section("asyncio.Semaphore(3) limiting 10 tasks");
    let semaphore = Arc::new(Semaphore::new(3));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10)
        .map(|id| {
            let (semaphore, running, peak) = (semaphore.clone(), running.clone(), peak.clone());
            magpie::spawn(async move {
                let _permit = semaphore.acquire().await.unwrap();
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                println!("  Task {id} is running ({now} at once)");
                time::sleep(ticks(1)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for outcome in magpie::gather(tasks).await {
        outcome.unwrap();
    }
    println!("  at most {} ran at once", peak.load(Ordering::SeqCst));
}

/// asyncio.start_server / asyncio.open_connection, on the runtime's own
/// reactor (`magpie::net`, loopback only).
#[cfg(all(feature = "net", unix))]
async fn an_echo_server() {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use magpie::net::{TcpListener, TcpStream};
    section("asyncio.start_server and open_connection: a server on magpie::net");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The server: one task per connection, as `start_server` calls its
    // handler; each reads the request to its end and answers in capitals.
    let server = magpie::spawn(async move {
        let mut handlers = Vec::new();
        for _ in 0..3 {
            let (mut stream, _) = listener.accept().await.unwrap();
            handlers.push(magpie::spawn(async move {
                let mut request = String::new();
                stream.read_to_string(&mut request).await.unwrap();
                stream
                    .write_all(request.to_uppercase().as_bytes())
                    .await
                    .unwrap();
            }));
        }
        for handler in handlers {
            handler.await.unwrap();
        }
    });
    let clients: Vec<_> = ["hello", "bonjour", "hallo"]
        .into_iter()
        .map(|word| {
            magpie::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(word.as_bytes()).await.unwrap();
                // Half-close: the end of the request.
                stream.close().await.unwrap();
                let mut reply = String::new();
                stream.read_to_string(&mut reply).await.unwrap();
                (word, reply)
            })
        })
        .collect();
    for client in clients {
        let (word, reply) = client.await.unwrap();
        println!("  sent {word:?}, the server answered {reply:?}");
    }
    server.await.unwrap();
}

#[cfg(not(all(feature = "net", unix)))]
async fn an_echo_server() {
    section("asyncio.start_server and open_connection: a server on magpie::net");
    println!("  (magpie::net needs the `net` feature on a Unix target)");
}

async fn a_done_callback() {
    section("task.add_done_callback(task_callback)");
    println!("  (the second task panics on purpose: expect one line from the panic hook)");
    let ok = magpie::spawn(async {
        time::sleep(ticks(1)).await;
    });
    ok.on_done(|outcome| match outcome {
        Ok(()) => println!("  Task completed successfully."),
        Err(err) => println!("  Task raised an exception: {err}"),
    });
    let failing = magpie::spawn(async {
        time::sleep(ticks(1)).await;
        panic!("ValueError");
    });
    failing.on_done(|outcome: Result<&(), _>| match outcome {
        Ok(()) => println!("  Task completed successfully."),
        Err(err) => println!("  Task raised an exception: {err}"),
    });
    ok.await.unwrap();
    let _ = failing.await;
}

async fn monitoring_a_task() {
    section("monitoring a task with done()");
    let task = magpie::spawn(async {
        time::sleep(ticks(3)).await;
    });
    while !task.is_finished() {
        println!("  Task is still running...");
        time::sleep(ticks(1)).await;
    }
    println!("  Task has completed.");
    task.await.unwrap();
}

async fn tasks_that_are_not_send() {
    section("tasks holding an Rc (not Send): a LocalSet runs them on this thread");
    let local = task::LocalSet::new();
    local
        .run_until(async {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = ["alpha", "beta", "gamma"]
                .into_iter()
                .map(|name| {
                    let seen = seen.clone();
                    task::spawn_local(async move {
                        time::sleep(ticks(1)).await;
                        let here = std::thread::current();
                        seen.borrow_mut()
                            .push(format!("{name} on {}", here.name().unwrap_or("?")));
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            println!("  {}", seen.borrow().join(", "));
        })
        .await;
}

fn runtime_shutdown_with_a_report() {
    section("Runtime::shutdown_timeout: what did not finish is reported");
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.spawn(async {
        let _cleanup = Cleanup("a sleeping task");
        time::sleep(Duration::from_secs(3600)).await;
    });
    task::Builder::new()
        .name("stuck-io")
        .spawn_blocking_on(rt.handle(), || {
            std::thread::sleep(Duration::from_millis(400))
        });
    std::thread::sleep(ticks(1));
    let report = rt.shutdown_timeout(ticks(1));
    println!("  {report}");
}

/// Two tasks add one to a counter, reading it before an await and writing
/// after: a lost update, in the schedules that interleave them.
async fn racy_increments(fixed: bool) {
    let counter = Arc::new(AtomicU32::new(0));
    let lock = Arc::new(Lock::new(()));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (counter, lock) = (counter.clone(), lock.clone());
            magpie::spawn(async move {
                let _held = if fixed { Some(lock.lock().await) } else { None };
                let seen = counter.load(Ordering::SeqCst);
                task::yield_now().await;
                counter.store(seen + 1, Ordering::SeqCst);
            })
        })
        .collect();
    magpie::gather(tasks).await;
    let total = counter.load(Ordering::SeqCst);
    assert!(total == 2, "two increments made {total}");
}

fn finding_a_race_by_seed() {
    section("magpie::sim: a race found by seed, shrunk, replayed (no asyncio counterpart)");
    QUIET_PANICS.store(true, Ordering::SeqCst);
    let explore = magpie::sim::Explore::new().seeds(1_000);
    let failure = explore.check(|| racy_increments(false)).unwrap_err();
    let schedule = failure.schedule().clone();
    let replayed = std::panic::catch_unwind(|| {
        magpie::sim::Builder::new()
            .replay(schedule)
            .build()
            .block_on(racy_increments(false))
    });
    let fixed = explore.check(|| racy_increments(true));
    QUIET_PANICS.store(false, Ordering::SeqCst);
    println!(
        "  seed {:#x}, the {} seed tried, loses an update: \"{}\"",
        failure.seed(),
        ordinal(failure.runs()),
        failure.message()
    );
    println!(
        "  shrunk from {} preemptions to {}; the shrunk schedule replays it: {}",
        failure.original_preemptions(),
        failure.preemptions(),
        if replayed.is_err() {
            "it fails again"
        } else {
            "it passed?!"
        }
    );
    println!(
        "  replay it with MAGPIE_SEED={:#x}, or MAGPIE_SCHEDULE={}",
        failure.seed(),
        failure.schedule()
    );
    match fixed {
        Ok(seeds) => println!("  holding a Lock across the await: all {seeds} seeds pass"),
        Err(failure) => println!("  the fixed program failed too: {failure}"),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, ... as a person writes it.
fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn debug_mode_and_the_task_dump() {
    section("asyncio.run(main(), debug=True): slow polls, a blocked worker, all_tasks()");
    // Reports are `tracing` events: print them with tracing-subscriber.
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::WARN)
        .init();
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .slow_poll_threshold(ticks(1))
        .build()
        .unwrap();
    let released = Arc::new(Event::new());
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let released = released.clone();
            task::Builder::new()
                .name(format!("waiter-{i}"))
                .spawn_on(rt.handle(), async move { released.wait().await })
        })
        .collect();
    // A poll that blocks its worker: the watchdog reports it while it is
    // stuck, and the slow-poll report follows when it returns.
    let blocker = task::Builder::new()
        .name("blocking-call")
        .spawn_on(rt.handle(), async {
            std::thread::sleep(ticks(3));
        });
    std::thread::sleep(ticks(2));
    for info in rt.handle().tasks() {
        println!("  {info}");
    }
    rt.block_on(blocker).unwrap();
    released.set();
    rt.block_on(async {
        for w in waiters {
            w.await.unwrap();
        }
    });
    let m = rt.handle().metrics();
    println!(
        "  metrics: {} tasks spawned, {} polls, {} steals, {} parks",
        m.spawned_tasks,
        m.total_polls(),
        m.total_steals(),
        m.workers.iter().map(|w| w.parks).sum::<u64>(),
    );
}
