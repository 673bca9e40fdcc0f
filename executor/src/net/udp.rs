//! UDP on the runtime's reactor.

use super::PollIo;
use crate::runtime::reactor::Interest;
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};

/// A UDP socket.
///
/// ```
/// use magpie::net::UdpSocket;
///
/// magpie::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"hi", b.local_addr()?).await?;
///     let mut buf = [0; 8];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: PollIo<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first of its addresses that binds).
    /// Fails outside a magpie runtime.
    ///
    /// See [`UdpSocket`]'s example.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::from_std(net::UdpSocket::bind(addr)?)
    }

    /// Registers a socket made elsewhere (it is made non-blocking).
    ///
    /// ```
    /// magpie::run(async {
    ///     let socket = magpie::net::UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
    ///     assert!(socket.local_addr().is_ok());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            inner: PollIo::new(socket)?,
        })
    }

    /// The address the socket is bound to.
    ///
    /// See [`UdpSocket`]'s example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.local_addr()
    }

    /// Sends one datagram to `target` (its first address); returns the
    /// bytes sent.
    ///
    /// See [`UdpSocket`]'s example.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = target
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))?;
        self.inner
            .io(Interest::Write, |s| s.send_to(buf, target))
            .await
    }

    /// Waits for one datagram; returns its length and sender. A datagram
    /// longer than `buf` is truncated.
    ///
    /// See [`UdpSocket`]'s example.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Interest::Read, |s| s.recv_from(buf)).await
    }
}
