//! TCP on the runtime's reactor.

use super::PollIo;
use crate::runtime::reactor::{Interest, Slot};
use std::io::{self, Read, Write};
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A TCP socket server, listening for connections.
///
/// ```
/// use magpie::net::{TcpListener, TcpStream};
///
/// magpie::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = magpie::spawn(async move { TcpStream::connect(addr).await });
///     let (_stream, peer) = listener.accept().await?;
///     assert_eq!(peer, client.await.unwrap()?.local_addr()?);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: PollIo<net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (the first of its addresses that binds).
    ///
    /// Fails outside a magpie runtime (see the [module doc](super)).
    ///
    /// ```
    /// magpie::run(async {
    ///     let listener = magpie::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     assert!(listener.local_addr()?.port() != 0);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::from_std(net::TcpListener::bind(addr)?)
    }

    /// Registers a listener made elsewhere (it is made non-blocking).
    ///
    /// ```
    /// magpie::run(async {
    ///     let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let listener = magpie::net::TcpListener::from_std(std_listener)?;
    ///     assert!(listener.local_addr().is_ok());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: PollIo::new(listener)?,
        })
    }

    /// Waits for a connection; returns its stream and the peer's address.
    ///
    /// See [`TcpListener`]'s example.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.inner.io(Interest::Read, |l| l.accept()).await?;
        Ok((TcpStream::from_std(stream)?, addr))
    }

    /// The address the listener is bound to.
    ///
    /// See [`TcpListener::bind`]'s example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.local_addr()
    }
}

/// A TCP connection: `futures::io::{AsyncRead, AsyncWrite}`.
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use magpie::net::{TcpListener, TcpStream};
///
/// magpie::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     client.close().await?; // shuts the write half down
///     let mut got = Vec::new();
///     server.read_to_end(&mut got).await?;
///     assert_eq!(got, b"ping");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct TcpStream {
    inner: PollIo<net::TcpStream>,
    /// The reader's and the writer's slots in the reactor (one each:
    /// `poll_read` and `poll_write` take `&mut self`). Kept for the
    /// stream's life; the registration's drop clears them.
    read_slot: Slot,
    write_slot: Slot,
}

impl TcpStream {
    /// Connects to `addr` (its addresses in turn, until one accepts).
    ///
    /// std has no non-blocking `connect`, so the connection is made on
    /// the runtime's blocking pool (`spawn_blocking`), then registered.
    /// Fails outside a magpie runtime.
    ///
    /// See [`TcpStream`]'s example.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        // Fail before the blocking pool if there is no runtime.
        super::current_reactor()?;
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let stream = crate::task::spawn_blocking(move || net::TcpStream::connect(&addrs[..]))
            .await
            .map_err(|e| io::Error::other(format!("magpie::net: connect did not run: {e}")))??;
        TcpStream::from_std(stream)
    }

    /// Registers a stream made elsewhere (it is made non-blocking).
    ///
    /// ```
    /// magpie::run(async {
    ///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    ///     let stream = magpie::net::TcpStream::from_std(std_stream)?;
    ///     assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            inner: PollIo::new(stream)?,
            read_slot: None,
            write_slot: None,
        })
    }

    /// The local address of the connection.
    ///
    /// See [`TcpListener`]'s example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.local_addr()
    }

    /// The remote address of the connection.
    ///
    /// See [`TcpStream::from_std`]'s example.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.peer_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    ///
    /// ```
    /// magpie::run(async {
    ///     let listener = magpie::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = magpie::net::TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_nodelay(true)?;
    ///     assert!(stream.nodelay()?);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.io.set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set. See [`TcpStream::set_nodelay`].
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.io.nodelay()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    ///
    /// magpie::run(async {
    ///     let listener = magpie::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     let client = magpie::net::TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.shutdown(std::net::Shutdown::Write)?;
    ///     let mut buf = [0; 1];
    ///     assert_eq!(server.read(&mut buf).await?, 0); // end of stream
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.io.shutdown(how)
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.inner
            .poll_io(Interest::Read, &mut this.read_slot, cx, |mut s| s.read(buf))
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.inner
            .poll_io(Interest::Write, &mut this.write_slot, cx, |mut s| {
                s.write(buf)
            })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.inner
            .poll_io(Interest::Write, &mut this.write_slot, cx, |mut s| {
                s.write_vectored(bufs)
            })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    /// Shuts the write half down.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.inner.io.shutdown(Shutdown::Write) {
            // Already closed by the peer: the write half is down anyway.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}
