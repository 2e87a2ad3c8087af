//! TLS for the TLS rows (`tokio+tls`, `smol+tls`, `mio+tls`,
//! `mio-threaded+tls`) and the rustls baseline (`tokio+rustls+sha`).
//!
//! Every TLS server makes a fresh key and self-signed certificate in memory
//! when it starts ([`veltix_tls::self_signed`]) and announces the key's pin
//! with its address; the bench's clients trust that pin alone
//! ([`ServerTrust::Pinned`]). Everything else is veltix-tls's default, on
//! both sides and for the baseline too (it is handed the same rustls
//! configurations): TLS 1.3 only, aws-lc-rs, X25519MLKEM768 offered first,
//! AES-256-GCM preferred, no resumption (every connection a full handshake).

use std::io;

use veltix_tls::{ServerTrust, SpkiPin, TlsClientConfig, TlsServerConfig, TlsSession};

/// The name the certificate carries and the clients send as SNI (in
/// pinned mode it is not checked).
pub(crate) const SERVER_NAME: &str = "localhost";

/// A server configuration with a key and certificate made now.
pub(crate) fn server_config() -> io::Result<TlsServerConfig> {
    let made = veltix_tls::self_signed(vec![SERVER_NAME.to_owned()]).map_err(io::Error::other)?;
    made.server_config().build().map_err(io::Error::other)
}

/// A client configuration that trusts the server holding `pin`'s key.
pub(crate) fn client_config(pin: SpkiPin) -> io::Result<TlsClientConfig> {
    TlsClientConfig::builder(ServerTrust::Pinned(vec![pin]))
        .build()
        .map_err(io::Error::other)
}

/// What a client and a server with the bench's configurations negotiate,
/// found by a handshake in memory: `"TLS 1.3, <key exchange>, <cipher>"`.
pub(crate) fn negotiated() -> io::Result<String> {
    let server_config = server_config()?;
    let client_config = client_config(server_config.pin())?;
    let mut client = TlsSession::client(&client_config, SERVER_NAME).map_err(io::Error::other)?;
    let mut server = TlsSession::server(&server_config).map_err(io::Error::other)?;
    let mut rounds = 0;
    while client.is_handshaking() || server.is_handshaking() {
        pump(&mut client, &mut server)?;
        pump(&mut server, &mut client)?;
        rounds += 1;
        if rounds > 10 {
            return Err(io::Error::other("the in-memory TLS handshake does not end"));
        }
    }
    match (client.key_exchange(), client.cipher()) {
        (Some(kx), Some(cipher)) => Ok(format!("TLS 1.3, {kx:?}, {cipher:?}")),
        _ => Err(io::Error::other("no key exchange or cipher negotiated")),
    }
}

/// Moves every pending byte of ciphertext from `from` to `to`.
fn pump(from: &mut TlsSession, to: &mut TlsSession) -> io::Result<()> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire)?;
    }
    to.feed(&wire, |_| {})?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_negotiate_the_post_quantum_exchange_and_aes_gcm() {
        let negotiated = negotiated().unwrap();
        assert!(negotiated.contains("X25519MlKem768"), "{negotiated}");
        assert!(negotiated.contains("Gcm"), "{negotiated}");
    }
}
