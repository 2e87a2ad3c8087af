//! The pinned-key server verifier: ssh's known_hosts model for TLS.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use crate::pin::{PinMismatch, SpkiPin};

/// Accepts a server whose end-entity key is one of the pins, whatever signed
/// its certificate, whatever names it carries, whenever it expires: the pin
/// *is* the trust decision, as a known_hosts line is for ssh. What it still
/// checks is that the server holds the pinned key: rustls calls
/// `verify_tls13_signature` on the CertificateVerify message, which we check
/// against the certificate's key with the provider's algorithms.
#[derive(Debug)]
pub(crate) struct PinnedServerKey {
    pins: Vec<SpkiPin>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerKey {
    pub(crate) fn new(pins: Vec<SpkiPin>, algorithms: WebPkiSupportedAlgorithms) -> Arc<Self> {
        Arc::new(Self { pins, algorithms })
    }
}

impl ServerCertVerifier for PinnedServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let presented = SpkiPin::of_certificate(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.pins.contains(&presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = PinMismatch {
                expected: self.pins.clone(),
                presented,
            };
            Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(mismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        // Unreachable: only TLS 1.3 is enabled. Checked properly all the same.
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
