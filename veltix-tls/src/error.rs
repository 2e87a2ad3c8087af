//! Everything that can go wrong in this crate, as one typed error.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::{AlertDescription, CertificateError};

use crate::pin::{PinMismatch, SpkiPin};
use crate::session::Side;

/// Why a TLS session failed or a configuration could not be built.
///
/// Session errors are final: once a [`TlsSession`](crate::TlsSession) has
/// returned one, every later input returns it again. The session may still
/// hold an alert for the peer ([`wants_write`](crate::TlsSession::wants_write)):
/// write it, then close the transport.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's certificate chain does not lead to a CA we trust.
    #[error("the peer's certificate is not signed by a trusted CA (unknown issuer)")]
    UnknownIssuer,
    /// The peer's certificate, or its handshake signature, was refused for a
    /// reason other than the ones below (bad encoding, bad signature, wrong
    /// key usage, revoked…).
    #[error("the peer's certificate was refused: {}", describe_certificate_error(.0))]
    BadCertificate(CertificateError),
    /// The server's key is not the pinned one.
    #[error(
        "the server's key does not match the pin: expected {}, the server has {presented}",
        DisplayPins(expected)
    )]
    PinMismatch {
        /// The pins we accept.
        expected: Vec<SpkiPin>,
        /// The pin of the key the server presented.
        presented: SpkiPin,
    },
    /// The peer's certificate (or one in its chain) has expired.
    #[error("the peer's certificate has expired{}", .not_after.map(|t| format!(" (not after {t} s since the Unix epoch)")).unwrap_or_default())]
    CertificateExpired {
        /// The certificate's `notAfter`, in seconds since the Unix epoch, when known.
        not_after: Option<u64>,
    },
    /// The peer's certificate is not valid yet (or the local clock is wrong).
    #[error("the peer's certificate is not valid yet (is a clock wrong?)")]
    CertificateNotYetValid,
    /// The server's certificate is not valid for the name we connected to.
    #[error("the server's certificate is not valid for {expected:?} (it names {presented:?})")]
    NameMismatch {
        /// The server name the client asked for.
        expected: String,
        /// The names in the certificate, when known.
        presented: Vec<String>,
    },
    /// The server requires a client certificate and the client sent none.
    #[error("the client sent no certificate, and this server requires one")]
    NoClientCertificate,
    /// The peer aborted the handshake or the session with a fatal alert
    /// (typically: it did not accept our certificate, or we sent none).
    #[error("the peer ended the TLS session: {}", describe_alert(*.0))]
    PeerAlert(AlertDescription),
    /// The peer does not speak TLS: its first bytes are not a TLS handshake
    /// record. Most likely a plaintext Veltix peer connected to a TLS port.
    #[error(
        "the peer does not speak TLS: its first bytes are {} — not a TLS record; a plaintext client on a TLS port?",
        Hex(first_bytes)
    )]
    NotTls {
        /// Up to the first 8 bytes the peer sent, for the log.
        first_bytes: Vec<u8>,
    },
    /// A record failed authentication: the bytes were changed on the way
    /// (or the stream lost its place). Nothing of that record was delivered.
    #[error("a TLS record failed to decrypt (corrupted or tampered with)")]
    Decrypt,
    /// A record or handshake message was malformed.
    #[error("malformed TLS data from the peer: {0}")]
    BadRecord(rustls::Error),
    /// The stream ended without the peer's `close_notify`: the data may have
    /// been cut short by an attacker or a crash.
    #[error("the peer's stream ended without a TLS close_notify{}", if *.during_handshake { " during the handshake (the peer closed: does it speak TLS? a plaintext server?)" } else { " (truncated)" })]
    Truncated {
        /// The stream ended before the handshake completed.
        during_handshake: bool,
    },
    /// The handshake or session failed for another TLS reason (no cipher
    /// suite or group in common, a protocol violation…).
    #[error("TLS failed: {0}")]
    Protocol(rustls::Error),
    /// [`send_close_notify`](crate::TlsSession::send_close_notify) was
    /// called: this side sends nothing more.
    #[error("the TLS session was closed by this side")]
    Closed,
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A PEM file or buffer does not hold what was expected.
    #[error("{}: {reason}", path.as_ref().map_or_else(|| "PEM data".to_owned(), |p| p.display().to_string()))]
    Pem {
        /// The file, or `None` for PEM given in memory.
        path: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration cannot work (a key that does not match its
    /// certificate, an empty list of suites, a bad server name, a bad pin…).
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

impl TlsError {
    /// Classifies an error from rustls, seen by `side`.
    pub(crate) fn from_rustls(error: rustls::Error, side: Side) -> Self {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(cert) => Self::from_certificate_error(cert),
            E::NoCertificatesPresented if side == Side::Server => Self::NoClientCertificate,
            E::AlertReceived(alert) => Self::PeerAlert(alert),
            E::DecryptError => Self::Decrypt,
            E::InvalidMessage(_) | E::PeerSentOversizedRecord => Self::BadRecord(error),
            other => Self::Protocol(other),
        }
    }

    fn from_certificate_error(error: CertificateError) -> Self {
        use CertificateError as C;
        match error {
            C::UnknownIssuer => Self::UnknownIssuer,
            C::Expired => Self::CertificateExpired { not_after: None },
            C::ExpiredContext { not_after, .. } => Self::CertificateExpired {
                not_after: Some(not_after.as_secs()),
            },
            C::NotValidYet | C::NotValidYetContext { .. } => Self::CertificateNotYetValid,
            C::NotValidForName => Self::NameMismatch {
                expected: String::new(),
                presented: Vec::new(),
            },
            C::NotValidForNameContext {
                expected,
                presented,
            } => Self::NameMismatch {
                expected: server_name_text(&expected),
                presented,
            },
            C::Other(ref other) => match other.0.downcast_ref::<PinMismatch>() {
                Some(mismatch) => Self::PinMismatch {
                    expected: mismatch.expected.clone(),
                    presented: mismatch.presented,
                },
                None => Self::BadCertificate(error),
            },
            other => Self::BadCertificate(other),
        }
    }

    /// Whether the peer failed to prove who it is (or we failed to prove it
    /// to the peer): a trust problem rather than a broken stream.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            Self::UnknownIssuer
                | Self::BadCertificate(_)
                | Self::PinMismatch { .. }
                | Self::CertificateExpired { .. }
                | Self::CertificateNotYetValid
                | Self::NameMismatch { .. }
                | Self::NoClientCertificate
        ) || matches!(self, Self::PeerAlert(alert) if is_certificate_alert(*alert))
    }
}

impl From<TlsError> for io::Error {
    fn from(error: TlsError) -> Self {
        use io::ErrorKind;
        let kind = match &error {
            e if e.is_authentication() => ErrorKind::PermissionDenied,
            TlsError::PeerAlert(_) => ErrorKind::ConnectionAborted,
            TlsError::Truncated { .. } => ErrorKind::UnexpectedEof,
            TlsError::Closed => ErrorKind::NotConnected,
            TlsError::File { source, .. } => source.kind(),
            TlsError::Pem { .. } | TlsError::Config(_) => ErrorKind::InvalidInput,
            _ => ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

fn server_name_text(name: &rustls::pki_types::ServerName<'_>) -> String {
    use rustls::pki_types::ServerName;
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

fn is_certificate_alert(alert: AlertDescription) -> bool {
    use AlertDescription as A;
    matches!(
        alert,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired
            | A::AccessDenied
    )
}

/// Why a certificate was refused, in words (rustls's own `Display` falls
/// back to the variant's `Debug` name for most of them).
fn describe_certificate_error(error: &CertificateError) -> String {
    use CertificateError as C;
    let text = match error {
        C::BadEncoding => "it is not a well-formed X.509 certificate",
        C::BadSignature => "a signature in its chain, or its handshake signature, does not verify",
        C::Revoked => "it has been revoked",
        C::UnhandledCriticalExtension => {
            "it has a critical extension this verifier does not handle"
        }
        C::UnknownRevocationStatus => "its revocation status is unknown",
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "the certificate revocation list has expired"
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "its extended key usage does not allow this use (server or client authentication)"
        }
        C::ApplicationVerificationFailure => "the application's verifier refused it",
        C::Other(other) => return format!("{}", other.0),
        // Those with context have a readable Display in rustls; the rest
        // are named as rustls names them.
        other => return other.to_string(),
    };
    text.to_owned()
}

/// The alert, and what it usually means in a Veltix deployment.
fn describe_alert(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let hint = match alert {
        A::CloseNotify => "closed",
        A::BadCertificate | A::UnsupportedCertificate | A::CertificateUnknown => {
            "it refused our certificate"
        }
        A::UnknownCA => "it does not trust the CA that signed our certificate",
        A::CertificateExpired => "it says our certificate has expired",
        A::CertificateRequired => "it requires a client certificate and we sent none",
        A::HandshakeFailure | A::InsufficientSecurity => {
            "no common parameters (cipher suite, key exchange, signature scheme)"
        }
        A::ProtocolVersion => "it does not speak TLS 1.3",
        A::BadRecordMac | A::DecryptError => "our records failed to decrypt at its end",
        A::DecodeError => "it could not parse our TLS data",
        _ => "",
    };
    if hint.is_empty() {
        format!("{alert:?}")
    } else {
        format!("{alert:?} ({hint})")
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        let text: String = self
            .0
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        write!(f, " {text:?}")
    }
}

struct DisplayPins<'a>(&'a [SpkiPin]);

impl fmt::Display for DisplayPins<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pin) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{pin}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_is_described_in_words_not_debug() {
        let text = TlsError::BadCertificate(CertificateError::BadSignature).to_string();
        assert_eq!(
            text,
            "the peer's certificate was refused: a signature in its chain, or its handshake signature, does not verify"
        );
        let other = TlsError::BadCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(io::Error::other("no such key")),
        )));
        assert!(
            other.to_string().ends_with("refused: no such key"),
            "{other}"
        );
    }
}
