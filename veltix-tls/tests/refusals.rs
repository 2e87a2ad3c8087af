//! Handshakes that must fail, each with its own typed error, and without a
//! byte of application data crossing.

mod common;

use std::sync::Arc;

use common::{Alg, Ca, Pair, SERVER_NAME, configs, self_signed};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use veltix_tls::{
    AlertDescription, CertificateError, Cipher, ServerTrust, SpkiPin, TlsClientConfig, TlsError,
    TlsSession,
};

/// Runs a pair whose client has data queued; asserts none of it arrived.
fn run_refused(pair: &mut Pair) {
    pair.client.write_plaintext(b"secret").unwrap();
    pair.server.write_plaintext(b"secret").unwrap();
    pair.run();
    assert!(pair.at_server.is_empty() && pair.at_client.is_empty());
}

#[test]
fn a_server_from_another_ca_is_refused() {
    let trusted = Ca::new(Alg::Ed25519, "Trusted CA");
    let other = Ca::new(Alg::Ed25519, "Other CA");
    let leaf = other.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let (client, server) = configs(&leaf, trusted.trust());
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.client_error, Some(TlsError::UnknownIssuer)),
        "{:?}",
        pair.client_error
    );
    // The client says why; the server learns it was refused.
    assert!(
        matches!(
            pair.server_error,
            Some(TlsError::PeerAlert(AlertDescription::UnknownCA))
        ),
        "{:?}",
        pair.server_error
    );
    assert!(pair.client_error.as_ref().unwrap().is_authentication());
}

#[test]
fn a_self_signed_server_without_a_pin_is_refused() {
    let ca = Ca::new(Alg::EcdsaP256, "Trusted CA");
    let leaf = self_signed(Alg::EcdsaP256, &[SERVER_NAME], |_| {});
    let (client, server) = configs(&leaf, ca.trust());
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.client_error, Some(TlsError::UnknownIssuer)),
        "{:?}",
        pair.client_error
    );
}

#[test]
fn a_wrong_pin_is_refused_and_names_both_keys() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server_pin = SpkiPin::of_certificate(&leaf.cert).unwrap();
    let wrong = SpkiPin::from_bytes([7; 32]);
    let (client, server) = configs(&leaf, ServerTrust::Pinned(vec![wrong]));
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    match &pair.client_error {
        Some(TlsError::PinMismatch {
            expected,
            presented,
        }) => {
            assert_eq!(expected, &[wrong]);
            assert_eq!(*presented, server_pin);
        }
        other => panic!("{other:?}"),
    }
    let text = pair.client_error.unwrap().to_string();
    assert!(
        text.contains(&server_pin.to_string()) && text.contains(&wrong.to_string()),
        "{text}"
    );
}

/// A server that shows `leaf`'s certificate but signs with another key.
#[derive(Debug)]
struct Impostor(Arc<CertifiedKey>);

impl ResolvesServerCert for Impostor {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[test]
fn the_pinned_certificate_without_its_private_key_is_refused() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let pin = SpkiPin::of_certificate(&leaf.cert).unwrap();
    let impostor_key = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {}).key();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(impostor_key)
        .unwrap();
    let certified = Arc::new(CertifiedKey::new(vec![leaf.cert.clone()], signer));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Impostor(certified)));
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![pin]))
        .build()
        .unwrap();
    let mut client = TlsSession::client(&client, SERVER_NAME).unwrap();
    let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
    let mut error = None;
    for _ in 0..4 {
        let hello = common::drain(&mut client);
        server.read_tls(&mut &hello[..]).unwrap();
        let _ = server.process_new_packets();
        let mut flight = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut flight).unwrap();
        }
        if let Err(e) = client.feed(&flight, |_| panic!("plaintext from an impostor")) {
            error = Some(e);
            break;
        }
    }
    assert!(
        matches!(
            error,
            Some(TlsError::BadCertificate(CertificateError::BadSignature))
        ),
        "{error:?}"
    );
}

#[test]
fn an_expired_certificate_is_refused_with_its_date() {
    for alg in Alg::ALL {
        let ca = Ca::new(alg, "Test CA");
        let leaf = ca.issue_with(alg, &[SERVER_NAME], "server", |p| {
            p.not_before = rcgen::date_time_ymd(2001, 1, 1);
            p.not_after = rcgen::date_time_ymd(2002, 1, 1);
        });
        let (client, server) = configs(&leaf, ca.trust());
        let mut pair = Pair::new(&client, &server);
        run_refused(&mut pair);
        match pair.client_error {
            // 2002-01-01T00:00:00Z
            Some(TlsError::CertificateExpired { not_after }) => {
                assert_eq!(not_after, Some(1_009_843_200), "{alg:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_certificate_from_the_future_is_refused() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue_with(Alg::Ed25519, &[SERVER_NAME], "server", |p| {
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
    });
    let (client, server) = configs(&leaf, ca.trust());
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.client_error, Some(TlsError::CertificateNotYetValid)),
        "{:?}",
        pair.client_error
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let ca = Ca::new(Alg::EcdsaP256, "Test CA");
    let leaf = ca.issue(Alg::EcdsaP256, &["other.example"], "server");
    let (client, server) = configs(&leaf, ca.trust());
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    match &pair.client_error {
        Some(TlsError::NameMismatch {
            expected,
            presented,
        }) => {
            assert_eq!(expected, SERVER_NAME);
            assert_eq!(presented, &["DnsName(\"other.example\")"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let server = leaf
        .server()
        .require_client_cert(ca.certs())
        .build()
        .unwrap();
    let client = TlsClientConfig::builder(ca.trust()).build().unwrap();
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.server_error, Some(TlsError::NoClientCertificate)),
        "{:?}",
        pair.server_error
    );
    assert!(pair.server.peer_identity().is_none());
    // TLS 1.3: the client finished its side first, then hears why.
    assert!(
        matches!(
            pair.client_error,
            Some(TlsError::PeerAlert(AlertDescription::CertificateRequired))
        ),
        "{:?}",
        pair.client_error
    );
    let message = pair.client_error.unwrap().to_string();
    assert!(
        message.contains("requires a client certificate"),
        "{message}"
    );
}

#[test]
fn mutual_tls_refuses_a_client_certificate_from_another_ca() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let stranger_ca = Ca::new(Alg::Ed25519, "Stranger CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let stranger = stranger_ca.issue(Alg::Ed25519, &[], "mallory");
    let server = leaf
        .server()
        .require_client_cert(ca.certs())
        .build()
        .unwrap();
    let client = TlsClientConfig::builder(ca.trust())
        .client_cert(vec![stranger.cert.clone()], stranger.key())
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.server_error, Some(TlsError::UnknownIssuer)),
        "{:?}",
        pair.server_error
    );
    assert!(pair.server.peer_identity().is_none());
}

#[test]
fn no_cipher_suite_in_common_is_a_protocol_error() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf
        .server()
        .cipher_suites(&[Cipher::Aes256Gcm])
        .build()
        .unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .cipher_suites(&[Cipher::ChaCha20Poly1305])
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    run_refused(&mut pair);
    assert!(
        matches!(pair.server_error, Some(TlsError::Protocol(_))),
        "{:?}",
        pair.server_error
    );
    assert!(
        matches!(
            pair.client_error,
            Some(TlsError::PeerAlert(AlertDescription::HandshakeFailure))
        ),
        "{:?}",
        pair.client_error
    );
}

#[test]
fn plaintext_garbage_to_a_server_is_a_plaintext_peer() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf.server().build().unwrap();
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x00\x00\x00\x05hello",
        b"\x16\x04",
    ] {
        let mut session = TlsSession::server(&server).unwrap();
        let error = session.feed(garbage, |_| panic!("plaintext")).unwrap_err();
        match &error {
            TlsError::NotTls { first_bytes } => {
                assert_eq!(first_bytes[..], garbage[..garbage.len().min(8)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            error.to_string().contains("plaintext client on a TLS port"),
            "{error}"
        );
        // Final: more input gets the same answer; nothing to send back.
        assert!(matches!(
            session.feed(b"\x16\x03\x01", |_| {}),
            Err(TlsError::NotTls { .. })
        ));
        assert!(!session.wants_write());
        assert_eq!(
            std::io::Error::from(error).kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}

#[test]
fn plaintext_garbage_one_byte_at_a_time_is_caught_at_the_first_bad_byte() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf.server().build().unwrap();
    let mut session = TlsSession::server(&server).unwrap();
    session.feed(&[0x16], |_| {}).unwrap();
    let error = session.feed(&[0x0a], |_| {}).unwrap_err();
    assert!(matches!(error, TlsError::NotTls { ref first_bytes } if first_bytes == &[0x16, 0x0a]));
}

#[test]
fn a_plaintext_server_answering_a_client_is_not_tls() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![
        SpkiPin::of_certificate(&leaf.cert).unwrap(),
    ]))
    .build()
    .unwrap();
    let mut session = TlsSession::client(&client, SERVER_NAME).unwrap();
    let hello = common::drain(&mut session);
    assert!(veltix_tls::looks_like_tls_client_hello(&hello));
    let error = session
        .feed(b"SSH-2.0-OpenSSH_9.2\r\n", |_| {})
        .unwrap_err();
    assert!(matches!(error, TlsError::NotTls { .. }), "{error:?}");
}

#[test]
fn a_truncated_stream_during_the_handshake_is_reported_as_such() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf.server().build().unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .build()
        .unwrap();
    let mut client = TlsSession::client(&client, SERVER_NAME).unwrap();
    let mut server = TlsSession::server(&server).unwrap();
    let hello = common::drain(&mut client);
    server.feed(&hello[..hello.len() / 2], |_| {}).unwrap();
    assert!(matches!(
        server.handle_eof(),
        Err(TlsError::Truncated {
            during_handshake: true
        })
    ));
    assert!(matches!(
        client.handle_eof(),
        Err(TlsError::Truncated {
            during_handshake: true
        })
    ));
}
