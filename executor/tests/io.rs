//! I/O on magpie (docs/io.md): async-io's sockets from tasks on several
//! workers, and the recipe that lets tokio-only crates run inside magpie
//! tasks (a tokio runtime's handle entered on every worker).

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use async_io::Async;
use futures::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 8;
const MESSAGES: usize = 50;

/// A TCP echo server and its clients, all magpie tasks on a 2-worker
/// runtime, over async-io on 127.0.0.1: every byte comes back, in order, on
/// its own connection, and the server's tasks all end when their clients
/// close.
#[test]
fn tcp_echo_over_async_io_on_two_workers() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let served = rt.block_on(magpie::time::timeout(Duration::from_secs(60), async move {
        let server = magpie::spawn(async move {
            let mut connections = Vec::new();
            for _ in 0..CLIENTS {
                let (mut stream, _) = listener.accept().await.unwrap();
                connections.push(magpie::spawn(async move {
                    let mut echoed = 0;
                    let mut buf = [0u8; 256];
                    loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return echoed;
                        }
                        stream.write_all(&buf[..n]).await.unwrap();
                        echoed += n;
                    }
                }));
            }
            let mut total = 0;
            for c in connections {
                total += c.await.unwrap();
            }
            total
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                magpie::spawn(async move {
                    let mut stream = Async::<TcpStream>::connect(addr).await.unwrap();
                    for i in 0..MESSAGES {
                        let msg = format!("client {client} message {i:03}\n");
                        stream.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0u8; msg.len()];
                        stream.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    // Closing ends the server's task for this connection.
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap()
    }));
    let expected: usize = (0..CLIENTS)
        .map(|c| format!("client {c} message 000\n").len() * MESSAGES)
        .sum();
    assert_eq!(
        served.expect("the echo did not finish within 60 s"),
        expected
    );
}

/// Without a tokio runtime entered, a tokio-only future inside a magpie task
/// panics with tokio's "no reactor running" message (the task fails, the
/// runtime goes on).
#[test]
fn tokio_future_without_a_tokio_handle_panics() {
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let err = rt
        .block_on(rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }))
        .unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap();
    assert!(msg.contains("no reactor running"), "{msg}");
}

/// The recipe: a tokio runtime beside magpie, its handle entered on every
/// magpie worker (`Builder::on_thread_start`) and on the thread that calls
/// `block_on`; tokio's timers and `tokio::spawn` then work from magpie tasks
/// on any worker.
#[test]
fn tokio_handle_on_every_worker() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = tokio_rt.handle().clone();
    let rt = magpie::Runtime::builder()
        .worker_threads(2)
        .on_thread_start(move || {
            // The guard would leave the context on drop; forgotten, the
            // worker stays inside it until the thread ends.
            std::mem::forget(handle.enter());
        })
        .build()
        .unwrap();
    let _in_tokio = tokio_rt.enter();
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|i| {
                magpie::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    // A task on tokio's own workers, awaited from magpie.
                    tokio::spawn(async move { i * 2 }).await.unwrap()
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..16u64).map(|i| i * 2).sum::<u64>());
    drop(rt);
}
