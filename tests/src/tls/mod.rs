//! The TLS suite: the conformance cases that matter over TLS (requests,
//! pings, broadcast, shutdown), each trust mode, and the refusals — wrong
//! CA or pin, a missing client certificate, a man in the middle, plaintext
//! against TLS both ways, garbage and a trickled ClientHello, a flipped
//! byte in a record. Every function is generic over the runtime and listed
//! in [`tls_tests!`](crate::tls_tests).
//!
//! Certificates are made in the test with rcgen: a CA that issues leaves,
//! and self-signed keys for the pinned mode.

use std::net::SocketAddr;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use veltix_driver::tls::{
    CaCerts, CertificateDer, PrivateKeyDer, ServerTrust, SpkiPin, TlsClientConfig, TlsError,
    TlsServerConfig,
};
use veltix_driver::{Client, ClientConfig, Error, Runtime};

use crate::support::{ECHO, STEP, client_config, echo_server, msg, server_config, within};

mod admission;
mod trust;
mod wrong_bytes;

pub use admission::*;
pub use trust::*;
pub use wrong_bytes::*;

/// Expands `$callback! { name, … }` with every TLS test.
#[macro_export]
macro_rules! tls_tests {
    ($callback:ident) => {
        $callback! {
            requests_pings_broadcast_and_shutdown_over_tls,
            a_ca_checks_the_issuer_and_the_name,
            a_pinned_key_admits_only_that_server,
            mutual_tls_names_the_client_and_refuses_one_without_a_certificate,
            plaintext_and_tls_on_the_wrong_port_fail_clearly,
            garbage_and_a_trickled_client_hello_are_closed,
            a_flipped_byte_in_a_record_closes_and_delivers_nothing_corrupt,
            the_accept_hook_refuses_by_address_and_by_identity,
            each_client_proves_its_own_key,
        }
    };
}

/// The name every test certificate is issued for.
pub const NAME: &str = "veltix.test";

/// A certificate and its key.
pub struct Leaf {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Leaf {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.clone()).expect("a PKCS#8 key")
    }

    /// A server configuration with this certificate.
    pub fn server(&self) -> TlsServerConfig {
        TlsServerConfig::builder(vec![self.cert.clone()], self.key())
            .build()
            .expect("a server configuration")
    }

    /// The pin of this certificate's key.
    pub fn pin(&self) -> SpkiPin {
        SpkiPin::of_certificate(&self.cert).expect("a pin")
    }
}

/// A test CA that issues leaves.
pub struct Ca {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA named `name` (ECDSA P-256).
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("a CA certificate");
        Self {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Trust in this CA.
    pub fn certs(&self) -> CaCerts {
        CaCerts::from_der([self.cert.clone()]).expect("a CA")
    }

    /// A leaf for `name`, with common name `subject` (Ed25519).
    pub fn issue(&self, name: &str, subject: &str) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("a key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, subject);
        let cert = params.signed_by(&key, &self.issuer).expect("a leaf");
        Leaf {
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }
}

/// A self-signed leaf, trusted by nobody but a pin.
pub fn self_signed() -> Leaf {
    let made = veltix_driver::tls::self_signed(vec![NAME.to_owned()]).expect("a certificate");
    Leaf {
        cert: made.cert_der().clone(),
        key: match made.key_der() {
            PrivateKeyDer::Pkcs8(key) => key.secret_pkcs8_der().to_vec(),
            other => panic!("unexpected key kind {other:?}"),
        },
    }
}

/// A client of `addr` over TLS, trusting `trust`, naming the server [`NAME`].
pub fn tls_client(addr: SocketAddr, trust: ServerTrust) -> ClientConfig {
    let tls = TlsClientConfig::builder(trust)
        .build()
        .expect("a client configuration");
    client_config(addr).tls(tls).tls_server_name(NAME)
}

/// Connects, expecting the TLS error `what`.
async fn refused<R: Runtime + Default>(config: ClientConfig, what: &str) -> TlsError {
    match within::<R, _>(STEP, "a refused connect", Client::<R>::connect(config)).await {
        Err(Error::Tls(error)) => error,
        other => panic!("{what}: expected a TLS error, got {other:?}"),
    }
}

/// A TLS echo server, and a check that it still serves a good client.
async fn tls_echo<R: Runtime + Default>(leaf: &Leaf) -> veltix_driver::Server<R> {
    echo_server::<R>(server_config().tls(leaf.server())).await
}

async fn still_serves<R: Runtime + Default>(addr: SocketAddr, trust: ServerTrust) {
    let good = Client::<R>::connect(tls_client(addr, trust))
        .await
        .expect("a good client still connects");
    let reply = within::<R, _>(STEP, "a request", good.request(msg(ECHO, "still?"), STEP))
        .await
        .expect("answered");
    assert_eq!(reply.payload().as_ref(), b"still?");
    within::<R, _>(STEP, "close", good.close())
        .await
        .expect("close");
}
