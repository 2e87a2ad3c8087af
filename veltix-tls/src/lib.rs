//! TLS 1.3 for Veltix, as one sans-IO layer between the socket and the
//! protocol core, written once for every runtime.
//!
//! A [`TlsSession`] wraps a rustls connection (rustls is sans-IO itself;
//! this crate adds no I/O, no async and no threads). The driver moves bytes:
//!
//! ```text
//!  socket ──read──▶ TlsSession::feed ──plaintext──▶ Connection::handle_input
//!  socket ◀─write── TlsSession::write_tls ◀─encrypt── TlsSession::write_plaintext_buf ◀── Connection::poll_transmit
//! ```
//!
//! # How a driver calls it
//!
//! The full contract is on [`TlsSession`]; the loop of a driver, per socket:
//!
//! - **Read path.** Bytes read → [`TlsSession::feed`]`(bytes, |plain|
//!   conn.handle_input(now, plain))`. Plaintext comes straight out of
//!   rustls' buffer, with no extra copy. An `Err` is final: log it, give the
//!   connection `handle_transport_closed`, flush the alert (write path),
//!   close the socket. When [`TlsSession::peer_has_closed`] turns true the
//!   peer's stream is over (as at end of stream).
//! - **Write path.** While the core has output and the session has room:
//!   [`TlsSession::write_plaintext_buf`]`(&mut transmit)` (what it does not
//!   take stays in the transmit). Then, **after every read as well** (the
//!   handshake answers from inside `feed`), while
//!   [`TlsSession::wants_write`]: [`TlsSession::write_tls`] into the socket
//!   (a poll-based socket: through an `io::Write` adapter that maps
//!   `Pending` to `WouldBlock`), or [`TlsSession::write_tls_into`] a buffer.
//! - **Flow control.** [`TlsSession::pending_tls_bytes`] is the ciphertext
//!   not yet written; add it to the core's pending output. It is bounded by
//!   the configured buffer limit ([`DEFAULT_BUFFER_LIMIT`]): past it,
//!   `write_plaintext*` takes nothing until ciphertext is written.
//! - **End of stream.** [`TlsSession::handle_eof`]: `Ok` for a clean close
//!   (the peer's `close_notify` came first), [`TlsError::Truncated`]
//!   otherwise. Then give the connection `handle_transport_closed`.
//! - **Close.** When the connection is closed and its last frame encrypted:
//!   [`TlsSession::send_close_notify`], write until `!wants_write()`, then
//!   shut the socket's write half.
//! - **Timers.** None: the core's handshake timeout starts with the
//!   connection and covers the TLS handshake before it.
//!
//! # Trust modes
//!
//! - **CA** ([`ServerTrust::Ca`], e.g. [`ServerTrust::ca_file`]): standard
//!   web PKI verification of the server's chain, validity dates and name.
//! - **Pinned key** ([`ServerTrust::Pinned`], [`ServerTrust::pin`]): the
//!   SHA-256 of the server's SubjectPublicKeyInfo ([`SpkiPin`], written
//!   `sha256:<hex>`, printed by a server from [`TlsServerConfig::pin`]). No
//!   CA, no name check, **expiry ignored**: the ssh known_hosts model. The
//!   handshake signature is still verified, so the server must hold the
//!   pinned key.
//! - **Mutual TLS** ([`TlsServerConfigBuilder::require_client_cert`]): the
//!   server demands a client certificate chaining to its CA file; the client
//!   gives one with [`TlsClientConfigBuilder::client_cert_files`]. The
//!   verified client is [`TlsSession::peer_identity`] (subject and pin).
//!
//! Sessions never resume: every connection runs a full handshake, so every
//! identity comes from a verification made in that handshake.
//!
//! # Example
//!
//! A client and a server session driven against each other in memory:
//!
//! ```
//! use veltix_tls::{ServerTrust, TlsClientConfig, TlsServerConfig, TlsSession};
//!
//! // A throwaway self-signed certificate (a real server loads PEM files).
//! let made = rcgen::generate_simple_self_signed(vec!["veltix.test".to_owned()])?;
//! let server_config = TlsServerConfig::builder_from_pem(
//!     made.cert.pem().as_bytes(),
//!     made.signing_key.serialize_pem().as_bytes(),
//! )?
//! .build()?;
//! // The client trusts that one key: the server would print this pin.
//! let pin = server_config.pin();
//! let client_config = TlsClientConfig::builder(ServerTrust::Pinned(vec![pin])).build()?;
//!
//! let mut client = TlsSession::client(&client_config, "veltix.test")?;
//! let mut server = TlsSession::server(&server_config)?;
//!
//! /// Moves every pending byte of ciphertext from one side to the other.
//! fn pump(from: &mut TlsSession, to: &mut TlsSession, got: &mut Vec<u8>) -> std::io::Result<()> {
//!     let mut wire = Vec::new();
//!     while from.wants_write() {
//!         from.write_tls(&mut wire)?;
//!     }
//!     to.feed(&wire, |plain| got.extend_from_slice(plain))?;
//!     Ok(())
//! }
//!
//! // Written before the handshake: held, then sent right after it.
//! assert_eq!(client.write_plaintext(b"hello")?, 5);
//! let (mut at_server, mut at_client) = (Vec::new(), Vec::new());
//! while client.is_handshaking() || server.is_handshaking() || client.wants_write() {
//!     pump(&mut client, &mut server, &mut at_server)?;
//!     pump(&mut server, &mut client, &mut at_client)?;
//! }
//! assert_eq!(at_server, b"hello");
//! assert_eq!(client.peer_identity().map(|id| id.pin()), Some(pin));
//!
//! // A clean close: close_notify, then end of stream.
//! client.send_close_notify();
//! pump(&mut client, &mut server, &mut at_server)?;
//! assert!(server.peer_has_closed());
//! assert!(server.handle_eof().is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crypto provider: aws-lc-rs, chosen by measurement
//!
//! rustls 0.23 offers two built-in providers. On this project's 2-core
//! build machine (shared: load average about 2 during the runs), a clean
//! `cargo build` of a crate using rustls 0.23.46 with each (TLS 1.3 only,
//! fresh target directory, the workspace's dev profile with dependencies
//! at `opt-level = 2`), measured twice each, alternating:
//!
//! | provider | wall | CPU (user+sys) | post-quantum KEM | a fresh Debian needs |
//! |---|---|---|---|---|
//! | ring 0.17.14 | 17.2–18.1 s | 29–30 s | none (X25519, P-256, P-384) | a C compiler |
//! | aws-lc-rs 1.19 (aws-lc-sys 0.47) | 35.5–36.3 s | 64–65 s | X25519MLKEM768 (also MLKEM768/1024, P-256+ML-KEM) | a C compiler |
//!
//! aws-lc-rs costs about 18 s more once per clean build (a cached
//! `target/` pays nothing), and is the only one that offers the hybrid
//! post-quantum key exchange X25519MLKEM768, which protects recorded
//! traffic against a future quantum computer ("harvest now, decrypt
//! later"); it is also rustls' default provider. So: aws-lc-rs, offering
//! X25519MLKEM768 first and X25519 as fallback.
//!
//! Build requirements of aws-lc-sys 0.47 on Linux x86_64/aarch64: only a C
//! compiler (gcc; the build uses the `cc` crate with pregenerated bindings).
//! Checked on the build machine, which has neither: **no cmake, no nasm, no
//! Go, no clang/libclang**. Those become necessary only for its FIPS build,
//! `AWS_LC_SYS_CMAKE_BUILDER=1`, `AWS_LC_SYS_NO_ASM`, targets without
//! pregenerated bindings (bindgen: libclang), or Windows (nasm — bundled
//! by the `prebuilt-nasm` feature rustls enables). The fuzz build
//! (`cargo +nightly fuzz build tls_server`, with AddressSanitizer) needs
//! nothing more either. So CI installs nothing for this crate.
//!
//! # Features
//!
//! - `rcgen`: `self_signed(names)`, a key and self-signed certificate made
//!   in memory (for a demo's `--tls`), with its pin and a server config.
//! - `fuzzing`: `fuzzing::feed_server(bytes)`, arbitrary bytes into a
//!   server session, checking invariants (for a cargo-fuzz target).
#![forbid(unsafe_code)]

mod config;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod identity;
mod layer;
mod pem;
mod pin;
mod provider;
#[cfg(feature = "rcgen")]
mod self_signed;
mod session;
mod sniff;
mod trust;
mod verifier;

pub use config::{
    DEFAULT_BUFFER_LIMIT, TlsClientConfig, TlsClientConfigBuilder, TlsServerConfig,
    TlsServerConfigBuilder,
};
pub use error::TlsError;
pub use identity::PeerIdentity;
pub use layer::TlsLayer;
pub use pin::SpkiPin;
pub use provider::{Cipher, KeyExchange};
#[cfg(feature = "rcgen")]
pub use self_signed::{SelfSigned, self_signed};
pub use session::{Side, TlsSession};
pub use sniff::looks_like_tls_client_hello;
pub use trust::{CaCerts, ServerTrust};

/// The rustls types this crate's API takes and returns (certificates, keys,
/// alerts), so users need not depend on rustls themselves.
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use rustls::{AlertDescription, CertificateError, RootCertStore};
