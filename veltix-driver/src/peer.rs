//! A handle to one of a server's peers.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use veltix_core::{CloseCode, Message, RequestId};

use crate::handle::DriverHandle;
use crate::{Error, IntoReply, PeerId, Stats};

/// A cheap, cloneable handle to one connected peer of a [`Server`](crate::Server).
///
/// Callbacks get one; [`Server::peer`](crate::Server::peer) finds one by id.
/// Holding a `Peer` avoids the server's peer lookup on every send.
#[derive(Clone)]
pub struct Peer {
    pub(crate) id: PeerId,
    pub(crate) addr: SocketAddr,
    pub(crate) handle: DriverHandle,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Peer {
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
    /// [`Error::Send`] for a reserved type or oversized payload, [`Error::Closed`].
    pub fn send(&self, message: Message) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.handle.send(message)
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// `Error::Send(SendError::Full)` when the peer's queue is full, and those of [`send`](Self::send).
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.handle.try_send(message)
    }

    /// Answers `received` (copies its request id), waiting while the queue is full.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(
        &self,
        received: &Message,
        message: Message,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.handle.reply(received, message)
    }

    /// Answers `received` without waiting: what a callback uses.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        self.handle.try_reply(received, message)
    }

    /// Acts on a handler's return value for the message whose request id is
    /// `request_id`, as a [route](crate::Server::route) does: a reply is
    /// queued without waiting (carrying that id); an error, or a reply that
    /// cannot be queued, is logged and counted in [`Stats`]. For code that
    /// dispatches messages itself, such as veltix-mio's threaded routes.
    pub fn respond(&self, request_id: RequestId, value: impl IntoReply) {
        crate::routes::respond(self, request_id, value.into_reply());
    }

    /// Logs (debug) and counts in [`Stats::unrouted`] a message from this
    /// peer that nothing handles, as a server with routes does. For code
    /// that dispatches messages itself.
    pub fn note_unrouted(&self, message: &Message) {
        crate::routes::unrouted(self, message);
    }

    /// Sends a request and waits up to `timeout` for the peer's answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], and those of [`send`](Self::send).
    pub async fn request(&self, message: Message, timeout: Duration) -> Result<Message, Error> {
        self.handle.request(message, timeout).await
    }

    /// Pings the peer; the round-trip time.
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`].
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        self.handle.ping(timeout).await
    }

    /// Closes the connection with a reason the peer is told; queued messages are flushed first.
    pub fn close(&self, reason: &str) {
        self.handle.close(CloseCode::NORMAL, reason);
    }

    /// What this peer's connection has done so far (see [`Stats`]); after
    /// it ended, its final figures.
    pub fn stats(&self) -> Stats {
        self.handle.stats.snapshot()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.handle.is_gone()
    }

    /// Who the peer proved to be over TLS — its certificate's subject and
    /// key pin — when the server requires client certificates; `None`
    /// otherwise (or before its TLS handshake completed). Set before
    /// `on_connect` runs.
    pub fn tls_identity(&self) -> Option<crate::tls::PeerIdentity> {
        self.handle.security.identity()
    }

    /// The name the peer proved with its own key, on a server with
    /// [`client_keys`](crate::ServerConfig::client_keys); set before
    /// `on_connect` runs.
    pub fn client_id(&self) -> Option<String> {
        self.handle.security.client_id()
    }
}
