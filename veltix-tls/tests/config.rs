//! Building configurations: PEM files, pins, errors that name the file,
//! the in-memory self-signed helper and the fuzzing entry.

mod common;

use std::io::ErrorKind;
use std::path::Path;

use common::{Alg, Ca, Pair, SERVER_NAME};
use veltix_tls::{
    CaCerts, Cipher, KeyExchange, ServerTrust, SpkiPin, TlsClientConfig, TlsError, TlsServerConfig,
    TlsSession,
};

/// A certificate made by `openssl req -x509` (Ed25519); its pin computed
/// independently with
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
const OPENSSL_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBWzCCAQ2gAwIBAgIUSvncVMtc9h4a7zlHed/6vInyy/8wBQYDK2VwMBYxFDAS
BgNVBAMMC3ZlbHRpeC1mdXp6MCAXDTI2MTIwMTA1MzI1MVoYDzIxMjYxMTA3MDUz
MjUxWjAWMRQwEgYDVQQDDAt2ZWx0aXgtZnV6ejAqMAUGAytlcAMhAFsqrUP9ygyE
l6uaNA5g23MQt47IkLnyzt2fif1KeJcIo2swaTAdBgNVHQ4EFgQUXwAJj4/5BLuP
mCkckaRQl5EIiT0wHwYDVR0jBBgwFoAUXwAJj4/5BLuPmCkckaRQl5EIiT0wDwYD
VR0TAQH/BAUwAwEB/zAWBgNVHREEDzANggt2ZWx0aXgtZnV6ejAFBgMrZXADQQB7
ru4KM6vshhbANGdGoelgJ3mMISPuw7fTuqP2JpHYKwd0A3H3qzInU7UiibLrq2D1
cZMJcvlvTOGDXnyUWHQP
-----END CERTIFICATE-----
";
const OPENSSL_PIN: &str = "sha256:30ac6b08a5c21942ecc216a0eb9da50ccaa8cf16f60e12f7f1300a31ee8a861d";

#[test]
fn the_pin_matches_openssl() {
    let pin = SpkiPin::of_pem_certificate(OPENSSL_CERT.as_bytes()).unwrap();
    assert_eq!(pin.to_string(), OPENSSL_PIN);
    assert_eq!(OPENSSL_PIN.parse::<SpkiPin>().unwrap(), pin);
    assert_eq!(
        OPENSSL_PIN
            .to_uppercase()
            .replace("SHA256:", "")
            .parse::<SpkiPin>()
            .unwrap(),
        pin
    );
}

#[test]
fn the_pin_is_the_hash_of_the_key_not_the_certificate() {
    let key = Alg::EcdsaP256.key();
    let one = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let two = rcgen::CertificateParams::new(vec!["b.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert_ne!(one.der(), two.der());
    let pin = SpkiPin::of_certificate(one.der()).unwrap();
    assert_eq!(pin, SpkiPin::of_certificate(two.der()).unwrap());
    use rcgen::PublicKeyData;
    assert_eq!(pin, SpkiPin::of_spki(&key.subject_public_key_info()));
}

#[test]
fn bad_pins_are_config_errors() {
    for bad in [
        "",
        "sha256:",
        "sha256:abcd",
        &"g".repeat(64),
        &format!("md5:{}", "0".repeat(64)),
    ] {
        let error = bad.parse::<SpkiPin>().unwrap_err();
        assert!(matches!(error, TlsError::Config(_)), "{bad:?}: {error:?}");
        assert!(ServerTrust::pin(bad).is_err());
    }
    let error = TlsClientConfig::builder(ServerTrust::Pinned(vec![]))
        .build()
        .unwrap_err();
    assert!(matches!(error, TlsError::Config(_)));
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn everything_loads_from_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new(Alg::EcdsaP256, "Server CA");
    let client_ca = Ca::new(Alg::Ed25519, "Client CA");
    let server_leaf = server_ca.issue(Alg::EcdsaP256, &[SERVER_NAME], "server");
    let client_leaf = client_ca.issue(Alg::Ed25519, &[], "dave");
    let server = TlsServerConfig::builder_from_files(
        write(dir.path(), "server.pem", &server_leaf.cert_pem),
        write(dir.path(), "server.key", &server_leaf.key_pem),
    )
    .unwrap()
    .require_client_cert_file(write(dir.path(), "client-ca.pem", &client_ca.cert_pem))
    .unwrap()
    .build()
    .unwrap();
    let client = TlsClientConfig::builder(
        ServerTrust::ca_file(write(dir.path(), "ca.pem", &server_ca.cert_pem)).unwrap(),
    )
    .client_cert_files(
        write(dir.path(), "client.pem", &client_leaf.cert_pem),
        write(dir.path(), "client.key", &client_leaf.key_pem),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    assert_eq!(
        pair.server.peer_identity().unwrap().subject(),
        "CN=dave,O=Veltix Tests"
    );
}

#[test]
fn a_ca_file_may_hold_several_cas() {
    let one = Ca::new(Alg::Ed25519, "One");
    let two = Ca::new(Alg::EcdsaP256, "Two");
    let both = CaCerts::from_pem(format!("{}{}", one.cert_pem, two.cert_pem).as_bytes()).unwrap();
    assert_eq!(both.len(), 2);
    let leaf = two.issue(Alg::EcdsaP256, &[SERVER_NAME], "server");
    let (client, server) = common::configs(&leaf, ServerTrust::Ca(both));
    Pair::new(&client, &server).handshake();
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let error = ServerTrust::ca_file(&missing).unwrap_err();
    match &error {
        TlsError::File { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("nope.pem"), "{error}");
    assert_eq!(std::io::Error::from(error).kind(), ErrorKind::NotFound);

    let empty = write(dir.path(), "empty.pem", "no pem here\n");
    let error = ServerTrust::ca_file(&empty).unwrap_err();
    assert!(
        matches!(&error, TlsError::Pem { path: Some(p), .. } if p == &empty),
        "{error:?}"
    );
    assert!(error.to_string().contains("empty.pem") && error.to_string().contains("CERTIFICATE"));

    let broken = write(
        dir.path(),
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let error = TlsServerConfig::builder_from_files(&broken, &broken).unwrap_err();
    assert!(
        matches!(&error, TlsError::Pem { path: Some(p), .. } if p == &broken),
        "{error:?}"
    );

    let leaf = Ca::new(Alg::Ed25519, "CA").issue(Alg::Ed25519, &[SERVER_NAME], "s");
    let cert = write(dir.path(), "cert.pem", &leaf.cert_pem);
    let error = TlsServerConfig::builder_from_files(&cert, &cert).unwrap_err();
    assert!(
        matches!(&error, TlsError::Pem { path: Some(p), reason } if p == &cert && reason.contains("PRIVATE KEY")),
        "{error:?}"
    );
    assert_eq!(std::io::Error::from(error).kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_a_config_error() {
    let ca = Ca::new(Alg::Ed25519, "CA");
    let one = ca.issue(Alg::Ed25519, &[SERVER_NAME], "one");
    let two = ca.issue(Alg::Ed25519, &[SERVER_NAME], "two");
    let error = TlsServerConfig::builder(vec![one.cert.clone()], two.key())
        .build()
        .unwrap_err();
    assert!(matches!(error, TlsError::Config(_)), "{error:?}");
    let error = TlsClientConfig::builder(ca.trust())
        .client_cert(vec![one.cert.clone()], two.key())
        .build()
        .unwrap_err();
    assert!(matches!(error, TlsError::Config(_)), "{error:?}");
}

#[test]
fn empty_choices_and_bad_names_are_config_errors() {
    let ca = Ca::new(Alg::Ed25519, "CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "s");
    assert!(matches!(
        TlsClientConfig::builder(ca.trust())
            .cipher_suites(&[])
            .build(),
        Err(TlsError::Config(_))
    ));
    assert!(matches!(
        leaf.server().key_exchanges(&[]).build(),
        Err(TlsError::Config(_))
    ));
    assert!(matches!(
        leaf.server().buffer_limit(0).build(),
        Err(TlsError::Config(_))
    ));
    let client = TlsClientConfig::builder(ca.trust()).build().unwrap();
    assert!(matches!(
        TlsSession::client(&client, "not a name!"),
        Err(TlsError::Config(_))
    ));
    // Duplicates are harmless.
    TlsClientConfig::builder(ca.trust())
        .cipher_suites(&[Cipher::Aes128Gcm, Cipher::Aes128Gcm])
        .key_exchanges(&[KeyExchange::X25519, KeyExchange::X25519])
        .build()
        .unwrap();
}

#[test]
fn self_signed_serves_both_trust_modes() {
    let made =
        veltix_tls::self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    assert!(made.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(made.key_pem().contains("PRIVATE KEY"));
    assert_eq!(
        SpkiPin::of_certificate(made.cert_der()).unwrap(),
        made.pin()
    );
    let server = made.server_config().build().unwrap();
    assert_eq!(server.pin(), made.pin());
    // The PEM strings load back too.
    let from_pem =
        TlsServerConfig::builder_from_pem(made.cert_pem().as_bytes(), made.key_pem().as_bytes())
            .unwrap()
            .build()
            .unwrap();
    assert_eq!(from_pem.pin(), made.pin());

    for trust in [
        ServerTrust::Pinned(vec![made.pin()]),
        ServerTrust::Ca(made.ca().unwrap()),
    ] {
        let client = TlsClientConfig::builder(trust).build().unwrap();
        let mut client = TlsSession::client(&client, "localhost").unwrap();
        let mut server = TlsSession::server(&server).unwrap();
        for _ in 0..3 {
            let wire = common::drain(&mut client);
            server.feed(&wire, |_| {}).unwrap();
            let wire = common::drain(&mut server);
            client.feed(&wire, |_| {}).unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
    }
}

#[test]
fn the_fuzzing_entry_rejects_garbage_and_a_real_client_hello_alike() {
    assert!(matches!(
        veltix_tls::fuzzing::feed_server(b"\x00GET /"),
        Err(TlsError::NotTls { .. })
    ));
    assert!(matches!(
        veltix_tls::fuzzing::feed_server(b""),
        Err(TlsError::Truncated {
            during_handshake: true
        })
    ));
    // A real ClientHello, split in 7-byte reads: the server answers (its
    // flight is drained inside), then the stream ends mid-handshake.
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![
        veltix_tls::fuzzing::server_config().pin(),
    ]))
    .build()
    .unwrap();
    let mut session = TlsSession::client(&client, "veltix-fuzz").unwrap();
    let mut input = vec![7];
    input.extend(common::drain(&mut session));
    assert!(matches!(
        veltix_tls::fuzzing::feed_server(&input),
        Err(TlsError::Truncated {
            during_handshake: true
        })
    ));
}
