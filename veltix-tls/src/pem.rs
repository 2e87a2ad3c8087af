//! PEM loading, with the file's path in every error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File {
        path: path.to_owned(),
        source: Arc::new(source),
    })
}

/// Every certificate in `pem`, in order; at least one.
pub(crate) fn certs_from_pem(
    pem: &[u8],
    path: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| pem_error(path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, SEC1 or PKCS#1).
pub(crate) fn key_from_pem(
    pem: &[u8],
    path: Option<&Path>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => pem_error(path, "no PRIVATE KEY block".to_owned()),
        e => pem_error(path, format!("bad PEM: {e}")),
    })
}

pub(crate) fn certs_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certs_from_pem(&read(path)?, Some(path))
}

pub(crate) fn key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    key_from_pem(&read(path)?, Some(path))
}

fn pem_error(path: Option<&Path>, reason: String) -> TlsError {
    TlsError::Pem {
        path: path.map(PathBuf::from),
        reason,
    }
}
