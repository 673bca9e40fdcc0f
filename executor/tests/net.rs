//! `magpie::net` on the runtime's own reactor (feature `net`): loopback
//! only, bounded in size, no timing assertions (a watchdog turns a lost
//! wakeup into a failure instead of a hang).
#![cfg(all(feature = "net", unix))]

mod support;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use magpie::net::{TcpListener, TcpStream, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Wake, Waker};
use std::time::Duration;
use support::{DropCounter, rt, with_timeout};

const WATCHDOG: Duration = Duration::from_secs(60);

/// Echoes every byte back until the client closes.
async fn echo(mut stream: TcpStream) -> std::io::Result<u64> {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// One client: sends `messages` messages of growing size, reads each back.
async fn client(addr: std::net::SocketAddr, id: usize, messages: usize) -> std::io::Result<u64> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut sent = 0;
    for m in 0..messages {
        let msg: Vec<u8> = (0..(m * 97 + id) % 3000 + 1)
            .map(|i| (i + id + m) as u8)
            .collect();
        stream.write_all(&msg).await?;
        let mut back = vec![0; msg.len()];
        stream.read_exact(&mut back).await?;
        assert_eq!(back, msg, "client {id}, message {m}: echo differs");
        sent += msg.len() as u64;
    }
    stream.close().await?;
    Ok(sent)
}

/// Many concurrent connections on 2 and 4 workers: every byte comes back
/// on its own connection, and every task (server and client) finishes.
#[test]
fn tcp_echo_many_connections() {
    for workers in [2, 4] {
        with_timeout(WATCHDOG, move || {
            const CLIENTS: usize = 64;
            const MESSAGES: usize = 20;
            let rt = rt(workers);
            let (sent, echoed) = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = magpie::spawn(async move {
                    let mut conns = Vec::new();
                    for _ in 0..CLIENTS {
                        let (stream, _) = listener.accept().await.unwrap();
                        conns.push(magpie::spawn(echo(stream)));
                    }
                    let mut echoed = 0;
                    for c in conns {
                        echoed += c.await.unwrap().unwrap();
                    }
                    echoed
                });
                let clients: Vec<_> = (0..CLIENTS)
                    .map(|id| magpie::spawn(client(addr, id, MESSAGES)))
                    .collect();
                let mut sent = 0;
                for c in clients {
                    sent += c.await.unwrap().unwrap();
                }
                (sent, server.await.unwrap())
            });
            assert_eq!(sent, echoed);
            assert!(sent > 0);
            let m = rt.handle().metrics();
            assert_eq!(m.registered_sockets, 0, "every socket was dropped");
        });
    }
}

/// UDP: datagrams go both ways between two sockets on two tasks.
#[test]
fn udp_round_trip() {
    with_timeout(WATCHDOG, || {
        let rt = rt(2);
        rt.block_on(async {
            let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let server_addr = server.local_addr().unwrap();
            const N: usize = 100;
            let echo = magpie::spawn(async move {
                let mut buf = [0; 64];
                for _ in 0..N {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    server.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let mut buf = [0; 64];
            for i in 0..N {
                let msg = format!("datagram {i}");
                client.send_to(msg.as_bytes(), server_addr).await.unwrap();
                // Loopback UDP does not drop datagrams that a bound socket
                // is there to receive (the buffer holds them meanwhile).
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], msg.as_bytes());
            }
            echo.await.unwrap();
        });
    });
}

/// A waker that counts its clones alive through the `Arc`'s count.
struct CountWaker {
    woken: AtomicBool,
}

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, SeqCst);
    }
}

/// A read pending on a socket holds the task's waker; cancelling the read
/// (dropping its future) and dropping the stream drops that waker: nothing
/// keeps the task alive. Also through a task: cancelling a task whose read
/// is pending drops its future (a drop token) and frees its socket.
#[test]
fn a_pending_read_leaks_nothing() {
    with_timeout(WATCHDOG, || {
        let rt = rt(2);
        let (stream, peer) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let peer = listener.accept().await.unwrap();
            (stream, peer)
        });
        let counter = Arc::new(CountWaker {
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(counter.clone());
        let mut stream = stream;
        let mut buf = [0; 8];
        // Nothing was sent: the read registers its waker.
        assert!(
            Pin::new(&mut stream)
                .poll_read(&mut Context::from_waker(&waker), &mut buf)
                .is_pending()
        );
        drop(waker);
        assert_eq!(
            Arc::strong_count(&counter),
            2,
            "the reactor holds the waker"
        );
        drop(stream);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "dropping the stream drops the waker"
        );
        assert!(!counter.woken.load(SeqCst));

        // Through a task: cancel it while its read is pending.
        let drops = DropCounter::new();
        let token = drops.token();
        let reading = Arc::new(AtomicUsize::new(0));
        let r = reading.clone();
        let (task, _peer2) = rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = magpie::spawn(async move {
                let _token = token;
                let mut stream = TcpStream::connect(addr).await.unwrap();
                r.store(1, SeqCst);
                let mut buf = [0; 8];
                let _ = stream.read(&mut buf).await;
                unreachable!("nothing is ever sent");
            });
            let peer = listener.accept().await.unwrap();
            (task, peer)
        });
        while reading.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        task.cancel();
        let result = rt.block_on(task);
        assert!(result.unwrap_err().is_cancelled());
        assert_eq!(drops.drops(), 1, "the cancelled task's future was dropped");
        drop(_peer2);
        drop(peer);
        assert_eq!(rt.handle().metrics().registered_sockets, 0);
    });
}

/// Several tasks wait on one socket at once, through a shared reference
/// (`recv_from` and `accept` take `&self`): every one of them is woken.
/// With one waker per direction each new waiter replaced the last, and
/// every waiter but one slept forever (the watchdog fails the test).
#[test]
fn many_tasks_waiting_on_one_socket_are_all_woken() {
    const WAITERS: u8 = 8;
    with_timeout(WATCHDOG, || {
        let rt = rt(2);
        rt.block_on(async {
            let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let to = socket.local_addr().unwrap();
            let waiting = Arc::new(AtomicUsize::new(0));
            let receivers: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (socket, waiting) = (socket.clone(), waiting.clone());
                    magpie::spawn(async move {
                        let mut buf = [0; 1];
                        waiting.fetch_add(1, SeqCst);
                        socket.recv_from(&mut buf).await.unwrap();
                        buf[0]
                    })
                })
                .collect();
            // Let them all reach their wait (a receiver that has not would
            // only find its datagram at once: correct, but not the case
            // under test).
            while waiting.load(SeqCst) < WAITERS as usize {
                magpie::task::yield_now().await;
            }
            magpie::time::sleep(Duration::from_millis(20)).await;
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            for i in 0..WAITERS {
                sender.send_to(&[i], to).await.unwrap();
            }
            let mut got: Vec<u8> = Vec::new();
            for r in receivers {
                got.push(r.await.unwrap());
            }
            got.sort();
            assert_eq!(got, (0..WAITERS).collect::<Vec<_>>());

            let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            waiting.store(0, SeqCst);
            let acceptors: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (listener, waiting) = (listener.clone(), waiting.clone());
                    magpie::spawn(async move {
                        waiting.fetch_add(1, SeqCst);
                        let (mut stream, _) = listener.accept().await.unwrap();
                        let mut byte = [0; 1];
                        stream.read_exact(&mut byte).await.unwrap();
                        byte[0]
                    })
                })
                .collect();
            while waiting.load(SeqCst) < WAITERS as usize {
                magpie::task::yield_now().await;
            }
            magpie::time::sleep(Duration::from_millis(20)).await;
            let mut clients = Vec::new();
            for i in 0..WAITERS {
                let mut client = TcpStream::connect(addr).await.unwrap();
                client.write_all(&[i]).await.unwrap();
                clients.push(client);
            }
            let mut got: Vec<u8> = Vec::new();
            for a in acceptors {
                got.push(a.await.unwrap());
            }
            got.sort();
            assert_eq!(got, (0..WAITERS).collect::<Vec<_>>());
        });
    });
}

/// An operation waiting on a shared socket gives its slot back when it is
/// dropped: its waker is dropped then, not at the next event or when the
/// socket goes.
#[test]
fn a_dropped_wait_on_a_shared_socket_drops_its_waker() {
    with_timeout(WATCHDOG, || {
        let rt = rt(2);
        let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
        let counter = Arc::new(CountWaker {
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(counter.clone());
        for _ in 0..3 {
            let mut accept = Box::pin(listener.accept());
            assert!(
                accept
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            assert_eq!(
                Arc::strong_count(&counter),
                3,
                "the reactor holds the waker"
            );
            drop(accept);
            assert_eq!(
                Arc::strong_count(&counter),
                2,
                "dropping the accept drops its waker (the listener is still open)"
            );
        }
        assert!(!counter.woken.load(SeqCst));
    });
}

/// Every worker spins in a yield loop (so none ever parks and waits in the
/// poller) until the socket I/O is done: the busy workers' periodic poll
/// still delivers the readiness events.
#[test]
fn a_busy_runtime_still_does_io() {
    with_timeout(WATCHDOG, || {
        const WORKERS: usize = 2;
        let rt = rt(WORKERS);
        let done = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..WORKERS * 2)
            .map(|_| {
                let done = done.clone();
                rt.spawn(async move {
                    let mut spins = 0u64;
                    while !done.load(SeqCst) {
                        magpie::task::yield_now().await;
                        spins += 1;
                    }
                    spins
                })
            })
            .collect();
        let d = done.clone();
        let io = rt.spawn(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = magpie::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                echo(stream).await.unwrap()
            });
            let sent = client(addr, 1, 50).await.unwrap();
            assert_eq!(server.await.unwrap(), sent);
            d.store(true, SeqCst);
        });
        rt.block_on(io).unwrap();
        for s in spinners {
            rt.block_on(s).unwrap();
        }
    });
}

/// The runtime is dropped while tasks wait on sockets (an accept, a read):
/// the drop returns, the tasks' futures are dropped, and a socket that
/// outlives its runtime returns an error instead of hanging or panicking.
#[test]
fn runtime_dropped_with_sockets_registered() {
    with_timeout(WATCHDOG, || {
        let drops = DropCounter::new();
        let rt = rt(2);
        let (t1, t2) = (drops.token(), drops.token());
        let (mut outlived, _peer) = rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let listener2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr2 = listener2.local_addr().unwrap();
            magpie::spawn(async move {
                let _t = t1;
                let _ = listener2.accept().await; // nobody connects to it
                unreachable!();
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let (peer, _) = listener.accept().await.unwrap();
            magpie::spawn(async move {
                let _t = t2;
                let mut peer = peer;
                let mut buf = [0; 4];
                let _ = peer.read(&mut buf).await; // nothing is sent
                unreachable!();
            });
            let _ = addr2;
            let outlived = TcpStream::connect(addr).await.unwrap();
            let peer2 = listener.accept().await.unwrap();
            drop(stream);
            (outlived, peer2)
        });
        drop(rt);
        assert_eq!(drops.drops(), 2, "both waiting tasks' futures were dropped");
        let mut buf = [0; 4];
        let err = futures::executor::block_on(outlived.read(&mut buf)).unwrap_err();
        assert!(
            err.to_string().contains("shut down"),
            "unexpected error: {err}"
        );
    });
}

/// Outside any runtime, and inside a simulation, the constructors say why
/// they cannot work.
#[test]
fn outside_a_runtime_is_an_error() {
    let err = futures::executor::block_on(TcpListener::bind("127.0.0.1:0")).unwrap_err();
    assert!(err.to_string().contains("no magpie runtime"), "{err}");
    let err = futures::executor::block_on(UdpSocket::bind("127.0.0.1:0")).unwrap_err();
    assert!(err.to_string().contains("no magpie runtime"), "{err}");
    let std_stream = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap()
    };
    let err = TcpStream::from_std(std_stream).unwrap_err();
    assert!(err.to_string().contains("no magpie runtime"), "{err}");
    let err = magpie::sim::run(1, async {
        TcpListener::bind("127.0.0.1:0").await.unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("does not simulate I/O"), "{err}");
}
