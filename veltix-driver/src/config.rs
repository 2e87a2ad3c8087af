//! Server and client settings, validated, with defaults.

use std::time::Duration;

use veltix_core::{ConnectionConfig, Dialect, HandshakeMode, KeyStore, PreSharedKey, Role};
use veltix_tls::{TlsClientConfig, TlsServerConfig};

use crate::{Error, FlowControl};

/// Settings of a [`Server`](crate::Server).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to bind, such as `"127.0.0.1:7000"` (port 0 picks a free port).
    pub addr: String,
    /// Protocol settings applied to every connection.
    pub connection: ConnectionConfig,
    /// Peers served at once; one more gets an ERROR frame ("server full") and
    /// is closed. Default 10 000.
    pub max_connections: usize,
    /// Events kept for the event stream while nobody has taken it (later
    /// ones are dropped). Once taken, the stream is bounded per peer by
    /// [`flow`](Self::flow). Default 1024.
    pub event_capacity: usize,
    /// Read flow control and the write-stall timeout of every peer.
    /// Sends and requests queued for a peer (by any handle) wait, or get
    /// `Full`, once they hold `connection.max_outbound_bytes` or
    /// `flow.high_water` plus `read_chunk`, whichever is larger.
    pub flow: FlowControl,
    /// Bytes read from a socket at once. Default 64 KiB.
    pub read_chunk: usize,
    /// How long [`Server::shutdown`](crate::Server::shutdown) waits for peers
    /// to flush before dropping them. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Async handlers ([`route_async`](crate::Server::route_async),
    /// [`on_message_async`](crate::Server::on_message_async)) running at
    /// once for one peer. At 1 (the default) a peer's messages are handled
    /// one after the other, in the order they arrived; above, up to this
    /// many overlap (each still starts in arrival order). Messages waiting
    /// for a handler count towards the peer's flow control (see
    /// [`flow`](Self::flow)).
    pub handler_concurrency: usize,
    /// TLS 1.3 for every peer: nothing from a peer reaches the application
    /// before its TLS handshake completes (and, with client certificates
    /// required, verifies it). The TLS handshake must finish within
    /// `connection.handshake_timeout`. Default none (plaintext).
    pub tls: Option<TlsServerConfig>,
}

impl ServerConfig {
    /// Defaults, listening on `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            connection: ConnectionConfig::default(),
            max_connections: 10_000,
            event_capacity: 1024,
            flow: FlowControl::default(),
            read_chunk: 64 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            handler_concurrency: 1,
            tls: None,
        }
    }

    /// What each connection runs with: under TLS, the transport is
    /// authenticated, so two Veltix peers may agree to skip the per-frame
    /// SHA-256 (TLS's AEAD already protects every byte).
    pub(crate) fn connection_settings(&self) -> ConnectionConfig {
        let mut settings = self.connection.clone();
        settings.transport_authenticated |= self.tls.is_some();
        settings
    }

    /// Sets [`handler_concurrency`](Self::handler_concurrency).
    #[must_use]
    pub fn handler_concurrency(mut self, n: usize) -> Self {
        self.handler_concurrency = n;
        self
    }

    /// Serves every peer over TLS 1.3 with `tls`.
    #[must_use]
    pub fn tls(mut self, tls: TlsServerConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets the protocol settings.
    #[must_use]
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Requires every peer to prove `key` (legacy peers are then refused).
    #[must_use]
    pub fn pre_shared_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.connection.pre_shared_key = Some(PreSharedKey::new(key));
        self
    }

    /// Gives every client a key of its own: a client names itself
    /// ([`ClientConfig::client_id`]) and proves the key `keys` holds for
    /// that name; an unknown name is refused exactly as a wrong key is. The
    /// verified name is [`Peer::client_id`](crate::Peer::client_id). With
    /// [`pre_shared_key`](Self::pre_shared_key) as well, clients that name
    /// no one prove that shared key instead. Native dialect only.
    #[must_use]
    pub fn client_keys(mut self, keys: impl Into<KeyStore>) -> Self {
        self.connection.key_store = Some(keys.into());
        self
    }

    /// Speaks `dialect` with every peer: [`Dialect::Python3`] to serve
    /// Python Veltix 2.x/3.x clients, [`Dialect::Python14`] for 1.4–1.6.
    /// The default, [`Dialect::Native`], also serves Python 1.2/1.3 clients.
    #[must_use]
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.connection.dialect = dialect;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] or [`Error::InvalidConfig`].
    pub fn validate(&self) -> Result<(), Error> {
        self.connection.validate_for(Role::Server)?;
        check_flow(&self.flow)?;
        nonzero(&[
            ("max_connections", self.max_connections),
            ("event_capacity", self.event_capacity),
            ("read_chunk", self.read_chunk),
            ("handler_concurrency", self.handler_concurrency),
        ])
    }
}

/// Exponential backoff with jitter between reconnection attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Reconnect {
    /// Wait before the first attempt. Default 100 ms.
    pub initial_delay: Duration,
    /// Longest wait between attempts. Default 10 s.
    pub max_delay: Duration,
    /// Growth of the wait per failed attempt. Default 2.
    pub multiplier: f64,
    /// Each wait is shortened by a random fraction up to this (0–1). Default 0.2.
    pub jitter: f64,
    /// Attempts before giving up; `None` for ever. Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// The wait before attempt `attempt` (0-based), with `unit` ∈ [0, 1) drawn at random.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(attempt.min(64)).unwrap_or(64));
        let base = self.initial_delay.as_secs_f64() * exp;
        let capped = base.min(self.max_delay.as_secs_f64());
        let jittered = capped * (1.0 - self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0));
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

/// Settings of a [`Client`](crate::Client).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Server address, such as `"127.0.0.1:7000"`.
    pub addr: String,
    /// Protocol settings.
    pub connection: ConnectionConfig,
    /// Time allowed for the TCP connection (the handshake has its own timeout). Default 10 s.
    pub connect_timeout: Duration,
    /// Reconnect after a lost connection. Default none.
    pub reconnect: Option<Reconnect>,
    /// Events kept for the event stream while nobody has taken it (later
    /// ones are dropped). Once taken, it is bounded by [`flow`](Self::flow).
    /// Default 1024.
    pub event_capacity: usize,
    /// Read flow control and the write-stall timeout. Sends and requests
    /// wait, or get `Full`, once they hold `connection.max_outbound_bytes`
    /// or `flow.high_water` plus `read_chunk`, whichever is larger.
    pub flow: FlowControl,
    /// Async handlers ([`route_async`](crate::Client::route_async),
    /// [`on_message_async`](crate::Client::on_message_async)) running at
    /// once. At 1 (the default) messages are handled one after the other, in
    /// the order they arrived; above, up to this many overlap. Messages
    /// waiting for a handler count towards flow control.
    pub handler_concurrency: usize,
    /// Bytes read from the socket at once. Default 64 KiB.
    pub read_chunk: usize,
    /// TLS 1.3 to the server. Default none (plaintext).
    pub tls: Option<ClientTls>,
}

/// A client's TLS: its settings and the name the server's certificate must
/// carry (with a CA; in pinned mode it is only sent as SNI).
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Trust (CA file, pinned key) and an optional client certificate.
    pub config: TlsClientConfig,
    /// The server's name; `None`: the host part of the client's `addr`.
    pub server_name: Option<String>,
}

impl ClientTls {
    /// The name to verify: the configured one, or `addr`'s host.
    pub(crate) fn server_name<'a>(&'a self, addr: &'a str) -> &'a str {
        self.server_name.as_deref().unwrap_or_else(|| {
            addr.rsplit_once(':')
                .map_or(addr, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']')
        })
    }
}

impl ClientConfig {
    /// Defaults, connecting to `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            connection: ConnectionConfig::default(),
            connect_timeout: Duration::from_secs(10),
            reconnect: None,
            event_capacity: 1024,
            flow: FlowControl::default(),
            read_chunk: 64 * 1024,
            handler_concurrency: 1,
            tls: None,
        }
    }

    /// What each connection runs with (see [`ServerConfig`]'s): under TLS
    /// the per-frame SHA-256 may be skipped by agreement.
    pub(crate) fn connection_settings(&self) -> ConnectionConfig {
        let mut settings = self.connection.clone();
        settings.transport_authenticated |= self.tls.is_some();
        settings
    }

    /// Sets [`handler_concurrency`](Self::handler_concurrency).
    #[must_use]
    pub fn handler_concurrency(mut self, n: usize) -> Self {
        self.handler_concurrency = n;
        self
    }

    /// Connects over TLS 1.3 with `config`, checking the server's
    /// certificate against the host part of `addr` (see
    /// [`tls_server_name`](Self::tls_server_name) to name another).
    #[must_use]
    pub fn tls(mut self, config: TlsClientConfig) -> Self {
        self.tls = Some(ClientTls {
            config,
            server_name: None,
        });
        self
    }

    /// The name the server's certificate must carry, when it is not the
    /// host part of `addr` (say, connecting to an IP address). Takes effect
    /// with [`tls`](Self::tls).
    #[must_use]
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.server_name = Some(name.into());
        }
        self
    }

    /// Skips the handshake, for legacy servers (Python Veltix 1.2/1.3):
    /// the same as `dialect(Dialect::Legacy)`.
    #[must_use]
    pub fn legacy(mut self) -> Self {
        self.connection.handshake = HandshakeMode::Disabled;
        self
    }

    /// Speaks `dialect` with the server: [`Dialect::Python3`] for a Python
    /// Veltix 2.x/3.x server, [`Dialect::Python14`] for 1.4–1.6,
    /// [`Dialect::Legacy`] for 1.2/1.3.
    #[must_use]
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.connection.dialect = dialect;
        self
    }

    /// Proves `key` to the server and requires the server to prove it.
    #[must_use]
    pub fn pre_shared_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.connection.pre_shared_key = Some(PreSharedKey::new(key));
        self
    }

    /// Names this client to a server that gives every client its own key
    /// ([`ServerConfig::client_keys`]); prove it with
    /// [`pre_shared_key`](Self::pre_shared_key), this client's own key.
    /// The name is bound into both proofs, so no other client's key works.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.connection.client_id = Some(id.into());
        self
    }

    /// Reconnects after a lost connection with this backoff.
    #[must_use]
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// Sets the protocol settings.
    #[must_use]
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] or [`Error::InvalidConfig`].
    pub fn validate(&self) -> Result<(), Error> {
        self.connection.validate_for(Role::Client)?;
        check_flow(&self.flow)?;
        nonzero(&[
            ("event_capacity", self.event_capacity),
            ("read_chunk", self.read_chunk),
            ("handler_concurrency", self.handler_concurrency),
        ])
    }
}

fn check_flow(flow: &FlowControl) -> Result<(), Error> {
    match flow.invalid() {
        Some(name) => Err(Error::InvalidConfig(name)),
        None => Ok(()),
    }
}

/// The first of the named limits that is zero, as an error.
fn nonzero(limits: &[(&'static str, usize)]) -> Result<(), Error> {
    match limits.iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => Err(Error::InvalidConfig(name)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_down() {
        let r = Reconnect::default();
        assert_eq!(r.delay(0, 0.0), Duration::from_millis(100));
        assert_eq!(r.delay(3, 0.0), Duration::from_millis(800));
        assert_eq!(r.delay(30, 0.0), Duration::from_secs(10));
        assert_eq!(r.delay(u32::MAX, 0.0), Duration::from_secs(10));
        let jittered = r.delay(0, 0.5);
        assert_eq!(jittered, Duration::from_millis(90));
    }

    #[test]
    fn zero_limits_are_refused() {
        let mut c = ServerConfig::new("127.0.0.1:0");
        assert!(c.validate().is_ok());
        c.max_connections = 0;
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidConfig("max_connections"))
        ));
    }
}
