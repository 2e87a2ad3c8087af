//! Who may come in: the accept hook (by address, by TLS identity) and
//! per-client pre-shared keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_driver::tls::{ServerTrust, TlsClientConfig, TlsServerConfig};
use veltix_driver::{Client, CloseCode, CloseReason, Error, Runtime};

use super::{Ca, NAME};
use crate::support::{ECHO, STEP, client_config, echo_server, msg, server_config, within};

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
    within::<R, _>(STEP, "close", alice.close())
        .await
        .expect("close");
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
    within::<R, _>(STEP, "close", alice.close())
        .await
        .expect("close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
