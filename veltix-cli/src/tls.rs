//! TLS settings from the command line's flags.

use veltix_tokio::tls::{ServerTrust, TlsClientConfig, TlsServerConfig};

use crate::args::{ClientTlsArgs, ServerTlsArgs};
use crate::exit::Failure;

/// The server's TLS settings, or `None` for plaintext.
///
/// # Errors
/// A PEM file that cannot be read or used (exit code 2).
pub(crate) fn server(args: &ServerTlsArgs) -> Result<Option<TlsServerConfig>, Failure> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let mut builder =
        TlsServerConfig::builder_from_files(cert, key).map_err(|e| Failure::from_tls_config(&e))?;
    if let Some(ca) = &args.tls_client_ca {
        builder = builder
            .require_client_cert_file(ca)
            .map_err(|e| Failure::from_tls_config(&e))?;
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| Failure::from_tls_config(&e))
}

/// The client's TLS settings, or `None` for plaintext.
///
/// # Errors
/// A PEM file that cannot be read or used (exit code 2).
pub(crate) fn client(args: &ClientTlsArgs) -> Result<Option<TlsClientConfig>, Failure> {
    let trust = match (&args.tls_ca, args.tls_pin) {
        (Some(ca), _) => ServerTrust::ca_file(ca).map_err(|e| Failure::from_tls_config(&e))?,
        (None, Some(pin)) => ServerTrust::Pinned(vec![pin]),
        (None, None) => return Ok(None),
    };
    let mut builder = TlsClientConfig::builder(trust);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        builder = builder
            .client_cert_files(cert, key)
            .map_err(|e| Failure::from_tls_config(&e))?;
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| Failure::from_tls_config(&e))
}
