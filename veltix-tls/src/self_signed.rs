//! A self-signed certificate made in memory, for demos and tests.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{CaCerts, SpkiPin, TlsError, TlsServerConfig, TlsServerConfigBuilder};

/// A fresh ECDSA P-256 key and a self-signed certificate for it, from [`self_signed`].
#[derive(Debug)]
pub struct SelfSigned {
    cert_pem: String,
    key_pem: String,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    pin: SpkiPin,
}

/// Makes a key and a self-signed certificate for `names` (DNS names or IP
/// addresses), valid from 1975 to 4096 (rcgen's defaults): for a demo
/// server's `--tls`, whose clients then trust it by
/// [`pin`](SelfSigned::pin) or by its certificate as CA ([`SelfSigned::ca`]).
///
/// # Errors
/// [`TlsError::Config`] when a name is unusable or key generation fails.
pub fn self_signed(names: impl Into<Vec<String>>) -> Result<SelfSigned, TlsError> {
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::Config(format!("self-signed certificate: {e}")))?;
    let cert = made.cert.der().clone();
    let pin = SpkiPin::of_certificate(&cert)?;
    Ok(SelfSigned {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        key: PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()),
        cert,
        pin,
    })
}

impl SelfSigned {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key, DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// The pin of the key, for clients in pinned mode.
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// The certificate as a trust anchor, for clients in CA mode.
    ///
    /// # Errors
    /// Not expected: the certificate was just made.
    pub fn ca(&self) -> Result<CaCerts, TlsError> {
        CaCerts::from_der([self.cert.clone()])
    }

    /// A server configuration with this certificate and key.
    pub fn server_config(&self) -> TlsServerConfigBuilder {
        TlsServerConfig::builder(vec![self.cert.clone()], self.key_der())
    }
}
