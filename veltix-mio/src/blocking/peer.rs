//! A server's connected peer, with blocking methods.

use std::net::SocketAddr;
use std::time::Duration;

use veltix_driver::{Error, Message, PeerId};

use super::worker::block_on;

/// A peer of a threaded [`Server`](crate::Server), as callbacks get it. Cheap
/// to clone; methods block the calling thread (any thread but the event loop).
#[derive(Debug, Clone)]
pub struct Peer {
    id: PeerId,
    addr: SocketAddr,
    /// `None` when the peer was gone before its events reached the worker.
    inner: Option<veltix_driver::Peer>,
}

impl Peer {
    pub(crate) fn new(inner: veltix_driver::Peer) -> Self {
        Self {
            id: inner.id(),
            addr: inner.addr(),
            inner: Some(inner),
        }
    }

    pub(crate) fn gone(id: PeerId, addr: SocketAddr) -> Self {
        Self {
            id,
            addr,
            inner: None,
        }
    }

    fn inner(&self) -> Result<&veltix_driver::Peer, Error> {
        self.inner.as_ref().ok_or(Error::UnknownPeer(self.id))
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a message, waiting while the peer's outbound queue is full.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload,
    /// [`Error::Closed`], [`Error::UnknownPeer`] for a peer already gone.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        block_on(self.inner()?.send(message))
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// `Error::Send(SendError::Full)` when the peer's queue is full, and those of [`send`](Self::send).
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.inner()?.try_send(message)
    }

    /// Answers `received` (copies its request id), waiting while the queue is full.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        block_on(self.inner()?.reply(received, message))
    }

    /// Answers `received` without waiting.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        self.inner()?.try_reply(received, message)
    }

    /// Sends a request and waits up to `timeout` for the peer's answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], and those of [`send`](Self::send).
    pub fn request(&self, message: Message, timeout: Duration) -> Result<Message, Error> {
        block_on(self.inner()?.request(message, timeout))
    }

    /// Pings the peer; the round-trip time.
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::UnknownPeer`].
    pub fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        block_on(self.inner()?.ping(timeout))
    }

    /// Closes the connection with a reason the peer is told; queued messages are flushed first.
    pub fn close(&self, reason: &str) {
        if let Some(inner) = &self.inner {
            inner.close(reason);
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(veltix_driver::Peer::is_closed)
    }
}
