//! Events the server and client report, and the id of a server's peer.

use std::fmt;
use std::net::SocketAddr;

use veltix_core::{CloseReason, Message, PeerInfo};

/// A connected peer of a [`Server`](crate::Server), unique for the server's lifetime.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub(crate) u64);

impl PeerId {
    /// The number behind the id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.0)
    }
}

/// A peer asking to come in, as the server's accept hook sees it (see
/// [`Server::accept_with`](crate::Server::accept_with)): who it proved to be
/// in the handshake.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Incoming {
    /// Its address.
    pub addr: SocketAddr,
    /// Who it proved to be over TLS, when the server requires client
    /// certificates.
    pub tls_identity: Option<veltix_tls::PeerIdentity>,
    /// The name it proved with its own key, on a server with
    /// [`client_keys`](crate::ServerConfig::client_keys).
    pub client_id: Option<String>,
}

/// What happens on a [`Server`](crate::Server).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A peer completed the handshake (or was accepted as a legacy peer).
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// What the handshake settled.
        info: PeerInfo,
    },
    /// A peer sent an application message (not an answer to a server request).
    Message {
        /// The sender.
        peer: PeerId,
        /// The message; answer it with [`Server::reply`](crate::Server::reply).
        message: Message,
    },
    /// A peer's connection ended. Also reported for a peer refused during the
    /// handshake (wrong key, version mismatch, handshake timeout), so the
    /// application sees why, though no `Connected` came before it.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
}

/// What happens on a [`Client`](crate::Client).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Connected (again, after a reconnect) and the handshake completed.
    Connected(PeerInfo),
    /// The server sent an application message.
    Message(Message),
    /// The connection ended (also when a reconnection's handshake failed).
    /// With reconnect enabled, a `Connected` may follow.
    Disconnected(CloseReason),
}
