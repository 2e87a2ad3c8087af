//! The TLS suite: the conformance cases that matter over TLS (requests,
//! pings, broadcast, shutdown), each trust mode, and the refusals — wrong
//! CA or pin, a missing client certificate, a man in the middle, plaintext
//! against TLS both ways, garbage and a trickled ClientHello, a flipped
//! byte in a record. Every function is generic over the runtime and listed
//! in [`tls_tests!`](crate::tls_tests).
//!
//! Certificates are made in the test with rcgen: a CA that issues leaves,
//! and self-signed keys for the pinned mode.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use veltix_driver::tls::{
    CaCerts, CertificateDer, PrivateKeyDer, ServerTrust, SpkiPin, TlsClientConfig, TlsError,
    TlsServerConfig,
};
use veltix_driver::{Client, ClientConfig, ClientEvent, CloseCode, CloseReason, Error, Runtime};

use crate::support::{
    DATA, ECHO, STEP, client_config, echo_server, msg, next_client_event, on_thread, server_config,
    within,
};

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
    within::<R, _>(STEP, "close", good.close()).await;
}

/// Over TLS with a CA: requests, pings both ways, a broadcast and a
/// graceful shutdown, as in plaintext; the server's identity is visible.
pub async fn requests_pings_broadcast_and_shutdown_over_tls<R: Runtime + Default>() {
    let ca = Ca::new("Veltix Test CA");
    let leaf = ca.issue(NAME, "server");
    let server = tls_echo::<R>(&leaf).await;
    let client = within::<R, _>(
        STEP,
        "connect",
        Client::<R>::connect(tls_client(server.local_addr(), ServerTrust::Ca(ca.certs()))),
    )
    .await
    .expect("connects over TLS");
    let identity = client.tls_identity().expect("the server's identity");
    assert_eq!(identity.pin(), leaf.pin());
    let mut events = client.events();
    for i in 0..20 {
        let text = format!("request {i}");
        let reply = within::<R, _>(
            STEP,
            "request",
            client.request(msg(ECHO, text.clone()), STEP),
        )
        .await
        .expect("a reply");
        assert_eq!(reply.payload().as_ref(), text.as_bytes());
    }
    within::<R, _>(STEP, "ping", client.ping())
        .await
        .expect("pong");
    let peer = server.peers().pop().expect("one peer");
    within::<R, _>(STEP, "server ping", server.ping(peer.id()))
        .await
        .expect("pong from the client");
    let sent = within::<R, _>(
        STEP,
        "broadcast",
        server.broadcast(msg(DATA, "to all"), &[]),
    )
    .await
    .expect("broadcast");
    assert_eq!(sent, 1);
    loop {
        match next_client_event::<R>(&mut events).await {
            ClientEvent::Message(m) => {
                assert_eq!(m.payload().as_ref(), b"to all");
                break;
            }
            ClientEvent::Connected(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    match next_client_event::<R>(&mut events).await {
        ClientEvent::Disconnected(CloseReason::Peer { code, .. }) => {
            assert_eq!(code, CloseCode::SHUTDOWN, "told why, through TLS");
        }
        other => panic!("expected the shutdown, got {other:?}"),
    }
}

/// A CA refuses a server it did not issue, and a name the certificate does
/// not carry.
pub async fn a_ca_checks_the_issuer_and_the_name<R: Runtime + Default>() {
    let ca = Ca::new("Veltix Test CA");
    let server = tls_echo::<R>(&ca.issue(NAME, "server")).await;
    let addr = server.local_addr();
    let other = Ca::new("Another CA");
    let error = refused::<R>(tls_client(addr, ServerTrust::Ca(other.certs())), "wrong CA").await;
    assert!(matches!(error, TlsError::UnknownIssuer), "{error:?}");
    let wrong_name =
        tls_client(addr, ServerTrust::Ca(ca.certs())).tls_server_name("elsewhere.test");
    let error = refused::<R>(wrong_name, "wrong name").await;
    assert!(matches!(error, TlsError::NameMismatch { .. }), "{error:?}");
    still_serves::<R>(addr, ServerTrust::Ca(ca.certs())).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A pinned client connects to the server holding that key only: another
/// server at that address (a man in the middle with its own certificate)
/// is refused.
pub async fn a_pinned_key_admits_only_that_server<R: Runtime + Default>() {
    let real = self_signed();
    let server = tls_echo::<R>(&real).await;
    still_serves::<R>(server.local_addr(), ServerTrust::Pinned(vec![real.pin()])).await;
    // The man in the middle: whatever answers at the address the client
    // dials, presenting a certificate of its own for the same name.
    let impostor = tls_echo::<R>(&self_signed()).await;
    let error = refused::<R>(
        tls_client(impostor.local_addr(), ServerTrust::Pinned(vec![real.pin()])),
        "an impostor",
    )
    .await;
    assert!(matches!(error, TlsError::PinMismatch { .. }), "{error:?}");
    let wrong = refused::<R>(
        tls_client(
            server.local_addr(),
            ServerTrust::Pinned(vec![self_signed().pin()]),
        ),
        "a wrong pin",
    )
    .await;
    assert!(matches!(wrong, TlsError::PinMismatch { .. }), "{wrong:?}");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    within::<R, _>(STEP, "shutdown", impostor.shutdown())
        .await
        .expect("shutdown");
}

/// With client certificates required, the client's verified identity is on
/// its `Peer` when `on_connect` runs; a client without one never connects.
pub async fn mutual_tls_names_the_client_and_refuses_one_without_a_certificate<
    R: Runtime + Default,
>() {
    let ca = Ca::new("Veltix Test CA");
    let server_leaf = ca.issue(NAME, "server");
    let alice = ca.issue("alice.test", "alice");
    let tls = TlsServerConfig::builder(vec![server_leaf.cert.clone()], server_leaf.key())
        .require_client_cert(ca.certs())
        .build()
        .expect("an mTLS server");
    let server = echo_server::<R>(server_config().tls(tls)).await;
    let (seen_tx, mut seen) = mpsc::unbounded();
    server.on_connect(move |peer, _| {
        let _ = seen_tx.unbounded_send(peer.tls_identity().map(|id| id.subject().to_owned()));
    });
    let addr = server.local_addr();
    let with_cert = TlsClientConfig::builder(ServerTrust::Ca(ca.certs()))
        .client_cert(vec![alice.cert.clone()], alice.key())
        .build()
        .expect("a client with a certificate");
    let client = within::<R, _>(
        STEP,
        "connect",
        Client::<R>::connect(client_config(addr).tls(with_cert).tls_server_name(NAME)),
    )
    .await
    .expect("alice connects");
    let subject = within::<R, _>(STEP, "on_connect", seen.next())
        .await
        .expect("a connect")
        .expect("an identity in on_connect");
    assert!(subject.contains("CN=alice"), "{subject}");
    within::<R, _>(STEP, "close", client.close()).await;
    let error = refused::<R>(
        tls_client(addr, ServerTrust::Ca(ca.certs())),
        "no certificate",
    )
    .await;
    assert!(
        matches!(
            error,
            TlsError::PeerAlert(_) | TlsError::NoClientCertificate
        ),
        "{error:?}"
    );
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A plaintext client on a TLS port and a TLS client on a plaintext port
/// both fail with a clear error, and each server serves on.
pub async fn plaintext_and_tls_on_the_wrong_port_fail_clearly<R: Runtime + Default>() {
    let leaf = self_signed();
    let secure = tls_echo::<R>(&leaf).await;
    match within::<R, _>(
        STEP,
        "plaintext to TLS",
        Client::<R>::connect(client_config(secure.local_addr())),
    )
    .await
    {
        // Told, in plaintext, why.
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::TLS_REQUIRED);
            assert!(reason.contains("requires TLS"), "{reason}");
        }
        other => panic!("a plaintext client on a TLS port: {other:?}"),
    }
    still_serves::<R>(secure.local_addr(), ServerTrust::Pinned(vec![leaf.pin()])).await;

    let plain = echo_server::<R>(server_config()).await;
    let error = refused::<R>(
        tls_client(plain.local_addr(), ServerTrust::Pinned(vec![leaf.pin()])),
        "TLS to plaintext",
    )
    .await;
    assert!(
        matches!(error, TlsError::NotTls { .. } | TlsError::Truncated { .. }),
        "{error:?}"
    );
    let good = Client::<R>::connect(client_config(plain.local_addr()))
        .await
        .expect("the plaintext server serves on");
    within::<R, _>(STEP, "close", good.close()).await;
    within::<R, _>(STEP, "shutdown", secure.shutdown())
        .await
        .expect("shutdown");
    within::<R, _>(STEP, "shutdown", plain.shutdown())
        .await
        .expect("shutdown");
}

/// Garbage instead of a ClientHello is refused at once; a ClientHello
/// trickled one byte at a time is closed by the handshake timeout.
pub async fn garbage_and_a_trickled_client_hello_are_closed<R: Runtime + Default>() {
    let leaf = self_signed();
    let mut config = server_config().tls(leaf.server());
    config.connection.handshake_timeout = Duration::from_secs(1);
    let server = echo_server::<R>(config).await;
    let addr = server.local_addr();
    on_thread::<R, _>(STEP, "garbage", move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        assert!(
            closed_within(&mut stream, Duration::from_secs(3)),
            "garbage was not refused"
        );
    })
    .await;
    let hello = client_hello(leaf.pin());
    let took = on_thread::<R, _>(Duration::from_secs(10), "trickle", move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let started = Instant::now();
        for byte in &hello {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        assert!(
            closed_within(&mut stream, Duration::from_secs(3)),
            "the trickler was not closed"
        );
        started.elapsed()
    })
    .await;
    assert!(
        took < Duration::from_secs(4),
        "closed after {took:?}, not by the 1 s timeout"
    );
    still_serves::<R>(addr, ServerTrust::Pinned(vec![leaf.pin()])).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Whether the server closed `stream` (end of stream or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // an alert
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The bytes of a real ClientHello.
fn client_hello(pin: SpkiPin) -> Vec<u8> {
    let config = TlsClientConfig::builder(ServerTrust::Pinned(vec![pin]))
        .build()
        .expect("a client configuration");
    let mut session = veltix_driver::tls::TlsSession::client(&config, NAME).expect("a session");
    let mut hello = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut hello).expect("in memory");
    }
    hello
}

/// A proxy that flips one byte of the client's records once armed: the
/// record fails its authentication, the connection closes with a TLS
/// error, and no corrupted message reaches the application.
pub async fn a_flipped_byte_in_a_record_closes_and_delivers_nothing_corrupt<
    R: Runtime + Default,
>() {
    let leaf = self_signed();
    let server = echo_server::<R>(server_config().tls(leaf.server())).await;
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let seen = delivered.clone();
    server.on_message(move |peer, m| {
        seen.lock().expect("lock").push(m.payload().clone());
        let _ = peer.try_reply(&m, msg(m.message_type(), m.payload().clone()));
    });
    let proxy = FlipProxy::start(server.local_addr());
    let client = Client::<R>::connect(tls_client(
        proxy.addr,
        ServerTrust::Pinned(vec![leaf.pin()]),
    ))
    .await
    .expect("connects through the proxy");
    let before = within::<R, _>(
        STEP,
        "a request",
        client.request(msg(ECHO, vec![0xab; 100]), STEP),
    )
    .await
    .expect("answered before the flip");
    assert_eq!(before.payload().len(), 100);
    proxy.arm();
    let after = within::<R, _>(
        STEP,
        "the corrupted request",
        client.request(msg(ECHO, vec![0xab; 32 * 1024]), Duration::from_secs(2)),
    )
    .await;
    assert!(after.is_err(), "a corrupted record was answered: {after:?}");
    assert!(proxy.flipped(), "the proxy flipped a byte");
    for payload in delivered.lock().expect("lock").iter() {
        assert!(
            payload.iter().all(|b| *b == 0xab),
            "a corrupted payload reached the application"
        );
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Forwards one TCP connection both ways; once armed, flips the 1000th
/// byte the client sends after that.
struct FlipProxy {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    flipped: Arc<AtomicUsize>,
}

impl FlipProxy {
    fn start(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let armed = Arc::new(AtomicBool::new(false));
        let flipped = Arc::new(AtomicUsize::new(0));
        let (armed2, flipped2) = (armed.clone(), flipped.clone());
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(to) else {
                return;
            };
            let timeout = Some(Duration::from_secs(15));
            for s in [&client, &server] {
                let _ = s.set_read_timeout(timeout);
            }
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let upstream = std::thread::spawn(move || {
                let mut buf = [0; 16 * 1024];
                let mut counted = 0usize;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if armed2.load(Ordering::SeqCst) && flipped2.load(Ordering::SeqCst) == 0 {
                        if counted + n > 1000 {
                            buf[1000 - counted] ^= 0x01;
                            flipped2.store(1, Ordering::SeqCst);
                        }
                        counted += n;
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            let mut buf = [0; 16 * 1024];
            while let Ok(n) = s_read.read(&mut buf) {
                if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = c_write.shutdown(std::net::Shutdown::Write);
            let _ = upstream.join();
        });
        Self {
            addr,
            armed,
            flipped,
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn flipped(&self) -> bool {
        self.flipped.load(Ordering::SeqCst) > 0
    }
}

/// The accept hook sees the address and the proved identity: refusing by
/// address, the client's connect fails with the hook's reason (it never
/// completes its handshake) and `on_connect` never runs; refusing by TLS
/// identity, alice is let in and mallory is not.
pub async fn the_accept_hook_refuses_by_address_and_by_identity<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config()).await;
    let connected = Arc::new(AtomicUsize::new(0));
    let seen = connected.clone();
    server.on_connect(move |_, _| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    server.accept_with(|incoming| {
        if incoming.addr.ip().is_loopback() {
            Err("no visitors from loopback today".to_owned())
        } else {
            Ok(())
        }
    });
    match within::<R, _>(
        STEP,
        "refused",
        Client::<R>::connect(client_config(server.local_addr())),
    )
    .await
    {
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::REFUSED);
            assert_eq!(reason, "no visitors from loopback today");
        }
        other => panic!("the hook's refusal: {other:?}"),
    }
    assert_eq!(
        connected.load(Ordering::SeqCst),
        0,
        "on_connect ran for a refused peer"
    );
    assert!(server.peers().is_empty());

    let ca = Ca::new("Veltix Test CA");
    let server_leaf = ca.issue(NAME, "server");
    let tls = TlsServerConfig::builder(vec![server_leaf.cert.clone()], server_leaf.key())
        .require_client_cert(ca.certs())
        .build()
        .expect("an mTLS server");
    let secure = echo_server::<R>(server_config().tls(tls)).await;
    secure.accept_with(|incoming| match &incoming.tls_identity {
        Some(id) if id.subject().contains("CN=alice") => Ok(()),
        other => Err(format!(
            "not on the list: {:?}",
            other.as_ref().map(|id| id.subject().to_owned())
        )),
    });
    let client_of = |name: &str| {
        let leaf = ca.issue(&format!("{name}.test"), name);
        let tls = TlsClientConfig::builder(ServerTrust::Ca(ca.certs()))
            .client_cert(vec![leaf.cert.clone()], leaf.key())
            .build()
            .expect("a client");
        client_config(secure.local_addr())
            .tls(tls)
            .tls_server_name(NAME)
    };
    let alice = within::<R, _>(STEP, "alice", Client::<R>::connect(client_of("alice")))
        .await
        .expect("alice is let in");
    within::<R, _>(STEP, "close", alice.close()).await;
    match within::<R, _>(STEP, "mallory", Client::<R>::connect(client_of("mallory"))).await {
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::REFUSED);
            assert!(reason.contains("not on the list"), "{reason}");
        }
        other => panic!("mallory: {other:?}"),
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    within::<R, _>(STEP, "shutdown", secure.shutdown())
        .await
        .expect("shutdown");
}

/// Per-client keys: each client proves the key of the name it gives, and
/// the server sees that name; another client's name with one's own key,
/// and an unknown name, are refused alike.
pub async fn each_client_proves_its_own_key<R: Runtime + Default>() {
    let keys: std::collections::HashMap<String, veltix_driver::PreSharedKey> = [
        ("alice", "alice's key, 32 bytes or more....."),
        ("bob", "bob's key, also long enough........"),
    ]
    .into_iter()
    .map(|(id, key)| (id.to_owned(), veltix_driver::PreSharedKey::new(key)))
    .collect();
    let server = echo_server::<R>(server_config().client_keys(keys)).await;
    let (seen_tx, mut seen) = mpsc::unbounded();
    server.on_connect(move |peer, _| {
        let _ = seen_tx.unbounded_send(peer.client_id());
    });
    let addr = server.local_addr();
    let as_client = |id: &str, key: &str| client_config(addr).client_id(id).pre_shared_key(key);
    let alice = within::<R, _>(
        STEP,
        "alice",
        Client::<R>::connect(as_client("alice", "alice's key, 32 bytes or more.....")),
    )
    .await
    .expect("alice proves her key");
    let named = within::<R, _>(STEP, "on_connect", seen.next())
        .await
        .expect("a connect");
    assert_eq!(named.as_deref(), Some("alice"));
    let reply = within::<R, _>(STEP, "request", alice.request(msg(ECHO, "hi"), STEP))
        .await
        .expect("served");
    assert_eq!(reply.payload().as_ref(), b"hi");
    for (id, key) in [
        ("bob", "alice's key, 32 bytes or more....."),
        ("eve", "eve's key, which nobody knows......"),
    ] {
        match within::<R, _>(STEP, "refused", Client::<R>::connect(as_client(id, key))).await {
            // The server answers with a proof under the named client's key
            // (or a secret decoy for an unknown name): the client refuses it.
            Err(Error::Closed(CloseReason::AuthFailed(_))) => {}
            other => panic!("{id} with the wrong key: {other:?}"),
        }
    }
    within::<R, _>(STEP, "close", alice.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
