//! A server's peer, with blocking methods.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use veltix_driver::{Error, Message, PeerId, Stats};

use super::block_on;
use crate::AsyncPeer;
use crate::tls::PeerIdentity;

/// A peer of a threaded [`Server`](crate::Server): the driver's peer
/// ([`AsyncPeer`]) with blocking methods, as [`Server`](crate::Server) is
/// [`AsyncServer`](crate::AsyncServer) with blocking methods. Callbacks get
/// one; [`Server::peer`](crate::Server::peer) finds one by id. Cheap to
/// clone; methods block the calling thread (any thread but the event loop).
#[derive(Debug, Clone)]
pub struct Peer(Arc<Handle>);

/// Behind an `Arc`: a worker clones a peer for every message's callback,
/// and one count beats the driver peer's dozen.
#[derive(Debug)]
enum Handle {
    /// The driver's peer.
    Driver(AsyncPeer),
    /// A peer that had left the server before the worker reached its
    /// `on_connect`: its id and address are all that is left.
    Gone { id: PeerId, addr: SocketAddr },
}

impl Peer {
    pub(crate) fn new(peer: AsyncPeer) -> Self {
        Self(Arc::new(Handle::Driver(peer)))
    }

    pub(crate) fn gone(id: PeerId, addr: SocketAddr) -> Self {
        Self(Arc::new(Handle::Gone { id, addr }))
    }

    /// The driver's peer underneath, for code that wants to `.await`;
    /// `None` for a peer that had left before its `on_connect` ran.
    pub fn as_async(&self) -> Option<&AsyncPeer> {
        match &*self.0 {
            Handle::Driver(peer) => Some(peer),
            Handle::Gone { .. } => None,
        }
    }

    fn driver(&self) -> Result<&AsyncPeer, Error> {
        self.as_async().ok_or(Error::UnknownPeer(self.id()))
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        match &*self.0 {
            Handle::Driver(peer) => peer.id(),
            Handle::Gone { id, .. } => *id,
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        match &*self.0 {
            Handle::Driver(peer) => peer.addr(),
            Handle::Gone { addr, .. } => *addr,
        }
    }

    /// Who the peer proved to be over TLS, when the server requires client
    /// certificates (see [`AsyncPeer::tls_identity`]).
    pub fn tls_identity(&self) -> Option<PeerIdentity> {
        self.as_async()?.tls_identity()
    }

    /// The name the peer proved with its own key, on a server with client
    /// keys (see [`AsyncPeer::client_id`]).
    pub fn client_id(&self) -> Option<String> {
        self.as_async()?.client_id()
    }

    /// Sends a message, waiting while the peer's outbound queue is full.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload,
    /// [`Error::Closed`], [`Error::UnknownPeer`] for a peer already gone.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        block_on(self.driver()?.send(message))
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// `Error::Send(SendError::Full)` when the peer's queue is full, and those of [`send`](Self::send).
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.driver()?.try_send(message)
    }

    /// Answers `received` (copies its request id), waiting while the queue is full.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        block_on(self.driver()?.reply(received, message))
    }

    /// Answers `received` without waiting.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        self.driver()?.try_reply(received, message)
    }

    /// Sends a request and waits up to `timeout` for the peer's answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], and those of [`send`](Self::send).
    pub fn request(&self, message: Message, timeout: Duration) -> Result<Message, Error> {
        block_on(self.driver()?.request(message, timeout))
    }

    /// Pings the peer; the round-trip time.
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::UnknownPeer`].
    pub fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        block_on(self.driver()?.ping(timeout))
    }

    /// Closes the connection with a reason the peer is told; queued messages are flushed first.
    pub fn close(&self, reason: &str) {
        if let Some(peer) = self.as_async() {
            peer.close(reason);
        }
    }

    /// What this peer's connection has done so far (see [`Stats`]); after
    /// it ended, its final figures. All zero for a peer that had left
    /// before the worker reached its `on_connect` (nothing is left of it).
    pub fn stats(&self) -> Stats {
        self.as_async().map(AsyncPeer::stats).unwrap_or_default()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.as_async().is_none_or(AsyncPeer::is_closed)
    }
}
