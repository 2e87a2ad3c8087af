//! Connecting and talking: what both sides learn on connect, messages in
//! order both ways, broadcast with exclusions or to chosen peers, and the
//! server's peer list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use veltix_core::PROTOCOL_VERSION;
use veltix_driver::{Client, ClientEvent, CloseCode, Error, PeerId, Runtime, Server, ServerEvent};

use crate::support::{
    DATA, STEP, bind, client_config, connect, expect_client_message, expect_connected,
    expect_disconnected, expect_message, msg, next_client_event, next_server_event, seq_of,
    seq_payload, server_config, spawn, within,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Connect, check what both sides learn, exchange one message each way, close.
pub async fn connect_and_exchange<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let server_addr = server.local_addr();
    assert_eq!(server_addr.ip(), LOCALHOST);
    assert_ne!(server_addr.port(), 0, "port 0 resolved to a real port");
    let mut events = server.events();
    let client = connect::<R>(client_config(server_addr)).await;
    assert!(client.is_connected());
    assert_eq!(client.server_addr(), server_addr);

    let (peer, addr, info) = expect_connected::<R>(&mut events).await;
    assert_eq!(addr.ip(), LOCALHOST);
    assert_ne!(addr.port(), server_addr.port());
    assert_eq!(info.protocol_version, Some(PROTOCOL_VERSION));
    assert!(!info.authenticated);
    assert!(info.heartbeat, "both sides offer heartbeats by default");

    let mut client_events = client.events();
    match next_client_event::<R>(&mut client_events).await {
        ClientEvent::Connected(info) => {
            assert_eq!(info.protocol_version, Some(PROTOCOL_VERSION));
        }
        other => panic!("expected the client's Connected event first, got {other:?}"),
    }

    let before_ms = wall_ms();
    within::<R, _>(STEP, "client send", client.send(msg(DATA, "from client")))
        .await
        .expect("client send");
    let (from, message) = expect_message::<R>(&mut events).await;
    assert_eq!(from, peer);
    assert_eq!(message.message_type(), DATA);
    assert_eq!(&message.payload()[..], b"from client");
    assert!(
        message.timestamp_ms() + 1000 >= before_ms && message.timestamp_ms() <= wall_ms() + 1000,
        "the header timestamp is the sender's wall clock"
    );
    let received_ms = message
        .received_at()
        .expect("the driver stamps the receive time")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    assert!(
        received_ms + 1 >= before_ms && received_ms <= wall_ms() + 1,
        "received during this exchange"
    );
    let latency = message.latency().expect("a latency: both times are known");
    assert!(latency.as_secs() < 5, "a loopback latency, not {latency:?}");

    within::<R, _>(
        STEP,
        "server send",
        server.send(peer, msg(DATA, "from server")),
    )
    .await
    .expect("server send");
    let message = expect_client_message::<R>(&mut client_events).await;
    assert_eq!(message.message_type(), DATA);
    assert_eq!(&message.payload()[..], b"from server");

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    let (gone, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(gone, peer);
    assert_eq!(reason.code(), CloseCode::NORMAL, "{reason}");
    assert!(!client.is_connected());
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 1000 sends each way arrive complete and in order.
pub async fn messages_arrive_in_order<R: Runtime + Default>() {
    const N: u32 = 1000;
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let mut client_events = client.events();
    let (peer, _, _) = expect_connected::<R>(&mut events).await;

    let sender = client.clone();
    let sending = spawn::<R, _>(async move {
        for i in 0..N {
            sender.send(msg(DATA, seq_payload(i))).await.expect("send");
        }
    });
    for i in 0..N {
        let (from, message) = expect_message::<R>(&mut events).await;
        assert_eq!(from, peer);
        assert_eq!(seq_of(&message), i, "client → server order");
    }
    within::<R, _>(STEP, "client sends", sending).await;

    let pusher = server.clone();
    let pushing = spawn::<R, _>(async move {
        for i in 0..N {
            pusher
                .send(peer, msg(DATA, seq_payload(i)))
                .await
                .expect("send");
        }
    });
    let mut seen = 0;
    while seen < N {
        match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Message(message) => {
                assert_eq!(seq_of(&message), seen, "server → client order");
                seen += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    within::<R, _>(STEP, "server sends", pushing).await;
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `broadcast_to` queues one shared frame for exactly the connected peers
/// listed: a peer listed twice gets it once, a gone peer's id is skipped,
/// the unlisted get nothing.
pub async fn broadcast_to_reaches_exactly_the_listed_peers<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let (clients, ids) = connect_named::<R>(&server, &mut events, 5).await;
    // The fifth leaves: its id is no longer anyone's.
    within::<R, _>(STEP, "client close", clients[4].close())
        .await
        .expect("client close");
    let (gone, _) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(gone, ids[4]);
    let mut streams: Vec<_> = clients[..4].iter().map(Client::events).collect();

    let listed = [ids[0], ids[2], ids[2], ids[4]];
    let count = within::<R, _>(
        STEP,
        "broadcast_to",
        server.broadcast_to(msg(DATA, "to the chosen"), &listed),
    )
    .await
    .expect("broadcast_to");
    assert_eq!(count, 2, "queued once for each connected peer listed");
    // Sent after the broadcast on the same connections: an unlisted peer
    // that had been sent the broadcast would see it first.
    for unlisted in [ids[1], ids[3]] {
        within::<R, _>(STEP, "marker", server.send(unlisted, msg(DATA, "marker")))
            .await
            .expect("send");
    }
    let mut request_ids = BTreeSet::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        let message = loop {
            match next_client_event::<R>(stream).await {
                ClientEvent::Connected(_) => {}
                ClientEvent::Message(m) => break m,
                other => panic!("unexpected {other:?}"),
            }
        };
        if i == 0 || i == 2 {
            assert_eq!(&message.payload()[..], b"to the chosen", "client {i}");
            request_ids.insert(message.request_id().to_u128());
        } else {
            assert_eq!(
                &message.payload()[..],
                b"marker",
                "client {i} was not listed"
            );
        }
    }
    assert_eq!(request_ids.len(), 1, "one frame, encoded once");
    // Nothing more for the listed peers: listed twice, sent once.
    within::<R, _>(STEP, "marker", server.send(ids[2], msg(DATA, "after")))
        .await
        .expect("send");
    assert_eq!(
        &expect_client_message::<R>(&mut streams[2]).await.payload()[..],
        b"after"
    );

    // Only unknown ids: nobody, and no error.
    let count = within::<R, _>(
        STEP,
        "broadcast_to",
        server.broadcast_to(msg(DATA, "x"), &[ids[4]]),
    )
    .await
    .expect("broadcast_to");
    assert_eq!(count, 0);
    for client in &clients[..4] {
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Clients that announced their index: the server's map index → peer.
async fn connect_named<R: Runtime + Default>(
    server: &Server<R>,
    events: &mut veltix_driver::ServerEvents,
    n: usize,
) -> (Vec<Client<R>>, Vec<PeerId>) {
    let mut clients = Vec::new();
    let mut ids = BTreeMap::new();
    for i in 0..n {
        let client = connect::<R>(client_config(server.local_addr())).await;
        within::<R, _>(STEP, "hello", client.send(msg(DATA, format!("{i}"))))
            .await
            .expect("send");
        clients.push(client);
    }
    while ids.len() < n {
        match next_server_event::<R>(events).await {
            ServerEvent::Connected { .. } => {}
            ServerEvent::Message { peer, message } => {
                let i: usize = std::str::from_utf8(message.payload())
                    .expect("utf-8")
                    .parse()
                    .expect("an index");
                ids.insert(i, peer);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (clients, ids.into_values().collect())
}

/// A broadcast excluding one peer reaches every other peer once, as one
/// frame encoded once (same request id everywhere), and not the excluded one.
pub async fn broadcast_reaches_exactly_the_others<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let (clients, ids) = connect_named::<R>(&server, &mut events, 4).await;
    let mut streams: Vec<_> = clients.iter().map(Client::events).collect();
    let excluded = 2;

    let count = within::<R, _>(
        STEP,
        "broadcast",
        server.broadcast(msg(DATA, "to all but one"), &[ids[excluded]]),
    )
    .await
    .expect("broadcast");
    assert_eq!(count, 3, "queued for everyone but the excluded peer");
    // Sent after the broadcast on the same connection: if the excluded peer
    // had been sent the broadcast, it would arrive before this.
    within::<R, _>(
        STEP,
        "marker",
        server.send(ids[excluded], msg(DATA, "marker")),
    )
    .await
    .expect("send");

    let mut request_ids = BTreeSet::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        let message = loop {
            match next_client_event::<R>(stream).await {
                ClientEvent::Connected(_) => {}
                ClientEvent::Message(m) => break m,
                other => panic!("unexpected {other:?}"),
            }
        };
        if i == excluded {
            assert_eq!(
                &message.payload()[..],
                b"marker",
                "the excluded peer got the broadcast"
            );
        } else {
            assert_eq!(&message.payload()[..], b"to all but one");
            assert_eq!(message.message_type(), DATA);
            request_ids.insert(message.request_id().to_u128());
        }
    }
    assert_eq!(
        request_ids.len(),
        1,
        "one frame, encoded once, for all recipients"
    );

    // With no exclusion everyone gets it.
    let count = within::<R, _>(
        STEP,
        "broadcast",
        server.broadcast(msg(DATA, "everyone"), &[]),
    )
    .await
    .expect("broadcast");
    assert_eq!(count, 4);
    for stream in &mut streams {
        assert_eq!(
            &expect_client_message::<R>(stream).await.payload()[..],
            b"everyone"
        );
    }
    for client in &clients {
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `peers()` lists the connected peers, in order, with their addresses;
/// `peer(id)` finds one; a peer that left is gone from both.
pub async fn peers_lists_connected_peers_with_addresses<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    assert!(server.peers().is_empty());
    let mut clients = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..3 {
        clients.push(connect::<R>(client_config(server.local_addr())).await);
        let (peer, addr, _) = expect_connected::<R>(&mut events).await;
        seen.push((peer, addr));
    }
    let listed: Vec<(PeerId, SocketAddr)> =
        server.peers().iter().map(|p| (p.id(), p.addr())).collect();
    assert_eq!(
        listed, seen,
        "peers() lists every connected peer, in connection order"
    );
    let addrs: BTreeSet<SocketAddr> = listed.iter().map(|(_, a)| *a).collect();
    assert_eq!(addrs.len(), 3, "distinct addresses");
    assert!(listed.iter().all(|(_, a)| a.ip() == LOCALHOST));
    for (peer, addr) in &seen {
        let handle = server.peer(*peer).expect("peer() finds a connected peer");
        assert_eq!(handle.addr(), *addr);
        assert!(!handle.is_closed());
    }

    let (gone, _) = seen[1];
    let handle = server.peer(gone).expect("connected");
    within::<R, _>(STEP, "client close", clients[1].close())
        .await
        .expect("client close");
    let (left, _) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(left, gone);
    let listed: Vec<PeerId> = server.peers().iter().map(|p| p.id()).collect();
    assert_eq!(listed, vec![seen[0].0, seen[2].0]);
    assert!(server.peer(gone).is_none());
    assert!(handle.is_closed(), "a kept handle knows its peer left");
    let sent = within::<R, _>(
        STEP,
        "send to a gone peer",
        server.send(gone, msg(DATA, "x")),
    )
    .await;
    assert!(
        matches!(sent, Err(Error::UnknownPeer(p)) if p == gone),
        "{sent:?}"
    );
    for client in &clients {
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
