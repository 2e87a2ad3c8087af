//! Connection settings and their defaults.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use crate::frame::DEFAULT_MAX_PAYLOAD;

/// Which end of the TCP connection this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that connected; it speaks first in the handshake.
    Client,
    /// The side that accepted.
    Server,
}

/// Whether and how the Veltix handshake is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeMode {
    /// Client: send HELLO first and wait for HELLO_ACK. Server: the first frame
    /// must be HELLO, anything else closes the connection.
    Required,
    /// Server only (its default): speak the handshake with peers whose first
    /// frame is HELLO, and accept legacy peers (Python Veltix 1.x) whose first
    /// frame is anything else, or who stay silent for
    /// [`ConnectionConfig::legacy_wait`]. A client treats this as `Required`.
    AcceptLegacy,
    /// Speak no handshake at all: for a client talking to a legacy server, or a
    /// server that only serves legacy peers.
    Disabled,
}

/// A pre-shared key for mutual HMAC-SHA256 authentication. Never sent on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct PreSharedKey(Arc<[u8]>);

impl PreSharedKey {
    /// A key from its bytes. Use at least 32 random bytes.
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        Self(Arc::from(key.as_ref()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreSharedKey(<redacted>)")
    }
}

/// Settings of one [`Connection`](crate::Connection). Every limit has a default
/// that is safe against a hostile peer; see [`ConnectionConfig::default`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Largest payload accepted from the peer; a larger length field closes the
    /// connection. Default 16 MiB.
    pub max_payload: u32,
    /// Most requests and pings awaiting an answer at once. Default 1024.
    pub max_pending_requests: usize,
    /// Outbound bytes queued before [`send`](crate::Connection::send) says
    /// [`SendError::Full`](crate::SendError::Full). One frame is always
    /// accepted into an empty queue, whatever its size. Default 4 MiB.
    pub max_outbound_bytes: usize,
    /// Handshake behaviour. Default [`HandshakeMode::AcceptLegacy`] (which a
    /// client treats as `Required`).
    pub handshake: HandshakeMode,
    /// Time allowed for the handshake to complete. Default 10 s.
    pub handshake_timeout: Duration,
    /// With [`HandshakeMode::AcceptLegacy`], how long a server waits for a
    /// silent peer's first frame before treating it as a legacy peer. Default 2 s.
    pub legacy_wait: Duration,
    /// A connection that completes no frame for this long is closed (this also
    /// closes a peer trickling half a frame). `None` disables it. Default 30 s.
    pub idle_timeout: Option<Duration>,
    /// After this much send-silence a keep-alive is sent: HEARTBEAT to peers
    /// that negotiated it, PING to legacy peers (they answer PONG). `None`
    /// disables it. Default 10 s.
    pub heartbeat_interval: Option<Duration>,
    /// Pre-shared key. A server with a key closes every peer that does not prove
    /// it (legacy peers included); a client with a key refuses a server that
    /// does not prove it. Default none.
    pub pre_shared_key: Option<PreSharedKey>,
    /// Protocol versions this side speaks; the highest common one wins.
    /// Default `1..=1`.
    pub protocol_versions: RangeInclusive<u16>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_pending_requests: 1024,
            max_outbound_bytes: 4 * 1024 * 1024,
            handshake: HandshakeMode::AcceptLegacy,
            handshake_timeout: Duration::from_secs(10),
            legacy_wait: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(30)),
            heartbeat_interval: Some(Duration::from_secs(10)),
            pre_shared_key: None,
            protocol_versions: PROTOCOL_VERSION..=PROTOCOL_VERSION,
        }
    }
}

/// The protocol version this release speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `protocol_versions` is empty.
    #[error("protocol version range is empty")]
    EmptyVersionRange,
    /// The heartbeat interval is not shorter than the idle timeout, so a quiet
    /// but healthy peer would be closed.
    #[error("heartbeat interval {heartbeat:?} must be shorter than the idle timeout {idle:?}")]
    HeartbeatNotBelowIdle {
        /// The heartbeat interval.
        heartbeat: Duration,
        /// The idle timeout.
        idle: Duration,
    },
    /// A limit is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// An empty pre-shared key.
    #[error("the pre-shared key is empty")]
    EmptyKey,
    /// A pre-shared key is proven in the handshake, which is disabled.
    #[error("a pre-shared key needs the handshake, which is disabled")]
    KeyWithoutHandshake,
}

impl ConnectionConfig {
    /// Checks that the settings can work together.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.protocol_versions.is_empty() {
            return Err(ConfigError::EmptyVersionRange);
        }
        if let (Some(heartbeat), Some(idle)) = (self.heartbeat_interval, self.idle_timeout)
            && heartbeat >= idle
        {
            return Err(ConfigError::HeartbeatNotBelowIdle { heartbeat, idle });
        }
        if self.max_pending_requests == 0 {
            return Err(ConfigError::ZeroLimit("max_pending_requests"));
        }
        if self.max_outbound_bytes == 0 {
            return Err(ConfigError::ZeroLimit("max_outbound_bytes"));
        }
        if let Some(key) = &self.pre_shared_key {
            if key.as_bytes().is_empty() {
                return Err(ConfigError::EmptyKey);
            }
            if self.handshake == HandshakeMode::Disabled {
                return Err(ConfigError::KeyWithoutHandshake);
            }
        }
        Ok(())
    }
}
