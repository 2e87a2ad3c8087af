//! Shared by the integration tests: certificates made with rcgen, and a
//! two-session harness that moves bytes in memory.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SignatureAlgorithm,
};
use veltix_tls::{
    CaCerts, CertificateDer, PrivateKeyDer, ServerTrust, TlsClientConfig, TlsError,
    TlsServerConfig, TlsSession,
};

pub const SERVER_NAME: &str = "veltix.test";

/// The key types the tests cover.
#[derive(Debug, Clone, Copy)]
pub enum Alg {
    Ed25519,
    EcdsaP256,
}

impl Alg {
    pub const ALL: [Self; 2] = [Self::Ed25519, Self::EcdsaP256];

    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }

    pub fn key(self) -> KeyPair {
        KeyPair::generate_for(self.rcgen()).expect("key generation")
    }
}

/// A certificate and its private key.
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub key_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    fn new(cert: rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key_der.clone()).expect("PKCS#8 key")
    }

    /// A server configuration with this certificate, all defaults.
    pub fn server(&self) -> veltix_tls::TlsServerConfigBuilder {
        TlsServerConfig::builder(vec![self.cert.clone()], self.key())
    }
}

/// A test CA that issues leaf certificates.
pub struct Ca {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(alg: Alg, name: &str) -> Self {
        let key = alg.key();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn certs(&self) -> CaCerts {
        CaCerts::from_der([self.cert.clone()]).unwrap()
    }

    pub fn trust(&self) -> ServerTrust {
        ServerTrust::Ca(self.certs())
    }

    /// A leaf for `names`, valid from 2020 to 2100.
    pub fn issue(&self, alg: Alg, names: &[&str], subject: &str) -> Leaf {
        self.issue_with(alg, names, subject, |_| {})
    }

    pub fn issue_with(
        &self,
        alg: Alg,
        names: &[&str],
        subject: &str,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let key = alg.key();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, subject);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Veltix Tests");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf::new(cert, &key)
    }
}

/// A self-signed leaf (its own issuer, trusted by nobody).
pub fn self_signed(alg: Alg, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let key = alg.key();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "self-signed");
    adjust(&mut params);
    let cert = params.self_signed(&key).unwrap();
    Leaf::new(cert, &key)
}

/// A client and a server session, and what each received.
pub struct Pair {
    pub client: TlsSession,
    pub server: TlsSession,
    pub at_client: Vec<u8>,
    pub at_server: Vec<u8>,
    pub client_error: Option<TlsError>,
    pub server_error: Option<TlsError>,
}

impl Pair {
    pub fn new(client: &TlsClientConfig, server: &TlsServerConfig) -> Self {
        Self {
            client: TlsSession::client(client, SERVER_NAME).unwrap(),
            server: TlsSession::server(server).unwrap(),
            at_client: Vec::new(),
            at_server: Vec::new(),
            client_error: None,
            server_error: None,
        }
    }

    /// Moves bytes both ways until neither side has anything to send;
    /// errors are recorded, not returned (both sides' are of interest).
    pub fn run(&mut self) {
        for _ in 0..100 {
            let to_server = drain(&mut self.client);
            let to_client = drain(&mut self.server);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            feed(
                &mut self.server,
                &to_server,
                &mut self.at_server,
                &mut self.server_error,
            );
            feed(
                &mut self.client,
                &to_client,
                &mut self.at_client,
                &mut self.client_error,
            );
        }
        panic!("sessions still talking after 100 rounds");
    }

    /// Runs and asserts that the handshake completed on both sides.
    pub fn handshake(&mut self) {
        self.run();
        assert!(
            self.client_error.is_none(),
            "client error: {:?}",
            self.client_error
        );
        assert!(
            self.server_error.is_none(),
            "server error: {:?}",
            self.server_error
        );
        assert!(!self.client.is_handshaking() && !self.server.is_handshaking());
    }
}

/// Everything a session has to send.
pub fn drain(session: &mut TlsSession) -> Vec<u8> {
    let mut out = Vec::new();
    while session.wants_write() {
        let written = session.write_tls(&mut out).unwrap();
        assert!(written > 0);
    }
    out
}

fn feed(session: &mut TlsSession, bytes: &[u8], got: &mut Vec<u8>, error: &mut Option<TlsError>) {
    if bytes.is_empty() || error.is_some() {
        return;
    }
    if let Err(e) = session.feed(bytes, |plain| got.extend_from_slice(plain)) {
        *error = Some(e);
    }
}

/// Default configurations: a server with `leaf`, a client trusting `trust`.
pub fn configs(leaf: &Leaf, trust: ServerTrust) -> (TlsClientConfig, TlsServerConfig) {
    (
        TlsClientConfig::builder(trust).build().unwrap(),
        leaf.server().build().unwrap(),
    )
}
