//! Key pins: the SHA-256 of a certificate's SubjectPublicKeyInfo.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::TlsError;

/// The SHA-256 of a public key's DER SubjectPublicKeyInfo, the same value as
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
///
/// It names a key, not a certificate: a server that renews its certificate
/// with the same key keeps its pin. Written `sha256:<64 lowercase hex digits>`;
/// parsing also accepts the bare hex and uppercase digits.
///
/// ```
/// use veltix_tls::SpkiPin;
///
/// let text = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// let pin: SpkiPin = text.parse()?;
/// assert_eq!(pin.to_string(), text);
/// assert_eq!(text[7..].parse::<SpkiPin>()?, pin);
/// assert!("sha256:abc".parse::<SpkiPin>().is_err());
/// # Ok::<(), veltix_tls::TlsError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }

    /// The pin of the key in a DER certificate.
    ///
    /// # Errors
    /// [`TlsError::Pem`] when the bytes are not an X.509 v3 certificate.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<Self, TlsError> {
        let parsed = webpki::EndEntityCert::try_from(cert).map_err(|e| TlsError::Pem {
            path: None,
            reason: format!("not a usable X.509 certificate: {e}"),
        })?;
        Ok(Self::of_spki(parsed.subject_public_key_info().as_ref()))
    }

    /// The pin of the first certificate in PEM text (a server's certificate file).
    ///
    /// # Errors
    /// [`TlsError::Pem`] when there is no usable certificate.
    pub fn of_pem_certificate(pem: &[u8]) -> Result<Self, TlsError> {
        let chain = crate::pem::certs_from_pem(pem, None)?;
        Self::of_certificate(&chain[0])
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A pin from its 32 digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

impl FromStr for SpkiPin {
    type Err = TlsError;

    fn from_str(text: &str) -> Result<Self, TlsError> {
        let hex = text.trim();
        let hex = hex.strip_prefix("sha256:").unwrap_or(hex).as_bytes();
        let bad = || {
            TlsError::Config(format!(
                "bad key pin {text:?}: expected sha256: and 64 hex digits"
            ))
        };
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or_else(bad);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// What the pinned-key verifier hands rustls when the key is not pinned;
/// [`TlsError`] turns it back into [`TlsError::PinMismatch`].
#[derive(Debug)]
pub(crate) struct PinMismatch {
    pub(crate) expected: Vec<SpkiPin>,
    pub(crate) presented: SpkiPin,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server key {} is not pinned", self.presented)
    }
}

impl std::error::Error for PinMismatch {}
