//! What a connection reports to its driver and application.

use std::time::Duration;

use crate::compression::Algorithm;
use crate::wire::DecodeError;
use crate::{CloseReason, Dialect, Message, RequestError, RequestId};

/// What the handshake settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The negotiated protocol version; `None` for a legacy peer (no handshake).
    pub protocol_version: Option<u16>,
    /// Whether both sides proved the pre-shared key.
    pub authenticated: bool,
    /// Whether HEARTBEAT frames are used for keep-alive (else PING is).
    pub heartbeat: bool,
    /// The dialect spoken with this peer: the configured one, or
    /// [`Dialect::Legacy`] for a peer that sent no handshake to a native
    /// server (or with the native handshake disabled).
    pub dialect: Dialect,
    /// The compression algorithm both native sides offered and agreed on
    /// ([`ConnectionConfig::compression`](crate::ConnectionConfig::compression)
    /// on both); `None`: payloads are never compressed.
    pub compression: Option<Algorithm>,
    /// Whether both native sides agreed to leave payload hashes out
    /// ([`ConnectionConfig::transport_authenticated`](crate::ConnectionConfig::transport_authenticated)
    /// on both): integrity is then the transport's alone.
    pub hash_skipped: bool,
}

/// An event, drained with [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The connection is ready: the handshake completed, or the peer is legacy.
    ///
    /// A server that took a silent peer for a legacy one (after
    /// [`legacy_wait`](crate::ConnectionConfig::legacy_wait)) reports this a
    /// second time, with the negotiated version, if that peer's first frame
    /// turns out to be a HELLO.
    Connected(PeerInfo),
    /// An application message from the peer (not an answer to one of our requests).
    Message(Message),
    /// The answer to a [`request`](crate::Connection::request).
    Response {
        /// The id `request` returned.
        request_id: RequestId,
        /// The peer's reply.
        message: Message,
    },
    /// The PONG answering a [`ping`](crate::Connection::ping).
    Pong {
        /// The id `ping` returned.
        request_id: RequestId,
        /// Round-trip time on the `now` values passed in.
        rtt: Duration,
    },
    /// A request or ping got no answer: timed out, or the connection closed.
    RequestFailed {
        /// The id `request` or `ping` returned.
        request_id: RequestId,
        /// Why.
        error: RequestError,
    },
    /// A frame was dropped (its hash or checksum did not match), or bytes
    /// were skipped to find the next frame (compact wire); the connection
    /// lives on. Counted in [`ConnectionStats`](crate::ConnectionStats).
    FrameDropped(DecodeError),
    /// The connection ended. Reported exactly once; no event follows it.
    Closed(CloseReason),
}
