//! A keep-alive HTTP/1.1 server with a ~50 µs CPU handler (issue 16), the
//! same code on magpie with async-io's sockets (`magpie_async_io`), on
//! magpie with its own reactor (`magpie_net`: `magpie::net`) and on tokio
//! with `tokio::net`, 2 workers each, driven on 127.0.0.1 by a load generator of
//! our own: 64 plain threads, each with one blocking keep-alive connection,
//! sending requests one after the other. It is the server of
//! `executor/examples/http_server/` (this file includes its `http.rs`);
//! `docs/io.md` reads the numbers.
//!
//! One criterion *iteration* is one request; a sample sends
//! `iters.clamp(2_000, 40_000)` requests (and stops after 5 s), and the
//! *time* each group reports per iteration is a measure of that run, not
//! its duration:
//!
//! * `server_cpu_per_request`: the server's CPU time per request (the
//!   inverse of requests per server-CPU-second): the on-CPU time of every
//!   thread of the process (workers, async-io's reactor thread, tokio's
//!   idle workers) over the run, from `/proc/self/task/*/schedstat`, except
//!   the load generator's threads (they start after the first reading and
//!   end before the last) and the bench's own thread;
//! * `server_latency_{p50,p99}`: the requests' latency, write to last byte
//!   read, as the load generator saw it.
//!
//! Linux only (`/proc`). Run with `cargo bench -p magpie-benches --bench server`.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_io::Async;
use criterion::{Criterion, criterion_group, criterion_main};

/// The example's server and load generator, word for word.
#[path = "../../executor/examples/http_server/http.rs"]
#[allow(dead_code)]
mod http;
use http::{answer_requests, calibrate, client, percentile, serve_connection};

const WORKERS: usize = 2;
const CONNECTIONS: usize = 64;
const MIN_REQUESTS: u64 = 2_000;
const MAX_REQUESTS: u64 = 40_000;
const RUN_TIME_CAP: Duration = Duration::from_secs(5);

/// tokio: the same connection on `tokio::net` (readiness, then a
/// non-blocking read or write, as tokio's own `AsyncRead` does).
async fn serve_tokio(stream: tokio::net::TcpStream, rounds: u64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut input, mut out) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    loop {
        stream.readable().await?;
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        input.extend_from_slice(&buf[..n]);
        answer_requests(&mut input, &mut out, rounds);
        let mut written = 0;
        while written < out.len() {
            stream.writable().await?;
            match stream.try_write(&out[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        out.clear();
    }
}

/// A runtime serving on 127.0.0.1, with the load generator's connections to
/// it (opened once, kept alive across runs).
struct Server {
    name: &'static str,
    connections: Mutex<Vec<TcpStream>>,
}

fn connect(addr: SocketAddr) -> Mutex<Vec<TcpStream>> {
    let conns = (0..CONNECTIONS)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect to the server");
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    Mutex::new(conns)
}

fn magpie_server(rounds: u64) -> Server {
    let rt: &'static magpie::Runtime = Box::leak(Box::new(
        magpie::Runtime::builder()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
    ));
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    drop(rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            drop(magpie::spawn(async move {
                stream.get_ref().set_nodelay(true)?;
                serve_connection(stream, rounds).await
            }));
        }
    }));
    Server {
        name: "magpie_async_io",
        connections: connect(addr),
    }
}

/// magpie with its own reactor (`magpie::net`): the worker about to park
/// waits in the poller, and a readiness event's task runs on that worker.
fn magpie_net_server(rounds: u64) -> Server {
    let rt: &'static magpie::Runtime = Box::leak(Box::new(
        magpie::Runtime::builder()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
    ));
    let listener = rt
        .block_on(magpie::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            drop(magpie::spawn(async move {
                stream.set_nodelay(true)?;
                serve_connection(stream, rounds).await
            }));
        }
    }));
    Server {
        name: "magpie_net",
        connections: connect(addr),
    }
}

fn tokio_server(rounds: u64) -> Server {
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_io()
            .build()
            .unwrap(),
    ));
    let std_listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = {
        let _enter = rt.enter();
        tokio::net::TcpListener::from_std(std_listener).unwrap()
    };
    drop(rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            drop(tokio::spawn(async move {
                let _ = serve_tokio(stream, rounds).await;
            }));
        }
    }));
    Server {
        name: "tokio",
        connections: connect(addr),
    }
}

/// The on-CPU nanoseconds of every thread of the process but the calling
/// one, by thread id.
fn threads_cpu() -> HashMap<u64, u64> {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse::<u64>().ok());
    let mut cpu = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux only)") {
        let entry = entry.unwrap();
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if Some(tid) == me {
            continue;
        }
        // A thread may end between the listing and the read.
        if let Ok(s) = std::fs::read_to_string(entry.path().join("schedstat")) {
            let ns = s.split_whitespace().next().and_then(|v| v.parse().ok());
            cpu.insert(tid, ns.expect("schedstat's first field, on-CPU ns"));
        }
    }
    cpu
}

/// What one run measured.
struct Run {
    cpu_per_request: Duration,
    p50: Duration,
    p99: Duration,
}

/// Sends `requests` requests over the kept-alive connections.
fn run(server: &Server, requests: u64) -> Run {
    let mut conns = server.connections.lock().unwrap();
    let requests = requests as usize;
    let before = threads_cpu();
    let deadline = Instant::now() + RUN_TIME_CAP;
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let clients: Vec<_> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, stream)| {
                let count = requests / CONNECTIONS + usize::from(i < requests % CONNECTIONS);
                s.spawn(move || client(stream, count, deadline))
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let after = threads_cpu();
    // Threads present at both readings: the servers' (the load generator's
    // started after the first and were joined before the last).
    let server_ns: u64 = after
        .iter()
        .filter_map(|(tid, ns)| ns.checked_sub(*before.get(tid)?))
        .sum();
    assert!(!lat.is_empty(), "no request was answered");
    lat.sort();
    Run {
        cpu_per_request: Duration::from_nanos(server_ns / lat.len() as u64),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    }
}

/// Which measure of a run a group reports.
type Metric = fn(&Run) -> Duration;

fn server(c: &mut Criterion) {
    let rounds = calibrate();
    let servers = [
        magpie_server(rounds),
        magpie_net_server(rounds),
        tokio_server(rounds),
    ];
    let metrics: [(&str, Metric); 3] = [
        ("server_cpu_per_request", |r| r.cpu_per_request),
        ("server_latency_p50", |r| r.p50),
        ("server_latency_p99", |r| r.p99),
    ];
    for (group, metric) in metrics {
        let mut g = c.benchmark_group(group);
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for server in &servers {
            g.bench_function(server.name, |b| {
                b.iter_custom(|iters| {
                    let r = run(server, iters.clamp(MIN_REQUESTS, MAX_REQUESTS));
                    metric(&r).mul_f64(iters as f64)
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, server);
criterion_main!(benches);
