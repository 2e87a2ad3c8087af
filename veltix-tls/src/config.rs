//! Client and server configurations: built once, shared by every session.

use std::path::Path;
use std::sync::Arc;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::version::TLS13;

use crate::provider::{Cipher, KeyExchange, provider};
use crate::verifier::PinnedServerKey;
use crate::{CaCerts, ServerTrust, SpkiPin, TlsError, pem};

/// Ciphertext a session holds at most for the peer (plus one record):
/// [`TlsSession::write_plaintext`](crate::TlsSession::write_plaintext)
/// accepts no more until the driver writes some out. One large socket
/// write's worth, as the driver's write chunk.
pub const DEFAULT_BUFFER_LIMIT: usize = 64 * 1024;

/// Settings both sides share.
#[derive(Debug, Clone)]
struct Common {
    ciphers: Vec<Cipher>,
    groups: Vec<KeyExchange>,
    buffer_limit: usize,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            ciphers: Cipher::ALL.to_vec(),
            groups: KeyExchange::ALL.to_vec(),
            buffer_limit: DEFAULT_BUFFER_LIMIT,
        }
    }
}

impl Common {
    fn provider(&self) -> Result<Arc<CryptoProvider>, TlsError> {
        if self.ciphers.is_empty() {
            return Err(TlsError::Config("no cipher suite enabled".to_owned()));
        }
        if self.groups.is_empty() {
            return Err(TlsError::Config("no key exchange enabled".to_owned()));
        }
        if self.buffer_limit == 0 {
            return Err(TlsError::Config(
                "the buffer limit must not be 0".to_owned(),
            ));
        }
        Ok(provider(&self.ciphers, &self.groups))
    }
}

fn config_error(what: &str, error: impl std::fmt::Display) -> TlsError {
    TlsError::Config(format!("{what}: {error}"))
}

/// A client's TLS settings: whom it trusts, what it offers, and optionally
/// its own certificate for servers that require one. Cheap to clone; build
/// once and make a [`TlsSession::client`](crate::TlsSession::client) per connection.
#[derive(Debug, Clone)]
pub struct TlsClientConfig {
    pub(crate) rustls: Arc<rustls::ClientConfig>,
    pub(crate) buffer_limit: usize,
}

impl TlsClientConfig {
    /// Starts a configuration that trusts servers as `trust` says.
    pub fn builder(trust: ServerTrust) -> TlsClientConfigBuilder {
        TlsClientConfigBuilder {
            trust,
            identity: None,
            common: Common::default(),
        }
    }

    /// The rustls configuration inside, for inspection.
    pub fn rustls(&self) -> &Arc<rustls::ClientConfig> {
        &self.rustls
    }
}

/// Builds a [`TlsClientConfig`].
#[derive(Debug)]
#[must_use]
pub struct TlsClientConfigBuilder {
    trust: ServerTrust,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    common: Common,
}

impl TlsClientConfigBuilder {
    /// The client certificate (chain, end-entity first) and its key, shown
    /// to servers that ask for one (mutual TLS).
    pub fn client_cert(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.identity = Some((chain, key));
        self
    }

    /// [`client_cert`](Self::client_cert) from PEM files.
    ///
    /// # Errors
    /// [`TlsError::File`] or [`TlsError::Pem`], with the path.
    pub fn client_cert_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let chain = pem::certs_from_file(cert_chain.as_ref())?;
        let key = pem::key_from_file(key.as_ref())?;
        Ok(self.client_cert(chain, key))
    }

    /// The cipher suites offered, most preferred first (default: [`Cipher::ALL`]).
    pub fn cipher_suites(mut self, ciphers: &[Cipher]) -> Self {
        self.common.ciphers = ciphers.to_vec();
        self
    }

    /// The key exchange groups offered, most preferred first (default:
    /// [`KeyExchange::ALL`], post-quantum hybrid first).
    pub fn key_exchanges(mut self, groups: &[KeyExchange]) -> Self {
        self.common.groups = groups.to_vec();
        self
    }

    /// Ciphertext held at most for the peer (default [`DEFAULT_BUFFER_LIMIT`]).
    pub fn buffer_limit(mut self, bytes: usize) -> Self {
        self.common.buffer_limit = bytes;
        self
    }

    /// The configuration.
    ///
    /// # Errors
    /// [`TlsError::Config`] for an empty list of suites or groups, an empty
    /// CA set, no pin, or a client key that does not match its certificate
    /// or is of an unsupported type.
    pub fn build(self) -> Result<TlsClientConfig, TlsError> {
        let provider = self.common.provider()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&TLS13])
            .map_err(|e| config_error("protocol versions", e))?;
        let builder = match self.trust {
            ServerTrust::Ca(cas) => {
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(cas.store), provider)
                        .build()
                        .map_err(|e| config_error("CA certificates", e))?;
                builder.with_webpki_verifier(verifier)
            }
            ServerTrust::Pinned(pins) => {
                if pins.is_empty() {
                    return Err(TlsError::Config("no server key pinned".to_owned()));
                }
                let algorithms = provider.signature_verification_algorithms;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(PinnedServerKey::new(pins, algorithms))
            }
        };
        let mut config = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error("client certificate", e))?,
            None => builder.with_no_client_auth(),
        };
        // Veltix connections are long-lived: resumption would save little,
        // and without it every session's identity comes from a verification
        // (or pin check) made in that very handshake.
        config.resumption = Resumption::disabled();
        Ok(TlsClientConfig {
            rustls: Arc::new(config),
            buffer_limit: self.common.buffer_limit,
        })
    }
}

/// A server's TLS settings: its certificate and key, what it offers, and
/// optionally the CAs its clients' certificates must come from. Cheap to
/// clone; build once and make a
/// [`TlsSession::server`](crate::TlsSession::server) per accepted connection.
#[derive(Debug, Clone)]
pub struct TlsServerConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
    pub(crate) buffer_limit: usize,
    pin: SpkiPin,
}

impl TlsServerConfig {
    /// Starts a configuration for a server with this certificate chain
    /// (end-entity first) and private key (PKCS#8, SEC1 or PKCS#1; Ed25519,
    /// ECDSA P-256/P-384 or RSA).
    pub fn builder(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> TlsServerConfigBuilder {
        TlsServerConfigBuilder {
            chain,
            key,
            client_cas: None,
            common: Common::default(),
        }
    }

    /// [`builder`](Self::builder) from PEM files.
    ///
    /// # Errors
    /// [`TlsError::File`] or [`TlsError::Pem`], with the path.
    pub fn builder_from_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsServerConfigBuilder, TlsError> {
        let chain = pem::certs_from_file(cert_chain.as_ref())?;
        let key = pem::key_from_file(key.as_ref())?;
        Ok(Self::builder(chain, key))
    }

    /// [`builder`](Self::builder) from PEM text.
    ///
    /// # Errors
    /// [`TlsError::Pem`].
    pub fn builder_from_pem(
        cert_chain: &[u8],
        key: &[u8],
    ) -> Result<TlsServerConfigBuilder, TlsError> {
        let chain = pem::certs_from_pem(cert_chain, None)?;
        let key = pem::key_from_pem(key, None)?;
        Ok(Self::builder(chain, key))
    }

    /// The pin of this server's key: what clients that trust by pin need,
    /// e.g. printed at start as `tls pin sha256:<hex>`.
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// The rustls configuration inside, for inspection.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.rustls
    }
}

/// Builds a [`TlsServerConfig`].
#[derive(Debug)]
#[must_use]
pub struct TlsServerConfigBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: Option<CaCerts>,
    common: Common,
}

impl TlsServerConfigBuilder {
    /// Mutual TLS: every client must present a certificate that chains to
    /// one of these CAs (and is valid now), or the handshake fails. The
    /// verified client is then available as
    /// [`TlsSession::peer_identity`](crate::TlsSession::peer_identity).
    pub fn require_client_cert(mut self, cas: CaCerts) -> Self {
        self.client_cas = Some(cas);
        self
    }

    /// [`require_client_cert`](Self::require_client_cert) with the CAs in a PEM file.
    ///
    /// # Errors
    /// As [`CaCerts::from_pem_file`].
    pub fn require_client_cert_file(self, ca_file: impl AsRef<Path>) -> Result<Self, TlsError> {
        Ok(self.require_client_cert(CaCerts::from_pem_file(ca_file)?))
    }

    /// The cipher suites accepted (default: [`Cipher::ALL`]). The client's
    /// order of preference decides among them.
    pub fn cipher_suites(mut self, ciphers: &[Cipher]) -> Self {
        self.common.ciphers = ciphers.to_vec();
        self
    }

    /// The key exchange groups accepted (default: [`KeyExchange::ALL`]).
    pub fn key_exchanges(mut self, groups: &[KeyExchange]) -> Self {
        self.common.groups = groups.to_vec();
        self
    }

    /// Ciphertext held at most for the peer (default [`DEFAULT_BUFFER_LIMIT`]).
    pub fn buffer_limit(mut self, bytes: usize) -> Self {
        self.common.buffer_limit = bytes;
        self
    }

    /// The configuration.
    ///
    /// # Errors
    /// [`TlsError::Config`] for an empty list of suites or groups, a key
    /// that does not match the certificate or is of an unsupported type, an
    /// empty CA set for client certificates; [`TlsError::Pem`] when the
    /// end-entity certificate cannot be parsed.
    pub fn build(self) -> Result<TlsServerConfig, TlsError> {
        let provider = self.common.provider()?;
        let pin = match self.chain.first() {
            Some(leaf) => SpkiPin::of_certificate(leaf)?,
            None => return Err(TlsError::Config("empty certificate chain".to_owned())),
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&TLS13])
            .map_err(|e| config_error("protocol versions", e))?;
        let builder = match self.client_cas {
            Some(cas) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(cas.store), provider)
                        .build()
                        .map_err(|e| config_error("client CA certificates", e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(self.chain, self.key)
            .map_err(|e| config_error("server certificate and key", e))?;
        // No resumption (see the client side): no tickets, no session cache.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
        Ok(TlsServerConfig {
            rustls: Arc::new(config),
            buffer_limit: self.common.buffer_limit,
            pin,
        })
    }
}
