//! The cross-runtime matrix: a server on runtime `S` and clients on runtime
//! `C` exchange requests, pings in both directions and a broadcast with
//! exclusion (also over TLS, and in the Python 3.x dialect). Run for every
//! pair of runtimes by `tests/tests/matrix.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use veltix_driver::{Client, ClientConfig, ClientEvents, Runtime, ServerConfig};

use crate::support::{
    DATA, ECHO, STEP, client_config, echo_server, msg, next_message, server_config, within,
};

/// Three clients on `C` talk to an echo server on `S`.
pub async fn requests_pings_and_broadcast<S: Runtime + Default, C: Runtime + Default>() {
    exchange::<S, C>(server_config(), client_config).await;
}

/// The same in the Python 3.x dialect: JSON handshake, compact frames.
pub async fn python3_requests_pings_and_broadcast<S: Runtime + Default, C: Runtime + Default>() {
    let dialect = veltix_driver::Dialect::Python3;
    exchange::<S, C>(server_config().dialect(dialect), move |addr| {
        client_config(addr).dialect(dialect)
    })
    .await;
}

/// The same over TLS (a pinned self-signed key).
pub async fn requests_pings_and_broadcast_over_tls<S: Runtime + Default, C: Runtime + Default>() {
    let leaf = crate::tls::self_signed();
    let pin = leaf.pin();
    exchange::<S, C>(server_config().tls(leaf.server()), move |addr| {
        crate::tls::tls_client(addr, veltix_driver::tls::ServerTrust::Pinned(vec![pin]))
    })
    .await;
}

async fn exchange<S: Runtime + Default, C: Runtime + Default>(
    server: ServerConfig,
    client: impl Fn(SocketAddr) -> ClientConfig,
) {
    let server = echo_server::<S>(server).await;
    let addr = server.local_addr();
    let mut clients: Vec<(Client<C>, ClientEvents)> = Vec::new();
    for _ in 0..3 {
        let client = within::<S, _>(STEP, "connect", Client::<C>::connect(client(addr)))
            .await
            .expect("connect across runtimes");
        let events = client.events();
        clients.push((client, events));
    }

    // Requests from every client, interleaved, each answered with its own payload.
    for round in 0..50u32 {
        for (i, (client, _)) in clients.iter().enumerate() {
            let payload = format!("client {i} round {round}");
            let reply = within::<S, _>(
                STEP,
                "request",
                client.request(msg(ECHO, payload.clone()), Duration::from_secs(2)),
            )
            .await
            .expect("request answered");
            assert_eq!(reply.payload(), payload.as_bytes());
        }
    }

    // Pings in both directions.
    for (client, _) in &clients {
        let rtt = within::<S, _>(STEP, "client ping", client.ping(STEP))
            .await
            .expect("client → server ping");
        assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    }
    let peers = server.peers();
    assert_eq!(peers.len(), 3);
    for peer in &peers {
        let rtt = within::<S, _>(STEP, "server ping", server.ping(peer.id(), STEP))
            .await
            .expect("server → client ping");
        assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    }

    // A broadcast that excludes the first peer reaches the other two only:
    // the excluded one sees the marker sent to it afterwards as its next message.
    let excluded = peers[0].id();
    let reached = within::<S, _>(
        STEP,
        "broadcast",
        server.broadcast(msg(DATA, "to all but one"), &[excluded]),
    )
    .await
    .expect("broadcast");
    assert_eq!(reached, 2);
    within::<S, _>(STEP, "marker", server.send(excluded, msg(DATA, "marker")))
        .await
        .expect("marker");
    let mut got = Vec::new();
    for (_, events) in &mut clients {
        got.push(next_message::<S>(events).await.into_payload());
    }
    let payloads: Vec<&[u8]> = got.iter().map(AsRef::as_ref).collect();
    let to_all = payloads.iter().filter(|p| **p == b"to all but one").count();
    let markers = payloads.iter().filter(|p| **p == b"marker").count();
    assert_eq!((to_all, markers), (2, 1), "{payloads:?}");

    for (client, _) in &clients {
        within::<S, _>(STEP, "close", client.close())
            .await
            .expect("close");
    }
    within::<S, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
