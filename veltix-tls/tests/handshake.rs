//! Handshakes that must succeed: each trust mode with each key type, each
//! cipher suite and key exchange, and what the sessions learn.

mod common;

use common::{Alg, Ca, Pair, SERVER_NAME, configs, self_signed};
use veltix_tls::{
    Cipher, KeyExchange, ServerTrust, Side, TlsClientConfig, TlsServerConfig, TlsSession,
};

#[test]
fn ca_trust_with_each_key_type() {
    for alg in Alg::ALL {
        let ca = Ca::new(alg, "Test CA");
        let leaf = ca.issue(alg, &[SERVER_NAME], "server");
        let (client, server) = configs(&leaf, ca.trust());
        let mut pair = Pair::new(&client, &server);
        pair.handshake();
        let id = pair.client.peer_identity().expect("server identity");
        assert_eq!(id.subject(), "CN=server,O=Veltix Tests", "{alg:?}");
        assert_eq!(id.dns_names(), [SERVER_NAME]);
        assert_eq!(id.pin(), server.pin());
        assert_eq!(id.certificates()[0], leaf.cert);
        // No client certificate was asked for.
        assert!(pair.server.peer_identity().is_none());
    }
}

#[test]
fn pinned_trust_with_each_key_type() {
    for alg in Alg::ALL {
        // Self-signed, for another name: neither matters with a pin.
        let leaf = self_signed(alg, &["elsewhere.example"], |_| {});
        let pin = TlsServerConfig::builder(vec![leaf.cert.clone()], leaf.key())
            .build()
            .unwrap()
            .pin();
        let (client, server) = configs(&leaf, ServerTrust::Pinned(vec![pin]));
        let mut pair = Pair::new(&client, &server);
        pair.handshake();
        assert_eq!(pair.client.peer_identity().unwrap().pin(), pin, "{alg:?}");
    }
}

#[test]
fn pinned_trust_accepts_one_of_several_pins_given_as_text() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf.server().build().unwrap();
    let other = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let other_pin = other.server().build().unwrap().pin();
    let pins = vec![other_pin, server.pin().to_string().parse().unwrap()];
    let client = TlsClientConfig::builder(ServerTrust::Pinned(pins))
        .build()
        .unwrap();
    Pair::new(&client, &server).handshake();
    // The single-pin shorthand, bare hex.
    let bare = server.pin().to_string()["sha256:".len()..].to_owned();
    let client = TlsClientConfig::builder(ServerTrust::pin(&bare).unwrap())
        .build()
        .unwrap();
    Pair::new(&client, &server).handshake();
}

#[test]
fn pinned_trust_ignores_expiry_like_known_hosts() {
    let leaf = self_signed(Alg::EcdsaP256, &[SERVER_NAME], |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let server = leaf.server().build().unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .build()
        .unwrap();
    Pair::new(&client, &server).handshake();
}

#[test]
fn mutual_tls_with_each_key_type_shows_the_client_identity() {
    for alg in Alg::ALL {
        let server_ca = Ca::new(alg, "Server CA");
        let client_ca = Ca::new(alg, "Client CA");
        let server_leaf = server_ca.issue(alg, &[SERVER_NAME], "server");
        let client_leaf = client_ca.issue(alg, &[], "alice");
        let server = server_leaf
            .server()
            .require_client_cert(client_ca.certs())
            .build()
            .unwrap();
        let client = TlsClientConfig::builder(server_ca.trust())
            .client_cert(vec![client_leaf.cert.clone()], client_leaf.key())
            .build()
            .unwrap();
        let mut pair = Pair::new(&client, &server);
        pair.handshake();
        let id = pair.server.peer_identity().expect("client identity");
        assert_eq!(id.subject(), "CN=alice,O=Veltix Tests", "{alg:?}");
        let client_pin = veltix_tls::SpkiPin::of_certificate(&client_leaf.cert).unwrap();
        assert_eq!(id.pin(), client_pin);
        assert!(id.dns_names().is_empty());
        assert_eq!(pair.client.peer_identity().unwrap().pin(), server.pin());
    }
}

#[test]
fn mutual_tls_works_with_a_pinned_server_too() {
    let client_ca = Ca::new(Alg::Ed25519, "Client CA");
    let client_leaf = client_ca.issue(Alg::Ed25519, &[], "bob");
    let server_leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = server_leaf
        .server()
        .require_client_cert(client_ca.certs())
        .build()
        .unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .client_cert(vec![client_leaf.cert.clone()], client_leaf.key())
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    assert_eq!(
        pair.server.peer_identity().unwrap().subject(),
        "CN=bob,O=Veltix Tests"
    );
}

#[test]
fn each_cipher_suite_can_be_negotiated() {
    let ca = Ca::new(Alg::EcdsaP256, "Test CA");
    let leaf = ca.issue(Alg::EcdsaP256, &[SERVER_NAME], "server");
    let server = leaf.server().build().unwrap();
    for cipher in Cipher::ALL {
        let client = TlsClientConfig::builder(ca.trust())
            .cipher_suites(&[cipher])
            .build()
            .unwrap();
        let mut pair = Pair::new(&client, &server);
        pair.handshake();
        assert_eq!(pair.client.cipher(), Some(cipher));
        assert_eq!(pair.server.cipher(), Some(cipher));
    }
    // The client's preference decides among what both accept.
    let client = TlsClientConfig::builder(ca.trust())
        .cipher_suites(&[Cipher::ChaCha20Poly1305, Cipher::Aes128Gcm])
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    assert_eq!(pair.server.cipher(), Some(Cipher::ChaCha20Poly1305));
}

#[test]
fn post_quantum_hybrid_is_the_default_key_exchange() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let (client, server) = configs(&leaf, ca.trust());
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    assert_eq!(
        pair.client.key_exchange(),
        Some(KeyExchange::X25519MlKem768)
    );
    assert_eq!(
        pair.server.key_exchange(),
        Some(KeyExchange::X25519MlKem768)
    );
}

#[test]
fn x25519_alone_on_either_side_is_negotiated() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let classic_client = TlsClientConfig::builder(ca.trust())
        .key_exchanges(&[KeyExchange::X25519])
        .build()
        .unwrap();
    let default_server = leaf.server().build().unwrap();
    let mut pair = Pair::new(&classic_client, &default_server);
    pair.handshake();
    assert_eq!(pair.server.key_exchange(), Some(KeyExchange::X25519));

    // A server without ML-KEM: the client's hybrid share is refused, it
    // retries with X25519 (HelloRetryRequest).
    let default_client = TlsClientConfig::builder(ca.trust()).build().unwrap();
    let classic_server = leaf
        .server()
        .key_exchanges(&[KeyExchange::X25519])
        .build()
        .unwrap();
    let mut pair = Pair::new(&default_client, &classic_server);
    pair.handshake();
    assert_eq!(pair.client.key_exchange(), Some(KeyExchange::X25519));
}

#[test]
fn a_self_signed_certificate_can_be_its_own_ca() {
    let leaf = self_signed(Alg::EcdsaP256, &[SERVER_NAME], |_| {});
    let ca = veltix_tls::CaCerts::from_pem(leaf.cert_pem.as_bytes()).unwrap();
    let (client, server) = configs(&leaf, ServerTrust::Ca(ca));
    Pair::new(&client, &server).handshake();
}

#[test]
fn an_ip_address_as_server_name() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue(Alg::Ed25519, &["127.0.0.1"], "server");
    let (client, server) = configs(&leaf, ca.trust());
    let mut client = TlsSession::client(&client, "127.0.0.1").unwrap();
    let mut server = TlsSession::server(&server).unwrap();
    for _ in 0..4 {
        let bytes = common::drain(&mut client);
        server.feed(&bytes, |_| {}).unwrap();
        let bytes = common::drain(&mut server);
        client.feed(&bytes, |_| {}).unwrap();
    }
    assert!(!client.is_handshaking());
}

#[test]
fn bytes_fed_one_at_a_time_complete_the_handshake_and_carry_data() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let client_ca = Ca::new(Alg::Ed25519, "Client CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let client_leaf = client_ca.issue(Alg::Ed25519, &[], "carol");
    let server = leaf
        .server()
        .require_client_cert(client_ca.certs())
        .build()
        .unwrap();
    let client = TlsClientConfig::builder(ca.trust())
        .client_cert(vec![client_leaf.cert.clone()], client_leaf.key())
        .build()
        .unwrap();
    let mut client = TlsSession::client(&client, SERVER_NAME).unwrap();
    let mut server = TlsSession::server(&server).unwrap();
    client.write_plaintext(b"ping").unwrap();
    server.write_plaintext(b"pong").unwrap();
    let (mut at_server, mut at_client) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        for byte in common::drain(&mut client) {
            server
                .feed(&[byte], |p| at_server.extend_from_slice(p))
                .unwrap();
        }
        for byte in common::drain(&mut server) {
            client
                .feed(&[byte], |p| at_client.extend_from_slice(p))
                .unwrap();
        }
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(at_server, b"ping");
    assert_eq!(at_client, b"pong");
    assert_eq!(
        server.peer_identity().unwrap().subject(),
        "CN=carol,O=Veltix Tests"
    );
}

#[test]
fn plaintext_written_before_the_handshake_is_sent_after_it_not_before() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server = leaf.server().build().unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    let hello_len = pair.client.pending_tls_bytes();
    assert!(hello_len > 0, "the ClientHello is ready at once");
    assert_eq!(pair.client.write_plaintext(b"early").unwrap(), 5);
    // Held apart: not encrypted, not counted, not in the first flight.
    assert_eq!(pair.client.pending_tls_bytes(), hello_len);
    pair.handshake();
    assert_eq!(pair.at_server, b"early");
    assert_eq!(pair.client.side(), Side::Client);
    assert_eq!(pair.server.side(), Side::Server);
}

#[test]
fn sessions_carry_large_data_both_ways_in_order() {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let (client, server) = configs(&leaf, ServerTrust::Pinned(vec![leaf_pin(&leaf)]));
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < data.len() {
        sent += pair.client.write_plaintext(&data[sent..]).unwrap();
        pair.run();
    }
    assert_eq!(pair.at_server, data);
}

fn leaf_pin(leaf: &common::Leaf) -> veltix_tls::SpkiPin {
    veltix_tls::SpkiPin::of_certificate(&leaf.cert).unwrap()
}
