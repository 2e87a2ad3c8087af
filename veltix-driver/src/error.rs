//! The one error type of the server and client API.

use std::io;

use veltix_core::{CloseReason, ConfigError, RequestError, SendError};

use crate::PeerId;

/// What can go wrong in the server and client API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding, connecting or another socket operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The address did not resolve: it is malformed (no port, bad port),
    /// the name lookup failed, or it found no address.
    #[error("address {addr:?} did not resolve: {source}")]
    Resolve {
        /// The address as given.
        addr: String,
        /// Why: the resolver's error, or `NotFound` when it found nothing.
        #[source]
        source: io::Error,
    },
    /// The TCP connection was not established within the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The protocol settings cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A limit in the server or client settings is zero.
    #[error("{0} must be greater than zero")]
    InvalidConfig(&'static str),
    /// The message could not be queued (reserved type, queue full, too long).
    #[error(transparent)]
    Send(SendError),
    /// No answer arrived before the request's deadline.
    #[error("request timed out")]
    TimedOut,
    /// The connection ended (before or while the operation ran).
    #[error("connection closed: {0}")]
    Closed(CloseReason),
    /// A request failed for a reason not listed above.
    #[error(transparent)]
    Request(RequestError),
    /// The client is not connected (it is reconnecting, or gave up).
    #[error("not connected")]
    NotConnected,
    /// No peer with this id is connected.
    #[error("no connected peer {0}")]
    UnknownPeer(PeerId),
    /// The TLS session failed: the peer's certificate or key was refused,
    /// ours was, a record did not decrypt, the stream was truncated, or
    /// the peer does not speak TLS.
    #[error("tls: {0}")]
    Tls(veltix_tls::TlsError),
}

impl From<SendError> for Error {
    fn from(err: SendError) -> Self {
        match err {
            SendError::Closed(reason) => Self::Closed(reason),
            other => Self::Send(other),
        }
    }
}

impl From<RequestError> for Error {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::TimedOut => Self::TimedOut,
            RequestError::ConnectionClosed(reason) => Self::Closed(reason),
            other => Self::Request(other),
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        use io::ErrorKind;
        let kind = match &err {
            Error::Io(e) => e.kind(),
            Error::Resolve { .. } | Error::Config(_) | Error::InvalidConfig(_) => {
                ErrorKind::InvalidInput
            }
            Error::ConnectTimeout | Error::TimedOut => ErrorKind::TimedOut,
            Error::Send(SendError::Full) => ErrorKind::WouldBlock,
            Error::Send(_) => ErrorKind::InvalidInput,
            Error::Closed(_) | Error::Request(_) => ErrorKind::ConnectionAborted,
            Error::NotConnected | Error::UnknownPeer(_) => ErrorKind::NotConnected,
            Error::Tls(e) => io::Error::from(e.clone()).kind(),
        };
        match err {
            Error::Io(e) => e,
            other => io::Error::new(kind, other),
        }
    }
}
