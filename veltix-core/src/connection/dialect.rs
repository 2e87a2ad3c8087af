//! Which handshake a connection speaks, and so which wire.

use crate::wire::Wire;

/// The handshake (and with it the wire) a [`Connection`](crate::Connection)
/// speaks. Chosen by configuration
/// ([`ConnectionConfig::dialect`](crate::ConnectionConfig::dialect)), never
/// guessed: a server cannot tell a silent Python 1.4 client from any other
/// silent client, so a listener speaks the dialect it is configured for.
///
/// | dialect | wire | handshake | keep-alive | pre-shared key |
/// |---|---|---|---|---|
/// | `Native` | classic | ours (client first) | HEARTBEAT, or PING to a legacy peer | yes |
/// | `Python14` | classic | HELLO / HELLO_ACK, server first | PING | no |
/// | `Python3` | compact | JSON, server first | PING | no |
/// | `Legacy` | classic | none | PING | no |
///
/// Requests, replies and ping work the same in every dialect. Asking for a
/// pre-shared key outside `Native` is a [`ConfigError`](crate::ConfigError),
/// never a silent downgrade. The byte-level description of each is in the
/// crate's `docs/protocol.md`.
///
/// Two connections in the Python 3.x dialect, in memory:
///
/// ```
/// use std::time::Instant;
/// use bytes::{Buf, Bytes};
/// use veltix_core::{Connection, ConnectionConfig, Dialect, Role};
///
/// fn written(conn: &mut Connection) -> Bytes {
///     let mut t = conn.poll_transmit().expect("something to send");
///     t.copy_to_bytes(t.remaining())
/// }
///
/// let mut config = ConnectionConfig::default();
/// config.dialect = Dialect::Python3;
/// let now = Instant::now();
/// let mut server = Connection::new(Role::Server, config.clone(), now, 0, [1; 32])?;
/// let mut client = Connection::new(Role::Client, config, now, 0, [2; 32])?;
///
/// // The server speaks first, with the bytes Python Veltix 3.3 sends.
/// let greeting = written(&mut server);
/// assert_eq!(&greeting[..], &b"\x00\x27{\"v\": \"3.3.0\", \"pv\": \"1.0\", \"meta\": {}}"[..]);
/// client.handle_input(now, &greeting);
/// server.handle_input(now, &written(&mut client));
/// client.handle_input(now, &written(&mut server)); // {"result": "ok"}
/// assert!(client.is_established() && server.is_established());
/// assert_eq!(client.peer_version(), Some("3.3.0"));
/// # Ok::<(), veltix_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// This crate's own handshake (version and feature negotiation, optional
    /// mutual authentication, heartbeats, close reasons). A server still
    /// accepts Python Veltix 1.2/1.3 peers, which send no handshake, as
    /// [`HandshakeMode`](crate::HandshakeMode) allows.
    #[default]
    Native,
    /// Python Veltix 1.4.0 – 1.6.1: classic frames; the server sends HELLO
    /// (`[u16 len][version]`), the client answers HELLO_ACK with the same
    /// request id; `major.minor` must be equal. This side announces
    /// [`announce_version`](crate::ConnectionConfig::announce_version),
    /// `1.6.1` by default.
    Python14,
    /// Python Veltix 2.0.3 – 3.3: compact "VX" frames after a JSON handshake
    /// in which the server speaks first; the `pv` majors must be equal. This
    /// side announces
    /// [`announce_version`](crate::ConnectionConfig::announce_version),
    /// `3.3.0` by default, and protocol version `1.0`.
    Python3,
    /// Classic frames and no handshake at all (Python Veltix 1.2 / 1.3):
    /// what [`HandshakeMode::Disabled`](crate::HandshakeMode::Disabled) is
    /// to the native dialect.
    Legacy,
}

impl Dialect {
    /// The wire this dialect's frames use.
    pub const fn wire(self) -> Wire {
        match self {
            Self::Native | Self::Python14 | Self::Legacy => Wire::Classic,
            Self::Python3 => Wire::Compact,
        }
    }

    /// The version this side announces in this dialect unless configured
    /// otherwise; `None` for the dialects that announce none.
    pub const fn default_announce_version(self) -> Option<&'static str> {
        match self {
            Self::Python14 => Some("1.6.1"),
            Self::Python3 => Some("3.3.0"),
            Self::Native | Self::Legacy => None,
        }
    }

    /// Whether this is one of Python Veltix's handshakes (which close on a
    /// failed handshake without a word, and know no ERROR close frame).
    pub(crate) const fn is_python(self) -> bool {
        matches!(self, Self::Python14 | Self::Python3)
    }
}
