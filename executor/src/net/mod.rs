//! TCP and UDP sockets on the runtime's own reactor (feature `net`, on by
//! default; Unix only for now: elsewhere the feature builds nothing).
//!
//! A socket is registered with the reactor of the runtime it is created
//! in; the worker about to park waits in that reactor's poller, so a task
//! woken by a socket runs on the worker that saw the event, without a
//! thread hop (see `docs/io.md`, "The reactor as built"). Operations try
//! their system call first and wait for readiness only on `WouldBlock`.
//!
//! * [`TcpListener`]: `bind`, `accept`;
//! * [`TcpStream`]: `connect`, and `futures::io::{AsyncRead, AsyncWrite}`
//!   (use `futures::io::AsyncReadExt` / `AsyncWriteExt` for `read`,
//!   `write_all`, ...);
//! * [`UdpSocket`]: `bind`, `send_to`, `recv_from`.
//!
//! Each has a `from_std` constructor for a socket made elsewhere.
//!
//! **Where they work.** Inside a magpie runtime: in its tasks or in its
//! `block_on`.
//! Elsewhere their constructors return an `io::Error` saying so; inside a
//! simulation ([`crate::sim`]) too, since the simulation does not simulate
//! I/O. A socket whose runtime has shut down returns an `io::Error` from
//! any operation that would wait.
//!
//! Unix only for now (the reactor registers file descriptors).
//!
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use magpie::net::{TcpListener, TcpStream};
//!
//! magpie::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server = magpie::spawn(async move {
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut buf = [0; 5];
//!         stream.read_exact(&mut buf).await?;
//!         stream.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     });
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut echo = [0; 5];
//!     client.read_exact(&mut echo).await?;
//!     assert_eq!(&echo, b"hello");
//!     server.await.unwrap()
//! })
//! .unwrap();
//! ```

mod tcp;
mod udp;

pub use self::tcp::{TcpListener, TcpStream};
pub use self::udp::UdpSocket;

use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::reactor::{Interest, Reactor, Registration, Slot};
use magpie_sync::coop;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll, ready};

/// The reactor of the runtime entered on this thread.
fn current_reactor() -> io::Result<Arc<Reactor>> {
    if crate::runtime::sim::current_timers().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "magpie::net: sockets are not available inside magpie::sim: the simulation does \
             not simulate I/O (run I/O on a real runtime)",
        ));
    }
    context::with_handle(|handle| handle.map(|h| h.shared.reactor.clone())).ok_or_else(|| {
        io::Error::other(
            "magpie::net: no magpie runtime on this thread: create sockets inside a task \
             or inside `block_on`",
        )
    })
}

/// A socket registered with its runtime's reactor. The registration is
/// declared first so that it is dropped (and the socket removed from the
/// poller) before the socket is closed.
struct PollIo<T: AsFd> {
    reg: Registration,
    io: T,
}

impl<T: AsFd> PollIo<T> {
    /// Registers `io`, which must already be non-blocking.
    fn new(io: T) -> io::Result<PollIo<T>> {
        let reactor = current_reactor()?;
        let reg = Reactor::register(&reactor, io.as_fd())?;
        Ok(PollIo { reg, io })
    }

    /// Tries `op` until it does not return `WouldBlock`, waiting for
    /// `interest` in between; spends one unit of the task's cooperative
    /// budget per completed operation.
    fn poll_io<R>(
        &self,
        interest: Interest,
        slot: &mut Slot,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let proceed = ready!(coop::poll_proceed(cx));
        loop {
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => {
                    proceed.made_progress();
                    return Poll::Ready(result);
                }
            }
            ready!(self.reg.poll_ready(interest, slot, cx))?;
        }
    }

    /// [`poll_io`](Self::poll_io) as a future, with a slot of its own
    /// that it gives back when it completes or is dropped (so any number of
    /// tasks may wait on one socket through a shared reference).
    async fn io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut slot = SlotGuard {
            reg: &self.reg,
            interest,
            slot: None,
        };
        poll_fn(|cx| self.poll_io(interest, &mut slot.slot, cx, &mut op)).await
    }
}

/// Gives an operation's slot back when the operation ends, however it ends.
struct SlotGuard<'a> {
    reg: &'a Registration,
    interest: Interest,
    slot: Slot,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.reg.release(self.interest, &mut self.slot);
    }
}

impl<T: AsFd + std::fmt::Debug> std::fmt::Debug for PollIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}
