//! The crypto provider (aws-lc-rs, see the crate doc for why) cut down to
//! what Veltix offers: TLS 1.3 suites and the key exchanges we name.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite, kx_group};
use rustls::{CipherSuite, NamedGroup, SupportedCipherSuite};

/// A TLS 1.3 cipher suite Veltix can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cipher {
    /// `TLS_AES_128_GCM_SHA256`.
    Aes128Gcm,
    /// `TLS_AES_256_GCM_SHA384`.
    Aes256Gcm,
    /// `TLS_CHACHA20_POLY1305_SHA256`: fast without AES hardware.
    ChaCha20Poly1305,
}

impl Cipher {
    /// Every suite, in the default order of preference: AES-GCM first (AES
    /// hardware is the common case on servers), ChaCha20-Poly1305 after.
    pub const ALL: [Self; 3] = [Self::Aes256Gcm, Self::Aes128Gcm, Self::ChaCha20Poly1305];

    fn suite(self) -> SupportedCipherSuite {
        match self {
            Self::Aes128Gcm => cipher_suite::TLS13_AES_128_GCM_SHA256,
            Self::Aes256Gcm => cipher_suite::TLS13_AES_256_GCM_SHA384,
            Self::ChaCha20Poly1305 => cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        }
    }

    pub(crate) fn from_rustls(suite: CipherSuite) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.suite().suite() == suite)
    }
}

/// A key exchange group Veltix can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyExchange {
    /// The hybrid post-quantum group: X25519 and ML-KEM-768 together, so the
    /// session stays as safe as X25519 alone even if ML-KEM were broken.
    X25519MlKem768,
    /// Classic X25519.
    X25519,
}

impl KeyExchange {
    /// Every group, in the default order of preference (post-quantum first).
    /// The client sends a key share for the first one; a server that knows
    /// only X25519 answers with a HelloRetryRequest, costing one round trip.
    pub const ALL: [Self; 2] = [Self::X25519MlKem768, Self::X25519];

    fn group(self) -> &'static dyn rustls::crypto::SupportedKxGroup {
        match self {
            Self::X25519MlKem768 => kx_group::X25519MLKEM768,
            Self::X25519 => kx_group::X25519,
        }
    }

    pub(crate) fn from_rustls(group: NamedGroup) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.group().name() == group)
    }
}

/// aws-lc-rs with only the chosen suites and groups (TLS 1.2 suites are not
/// even compiled in: rustls' `tls12` feature is off).
pub(crate) fn provider(ciphers: &[Cipher], groups: &[KeyExchange]) -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites = dedup(ciphers).into_iter().map(Cipher::suite).collect();
    provider.kx_groups = dedup(groups).into_iter().map(KeyExchange::group).collect();
    Arc::new(provider)
}

fn dedup<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(*item);
        }
    }
    out
}
