//! The conformance suite: what every runtime adapter must do, written once.
//!
//! Each `pub async fn name<R>()` is one test, generic over the runtime `R`
//! (`veltix_tokio::Tokio`, `veltix_smol::Smol`, …). A runner file in
//! `tests/tests/` turns the list in [`conformance_tests!`](crate::conformance_tests)
//! into `#[test]`s for its runtime, so no adapter can skip one.
//!
//! Every test binds `127.0.0.1:0`, bounds every wait (see
//! [`support::within`](crate::support::within)) and uses short protocol
//! timeouts, so a bug fails the test in seconds instead of hanging it. Raw
//! peers are blocking sockets on their own threads (see [`crate::raw`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::{Either, join_all, select};
use veltix_core::PROTOCOL_VERSION;
use veltix_driver::{
    Client, ClientEvent, CloseCode, CloseReason, Error, Message, PeerId, Reconnect, Runtime,
    SendError, Server, ServerEvent,
};

use crate::raw::{self, Ending, RawPeer};
use crate::support::{
    BIG, DATA, ECHO, STEP, big_payload, bind, client_config, connect, echo_server, eventually,
    expect_client_message, expect_connected, expect_disconnected, expect_message, finishes_within,
    msg, next_client_event, next_server_event, on_thread, read_numbered, seq_of, seq_payload,
    server_config, sleep, spawn, within,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Expands `$callback! { name, name, … }` with the name of every
/// conformance test, so each runtime's runner runs the same list.
#[macro_export]
macro_rules! conformance_tests {
    ($callback:ident) => {
        $callback! {
            connect_and_exchange,
            messages_arrive_in_order,
            request_response_via_event_stream,
            request_response_via_callbacks,
            concurrent_requests_are_correlated,
            request_times_out_and_late_reply_is_a_message,
            pending_requests_fail_when_the_server_closes_the_peer,
            dropped_request_is_cancelled,
            ping_both_directions,
            broadcast_reaches_exactly_the_others,
            peers_lists_connected_peers_with_addresses,
            close_peer_tells_the_client_why,
            a_close_reaches_the_peer_at_once,
            max_connections_refuses_the_extra_peer,
            graceful_shutdown_flushes_and_tells_peers,
            reconnect_keeps_callbacks,
            pre_shared_key_accepted,
            pre_shared_key_wrong_or_missing_is_refused,
            version_mismatch_is_refused,
            newest_common_version_is_chosen,
            legacy_client_to_default_server,
            silent_legacy_peer_is_served_after_legacy_wait,
            server_send_waits_for_a_non_reading_peer,
            client_send_waits_for_a_non_reading_server,
            server_try_send_reports_full_for_a_non_reading_peer,
            client_try_send_reports_full_for_a_non_reading_server,
            close_peer_flushes_every_accepted_message,
            client_close_flushes_every_accepted_message,
            callbacks_without_event_stream_do_not_stall,
            message_callback_alone_does_not_leak_closed_peers,
            connect_failures_are_reported,
            dropping_every_client_handle_closes_the_connection,
            reconnect_gives_up_after_max_attempts,
            limits_are_enforced_end_to_end,
            quiet_connections_are_kept_alive,
            required_handshake_times_out_a_silent_peer,
            late_hello_after_legacy_wait_still_negotiates,
        }
    };
}

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

    within::<R, _>(STEP, "client close", client.close()).await;
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
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

fn shout(payload: &[u8]) -> Vec<u8> {
    payload.to_ascii_uppercase()
}

/// The server answers requests from its event stream with `Server::reply`.
pub async fn request_response_via_event_stream<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let responder = server.clone();
    R::default().spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { peer, message } = event {
                let answer = msg(ECHO, shout(message.payload()));
                let _ = responder.reply(peer, &message, answer).await;
            }
        }
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    for i in 0..100 {
        let text = format!("request number {i}");
        let reply = within::<R, _>(
            STEP,
            "request",
            client.request(msg(ECHO, text.clone()), Duration::from_secs(3)),
        )
        .await
        .expect("request answered");
        assert_eq!(reply.payload().as_ref(), shout(text.as_bytes()));
        assert_eq!(reply.message_type(), ECHO);
    }
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Requests both ways answered from `on_message` callbacks with `try_reply`.
pub async fn request_response_via_callbacks<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.on_message(|peer, message| {
        peer.try_reply(&message, msg(ECHO, shout(message.payload())))
            .expect("reply queued");
    });
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    client.on_message(|server, message| {
        let mut answer = b"client saw ".to_vec();
        answer.extend_from_slice(message.payload());
        server
            .try_reply(&message, msg(ECHO, answer))
            .expect("reply queued");
    });
    let (peer, _, _) = expect_connected::<R>(&mut events).await;

    for i in 0..100 {
        let text = format!("up {i}");
        let reply = within::<R, _>(
            STEP,
            "client request",
            client.request(msg(ECHO, text.clone()), Duration::from_secs(3)),
        )
        .await
        .expect("client request answered");
        assert_eq!(reply.payload().as_ref(), shout(text.as_bytes()));
    }
    for i in 0..20 {
        let text = format!("down {i}");
        let reply = within::<R, _>(
            STEP,
            "server request",
            server.request(peer, msg(ECHO, text.clone()), Duration::from_secs(3)),
        )
        .await
        .expect("server request answered");
        assert_eq!(
            reply.payload().as_ref(),
            format!("client saw {text}").as_bytes()
        );
    }
    let handle = server.peer(peer).expect("the peer is connected");
    let reply = within::<R, _>(
        STEP,
        "peer request",
        handle.request(msg(ECHO, "via handle"), Duration::from_secs(3)),
    )
    .await
    .expect("request through a Peer handle");
    assert_eq!(&reply.payload()[..], b"client saw via handle");

    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// 200 requests in flight at once each get their own answer.
pub async fn concurrent_requests_are_correlated<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config()).await;
    let client = connect::<R>(client_config(server.local_addr())).await;
    let requests = (0..200u32).map(|i| {
        let client = client.clone();
        async move {
            let reply = client
                .request(msg(ECHO, seq_payload(i)), Duration::from_secs(4))
                .await
                .expect("answered");
            assert_eq!(seq_of(&reply), i, "each request gets its own reply");
        }
    });
    within::<R, _>(STEP, "200 concurrent requests", join_all(requests)).await;
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A request the server never answers fails with `TimedOut` after its
/// timeout; the answer that comes later is delivered as an ordinary message.
pub async fn request_times_out_and_late_reply_is_a_message<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let mut client_events = client.events();
    let timeout = Duration::from_millis(300);

    let started = Instant::now();
    let request = client.request(msg(ECHO, "anyone?"), timeout);
    let result = within::<R, _>(STEP, "request timing out", request).await;
    let waited = started.elapsed();
    assert!(matches!(result, Err(Error::TimedOut)), "{result:?}");
    assert!(waited >= timeout, "timed out early, after {waited:?}");
    assert!(
        waited < timeout + Duration::from_secs(2),
        "timed out late, after {waited:?}"
    );

    let (_, _, _) = expect_connected::<R>(&mut events).await;
    let (peer, request) = expect_message::<R>(&mut events).await;
    within::<R, _>(
        STEP,
        "late reply",
        server.reply(peer, &request, msg(ECHO, "too late")),
    )
    .await
    .expect("late reply queued");
    loop {
        match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Message(message) => {
                assert_eq!(&message.payload()[..], b"too late");
                assert_eq!(message.request_id(), request.request_id());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Requests waiting for answers fail with `Closed` as soon as the server
/// closes the peer, long before their timeout; so does a server request
/// when its peer goes.
pub async fn pending_requests_fail_when_the_server_closes_the_peer<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;

    let waiting: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            spawn::<R, _>(async move {
                client
                    .request(
                        msg(ECHO, format!("never answered {i}")),
                        Duration::from_secs(30),
                    )
                    .await
            })
        })
        .collect();
    for _ in 0..3 {
        let (from, _) = expect_message::<R>(&mut events).await;
        assert_eq!(from, peer);
    }
    let closed_at = Instant::now();
    server
        .close_peer(peer, "closing on purpose")
        .expect("peer known");
    for result in within::<R, _>(STEP, "pending requests failing", join_all(waiting)).await {
        match result {
            Err(Error::Closed(CloseReason::Peer { code, reason })) => {
                assert_eq!(code, CloseCode::NORMAL);
                assert_eq!(reason, "closing on purpose");
            }
            other => panic!("expected Closed(Peer{{..}}), got {other:?}"),
        }
    }
    let took = closed_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "pending requests failed only after {took:?}"
    );
    let after = within::<R, _>(
        STEP,
        "request after close",
        client.request(msg(ECHO, "x"), STEP),
    )
    .await;
    assert!(
        matches!(after, Err(Error::Closed(_) | Error::NotConnected)),
        "{after:?}"
    );

    // The other way round: the server's pending request fails when its peer leaves.
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (heard_tx, mut heard) = mpsc::unbounded();
    client.on_message(move |_, _| drop(heard_tx.unbounded_send(()))); // never answers
    let peer = loop {
        match next_server_event::<R>(&mut events).await {
            ServerEvent::Connected { peer, .. } => break peer,
            ServerEvent::Disconnected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    let asking = {
        let server = server.clone();
        spawn::<R, _>(async move {
            server
                .request(peer, msg(ECHO, "are you there?"), Duration::from_secs(30))
                .await
        })
    };
    within::<R, _>(STEP, "the client hears the request", heard.next()).await;
    within::<R, _>(STEP, "client close", client.close()).await;
    let closed_at = Instant::now();
    let result = within::<R, _>(STEP, "server request failing", asking).await;
    assert!(matches!(result, Err(Error::Closed(_))), "{result:?}");
    let took = closed_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "failed {took:?} after the client closed"
    );
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Dropping a request future forgets the request at once: its pending slot
/// is free again (`max_pending_requests` = 1 lets the next request in) and
/// the late answer arrives as an ordinary message, not as a response to
/// nobody.
pub async fn dropped_request_is_cancelled<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let mut config = client_config(server.local_addr());
    config.connection.max_pending_requests = 1;
    let client = connect::<R>(config).await;
    let mut client_events = client.events();
    let (peer, _, _) = expect_connected::<R>(&mut events).await;

    let first = Box::pin(client.request(msg(ECHO, "first"), Duration::from_secs(30)));
    let heard = Box::pin(expect_message::<R>(&mut events));
    let (from, first_request) = match select(first, heard).await {
        Either::Right(((from, message), first)) => {
            drop(first); // the server has the request; give up on it
            (from, message)
        }
        Either::Left((result, _)) => panic!("nobody answered, yet the request ended: {result:?}"),
    };
    assert_eq!(from, peer);
    assert_eq!(&first_request.payload()[..], b"first");

    // The only pending slot was freed by the drop: another request is accepted.
    let second = spawn::<R, _>({
        let client = client.clone();
        async move {
            client
                .request(msg(ECHO, "second"), Duration::from_secs(3))
                .await
        }
    });
    let (_, second_request) = expect_message::<R>(&mut events).await;
    assert_eq!(&second_request.payload()[..], b"second");
    within::<R, _>(
        STEP,
        "reply",
        server.reply(peer, &second_request, msg(ECHO, "answer 2")),
    )
    .await
    .expect("reply");
    let answer = within::<R, _>(STEP, "second request", second)
        .await
        .expect("the second request is accepted and answered");
    assert_eq!(&answer.payload()[..], b"answer 2");

    // The answer to the dropped request is not swallowed as a response.
    within::<R, _>(
        STEP,
        "late reply",
        server.reply(peer, &first_request, msg(ECHO, "answer 1")),
    )
    .await
    .expect("reply");
    loop {
        match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Message(message) => {
                assert_eq!(&message.payload()[..], b"answer 1");
                assert_eq!(message.request_id(), first_request.request_id());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `Client::ping`, `Server::ping` and `Peer::ping` return round-trip times.
pub async fn ping_both_directions<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    for _ in 0..20 {
        let rtt = within::<R, _>(STEP, "client ping", client.ping())
            .await
            .expect("client → server ping");
        assert!(rtt < Duration::from_secs(2), "{rtt:?}");
    }
    for _ in 0..20 {
        let rtt = within::<R, _>(STEP, "server ping", server.ping(peer))
            .await
            .expect("server → client ping");
        assert!(rtt < Duration::from_secs(2), "{rtt:?}");
    }
    let handle = server.peer(peer).expect("connected");
    let rtt = within::<R, _>(STEP, "peer ping", handle.ping(Duration::from_secs(2)))
        .await
        .expect("ping through a Peer handle");
    assert!(rtt < Duration::from_secs(2));
    // Pings never reach the application as messages.
    within::<R, _>(STEP, "client close", client.close()).await;
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(reason.code(), CloseCode::NORMAL);
    let unknown = within::<R, _>(STEP, "ping a gone peer", server.ping(peer)).await;
    assert!(
        matches!(unknown, Err(Error::UnknownPeer(p)) if p == peer),
        "{unknown:?}"
    );
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
        within::<R, _>(STEP, "client close", client.close()).await;
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
    within::<R, _>(STEP, "client close", clients[1].close()).await;
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
        within::<R, _>(STEP, "client close", client.close()).await;
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `close_peer` ends one connection, telling the client the reason; the
/// others are untouched.
pub async fn close_peer_tells_the_client_why<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config()).await;
    let mut events = server.events();
    let victim = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let bystander = connect::<R>(client_config(server.local_addr())).await;
    let (other, _, _) = expect_connected::<R>(&mut events).await;
    let mut victim_events = victim.events();

    server.close_peer(peer, "you are done").expect("close_peer");
    let reason = loop {
        match next_client_event::<R>(&mut victim_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Disconnected(reason) => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        reason,
        CloseReason::Peer {
            code: CloseCode::NORMAL,
            reason: "you are done".to_owned()
        }
    );
    let (left, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(left, peer);
    assert!(
        matches!(
            reason,
            CloseReason::Local {
                code: CloseCode::NORMAL,
                ..
            }
        ),
        "{reason:?}"
    );
    eventually::<R>(STEP, "the victim notices it is disconnected", || {
        !victim.is_connected()
    })
    .await;
    assert!(matches!(server.close_peer(peer, "again"), Err(Error::UnknownPeer(p)) if p == peer));

    let reply = within::<R, _>(
        STEP,
        "bystander request",
        bystander.request(msg(ECHO, "still here"), STEP),
    )
    .await
    .expect("the other peer is still served");
    assert_eq!(&reply.payload()[..], b"still here");
    assert_eq!(
        server.peers().iter().map(|p| p.id()).collect::<Vec<_>>(),
        vec![other]
    );
    within::<R, _>(STEP, "client close", bystander.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A close is on the wire at once, both ways: the peer reads the ERROR
/// frame and then end of stream (the write half is shut down, not left
/// open until some linger or drop), and `Client::close` returns as soon as
/// the peer has closed too.
pub async fn a_close_reaches_the_peer_at_once<R: Runtime + Default>() {
    let prompt = Duration::from_millis(1000);

    // Server → raw client.
    let server = bind::<R>(server_config()).await;
    let addr = server.local_addr();
    let mut events = server.events();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let raw_client = on_thread::<R, _>(STEP, "raw client", move || {
        let mut raw = RawPeer::connect(addr).expect("connect");
        raw.handshake();
        ready_rx
            .recv_timeout(STEP)
            .expect("told the close is coming");
        let started = Instant::now();
        let closed = raw.read_until_closed(STEP);
        let after = closed.at - started;
        (closed, after)
    });
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    ready_tx.send(()).expect("raw client alive");
    server.close_peer(peer, "bye").expect("close_peer");
    let (closed, after) = raw_client.await;
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::NORMAL.0),
        "{:?}",
        closed.frames
    );
    assert_eq!(closed.ending, Ending::Eof);
    assert!(after < prompt, "end of stream {after:?} after the close");
    let _ = expect_disconnected::<R>(&mut events).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");

    // Client → raw server (legacy, so it needs no handshake; the client
    // sends no ERROR frame to a legacy peer on an orderly close).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let raw_server = on_thread::<R, _>(STEP, "raw server", move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut raw = RawPeer::from_stream(stream);
        let closed = raw.read_until_closed(STEP);
        assert_eq!(closed.ending, Ending::Eof);
        // Dropping `raw` closes our side too.
    });
    let client = connect::<R>(client_config(addr).legacy()).await;
    let started = Instant::now();
    within::<R, _>(STEP, "client close", client.close()).await;
    let took = started.elapsed();
    raw_server.await;
    assert!(took < prompt, "Client::close took {took:?}");
}

/// With `max_connections` peers connected, one more gets an ERROR frame
/// (code 3, "server full") and is closed; the others are still served, and
/// a slot freed by a leaving peer is usable again.
pub async fn max_connections_refuses_the_extra_peer<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config().max_connections(2)).await;
    let addr = server.local_addr();
    let mut events = server.events();
    let first = connect::<R>(client_config(addr)).await;
    let _ = expect_connected::<R>(&mut events).await;
    let second = connect::<R>(client_config(addr)).await;
    let _ = expect_connected::<R>(&mut events).await;

    let closed = on_thread::<R, _>(STEP, "raw peer on a full server", move || {
        let mut raw = RawPeer::connect(addr).expect("TCP connect still succeeds");
        raw.read_until_closed(Duration::from_secs(4))
    })
    .await;
    assert_eq!(closed.ending, Ending::Eof, "closed in order, not reset");
    assert_eq!(
        closed.frames.len(),
        1,
        "exactly one frame: {:?}",
        closed.frames
    );
    let error = &closed.frames[0];
    assert_eq!(error.message_type().code(), 20, "an ERROR frame");
    let (code, reason) = raw::parse_close(error.payload()).expect("a close payload");
    assert_eq!(code, CloseCode::SERVER_FULL.0);
    assert!(reason.contains("full"), "reason {reason:?}");
    assert_eq!(server.peers().len(), 2, "the refused peer was never listed");

    for client in [&first, &second] {
        let reply = within::<R, _>(STEP, "request", client.request(msg(ECHO, "served"), STEP))
            .await
            .expect("connected peers are still served");
        assert_eq!(&reply.payload()[..], b"served");
    }

    within::<R, _>(STEP, "client close", first.close()).await;
    let _ = expect_disconnected::<R>(&mut events).await;
    let third = connect::<R>(client_config(addr)).await;
    let _ = expect_connected::<R>(&mut events).await;
    let reply = within::<R, _>(
        STEP,
        "request",
        third.request(msg(ECHO, "room again"), STEP),
    )
    .await
    .expect("a freed slot is reused");
    assert_eq!(&reply.payload()[..], b"room again");
    for client in [&second, &third] {
        within::<R, _>(STEP, "client close", client.close()).await;
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `shutdown` flushes every message `send` accepted before it, then tells
/// every peer the server is shutting down (code 8); it returns once all
/// peers are gone, and the listener is closed.
pub async fn graceful_shutdown_flushes_and_tells_peers<R: Runtime + Default>() {
    const N: u32 = 200;
    let server = bind::<R>(server_config()).await;
    let addr = server.local_addr();
    let mut events = server.events();
    let mut clients = Vec::new();
    let mut peers = Vec::new();
    for _ in 0..2 {
        let client = connect::<R>(client_config(addr)).await;
        let (peer, _, _) = expect_connected::<R>(&mut events).await;
        let stream = client.events();
        clients.push((client, stream));
        peers.push(peer);
    }
    // Queue messages (the clients read them from their event streams), then
    // shut down at once: whatever `send` accepted must still arrive.
    for i in 0..N {
        for peer in &peers {
            within::<R, _>(
                STEP,
                "server send",
                server.send(*peer, msg(DATA, seq_payload(i))),
            )
            .await
            .expect("send");
        }
    }
    let shutting_down = spawn::<R, _>({
        let server = server.clone();
        async move { server.shutdown().await }
    });
    for (_, stream) in &mut clients {
        let mut next = 0;
        let reason = loop {
            match next_client_event::<R>(stream).await {
                ClientEvent::Connected(_) => {}
                ClientEvent::Message(m) => {
                    assert_eq!(seq_of(&m), next, "in order, none skipped");
                    next += 1;
                }
                ClientEvent::Disconnected(reason) => break reason,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(
            next, N,
            "every message accepted by send() arrived before the close"
        );
        match reason {
            CloseReason::Peer { code, .. } => assert_eq!(code, CloseCode::SHUTDOWN),
            other => panic!("expected Peer {{ code: SHUTDOWN }}, got {other:?}"),
        }
    }
    within::<R, _>(STEP, "shutdown returns", shutting_down)
        .await
        .expect("every peer finished before the shutdown timeout");
    for _ in 0..2 {
        let (_, reason) = expect_disconnected::<R>(&mut events).await;
        assert_eq!(reason.code(), CloseCode::SHUTDOWN, "{reason:?}");
    }
    assert!(server.peers().is_empty());
    within::<R, _>(STEP, "second shutdown", server.shutdown())
        .await
        .expect("a second shutdown returns at once");
    eventually::<R>(STEP, "the listener is closed", || {
        TcpStream::connect(addr).is_err()
    })
    .await;
}

/// A reconnecting client whose server goes away and comes back on the same
/// port reconnects by itself and keeps its callbacks; while it is
/// disconnected, requests fail at once with `NotConnected`.
pub async fn reconnect_keeps_callbacks<R: Runtime + Default>() {
    let first = echo_server::<R>(server_config()).await;
    let addr = first.local_addr();
    let mut first_events = first.events();

    let mut backoff = Reconnect::default();
    backoff.initial_delay = Duration::from_millis(50);
    backoff.max_delay = Duration::from_millis(200);
    let client = connect::<R>(client_config(addr).reconnect(backoff)).await;
    let (tx, mut heard) = mpsc::unbounded::<String>();
    let on_connect = tx.clone();
    client.on_connect(move |_| drop(on_connect.unbounded_send("connect".to_owned())));
    let on_message = tx.clone();
    client.on_message(move |_, m| {
        let _ =
            on_message.unbounded_send(format!("message {}", String::from_utf8_lossy(m.payload())));
    });
    let on_disconnect = tx;
    client.on_disconnect(move |reason| {
        let _ = on_disconnect.unbounded_send(format!("disconnect {}", reason.code().0));
    });

    let (peer, _, _) = expect_connected::<R>(&mut first_events).await;
    within::<R, _>(STEP, "send", first.send(peer, msg(DATA, "one")))
        .await
        .expect("send");
    // `connect` returns as the handshake completes, while the driver is
    // still routing that first Connected event: it reaches either the event
    // stream or the on_connect callback registered just now.
    let mut first_heard = next_heard::<R>(&mut heard).await;
    if first_heard == "connect" {
        first_heard = next_heard::<R>(&mut heard).await;
    }
    assert_eq!(first_heard, "message one");

    within::<R, _>(STEP, "shutdown", first.shutdown())
        .await
        .expect("shutdown");
    assert_eq!(
        next_heard::<R>(&mut heard).await,
        format!("disconnect {}", CloseCode::SHUTDOWN.0)
    );
    eventually::<R>(STEP, "the client knows it is disconnected", || {
        !client.is_connected()
    })
    .await;
    let started = Instant::now();
    let refused = within::<R, _>(
        STEP,
        "request while disconnected",
        client.request(msg(ECHO, "x"), STEP),
    )
    .await;
    assert!(matches!(refused, Err(Error::NotConnected)), "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );

    // The same port again; retry while the old listener is still being dropped.
    let mut config = server_config();
    config.addr = addr.to_string();
    let deadline = Instant::now() + STEP;
    let second = loop {
        match Server::<R>::bind(config.clone()).await {
            Ok(server) => break server,
            Err(err) => {
                assert!(Instant::now() < deadline, "cannot bind {addr} again: {err}");
                sleep::<R>(Duration::from_millis(20)).await;
            }
        }
    };
    second.on_message(|peer, m| {
        let _ = peer.try_reply(&m, msg(ECHO, m.payload().clone()));
    });
    let mut second_events = second.events();
    let (peer, _, _) = expect_connected::<R>(&mut second_events).await;
    assert_eq!(
        next_heard::<R>(&mut heard).await,
        "connect",
        "on_connect kept across reconnects"
    );
    assert!(client.is_connected());
    within::<R, _>(STEP, "send", second.send(peer, msg(DATA, "two")))
        .await
        .expect("send");
    assert_eq!(
        next_heard::<R>(&mut heard).await,
        "message two",
        "on_message kept across reconnects"
    );
    let reply = within::<R, _>(
        STEP,
        "request after reconnect",
        client.request(msg(ECHO, "back"), STEP),
    )
    .await
    .expect("requests work again");
    assert_eq!(&reply.payload()[..], b"back");

    within::<R, _>(STEP, "client close", client.close()).await;
    assert_eq!(
        next_heard::<R>(&mut heard).await,
        format!("disconnect {}", CloseCode::NORMAL.0)
    );
    within::<R, _>(STEP, "shutdown", second.shutdown())
        .await
        .expect("shutdown");
}

async fn next_heard<R: Runtime + Default>(heard: &mut mpsc::UnboundedReceiver<String>) -> String {
    within::<R, _>(STEP, "a client callback", heard.next())
        .await
        .expect("callback channel open")
}

/// Client and server holding the same key authenticate each other.
pub async fn pre_shared_key_accepted<R: Runtime + Default>() {
    let key = b"0123456789abcdef0123456789abcdef";
    let server = echo_server::<R>(server_config().pre_shared_key(key)).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr()).pre_shared_key(key)).await;
    let (_, _, info) = expect_connected::<R>(&mut events).await;
    assert!(info.authenticated);
    let mut client_events = client.events();
    match next_client_event::<R>(&mut client_events).await {
        ClientEvent::Connected(info) => assert!(info.authenticated),
        other => panic!("unexpected {other:?}"),
    }
    let reply = within::<R, _>(STEP, "request", client.request(msg(ECHO, "secret"), STEP))
        .await
        .expect("request");
    assert_eq!(&reply.payload()[..], b"secret");
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A wrong key, a missing key and an unexpected key each make
/// `Client::connect` fail with an authentication close, and the server
/// never reports such a peer as connected.
pub async fn pre_shared_key_wrong_or_missing_is_refused<R: Runtime + Default>() {
    let key = b"0123456789abcdef0123456789abcdef";
    let server = echo_server::<R>(server_config().pre_shared_key(key)).await;
    let addr = server.local_addr();
    let mut events = server.events();

    for (what, config) in [
        (
            "wrong key",
            client_config(addr).pre_shared_key(b"not the right key at all........"),
        ),
        ("no key", client_config(addr)),
    ] {
        let result = within::<R, _>(STEP, what, veltix_driver::Client::<R>::connect(config)).await;
        match result {
            Err(Error::Closed(reason)) => {
                assert_eq!(reason.code(), CloseCode::AUTH_FAILED, "{what}: {reason:?}");
            }
            Err(other) => panic!("{what}: expected Closed(auth), got {other:?}"),
            Ok(_) => panic!("{what}: connected without proving the key"),
        }
    }
    let good = connect::<R>(client_config(addr).pre_shared_key(key)).await;
    let mut connected = 0;
    loop {
        match next_server_event::<R>(&mut events).await {
            ServerEvent::Connected { info, .. } => {
                connected += 1;
                assert!(info.authenticated);
                break;
            }
            ServerEvent::Disconnected { reason, .. } => {
                assert_eq!(reason.code(), CloseCode::AUTH_FAILED, "{reason:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(connected, 1);
    assert_eq!(
        server.peers().len(),
        1,
        "only the peer with the key is listed"
    );
    within::<R, _>(STEP, "client close", good.close()).await;

    // A client with a key refuses a server without one.
    let open = bind::<R>(server_config()).await;
    let result = within::<R, _>(
        STEP,
        "key against a keyless server",
        veltix_driver::Client::<R>::connect(client_config(open.local_addr()).pre_shared_key(key)),
    )
    .await;
    match result {
        Err(Error::Closed(reason)) => {
            assert_eq!(reason.code(), CloseCode::AUTH_FAILED, "{reason:?}")
        }
        other => panic!("expected Closed(auth), got {:?}", other.map(|_| ())),
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    within::<R, _>(STEP, "shutdown", open.shutdown())
        .await
        .expect("shutdown");
}

/// No common protocol version: the server refuses with code 1 and a reason
/// naming both ranges; `connect` fails with it.
pub async fn version_mismatch_is_refused<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.protocol_versions = 2..=3;
    let server = bind::<R>(config).await;
    let mut events = server.events();
    let result = within::<R, _>(
        STEP,
        "connect",
        veltix_driver::Client::<R>::connect(client_config(server.local_addr())),
    )
    .await;
    match result {
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::VERSION_MISMATCH);
            assert!(
                reason.contains('1') && reason.contains('2'),
                "names both ranges: {reason:?}"
            );
        }
        other => panic!(
            "expected Closed(Peer {{ VERSION_MISMATCH }}), got {:?}",
            other.map(|_| ())
        ),
    }
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert!(
        matches!(
            reason,
            CloseReason::VersionMismatch {
                ours_min: 2,
                ours_max: 3,
                theirs_min: 1,
                theirs_max: 1
            }
        ),
        "{reason:?}"
    );
    assert!(server.peers().is_empty());
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Overlapping ranges settle on the highest common version.
pub async fn newest_common_version_is_chosen<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.protocol_versions = 1..=2;
    let server = echo_server::<R>(config).await;
    let mut events = server.events();
    let mut client_cfg = client_config(server.local_addr());
    client_cfg.connection.protocol_versions = 2..=5;
    let client = connect::<R>(client_cfg).await;
    let (_, _, info) = expect_connected::<R>(&mut events).await;
    assert_eq!(info.protocol_version, Some(2));
    let reply = within::<R, _>(STEP, "request", client.request(msg(ECHO, "v2"), STEP))
        .await
        .expect("request");
    assert_eq!(&reply.payload()[..], b"v2");
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A legacy client (no handshake) works against a default server, which
/// takes it for a legacy peer: requests, pings and server pushes all work.
pub async fn legacy_client_to_default_server<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr()).legacy()).await;
    let mut client_events = client.events();
    match next_client_event::<R>(&mut client_events).await {
        ClientEvent::Connected(info) => assert_eq!(info.protocol_version, None),
        other => panic!("unexpected {other:?}"),
    }
    let reply = within::<R, _>(
        STEP,
        "request",
        client.request(msg(ECHO, "old school"), STEP),
    )
    .await
    .expect("request");
    assert_eq!(&reply.payload()[..], b"old school");
    let (peer, _, info) = expect_connected::<R>(&mut events).await;
    assert_eq!(info.protocol_version, None, "the server sees a legacy peer");
    assert!(!info.heartbeat);
    within::<R, _>(STEP, "client ping", client.ping())
        .await
        .expect("client ping");
    within::<R, _>(STEP, "server ping", server.ping(peer))
        .await
        .expect("server ping");
    within::<R, _>(STEP, "push", server.send(peer, msg(DATA, "pushed")))
        .await
        .expect("send");
    assert_eq!(
        &expect_client_message::<R>(&mut client_events)
            .await
            .payload()[..],
        b"pushed"
    );
    within::<R, _>(STEP, "client close", client.close()).await;
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert!(
        matches!(reason, CloseReason::TransportClosed),
        "a legacy peer closes without an ERROR frame: {reason:?}"
    );
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A legacy client that only listens is taken for a legacy peer after
/// `legacy_wait` and gets the server's messages.
pub async fn silent_legacy_peer_is_served_after_legacy_wait<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let started = Instant::now();
    let client = connect::<R>(client_config(server.local_addr()).legacy()).await;
    let mut client_events = client.events();
    let (peer, _, info) = expect_connected::<R>(&mut events).await;
    let waited = started.elapsed();
    assert_eq!(info.protocol_version, None);
    assert!(
        waited >= Duration::from_millis(250),
        "taken for legacy after {waited:?}"
    );
    within::<R, _>(
        STEP,
        "push",
        server.send(peer, msg(DATA, "hello, listener")),
    )
    .await
    .expect("send");
    loop {
        match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Message(m) => {
                assert_eq!(&m.payload()[..], b"hello, listener");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    within::<R, _>(STEP, "client close", client.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Calls `send` with numbered [`BIG`] payloads, each in a task of its own,
/// until one does not finish within 300 ms (it waits: backpressure); returns
/// how many finished and the one still waiting. Fails if 32 MiB go through
/// without a wait.
async fn send_until_it_waits<R, F>(
    send: impl Fn(Message) -> F,
) -> (u32, Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>)
where
    R: Runtime + Default,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    for accepted in 0..2048u32 {
        let mut sending = Box::pin(spawn::<R, _>(send(msg(DATA, big_payload(accepted)))));
        match finishes_within::<R, _>(Duration::from_millis(300), &mut sending).await {
            Some(result) => result.expect("send"),
            None => return (accepted, sending),
        }
    }
    panic!("send().await took 32 MiB for a peer that reads nothing without ever waiting");
}

/// Server → a peer that never reads: `send().await` waits (instead of
/// failing or queueing without bound), and once the peer reads, the waiting
/// send completes and everything arrives complete and in order.
pub async fn server_send_waits_for_a_non_reading_peer<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None; // the peer is silent on purpose
    let server = bind::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();

    // A legacy raw peer: one frame in, then it reads nothing until told.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading peer", move || {
        let mut raw = RawPeer::connect_with_recv_buffer(addr, 16 * 1024).expect("connect");
        raw.send(DATA, 1, b"hi").expect("send");
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return; // the test failed before it wanted the peer to read
        };
        read_numbered(&mut raw, expected);
    });
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let _ = expect_message::<R>(&mut events).await;

    let handle = server.peer(peer).expect("connected");
    let (accepted, waiting) = send_until_it_waits::<R, _>(move |m| {
        let handle = handle.clone();
        async move { handle.send(m).await }
    })
    .await;
    go_tx.send(accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "the waiting send", waiting)
        .await
        .expect("the waiting send went through once the peer read");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Client → a server that never reads: the same on the client side.
pub async fn client_send_waits_for_a_non_reading_server<R: Runtime + Default>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading server", move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut raw = RawPeer::from_stream(stream);
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return;
        };
        read_numbered(&mut raw, expected);
    });
    let mut config = client_config(addr).legacy(); // the raw server speaks no handshake
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None;
    config.connection.heartbeat_interval = None;
    let client = connect::<R>(config).await;

    let sender = client.clone();
    let (accepted, waiting) = send_until_it_waits::<R, _>(move |m| {
        let sender = sender.clone();
        async move { sender.send(m).await }
    })
    .await;
    go_tx.send(accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "the waiting send", waiting)
        .await
        .expect("the waiting send went through once the server read");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "client close", client.close()).await;
}

/// What [`fill_until_full`] learned.
struct Filled {
    accepted: u32,
    full_at: Instant,
}

/// Calls `try_send` with numbered 16 KiB payloads until it has answered
/// `Full` for 300 ms in a row (a transient `Full` while the driver catches
/// up is retried). Other errors fail the test.
async fn fill_until_full<R: Runtime + Default>(
    mut try_send: impl FnMut(Message) -> Result<(), Error>,
) -> Filled {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut accepted = 0u32;
    let mut full_since: Option<Instant> = None;
    loop {
        assert!(
            accepted < MAX_ACCEPTED,
            "try_send accepted {accepted} messages ({} MiB) for a peer that reads \
             nothing and never said Full: the command queue is not bounded",
            (accepted as usize * BIG) >> 20
        );
        assert!(
            Instant::now() < deadline,
            "try_send never stayed Full ({accepted} accepted)"
        );
        match try_send(msg(DATA, big_payload(accepted))) {
            Ok(()) => {
                accepted += 1;
                full_since = None;
            }
            Err(Error::Send(SendError::Full)) => {
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(300) {
                    return Filled {
                        accepted,
                        full_at: since,
                    };
                }
                sleep::<R>(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("try_send failed with {other:?}"),
        }
    }
}

/// Far more than the bounds can hold (command queue, outbound queue, kernel
/// buffers: a few MiB): 32 MiB of 16 KiB messages.
const MAX_ACCEPTED: u32 = 2048;

/// Server → a peer that never reads: `try_send` ends up answering
/// `Send(Full)` (memory stays bounded), `send().await` waits instead of
/// failing, and once the peer reads, everything arrives in order.
pub async fn server_try_send_reports_full_for_a_non_reading_peer<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None; // the peer is silent on purpose
    let server = bind::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();

    // A legacy raw peer: one frame in, then it stops reading until told.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading peer", move || {
        let mut raw = RawPeer::connect_with_recv_buffer(addr, 16 * 1024).expect("connect");
        raw.send(DATA, 1, b"hi").expect("send");
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return; // the test failed before it wanted the peer to read
        };
        read_numbered(&mut raw, expected);
    });
    let reader = Box::pin(reader);
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let _ = expect_message::<R>(&mut events).await;

    let filled = fill_until_full::<R>(|m| server.try_send(peer, m)).await;
    assert!(filled.accepted > 0);

    // send().await waits while the peer does not read …
    let waiting = {
        let server = server.clone();
        let n = filled.accepted;
        spawn::<R, _>(async move { server.send(peer, msg(DATA, big_payload(n))).await })
    };
    let mut waiting = Box::pin(waiting);
    assert!(
        finishes_within::<R, _>(Duration::from_millis(300), &mut waiting)
            .await
            .is_none(),
        "send().await returned although the peer reads nothing"
    );
    assert!(filled.full_at.elapsed() >= Duration::from_millis(300));
    // … and completes once it does.
    go_tx.send(filled.accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "waiting send", waiting)
        .await
        .expect("the waiting send went through");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Client → a server that never reads: the same backpressure on the client
/// side (`Client::try_send`, `Client::send`).
pub async fn client_try_send_reports_full_for_a_non_reading_server<R: Runtime + Default>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = Box::pin(on_thread::<R, _>(
        Duration::from_secs(20),
        "non-reading server",
        move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut raw = RawPeer::from_stream(stream);
            let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
                return; // the test failed before it wanted the server to read
            };
            read_numbered(&mut raw, expected);
        },
    ));
    let mut config = client_config(addr).legacy(); // the raw server speaks no handshake
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None;
    config.connection.heartbeat_interval = None;
    let client = connect::<R>(config).await;

    let filled = fill_until_full::<R>(|m| client.try_send(m)).await;
    assert!(filled.accepted > 0);
    let waiting = {
        let client = client.clone();
        let n = filled.accepted;
        spawn::<R, _>(async move { client.send(msg(DATA, big_payload(n))).await })
    };
    let mut waiting = Box::pin(waiting);
    assert!(
        finishes_within::<R, _>(Duration::from_millis(300), &mut waiting)
            .await
            .is_none(),
        "send().await returned although the server reads nothing"
    );
    go_tx.send(filled.accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "waiting send", waiting)
        .await
        .expect("the waiting send went through");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "client close", client.close()).await;
}

const FLUSH_N: u32 = 500;

/// Every message accepted before `close_peer` reaches the client before the close.
pub async fn close_peer_flushes_every_accepted_message<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let mut client_events = client.events();
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    for i in 0..FLUSH_N {
        within::<R, _>(STEP, "send", server.send(peer, msg(DATA, seq_payload(i))))
            .await
            .expect("send");
    }
    server.close_peer(peer, "done").expect("close_peer");
    let (received, reason) = count_until_disconnected::<R>(&mut client_events).await;
    assert_eq!(
        received, FLUSH_N,
        "messages accepted by send() before close_peer() were dropped"
    );
    assert_eq!(reason.code(), CloseCode::NORMAL, "{reason:?}");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Every message `Client::send` accepted before `Client::close` reaches the server.
pub async fn client_close_flushes_every_accepted_message<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    for i in 0..FLUSH_N {
        within::<R, _>(STEP, "send", client.send(msg(DATA, seq_payload(i))))
            .await
            .expect("send");
    }
    within::<R, _>(STEP, "client close", client.close()).await;
    let mut received = 0;
    loop {
        match next_server_event::<R>(&mut events).await {
            veltix_driver::ServerEvent::Message {
                peer: from,
                message,
            } => {
                assert_eq!(from, peer);
                assert_eq!(seq_of(&message), received, "in order, none skipped");
                received += 1;
            }
            veltix_driver::ServerEvent::Disconnected { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        received, FLUSH_N,
        "messages accepted by send() before close() were dropped"
    );
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Counts the numbered messages (checking their order) until the client is disconnected.
async fn count_until_disconnected<R: Runtime + Default>(
    events: &mut veltix_driver::ClientEvents,
) -> (u32, CloseReason) {
    let mut received = 0;
    loop {
        match next_client_event::<R>(events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Message(m) => {
                assert_eq!(seq_of(&m), received, "in order, none skipped");
                received += 1;
            }
            ClientEvent::Disconnected(reason) => return (received, reason),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A server with an `on_message` callback only (like the demo) whose event
/// stream nobody takes: the connect and disconnect events, which have no
/// callback, must not keep it from finishing the connections of peers that
/// left, nor from shutting down.
pub async fn message_callback_alone_does_not_leak_closed_peers<R: Runtime + Default>() {
    let mut config = server_config();
    config.event_capacity = 2;
    let server = bind::<R>(config).await;
    server.on_message(|peer, m| {
        let _ = peer.try_reply(&m, msg(DATA, m.payload().clone()));
    });
    let addr = server.local_addr();
    for i in 0..6u128 {
        on_thread::<R, _>(STEP, "a peer that leaves", move || {
            let mut raw = RawPeer::connect(addr).expect("connect");
            raw.send(DATA, i, b"ping?").expect("send");
            let echo = raw
                .next_app_frame(Duration::from_secs(2))
                .expect("read")
                .expect("open");
            assert_eq!(echo.request_id().to_u128(), i);
            raw.stream()
                .shutdown(std::net::Shutdown::Write)
                .expect("shutdown");
            match raw.next_frame(Duration::from_secs(2)) {
                Ok(None) => {}
                other => panic!(
                    "peer {i}: the server did not close the connection of a peer \
                     that left ({other:?})"
                ),
            }
        })
        .await;
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("every connection task has ended");
}

/// With every kind of event handled by a callback and nobody taking the
/// event streams (which are tiny here), nothing stalls: connects, messages,
/// requests and disconnects all flow, on both sides.
pub async fn callbacks_without_event_stream_do_not_stall<R: Runtime + Default>() {
    const CLIENTS: usize = 8;
    const PUSHES: usize = 50;
    let mut config = server_config();
    config.event_capacity = 1;
    let server = bind::<R>(config).await;
    let connects = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(AtomicUsize::new(0));
    let peers = Arc::new(Mutex::new(Vec::new()));
    {
        let connects = connects.clone();
        let peers = peers.clone();
        server.on_connect(move |peer, _| {
            connects.fetch_add(1, Ordering::SeqCst);
            peers.lock().expect("lock").push(peer.clone());
        });
        server.on_message(|peer, m| {
            let _ = peer.try_reply(&m, msg(ECHO, m.payload().clone()));
        });
        let disconnects = disconnects.clone();
        server.on_disconnect(move |_, _| {
            disconnects.fetch_add(1, Ordering::SeqCst);
        });
    }
    let pushed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut config = client_config(server.local_addr());
        config.event_capacity = 1;
        let client = connect::<R>(config).await;
        let pushed = pushed.clone();
        client.on_message(move |_, _| {
            pushed.fetch_add(1, Ordering::SeqCst);
        });
        client.on_connect(|_| {});
        client.on_disconnect(|_| {});
        for j in 0..20 {
            let text = format!("{i}/{j}");
            let reply = within::<R, _>(
                STEP,
                "request",
                client.request(msg(ECHO, text.clone()), STEP),
            )
            .await
            .expect("request");
            assert_eq!(reply.payload().as_ref(), text.as_bytes());
        }
        clients.push(client);
    }
    assert_eq!(connects.load(Ordering::SeqCst), CLIENTS);
    let handles: Vec<_> = peers.lock().expect("lock").clone();
    for peer in &handles {
        for k in 0..PUSHES {
            within::<R, _>(STEP, "push", peer.send(msg(DATA, format!("{k}"))))
                .await
                .expect("push");
        }
    }
    eventually::<R>(STEP, "every push reaches a client callback", || {
        pushed.load(Ordering::SeqCst) == CLIENTS * PUSHES
    })
    .await;
    for client in &clients {
        within::<R, _>(STEP, "client close", client.close()).await;
    }
    eventually::<R>(STEP, "every disconnect reaches the callback", || {
        disconnects.load(Ordering::SeqCst) == CLIENTS
    })
    .await;
    assert!(server.peers().is_empty());
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// `Client::connect` fails cleanly: nothing listening (an I/O error), a
/// server that never answers the handshake (closed with a handshake
/// timeout, after the configured time), a full server (its close reason).
pub async fn connect_failures_are_reported<R: Runtime + Default>() {
    // Nothing listens on a port just released.
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let result = within::<R, _>(
        STEP,
        "connect to nothing",
        Client::<R>::connect(client_config(addr)),
    )
    .await;
    assert!(
        matches!(result, Err(Error::Io(_))),
        "{:?}",
        result.map(|_| ())
    );

    // A server that accepts and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mute = on_thread::<R, _>(STEP, "mute server", move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut raw = RawPeer::from_stream(stream);
        let hello = raw
            .next_frame(Duration::from_secs(2))
            .expect("read")
            .expect("a HELLO");
        assert_eq!(
            hello.message_type().code(),
            10,
            "the client speaks first, with HELLO"
        );
        raw.read_until_closed(Duration::from_secs(3))
    });
    let mut config = client_config(addr);
    config.connection.handshake_timeout = Duration::from_millis(400);
    let started = Instant::now();
    let result = within::<R, _>(
        STEP,
        "connect to a mute server",
        Client::<R>::connect(config),
    )
    .await;
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(Error::Closed(CloseReason::HandshakeTimeout))),
        "{:?}",
        result.map(|_| ())
    );
    assert!(
        waited >= Duration::from_millis(400),
        "gave up early, after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "gave up late, after {waited:?}"
    );
    let closed = mute.await;
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::HANDSHAKE_TIMEOUT.0),
        "the client says why it leaves: {:?}",
        closed.frames
    );

    // A full server.
    let server = bind::<R>(server_config().max_connections(1)).await;
    let first = connect::<R>(client_config(server.local_addr())).await;
    let result = within::<R, _>(
        STEP,
        "connect to a full server",
        Client::<R>::connect(client_config(server.local_addr())),
    )
    .await;
    match result {
        Err(Error::Closed(CloseReason::Peer { code, .. })) => {
            assert_eq!(code, CloseCode::SERVER_FULL)
        }
        other => panic!(
            "expected Closed(Peer {{ SERVER_FULL }}), got {:?}",
            other.map(|_| ())
        ),
    }
    within::<R, _>(STEP, "client close", first.close()).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Dropping the last handle of a client closes its connection.
pub async fn dropping_every_client_handle_closes_the_connection<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let clone = client.clone();
    drop(client);
    within::<R, _>(STEP, "ping through the clone", clone.ping())
        .await
        .expect("a clone keeps the connection");
    drop(clone);
    let (gone, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(gone, peer);
    assert_eq!(reason.code(), CloseCode::NORMAL, "{reason:?}");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A client with `max_attempts` stops reconnecting: its event stream ends,
/// and calls fail without waiting.
pub async fn reconnect_gives_up_after_max_attempts<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut backoff = Reconnect::default();
    backoff.initial_delay = Duration::from_millis(20);
    backoff.max_delay = Duration::from_millis(50);
    backoff.max_attempts = Some(3);
    let client = connect::<R>(client_config(server.local_addr()).reconnect(backoff)).await;
    let mut client_events = client.events();
    match next_client_event::<R>(&mut client_events).await {
        ClientEvent::Connected(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    match next_client_event::<R>(&mut client_events).await {
        ClientEvent::Disconnected(reason) => assert_eq!(reason.code(), CloseCode::SHUTDOWN),
        other => panic!("unexpected {other:?}"),
    }
    // Three failed attempts later the client gives up, and its stream ends.
    let end = within::<R, _>(STEP, "the event stream ending", client_events.next()).await;
    assert!(end.is_none(), "expected the end of the stream, got {end:?}");
    assert!(!client.is_connected());
    let result = within::<R, _>(
        Duration::from_secs(1),
        "request after giving up",
        client.request(msg(ECHO, "x"), STEP),
    )
    .await;
    assert!(
        matches!(result, Err(Error::NotConnected | Error::Closed(_))),
        "{result:?}"
    );
}

/// Limits hold through the whole stack: reserved types are refused before
/// sending, `max_pending_requests` is enforced, and a message above the
/// receiver's `max_payload` closes the connection with code 5.
pub async fn limits_are_enforced_end_to_end<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.max_payload = 1024;
    let server = bind::<R>(config).await;
    let mut events = server.events();
    let mut client_config = client_config(server.local_addr());
    client_config.connection.max_pending_requests = 2;
    let client = connect::<R>(client_config).await;
    let mut client_events = client.events();
    let (peer, _, _) = expect_connected::<R>(&mut events).await;

    let reserved = veltix_driver::MessageType::from_code(5);
    let result = within::<R, _>(STEP, "reserved type", client.send(msg(reserved, "x"))).await;
    assert!(
        matches!(result, Err(Error::Send(SendError::ReservedType(_)))),
        "{result:?}"
    );
    let result = server.try_send(peer, msg(reserved, "x"));
    assert!(
        matches!(result, Err(Error::Send(SendError::ReservedType(_)))),
        "{result:?}"
    );

    let pending: Vec<_> = (0..2)
        .map(|i| {
            let client = client.clone();
            spawn::<R, _>(async move { client.request(msg(ECHO, format!("{i}")), STEP).await })
        })
        .collect();
    for _ in 0..2 {
        let _ = expect_message::<R>(&mut events).await;
    }
    let third = within::<R, _>(
        STEP,
        "a third request",
        client.request(msg(ECHO, "3"), STEP),
    )
    .await;
    assert!(
        matches!(
            third,
            Err(Error::Send(SendError::TooManyPending { limit: 2 }))
        ),
        "{third:?}"
    );

    within::<R, _>(
        STEP,
        "oversized send",
        client.send(msg(DATA, vec![0u8; 2048])),
    )
    .await
    .expect("the client's own limit is the default 16 MiB");
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(reason.code(), CloseCode::PAYLOAD_TOO_LARGE, "{reason:?}");
    loop {
        match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => {}
            ClientEvent::Disconnected(reason) => {
                assert_eq!(reason.code(), CloseCode::PAYLOAD_TOO_LARGE, "{reason:?}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for request in pending {
        let result = within::<R, _>(STEP, "pending request", request).await;
        assert!(matches!(result, Err(Error::Closed(_))), "{result:?}");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A connection on which the application sends nothing outlives the idle
/// timeout several times over: keep-alives (HEARTBEAT when negotiated, PING
/// with a legacy peer) feed both sides' idle timers.
pub async fn quiet_connections_are_kept_alive<R: Runtime + Default>() {
    let mut connection = crate::support::fast_connection();
    connection.idle_timeout = Some(Duration::from_millis(1200));
    connection.heartbeat_interval = Some(Duration::from_millis(200));
    let mut config = server_config();
    config.connection = connection.clone();
    let server = echo_server::<R>(config).await;
    let mut events = server.events();
    let mut negotiated = client_config(server.local_addr());
    negotiated.connection = connection.clone();
    let mut legacy = client_config(server.local_addr()).legacy();
    legacy.connection.idle_timeout = connection.idle_timeout;
    legacy.connection.heartbeat_interval = connection.heartbeat_interval;
    let negotiated = connect::<R>(negotiated).await;
    let legacy = connect::<R>(legacy).await;
    // The legacy client must speak first to be taken for legacy before the
    // server's legacy wait; a request does that.
    within::<R, _>(STEP, "legacy hello", legacy.request(msg(ECHO, "hi"), STEP))
        .await
        .expect("legacy request");

    // Over two idle timeouts of silence from the application.
    sleep::<R>(Duration::from_millis(2700)).await;

    for client in [&negotiated, &legacy] {
        assert!(client.is_connected());
        let reply = within::<R, _>(
            STEP,
            "request after silence",
            client.request(msg(ECHO, "still"), STEP),
        )
        .await
        .expect("the quiet connection is alive");
        assert_eq!(&reply.payload()[..], b"still");
    }
    let mut connected = 0;
    for _ in 0..2 {
        match next_server_event::<R>(&mut events).await {
            ServerEvent::Connected { .. } => connected += 1,
            other => panic!("a quiet connection ended: {other:?}"),
        }
    }
    assert_eq!(connected, 2);
    for client in [&negotiated, &legacy] {
        within::<R, _>(STEP, "client close", client.close()).await;
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A server in `Required` mode closes a peer that never says HELLO with a
/// handshake timeout (code 6), instead of taking it for a legacy peer.
pub async fn required_handshake_times_out_a_silent_peer<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.handshake = veltix_driver::HandshakeMode::Required;
    config.connection.handshake_timeout = Duration::from_millis(400);
    let server = bind::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();
    let closed = on_thread::<R, _>(STEP, "silent peer", move || {
        let mut raw = RawPeer::connect(addr).expect("connect");
        let started = Instant::now();
        let closed = raw.read_until_closed(Duration::from_secs(3));
        let after = closed.at - started;
        (closed, after)
    })
    .await;
    let (closed, after) = closed;
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::HANDSHAKE_TIMEOUT.0),
        "{:?}",
        closed.frames
    );
    assert!(
        after >= Duration::from_millis(350),
        "closed early, after {after:?}"
    );
    assert!(
        after < Duration::from_secs(2),
        "closed late, after {after:?}"
    );
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(reason, CloseReason::HandshakeTimeout);

    // A peer that sends an application frame first is refused too (code 4).
    let closed = on_thread::<R, _>(STEP, "legacy peer", move || {
        let mut raw = RawPeer::connect(addr).expect("connect");
        raw.send(DATA, 1, b"no hello").expect("send");
        raw.read_until_closed(Duration::from_secs(3))
    })
    .await;
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::PROTOCOL_VIOLATION.0),
        "{:?}",
        closed.frames
    );
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A peer that stays silent past `legacy_wait` is taken for a legacy peer;
/// if its first frame then turns out to be a HELLO, the handshake runs
/// after all and the server reports it connected again, negotiated.
pub async fn late_hello_after_legacy_wait_still_negotiates<R: Runtime + Default>() {
    let mut config = server_config();
    // The server must not have sent anything (a keep-alive PING to what it
    // takes for a legacy peer) before the HELLO arrives: push that far out.
    config.connection.heartbeat_interval = Some(Duration::from_secs(4));
    let server = echo_server::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let peer_thread = on_thread::<R, _>(STEP, "slow handshaker", move || {
        let mut raw = RawPeer::connect(addr).expect("connect");
        go_rx.recv_timeout(STEP).expect("told to speak");
        raw.handshake();
        raw.send(ECHO, 77, b"late but fine").expect("send");
        let echo = raw
            .next_app_frame(Duration::from_secs(3))
            .expect("read")
            .expect("open");
        assert_eq!(echo.request_id().to_u128(), 77);
        assert_eq!(&echo.payload()[..], b"late but fine");
    });
    let (first, _, info) = expect_connected::<R>(&mut events).await;
    assert_eq!(info.protocol_version, None, "first taken for a legacy peer");
    go_tx.send(()).expect("peer thread alive");
    let (again, _, info) = expect_connected::<R>(&mut events).await;
    assert_eq!(again, first, "the same peer");
    assert_eq!(
        info.protocol_version,
        Some(PROTOCOL_VERSION),
        "then negotiated"
    );
    peer_thread.await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
