//! What a side trusts: CA certificates, or pinned server keys.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::{SpkiPin, TlsError, pem};

/// A set of trusted CA certificates, for verifying servers
/// ([`ServerTrust::Ca`]) or client certificates
/// ([`TlsServerConfigBuilder::require_client_cert`](crate::TlsServerConfigBuilder::require_client_cert)).
#[derive(Debug, Clone)]
pub struct CaCerts {
    pub(crate) store: RootCertStore,
}

impl CaCerts {
    /// Every certificate in a PEM file.
    ///
    /// # Errors
    /// [`TlsError::File`] when the file cannot be read, [`TlsError::Pem`]
    /// (with the path) when it holds no certificate or one that cannot be a
    /// trust anchor.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        Self::from_pem_inner(&pem::read(path)?, Some(path))
    }

    /// Every certificate in PEM text.
    ///
    /// # Errors
    /// [`TlsError::Pem`] when it holds no usable certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_pem_inner(pem, None)
    }

    /// DER certificates.
    ///
    /// # Errors
    /// [`TlsError::Pem`] when there is none, or one cannot be a trust anchor.
    pub fn from_der(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        Self::from_certs(certs, None)
    }

    fn from_pem_inner(pem: &[u8], path: Option<&Path>) -> Result<Self, TlsError> {
        Self::from_certs(pem::certs_from_pem(pem, path)?, path)
    }

    fn from_certs(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
        path: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for (i, cert) in certs.into_iter().enumerate() {
            store.add(cert).map_err(|e| TlsError::Pem {
                path: path.map(Path::to_owned),
                reason: format!("certificate {} cannot be a trust anchor: {e}", i + 1),
            })?;
        }
        if store.is_empty() {
            return Err(TlsError::Pem {
                path: path.map(Path::to_owned),
                reason: "no CA certificate".to_owned(),
            });
        }
        Ok(Self { store })
    }

    /// How many CA certificates are trusted.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Never true for a set built by this type's constructors.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

impl From<RootCertStore> for CaCerts {
    /// Takes a rustls store as it is (an empty store makes
    /// [`build`](crate::TlsClientConfigBuilder::build) fail).
    fn from(store: RootCertStore) -> Self {
        Self { store }
    }
}

/// How a client decides to trust a server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerTrust {
    /// Standard web PKI verification: a chain to one of these CAs, valid
    /// now, for the server name given to
    /// [`TlsSession::client`](crate::TlsSession::client).
    Ca(CaCerts),
    /// The server's key must be one of these pins (several: for a key
    /// rotation). The ssh known_hosts model: no CA, no name check, and
    /// **expiry is ignored** — the pin is the whole trust decision, so a
    /// self-signed certificate made once for the life of a key is fine.
    /// The handshake signature is still verified: the server must hold the
    /// private key of the pinned public key.
    Pinned(Vec<SpkiPin>),
}

impl ServerTrust {
    /// Trust the CAs in a PEM file.
    ///
    /// # Errors
    /// As [`CaCerts::from_pem_file`].
    pub fn ca_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        CaCerts::from_pem_file(path).map(Self::Ca)
    }

    /// Trust exactly one server key, given as `sha256:<hex>` (or bare hex).
    ///
    /// # Errors
    /// [`TlsError::Config`] when the text is not a pin.
    pub fn pin(pin: &str) -> Result<Self, TlsError> {
        Ok(Self::Pinned(vec![pin.parse()?]))
    }
}
