//! The three ways to trust a server (a CA, a pinned key, mutual TLS) and
//! the conformance cases that matter over TLS.

use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_driver::tls::{ServerTrust, TlsClientConfig, TlsError, TlsServerConfig};
use veltix_driver::{Client, ClientEvent, CloseCode, CloseReason, Runtime};

use super::{Ca, NAME, refused, self_signed, still_serves, tls_client, tls_echo};
use crate::support::{
    DATA, ECHO, STEP, client_config, echo_server, msg, next_client_event, server_config, within,
};

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
    within::<R, _>(STEP, "ping", client.ping(STEP))
        .await
        .expect("pong");
    let peer = server.peers().pop().expect("one peer");
    within::<R, _>(STEP, "server ping", server.ping(peer.id(), STEP))
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
            ClientEvent::Connected(info) => {
                // Both sides under TLS: the AEAD protects every byte, the
                // per-frame SHA-256 is skipped by agreement.
                assert!(info.hash_skipped, "{info:?}");
            }
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
    within::<R, _>(STEP, "close", client.close())
        .await
        .expect("close");
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
