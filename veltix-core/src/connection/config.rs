//! Connection settings and their defaults.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use super::dialect::Dialect;
use super::ids::COMPACT_SERVER_WINDOW;
use super::python14;
use crate::compression::Compression;
use crate::wire::{DEFAULT_MAX_PAYLOAD, Wire};

/// Which end of the TCP connection this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that connected; it speaks first in the handshake.
    Client,
    /// The side that accepted.
    Server,
}

/// Whether and how the native Veltix handshake is spoken. Read only by
/// [`Dialect::Native`]; `Disabled` there is the same as [`Dialect::Legacy`].
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

/// Longest client id, in bytes ([`ConnectionConfig::client_id`]): its
/// length travels in one byte of the HELLO.
pub const MAX_CLIENT_ID_LEN: usize = 255;

type Lookup = dyn Fn(&str) -> Option<PreSharedKey> + Send + Sync;

/// A server's per-client pre-shared keys, looked up by the id a client names
/// itself with ([`ConnectionConfig::client_id`]).
///
/// Cheap to clone (one `Arc`) and shared by every connection of a server.
/// The lookup runs once per handshake, inside
/// [`Connection::handle_input`](crate::Connection::handle_input), on the
/// driver's thread: it must be quick and must not block (keep the keys in
/// memory; to rotate them, look them up in a map behind a lock that the
/// closure reads). A key that is empty counts as unknown.
///
/// What a server with a key store does is described on
/// [`ConnectionConfig::key_store`].
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use veltix_core::{ConnectionConfig, KeyStore, PreSharedKey};
///
/// let keys = HashMap::from([
///     ("sensor-17".to_owned(), PreSharedKey::new(b"32 random bytes for sensor-17...")),
///     ("dashboard".to_owned(), PreSharedKey::new(b"32 other random bytes, for dash.")),
/// ]);
/// let mut server = ConnectionConfig::default();
/// server.key_store = Some(KeyStore::from(keys));
///
/// let mut client = ConnectionConfig::default();
/// client.client_id = Some("sensor-17".to_owned());
/// client.pre_shared_key = Some(PreSharedKey::new(b"32 random bytes for sensor-17..."));
/// # server.validate()?; client.validate()?;
/// # Ok::<(), veltix_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeyStore(Arc<Lookup>);

impl KeyStore {
    /// A store that asks `lookup` for the key of a client id (`None`: no
    /// such client).
    pub fn new(lookup: impl Fn(&str) -> Option<PreSharedKey> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    /// The key of `client_id`, if the store knows it (an empty key counts as
    /// unknown).
    pub fn lookup(&self, client_id: &str) -> Option<PreSharedKey> {
        (self.0)(client_id).filter(|key| !key.as_bytes().is_empty())
    }
}

impl From<HashMap<String, PreSharedKey>> for KeyStore {
    /// A fixed set of keys, by client id.
    fn from(keys: HashMap<String, PreSharedKey>) -> Self {
        Self::new(move |id| keys.get(id).cloned())
    }
}

impl FromIterator<(String, PreSharedKey)> for KeyStore {
    fn from_iter<I: IntoIterator<Item = (String, PreSharedKey)>>(keys: I) -> Self {
        Self::from(keys.into_iter().collect::<HashMap<_, _>>())
    }
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyStore(<lookup>)")
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
    /// Which handshake and wire to speak. Default [`Dialect::Native`].
    pub dialect: Dialect,
    /// The version this side announces in the Python dialects: in HELLO for
    /// [`Dialect::Python14`] (a server's; it must read `MAJOR.MINOR.PATCH`),
    /// as `"v"` for [`Dialect::Python3`] (either side's; at most 256 bytes).
    /// `None`: [`Dialect::default_announce_version`] (`1.6.1`, `3.3.0`).
    /// A Python14 client answers with the server's own `MAJOR.MINOR`.
    /// Ignored by the other dialects.
    pub announce_version: Option<String>,
    /// Handshake behaviour of [`Dialect::Native`] (the other dialects fix
    /// their own). Default [`HandshakeMode::AcceptLegacy`] (which a client
    /// treats as `Required`).
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
    /// does not prove it. Only [`Dialect::Native`] can prove a key. Default none.
    ///
    /// A client with a [`client_id`](Self::client_id) puts its own key here.
    /// On a server that also has a [`key_store`](Self::key_store), this key is
    /// the one proven by clients that send no client id.
    pub pre_shared_key: Option<PreSharedKey>,
    /// Client only: the id this client names itself with in its HELLO, so a
    /// server with a [`key_store`](Self::key_store) picks its key. UTF-8, 1 to
    /// [`MAX_CLIENT_ID_LEN`] (255) bytes; needs a
    /// [`pre_shared_key`](Self::pre_shared_key) (the id is proven with it,
    /// never believed on its own). Not secret: it crosses the wire in clear.
    ///
    /// A server without a key store (this release's or an older one) ignores
    /// the id: the client then proves its key as if it had sent none, and is
    /// accepted if that key is the server's shared key. Default none.
    pub client_id: Option<String>,
    /// Server only: per-client keys, looked up by the id each client sends
    /// ([`client_id`](Self::client_id)). Only [`Dialect::Native`] with the
    /// handshake enabled. Default none. With a store:
    ///
    /// - a client that names itself must prove the key the store gives for
    ///   its id; the id is bound into both proofs, so it cannot be swapped on
    ///   the wire nor claimed with another client's key. Once the proof is
    ///   checked, [`Connection::peer_client_id`](crate::Connection::peer_client_id)
    ///   returns it;
    /// - an id the store does not know is refused exactly as a wrong key is
    ///   (same close code 2, same reason text, same frames: the server
    ///   answers with a proof under a random decoy key), so a client cannot
    ///   learn which ids exist;
    /// - a client that sends no id must prove
    ///   [`pre_shared_key`](Self::pre_shared_key) if one is set (a way to
    ///   migrate from one shared key: its clients keep working and report no
    ///   id), and is refused (`AuthFailed`, code 2) if none is;
    /// - legacy peers are refused, as with a pre-shared key.
    pub key_store: Option<KeyStore>,
    /// Protocol versions this side speaks; the highest common one wins.
    /// Default `1..=1`.
    pub protocol_versions: RangeInclusive<u16>,
    /// Payload compression ([`compression`](crate::compression)): `Some`
    /// offers it in the native handshake (feature COMPRESSION, with the
    /// algorithms this release speaks: LZ4). When the peer offers it too,
    /// each side sends payloads of at least its own
    /// [`threshold`](Compression::threshold) compressed whenever that makes
    /// them shorter, and reads compressed payloads within
    /// [`max_payload`](Self::max_payload) (a payload declaring more, or
    /// expanding past what it declares, closes the connection). A peer
    /// that does not offer it — legacy, Python, an older release — gets
    /// exactly the frames it would get without this setting.
    ///
    /// Frames held back until the handshake completes are compressed when
    /// it does; frames given to
    /// [`send_frame`](crate::Connection::send_frame) (encoded once for many
    /// peers) are sent as they were encoded. Under TLS, do not compress
    /// messages that mix a secret with bytes an attacker chooses
    /// ([`compression`](crate::compression#compression-and-encryption)).
    /// Read by [`Dialect::Native`] only. Default `None` (off): why, with
    /// numbers, in [`compression`](crate::compression#off-by-default).
    pub compression: Option<Compression>,
    /// Set by the driver when the transport below this connection
    /// authenticates and integrity-protects every byte: TLS, or an
    /// equivalent (an SSH tunnel, a WireGuard link). The native handshake
    /// then offers (feature UNHASHED) to leave out the per-frame SHA-256,
    /// which such a transport makes redundant; when the peer offers it too,
    /// neither side computes nor checks it (the hash field holds zeros), and
    /// a corrupted payload would be delivered as it is — integrity is the
    /// transport's job then. Frames encoded once for many peers may still
    /// carry a real hash; it is not checked either.
    ///
    /// Never set it over plain TCP: the hash is what catches corruption
    /// there. With a peer that does not offer it, frames are hashed and
    /// checked as always. Read by [`Dialect::Native`] only. Default `false`.
    pub transport_authenticated: bool,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_pending_requests: 1024,
            max_outbound_bytes: 4 * 1024 * 1024,
            dialect: Dialect::Native,
            announce_version: None,
            handshake: HandshakeMode::AcceptLegacy,
            handshake_timeout: Duration::from_secs(10),
            legacy_wait: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(30)),
            heartbeat_interval: Some(Duration::from_secs(10)),
            pre_shared_key: None,
            client_id: None,
            key_store: None,
            protocol_versions: PROTOCOL_VERSION..=PROTOCOL_VERSION,
            compression: None,
            transport_authenticated: false,
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
    /// A pre-shared key was asked for in a dialect that cannot prove one:
    /// authentication exists only in [`Dialect::Native`].
    #[error("a pre-shared key needs the native dialect; {dialect:?} has no authentication")]
    KeyNeedsNativeDialect {
        /// The configured dialect.
        dialect: Dialect,
    },
    /// [`HandshakeMode::Disabled`] with a Python dialect, whose handshake
    /// cannot be switched off (use [`Dialect::Legacy`] for no handshake).
    #[error("the {dialect:?} dialect always speaks its handshake; use Dialect::Legacy for none")]
    HandshakeDisabledInDialect {
        /// The configured dialect.
        dialect: Dialect,
    },
    /// [`ConnectionConfig::announce_version`] cannot be announced in the dialect.
    #[error("cannot announce version {version:?}: {why}")]
    InvalidAnnounceVersion {
        /// The configured version.
        version: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// [`ConnectionConfig::client_id`] is empty or longer than
    /// [`MAX_CLIENT_ID_LEN`] (255) bytes.
    #[error("the client id must be 1 to 255 bytes long, not {len}")]
    InvalidClientId {
        /// Its length in bytes.
        len: usize,
    },
    /// A [`client_id`](ConnectionConfig::client_id) without a
    /// [`pre_shared_key`](ConnectionConfig::pre_shared_key) to prove it.
    #[error("a client id needs a pre-shared key to prove it")]
    ClientIdWithoutKey,
    /// A setting that only the other role reads: a
    /// [`key_store`](ConnectionConfig::key_store) on a client (which would
    /// then authenticate nothing), a [`client_id`](ConnectionConfig::client_id)
    /// on a server.
    #[error("{setting} is not a {role:?} setting")]
    NotForRole {
        /// The setting.
        setting: &'static str,
        /// The role of the connection.
        role: Role,
    },
    /// On the compact wire a side has at most `window` request ids (30 000
    /// for a server), and an id still pending is never reused, so fewer
    /// requests than that may be pending.
    #[error("max_pending_requests {max_pending} must be below the compact wire's {window} ids")]
    PendingAboveIdWindow {
        /// The configured limit.
        max_pending: usize,
        /// Ids a side can hand out.
        window: usize,
    },
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
        let dialect = self.dialect;
        if dialect.is_python() && self.handshake == HandshakeMode::Disabled {
            return Err(ConfigError::HandshakeDisabledInDialect { dialect });
        }
        if let Some(key) = &self.pre_shared_key
            && key.as_bytes().is_empty()
        {
            return Err(ConfigError::EmptyKey);
        }
        if self.pre_shared_key.is_some() || self.key_store.is_some() {
            if dialect != Dialect::Native {
                return Err(ConfigError::KeyNeedsNativeDialect { dialect });
            }
            if self.handshake == HandshakeMode::Disabled {
                return Err(ConfigError::KeyWithoutHandshake);
            }
        }
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
                return Err(ConfigError::InvalidClientId { len: id.len() });
            }
            if self.pre_shared_key.is_none() {
                return Err(ConfigError::ClientIdWithoutKey);
            }
        }
        if let Some(version) = &self.announce_version
            && dialect.is_python()
        {
            check_announce_version(dialect, version)?;
        }
        let window = usize::from(COMPACT_SERVER_WINDOW);
        if dialect.wire() == Wire::Compact && self.max_pending_requests >= window {
            return Err(ConfigError::PendingAboveIdWindow {
                max_pending: self.max_pending_requests,
                window,
            });
        }
        Ok(())
    }

    /// [`validate`](Self::validate), and that no setting of the other role is
    /// set ([`ConfigError::NotForRole`]). [`Connection::new`](crate::Connection::new)
    /// runs this.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate_for(&self, role: Role) -> Result<(), ConfigError> {
        self.validate()?;
        let misplaced = match role {
            Role::Client => self.key_store.is_some().then_some("key_store"),
            Role::Server => self.client_id.is_some().then_some("client_id"),
        };
        match misplaced {
            Some(setting) => Err(ConfigError::NotForRole { setting, role }),
            None => Ok(()),
        }
    }

    /// Whether a server with these settings requires every peer to prove a
    /// key (a shared key or a key store).
    pub(crate) fn requires_auth(&self) -> bool {
        self.pre_shared_key.is_some() || self.key_store.is_some()
    }

    /// The dialect in effect: [`Dialect::Native`] with the handshake
    /// disabled is [`Dialect::Legacy`].
    pub fn effective_dialect(&self) -> Dialect {
        if self.dialect == Dialect::Native && self.handshake == HandshakeMode::Disabled {
            Dialect::Legacy
        } else {
            self.dialect
        }
    }

    /// The wire a connection with these settings speaks: use it to encode a
    /// frame once for many such connections
    /// ([`Wire::encode`](crate::wire::Wire::encode)).
    pub fn wire(&self) -> Wire {
        self.dialect.wire()
    }

    /// The version announced in the Python dialects (configured or default).
    pub(crate) fn announced_version(&self) -> &str {
        self.announce_version
            .as_deref()
            .or(self.dialect.default_announce_version())
            .unwrap_or_default()
    }
}

/// Longest version this side will announce (Python Veltix checks none; this
/// keeps the handshake small).
const MAX_ANNOUNCE_LEN: usize = 256;

fn check_announce_version(dialect: Dialect, version: &str) -> Result<(), ConfigError> {
    let refuse = |why| {
        Err(ConfigError::InvalidAnnounceVersion {
            version: version.to_owned(),
            why,
        })
    };
    if version.is_empty() || version.len() > MAX_ANNOUNCE_LEN {
        return refuse("it must be 1 to 256 bytes long");
    }
    if dialect == Dialect::Python14 && python14::parse_version(version).is_none() {
        return refuse("Python Veltix 1.4 - 1.6 peers read MAJOR.MINOR.PATCH");
    }
    Ok(())
}
