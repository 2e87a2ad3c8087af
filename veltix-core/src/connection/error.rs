//! Why a connection closed, why a send was refused, why a request failed.

use std::fmt;

use crate::compression::DecompressError;
use crate::wire::{DecodeError, EncodeError};
use crate::{MessageType, RequestId};

/// A close code carried in the ERROR frame sent when a connection ends
/// (`[u16 code][utf-8 reason]`, see `docs/protocol.md`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// Orderly close asked for by the application.
    pub const NORMAL: Self = Self(0);
    /// No protocol version in common.
    pub const VERSION_MISMATCH: Self = Self(1);
    /// The authentication proof was wrong or missing.
    pub const AUTH_FAILED: Self = Self(2);
    /// The server has no room for another peer.
    pub const SERVER_FULL: Self = Self(3);
    /// The peer broke the protocol (unexpected frame, malformed handshake).
    pub const PROTOCOL_VIOLATION: Self = Self(4);
    /// A frame's length was above the receiver's limit.
    pub const PAYLOAD_TOO_LARGE: Self = Self(5);
    /// The handshake did not finish in time.
    pub const HANDSHAKE_TIMEOUT: Self = Self(6);
    /// No frame was completed within the idle timeout.
    pub const IDLE_TIMEOUT: Self = Self(7);
    /// The side is shutting down.
    pub const SHUTDOWN: Self = Self(8);
    /// The peer refused the connection for a reason of its own, given as text
    /// (a Python Veltix 3.x server's `{"error": …}` other than `server_full`).
    pub const REFUSED: Self = Self(9);
    /// The peer read none of our output for the write-stall timeout. Never
    /// sent (the peer is not reading); it names the reason locally.
    pub const WRITE_STALLED: Self = Self(10);
    /// A plaintext peer reached a server that requires TLS (sent to it in
    /// plaintext, so that it learns why).
    pub const TLS_REQUIRED: Self = Self(11);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NORMAL => "normal",
            Self::VERSION_MISMATCH => "version mismatch",
            Self::AUTH_FAILED => "authentication failed",
            Self::SERVER_FULL => "server full",
            Self::PROTOCOL_VIOLATION => "protocol violation",
            Self::PAYLOAD_TOO_LARGE => "payload too large",
            Self::HANDSHAKE_TIMEOUT => "handshake timeout",
            Self::IDLE_TIMEOUT => "idle timeout",
            Self::SHUTDOWN => "shutdown",
            Self::WRITE_STALLED => "write stalled",
            Self::TLS_REQUIRED => "TLS required",
            Self::REFUSED => "refused",
            _ => return None,
        })
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "code {}", self.0),
        }
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({self})")
    }
}

/// Why a connection ended. Reported once, in
/// [`Event::Closed`](crate::Event::Closed), and inside
/// [`RequestError::ConnectionClosed`] for every request still pending then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// This side called [`Connection::close`](crate::Connection::close).
    #[error("closed locally: {code}: {reason}")]
    Local {
        /// The code sent to the peer.
        code: CloseCode,
        /// The reason sent to the peer.
        reason: String,
    },
    /// The peer said it was closing (an ERROR frame with a close code).
    #[error("closed by the peer: {code}: {reason}")]
    Peer {
        /// The peer's close code.
        code: CloseCode,
        /// The peer's reason text (lossy UTF-8, at most 256 bytes kept).
        reason: String,
    },
    /// The transport ended without a close frame (end of stream or reset).
    #[error("the transport closed")]
    TransportClosed,
    /// The peer sent a length above our limit (the stream cannot be
    /// trusted; close code 5), or a compressed payload that does not
    /// decompress within the limit (code 5 for a declared size above it,
    /// code 4 for the rest).
    #[error(transparent)]
    Decode(DecodeError),
    /// No protocol version in common.
    #[error(
        "no common protocol version: ours {ours_min}..={ours_max}, theirs {theirs_min}..={theirs_max}"
    )]
    VersionMismatch {
        /// Lowest version this side speaks.
        ours_min: u16,
        /// Highest version this side speaks.
        ours_max: u16,
        /// Lowest version the peer speaks.
        theirs_min: u16,
        /// Highest version the peer speaks.
        theirs_max: u16,
    },
    /// The peer did not prove the pre-shared key (or we required proof it could not give).
    #[error("authentication failed: {0}")]
    AuthFailed(&'static str),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(&'static str),
    /// The handshake did not finish within the handshake timeout.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No frame was completed within the idle timeout.
    #[error("idle timeout")]
    IdleTimeout,
    /// The peer's handshake was malformed (the Python dialects).
    #[error("malformed handshake: {0}")]
    Handshake(HandshakeError),
    /// The peer announced a version this side does not accept (the Python
    /// dialects: `major.minor` must be equal for 1.4 – 1.6, the `pv` major
    /// for 3.x).
    #[error("incompatible peer version {theirs:?} (ours {ours:?})")]
    PeerVersionMismatch {
        /// What this side announced (or accepts).
        ours: String,
        /// What the peer announced (at most 64 bytes kept).
        theirs: String,
    },
    /// The peer read none of our output for the driver's write-stall
    /// timeout (see [`Connection::handle_write_stalled`](crate::Connection::handle_write_stalled)).
    #[error("the peer stopped reading: no output written for the write-stall timeout")]
    WriteStalled,
    /// A layer between the socket and this connection failed: a TLS
    /// session's error (bad certificate, failed decryption, truncation…),
    /// as the driver described it (see
    /// [`Connection::handle_transport_failed`](crate::Connection::handle_transport_failed)).
    #[error("the secure transport failed: {0}")]
    TransportFailed(String),
}

/// What was wrong with a peer's handshake in the Python dialects, reported
/// in [`CloseReason::Handshake`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A JSON handshake message announced more than the 30 KiB Python
    /// Veltix allows; refused on its length prefix, before it is buffered.
    #[error("handshake message of {len} bytes, above the {max}-byte limit")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit (30 720 bytes).
        max: usize,
    },
    /// A JSON handshake message is not valid UTF-8 JSON.
    #[error("handshake message is not valid JSON")]
    InvalidJson,
    /// A JSON handshake message is valid JSON but not an object.
    #[error("handshake message is not a JSON object")]
    NotAnObject,
    /// A JSON handshake message lacks a field the handshake needs.
    #[error("handshake message has no {0:?} string")]
    MissingField(&'static str),
    /// A HELLO or HELLO_ACK payload is shorter than its length prefix says.
    #[error("HELLO payload shorter than its length prefix")]
    Truncated,
    /// A HELLO or HELLO_ACK version is not UTF-8.
    #[error("handshake version is not UTF-8")]
    VersionNotUtf8,
    /// A version that does not parse (`MAJOR.MINOR.PATCH` for 1.4 – 1.6,
    /// `MAJOR.MINOR` for the 3.x `pv`); at most 64 bytes kept.
    #[error("version {0:?} does not parse")]
    MalformedVersion(String),
    /// A frame other than the one the handshake expects.
    #[error("expected {expected}, got a {got} frame")]
    UnexpectedFrame {
        /// The handshake frame that was due.
        expected: MessageType,
        /// What came instead.
        got: MessageType,
    },
    /// A HELLO_ACK that does not carry the HELLO's request id.
    #[error("HELLO_ACK carries request id {got}, not the HELLO's {expected}")]
    WrongRequestId {
        /// The HELLO's id.
        expected: RequestId,
        /// The HELLO_ACK's id.
        got: RequestId,
    },
    /// The server answered the client's JSON with something other than
    /// `{"result": "ok"}`.
    #[error("the server did not acknowledge the handshake")]
    NotAcknowledged,
}

impl CloseReason {
    /// The close code this reason is sent to the peer with.
    pub fn code(&self) -> CloseCode {
        match self {
            Self::Local { code, .. } | Self::Peer { code, .. } => *code,
            Self::TransportClosed => CloseCode::NORMAL,
            Self::Decode(DecodeError::Decompress { error, .. }) => match error {
                DecompressError::TooLarge { .. } => CloseCode::PAYLOAD_TOO_LARGE,
                _ => CloseCode::PROTOCOL_VIOLATION,
            },
            Self::Decode(_) => CloseCode::PAYLOAD_TOO_LARGE,
            Self::VersionMismatch { .. } => CloseCode::VERSION_MISMATCH,
            Self::AuthFailed(_) => CloseCode::AUTH_FAILED,
            Self::ProtocolViolation(_) => CloseCode::PROTOCOL_VIOLATION,
            Self::HandshakeTimeout => CloseCode::HANDSHAKE_TIMEOUT,
            Self::IdleTimeout => CloseCode::IDLE_TIMEOUT,
            Self::WriteStalled => CloseCode::WRITE_STALLED,
            Self::TransportFailed(_) => CloseCode::PROTOCOL_VIOLATION,
            Self::Handshake(_) => CloseCode::PROTOCOL_VIOLATION,
            Self::PeerVersionMismatch { .. } => CloseCode::VERSION_MISMATCH,
        }
    }
}

impl From<CloseReason> for std::io::Error {
    fn from(reason: CloseReason) -> Self {
        use std::io::ErrorKind;
        let kind = match &reason {
            CloseReason::Local { .. } | CloseReason::Peer { .. } => ErrorKind::ConnectionAborted,
            CloseReason::TransportClosed => ErrorKind::ConnectionReset,
            CloseReason::HandshakeTimeout
            | CloseReason::IdleTimeout
            | CloseReason::WriteStalled => ErrorKind::TimedOut,
            CloseReason::AuthFailed(_) => ErrorKind::PermissionDenied,
            _ => ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, reason)
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The outbound queue is at its bound; wait for the driver to write, then retry.
    #[error("outbound queue is full")]
    Full,
    /// Too many requests await an answer.
    #[error("too many pending requests (limit {limit})")]
    TooManyPending {
        /// The configured limit.
        limit: usize,
    },
    /// Applications may not send system types (codes below 200).
    #[error(transparent)]
    ReservedType(#[from] crate::ReservedTypeError),
    /// The payload does not fit the 32-bit length field.
    #[error(transparent)]
    PayloadTooLong(#[from] crate::frame::PayloadTooLongError),
    /// The connection is closed.
    #[error("connection closed: {0}")]
    Closed(CloseReason),
    /// The connection speaks the compact wire, whose request ids are 16-bit,
    /// and this id (given to [`reply_to`](crate::Connection::reply_to) or
    /// carried by a frame) is wider.
    #[error("request id {request_id} does not fit the compact wire's 16-bit id")]
    RequestIdNotCompact {
        /// The id that was refused.
        request_id: RequestId,
    },
}

impl From<EncodeError> for SendError {
    fn from(err: EncodeError) -> Self {
        match err {
            EncodeError::PayloadTooLong(e) => Self::PayloadTooLong(e),
            EncodeError::RequestIdNotCompact { request_id } => {
                Self::RequestIdNotCompact { request_id }
            }
        }
    }
}

impl From<SendError> for std::io::Error {
    fn from(err: SendError) -> Self {
        use std::io::ErrorKind;
        let kind = match &err {
            SendError::Full | SendError::TooManyPending { .. } => ErrorKind::WouldBlock,
            SendError::Closed(_) => ErrorKind::NotConnected,
            _ => ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, err)
    }
}

/// Why a request or ping got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No answer arrived before the deadline.
    #[error("request timed out")]
    TimedOut,
    /// The connection ended while the request was pending.
    #[error("connection closed while the request was pending: {0}")]
    ConnectionClosed(CloseReason),
}

impl From<RequestError> for std::io::Error {
    fn from(err: RequestError) -> Self {
        let kind = match &err {
            RequestError::TimedOut => std::io::ErrorKind::TimedOut,
            RequestError::ConnectionClosed(_) => std::io::ErrorKind::ConnectionAborted,
        };
        std::io::Error::new(kind, err)
    }
}
