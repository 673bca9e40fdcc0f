//! A hand-written HTTP/1.1 keep-alive server on magpie, whose handler does
//! ~50 µs of CPU work per request (see `docs/io.md`). Its sockets are
//! `magpie::net`'s (the runtime's own reactor, driven by its workers) by
//! default, or async-io's (`Async<TcpListener>`, whose reactor is a thread
//! of its own) with `--net async-io`.
//!
//! By default it drives itself: a load generator of plain threads with
//! blocking sockets opens 32 keep-alive connections to it on 127.0.0.1,
//! sends 20,000 requests in all (or stops after 10 s), then prints the
//! throughput and the p50 / p99 latency and exits:
//!
//! ```text
//! cargo run --release --example http_server
//! cargo run --release --example http_server -- --workers 4 --connections 64 --requests 50000
//! cargo run --release --example http_server -- --net async-io
//! ```
//!
//! With `--serve SECS` it serves on 127.0.0.1:8080 for that many seconds for
//! an outside load generator instead (`wrk -c 64 -d 10s http://127.0.0.1:8080/`),
//! then exits.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use async_io::Async;

mod http;
use http::{HANDLER_WORK, calibrate, percentile, serve_connection};

/// Options from the command line.
struct Options {
    workers: usize,
    connections: usize,
    requests: usize,
    time_cap: Duration,
    serve: Option<Duration>,
    /// async-io's sockets instead of `magpie::net`'s.
    async_io: bool,
}

fn options() -> Options {
    let mut o = Options {
        workers: 2,
        connections: 32,
        requests: 20_000,
        time_cap: Duration::from_secs(10),
        serve: None,
        async_io: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number ({what})"))
        };
        match flag.as_str() {
            "--workers" => o.workers = value("worker threads") as usize,
            "--connections" => o.connections = value("connections") as usize,
            "--requests" => o.requests = value("requests in all") as usize,
            "--time-cap" => o.time_cap = Duration::from_secs(value("seconds")),
            "--serve" => o.serve = Some(Duration::from_secs(value("seconds"))),
            "--self-test" => {}
            "--net" => match args.next().as_deref() {
                Some("magpie") => o.async_io = false,
                Some("async-io") => o.async_io = true,
                other => panic!("--net takes magpie or async-io, not {other:?}"),
            },
            other => panic!(
                "unknown argument {other:?}: use --workers N, --connections N, \
                 --requests N, --time-cap SECS, --net magpie|async-io, --self-test \
                 or --serve SECS"
            ),
        }
    }
    assert!(
        o.workers > 0 && o.connections > 0,
        "need a worker and a connection"
    );
    o
}

/// Accepts connections forever on async-io's sockets, one task each.
async fn accept_loop_async_io(listener: Async<TcpListener>, rounds: u64) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                drop(magpie::spawn(async move {
                    stream.get_ref().set_nodelay(true)?;
                    serve_connection(stream, rounds).await
                }));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Accepts connections forever on `magpie::net`, one task each.
async fn accept_loop(listener: magpie::net::TcpListener, rounds: u64) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                drop(magpie::spawn(async move {
                    stream.set_nodelay(true)?;
                    serve_connection(stream, rounds).await
                }));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// One client connection of the load generator: connects, then sends
/// `count` requests one after the other (or until `deadline`).
fn client(addr: SocketAddr, count: usize, deadline: Instant) -> Vec<Duration> {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_nodelay(true).unwrap();
    http::client(&mut stream, count, deadline)
}

fn main() {
    let o = options();
    let rounds = calibrate();
    let rt = magpie::Runtime::builder()
        .worker_threads(o.workers)
        .build()
        .expect("build the runtime");
    let port = if o.serve.is_some() { 8080 } else { 0 };
    let std_listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
    let addr = std_listener.local_addr().unwrap();
    let server = if o.async_io {
        let listener = Async::new(std_listener).expect("register with async-io");
        rt.spawn(accept_loop_async_io(listener, rounds))
    } else {
        // `from_std` registers with the runtime entered on this thread:
        // build the listener inside the runtime.
        let listener = rt
            .block_on(async { magpie::net::TcpListener::from_std(std_listener) })
            .expect("register with magpie's reactor");
        rt.spawn(accept_loop(listener, rounds))
    };
    let route = if o.async_io {
        "async-io"
    } else {
        "magpie::net"
    };

    if let Some(secs) = o.serve {
        println!(
            "serving on http://{addr}/ for {secs:?} ({} workers, {route})",
            o.workers
        );
        std::thread::sleep(secs);
        server.cancel();
        return;
    }

    println!(
        "self-test ({route}): {} workers, {} connections, {} requests, ~{HANDLER_WORK:?} of CPU each",
        o.workers, o.connections, o.requests
    );
    let start = Instant::now();
    let deadline = start + o.time_cap;
    let clients: Vec<_> = (0..o.connections)
        .map(|i| {
            // Spreads the requests over the connections, the rest on the first.
            let count = o.requests / o.connections + usize::from(i < o.requests % o.connections);
            std::thread::spawn(move || client(addr, count, deadline))
        })
        .collect();
    let mut lat: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("a client thread failed"))
        .collect();
    let elapsed = start.elapsed();
    server.cancel();
    drop(rt);

    lat.sort();
    assert!(!lat.is_empty(), "no request was answered");
    let capped = if lat.len() < o.requests {
        " (stopped by the time cap)"
    } else {
        ""
    };
    println!(
        "{} requests in {:.2} s{capped}: {:.0} requests/s, p50 {:.0} µs, p99 {:.0} µs",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
    );
}
