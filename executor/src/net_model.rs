//! Loom only: a fake socket on the reactor's loom stand-in, for the models
//! of the park/poll hand-over (`loom-tests/tests/reactor.rs`). Not an API.

use crate::runtime::context;
use crate::runtime::reactor::{Interest, Reactor, Registration};
use std::future::poll_fn;
use std::io;
use std::task::Poll;

/// A "socket" whose readability a model controls.
#[derive(Debug)]
pub struct ModelSource {
    reg: Registration,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key())
            .finish()
    }
}

impl ModelSource {
    /// Registers a fake socket with the current runtime's reactor.
    pub fn new() -> io::Result<ModelSource> {
        let reactor = context::with_handle(|h| h.map(|h| h.shared.reactor.clone()))
            .ok_or_else(|| io::Error::other("no runtime"))?;
        Ok(ModelSource {
            reg: Reactor::register(&reactor)?,
        })
    }

    /// The network: data arrives (the source becomes readable, and an
    /// armed source delivers an event to the poller).
    pub fn fire(&self) {
        self.reg.reactor().fire(self.reg.key());
    }

    /// Waits until the source is readable and consumes the readability,
    /// as a read would: the "system call" first, the reactor only on
    /// "WouldBlock".
    pub async fn readable(&self) -> io::Result<()> {
        let mut slot = None;
        let ready = poll_fn(|cx| {
            loop {
                if self.reg.reactor().take_readable(self.reg.key()) {
                    return Poll::Ready(Ok(()));
                }
                match self.reg.poll_ready(Interest::Read, &mut slot, cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        self.reg.release(Interest::Read, &mut slot);
        ready
    }
}
