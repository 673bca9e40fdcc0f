//! The HTTP/1.1 keep-alive server and load generator shared by this
//! example and `benches/benches/server.rs` (which includes this file by
//! path, so that the bench measures exactly the server the example runs).

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The CPU work a request costs.
pub(crate) const HANDLER_WORK: Duration = Duration::from_micros(50);

/// The handler's CPU work: hashes a 256-byte buffer `rounds` times.
pub(crate) fn work(rounds: u64) -> u64 {
    let buf = [0x5au8; 256];
    let mut h = DefaultHasher::new();
    for i in 0..rounds {
        h.write(&buf);
        h.write_u64(i);
    }
    h.finish()
}

/// How many hashing rounds make [`HANDLER_WORK`] on this machine.
pub(crate) fn calibrate() -> u64 {
    // The fastest of 20 batches: the machine's speed when this thread is not
    // preempted.
    let per_round_ns = (0..20)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(work(std::hint::black_box(2_000)));
            t.elapsed().as_nanos() as u64 / 2_000
        })
        .min()
        .unwrap();
    (HANDLER_WORK.as_nanos() as u64 / per_round_ns.max(1)).max(1)
}

/// Answers every complete request at the front of `input` (an HTTP/1.1 GET
/// without a body) into `out`, and removes it from `input`.
pub(crate) fn answer_requests(input: &mut Vec<u8>, out: &mut Vec<u8>, rounds: u64) {
    while let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
        input.drain(..end + 4);
        let body = format!("{:016x}\n", work(rounds));
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    }
}

/// One keep-alive connection (a `magpie::net::TcpStream` or async-io's
/// `Async<TcpStream>`, with `TCP_NODELAY` set by the caller): reads
/// requests, answers them, until the client closes.
pub(crate) async fn serve_connection<S>(mut stream: S, rounds: u64) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut input, mut out) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
        answer_requests(&mut input, &mut out, rounds);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

/// One load generator connection: sends `count` requests one after the
/// other on `stream` (or until `deadline`), returns their latencies, write
/// to last byte read.
pub(crate) fn client(stream: &mut TcpStream, count: usize, deadline: Instant) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(count);
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    for _ in 0..count {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        // Reads one response: the head, then Content-Length bytes of body.
        let total = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .expect("a Content-Length header")
                    .parse()
                    .unwrap();
                if buf.len() >= end + 4 + len {
                    break end + 4 + len;
                }
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection mid-response");
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..total);
        lat.push(t0.elapsed());
    }
    lat
}

/// The `q` quantile of sorted latencies.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}
