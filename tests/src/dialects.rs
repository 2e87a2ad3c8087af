//! The dialect suite: a server and clients of ours speaking each
//! [`Dialect`] to each other, and mismatched pairs failing cleanly. Written
//! once, generic over the runtime; `tests/tests/dialects_{tokio,smol,mio}.rs`
//! expand [`dialect_tests!`](crate::dialect_tests) for theirs, and
//! `tests/tests/matrix.rs` runs the Python 3.x dialect across runtimes
//! ([`crate::matrix`]).
//!
//! For each dialect (`native`, `python14`, `python3`, `legacy`):
//! - `*_exchange`: requests and replies of every size up to 1 MiB, pings both
//!   ways, 500 messages each way in order, the headers each wire gives
//!   (compact: no timestamp, ids in the sender's half);
//! - `*_broadcast`: one message to all peers but one, encoded once (classic:
//!   the very same frame; compact: each connection gives it its own id);
//! - `*_server_full`: one client more than `max_connections` is refused with
//!   the dialect's server-full close, and the others are still served.
//!
//! `mismatched_pairs_fail_cleanly` connects clients to servers of another
//! dialect: each fails within the handshake timeout and no message is ever
//! delivered on either side.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use veltix_driver::{
    Client, ClientConfig, ClientEvent, ClientEvents, CloseCode, CloseReason, Dialect, Error,
    Message, PeerId, Runtime, ServerConfig, ServerEvent,
};

use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, echo_server, expect_connected,
    expect_disconnected, finishes_within, msg, next_client_event, next_message, seq_of,
    seq_payload, server_config, sleep, within,
};

/// Expands `$callback! { name, name, … }` with the name of every dialect
/// test, so each runtime's runner runs the same list.
#[macro_export]
macro_rules! dialect_tests {
    ($callback:ident) => {
        $callback! {
            native_exchange,
            python14_exchange,
            python3_exchange,
            legacy_exchange,
            native_broadcast,
            python14_broadcast,
            python3_broadcast,
            legacy_broadcast,
            native_server_full,
            python14_server_full,
            python3_server_full,
            legacy_server_full,
            mismatched_pairs_fail_cleanly,
        }
    };
}

/// One public test function per dialect and scenario.
macro_rules! per_dialect {
    ($($name:ident => $scenario:ident($dialect:expr);)*) => {
        $(
            #[doc = concat!("[`", stringify!($scenario), "`] in `", stringify!($dialect), "`.")]
            pub async fn $name<R: Runtime + Default>() {
                $scenario::<R>($dialect).await;
            }
        )*
    };
}

per_dialect! {
    native_exchange => exchange(Dialect::Native);
    python14_exchange => exchange(Dialect::Python14);
    python3_exchange => exchange(Dialect::Python3);
    legacy_exchange => exchange(Dialect::Legacy);
    native_broadcast => broadcast(Dialect::Native);
    python14_broadcast => broadcast(Dialect::Python14);
    python3_broadcast => broadcast(Dialect::Python3);
    legacy_broadcast => broadcast(Dialect::Legacy);
    native_server_full => server_full(Dialect::Native);
    python14_server_full => server_full(Dialect::Python14);
    python3_server_full => server_full(Dialect::Python3);
    legacy_server_full => server_full(Dialect::Legacy);
}

/// Compact request ids a client hands out: `[0, 32768)`.
const CLIENT_IDS: std::ops::Range<u16> = 0..0x8000;
/// Compact request ids a server hands out: `[32768, 62768)`.
const SERVER_IDS: std::ops::Range<u16> = 0x8000..0x8000 + 30_000;

/// A message read off `dialect`'s wire, sent by the side whose compact ids
/// are `ids`: the compact wire has no timestamp and 16-bit ids; the classic
/// wire carries the sender's wall clock and 16-byte ids.
fn check_header(dialect: Dialect, message: &Message, ids: &std::ops::Range<u16>, what: &str) {
    let compact = message.request_id().to_compact();
    if dialect == Dialect::Python3 {
        assert_eq!(
            message.timestamp_ms(),
            0,
            "{what}: no timestamp on the compact wire"
        );
        assert!(
            compact.is_some_and(|id| ids.contains(&id)),
            "{what}: compact id {compact:?} outside {ids:?}"
        );
    } else {
        assert_ne!(
            message.timestamp_ms(),
            0,
            "{what}: the classic header's timestamp"
        );
        assert!(compact.is_none(), "{what}: a 16-byte id, not a 16-bit one");
    }
}

/// A server config of `dialect` with the suite's short timeouts.
fn server_of(dialect: Dialect) -> ServerConfig {
    server_config().dialect(dialect)
}

/// A client config of `dialect` with the suite's short timeouts.
fn client_of(addr: std::net::SocketAddr, dialect: Dialect) -> ClientConfig {
    client_config(addr).dialect(dialect)
}

/// Requests of every size up to 1 MiB, pings both ways and 500 messages each
/// way in order, between a server and a client of `dialect`.
pub async fn exchange<R: Runtime + Default>(dialect: Dialect) {
    let server = echo_server::<R>(server_of(dialect)).await;
    let mut server_events = server.events();
    let client = connect::<R>(client_of(server.local_addr(), dialect)).await;
    let (peer, _, info) = expect_connected::<R>(&mut server_events).await;
    assert_eq!(info.dialect, dialect, "the server's view");
    let mut events = client.events();
    match next_client_event::<R>(&mut events).await {
        ClientEvent::Connected(info) => assert_eq!(info.dialect, dialect, "the client's view"),
        other => panic!("expected Connected first, got {other:?}"),
    }

    // Requests, the last of 1 MiB: each reply carries its request's id.
    for (i, size) in [0, 1, 1000, 70_000, 1 << 20].into_iter().enumerate() {
        let sent: Vec<u8> = (0..size).map(|j| ((i * 7 + j) % 251) as u8).collect();
        let reply = within::<R, _>(
            STEP,
            "request",
            client.request(msg(ECHO, sent.clone()), STEP),
        )
        .await
        .unwrap_or_else(|e| panic!("request of {size} bytes: {e}"));
        assert_eq!(reply.message_type(), ECHO);
        assert!(
            reply.payload() == &sent[..],
            "the reply to {size} bytes differs"
        );
        check_header(
            dialect,
            &reply,
            &CLIENT_IDS,
            "a reply keeps the request's id",
        );
    }

    // Pings both ways.
    let rtt = within::<R, _>(STEP, "client ping", client.ping(STEP))
        .await
        .expect("client → server ping");
    assert!(rtt < STEP);
    let rtt = within::<R, _>(STEP, "server ping", server.ping(peer, STEP))
        .await
        .expect("server → client ping");
    assert!(rtt < STEP);

    // 500 messages each way, back to back. The client's come back as the
    // server's replies (ordinary messages here: they answer no request).
    for i in 0..500 {
        within::<R, _>(STEP, "client send", client.send(msg(DATA, seq_payload(i))))
            .await
            .expect("client send");
    }
    for i in 0..500 {
        let echo = next_message::<R>(&mut events).await;
        assert_eq!(seq_of(&echo), i, "the client's burst comes back in order");
        check_header(dialect, &echo, &CLIENT_IDS, "an echo of a client's message");
    }
    for i in 0..500 {
        within::<R, _>(
            STEP,
            "server send",
            server.send(peer, msg(DATA, seq_payload(i))),
        )
        .await
        .expect("server send");
    }
    for i in 0..500 {
        let message = next_message::<R>(&mut events).await;
        assert_eq!(seq_of(&message), i, "the server's burst arrives in order");
        assert!(message.payload() == &seq_payload(i)[..]);
        check_header(dialect, &message, &SERVER_IDS, "a server's message");
    }

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    let (gone, _) = expect_disconnected::<R>(&mut server_events).await;
    assert_eq!(gone, peer);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A broadcast from a server of `dialect` to three of its four clients.
/// Before it, client `k` is sent `k` messages, so the connections' compact id
/// counters stand at different places: on the compact wire each recipient
/// gives the shared frame an id of its own (fresh, in the server's half); on
/// the classic wire all get the very same frame (one id, one timestamp).
pub async fn broadcast<R: Runtime + Default>(dialect: Dialect) {
    let mut config = server_of(dialect);
    // No keep-alive PINGs from the server: they would take compact ids too.
    config.connection.heartbeat_interval = None;
    let server = bind::<R>(config).await;
    let mut server_events = server.events();
    let mut clients: Vec<(Client<R>, ClientEvents, PeerId)> = Vec::new();
    for _ in 0..4 {
        let client = connect::<R>(client_of(server.local_addr(), dialect)).await;
        let (peer, _, info) = expect_connected::<R>(&mut server_events).await;
        assert_eq!(info.dialect, dialect);
        let events = client.events();
        clients.push((client, events, peer));
    }

    let mut prefix_ids = Vec::new();
    for (k, (_, events, peer)) in clients.iter_mut().enumerate().take(3) {
        let mut ids = Vec::new();
        for n in 0..k {
            let text = format!("prefix {n}");
            within::<R, _>(STEP, "prefix", server.send(*peer, msg(DATA, text.clone())))
                .await
                .expect("send");
            let message = next_message::<R>(events).await;
            assert_eq!(message.payload(), text.as_bytes());
            ids.push(message.request_id());
        }
        prefix_ids.push(ids);
    }

    let excluded = clients[3].2;
    let reached = within::<R, _>(
        STEP,
        "broadcast",
        server.broadcast(msg(DATA, "to all but one"), &[excluded]),
    )
    .await
    .expect("broadcast");
    assert_eq!(reached, 3);
    // Sent after the broadcast on the same connection: had the excluded peer
    // been sent the broadcast, it would arrive first.
    within::<R, _>(STEP, "marker", server.send(excluded, msg(DATA, "marker")))
        .await
        .expect("marker");

    let mut received = Vec::new();
    for (k, (_, events, _)) in clients.iter_mut().enumerate() {
        let message = next_message::<R>(events).await;
        if k == 3 {
            assert_eq!(
                &message.payload()[..],
                b"marker",
                "the excluded peer got the broadcast"
            );
            continue;
        }
        assert_eq!(&message.payload()[..], b"to all but one");
        check_header(dialect, &message, &SERVER_IDS, "a broadcast");
        assert!(
            !prefix_ids[k].contains(&message.request_id()),
            "the broadcast reused an id on connection {k}"
        );
        received.push(message);
    }
    let ids: Vec<_> = received.iter().map(Message::request_id).collect();
    if dialect == Dialect::Python3 {
        for (i, id) in ids.iter().enumerate() {
            assert!(
                !ids[..i].contains(id),
                "each connection gives the broadcast its own id: {ids:?}"
            );
        }
    } else {
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "one frame for all: {ids:?}"
        );
        let stamps: Vec<u64> = received.iter().map(Message::timestamp_ms).collect();
        assert!(
            stamps.iter().all(|t| *t == stamps[0]),
            "encoded once: {stamps:?}"
        );
    }

    for (client, _, _) in &clients {
        within::<R, _>(STEP, "close", client.close())
            .await
            .expect("close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// One client more than `max_connections` is refused with the dialect's
/// server-full close: an ERROR frame with code 3 on the classic wire, the
/// JSON `{"error": "server_full"}` in the Python 3.x handshake. A client with
/// a handshake sees its `connect` fail with
/// `CloseReason::Peer { code: SERVER_FULL, .. }`; a legacy client has no
/// handshake to fail, so it connects and is then closed, the ERROR frame
/// delivered to it as a message (Python 1.2/1.3 would see it so). The
/// connected client is still served, and a freed slot is reused.
pub async fn server_full<R: Runtime + Default>(dialect: Dialect) {
    let server = echo_server::<R>(server_of(dialect).max_connections(1)).await;
    let addr = server.local_addr();
    let mut server_events = server.events();
    let first = connect::<R>(client_of(addr, dialect)).await;
    let _ = expect_connected::<R>(&mut server_events).await;

    let refused = within::<R, _>(
        STEP,
        "connect",
        Client::<R>::connect(client_of(addr, dialect)),
    )
    .await;
    if dialect == Dialect::Legacy {
        let extra = refused.expect("a legacy client has no handshake to fail");
        let mut events = extra.events();
        let error = next_message::<R>(&mut events).await;
        assert_eq!(error.message_type().code(), 20, "an ERROR frame");
        let code = u16::from_be_bytes([error.payload()[0], error.payload()[1]]);
        assert_eq!(code, CloseCode::SERVER_FULL.0);
        match next_client_event::<R>(&mut events).await {
            ClientEvent::Disconnected(_) => {}
            other => panic!("expected the refused client to be closed, got {other:?}"),
        }
    } else {
        match refused {
            Err(Error::Closed(CloseReason::Peer { code, reason })) => {
                assert_eq!(code, CloseCode::SERVER_FULL);
                if dialect == Dialect::Python3 {
                    assert_eq!(reason, "server_full", "Python 3.x's refusal");
                } else {
                    assert!(reason.contains("full"), "reason {reason:?}");
                }
            }
            Ok(_) => panic!("a full server accepted one client too many"),
            Err(other) => panic!("expected the server-full close, got {other}"),
        }
    }
    assert_eq!(
        server.peers().len(),
        1,
        "the refused client was never listed"
    );

    let reply = within::<R, _>(STEP, "request", first.request(msg(ECHO, "served"), STEP))
        .await
        .expect("the connected client is still served");
    assert_eq!(&reply.payload()[..], b"served");
    within::<R, _>(STEP, "close", first.close())
        .await
        .expect("close");
    let _ = expect_disconnected::<R>(&mut server_events).await;
    let again = connect::<R>(client_of(addr, dialect)).await;
    let reply = within::<R, _>(
        STEP,
        "request",
        again.request(msg(ECHO, "room again"), STEP),
    )
    .await
    .expect("a freed slot is reused");
    assert_eq!(&reply.payload()[..], b"room again");
    within::<R, _>(STEP, "close", again.close())
        .await
        .expect("close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Server and client dialects that cannot talk to each other.
pub const MISMATCHED: [(Dialect, Dialect); 11] = [
    (Dialect::Python3, Dialect::Native),
    (Dialect::Native, Dialect::Python3),
    (Dialect::Python3, Dialect::Python14),
    (Dialect::Python14, Dialect::Python3),
    (Dialect::Python14, Dialect::Native),
    (Dialect::Native, Dialect::Python14),
    (Dialect::Python3, Dialect::Legacy),
    (Dialect::Legacy, Dialect::Python3),
    (Dialect::Legacy, Dialect::Python14),
    // Handshake frames reach no application even where one side speaks
    // none: they close the connection.
    (Dialect::Python14, Dialect::Legacy),
    (Dialect::Legacy, Dialect::Native),
];

/// Every [`MISMATCHED`] pair, all at once: a client with a handshake sees
/// `connect` fail within the handshake timeout; a legacy client (no
/// handshake) is closed within it and its request fails. Neither side ever
/// delivers a message, and the server ends every connection it reported.
/// Every pair's failures are reported together.
pub async fn mismatched_pairs_fail_cleanly<R: Runtime + Default>() {
    let pairs = MISMATCHED.map(|(server, client)| mismatched_pair::<R>(server, client));
    let problems: Vec<String> = join_all(pairs).await.into_iter().flatten().collect();
    assert!(
        problems.is_empty(),
        "mismatched pairs:\n{}",
        problems.join("\n")
    );
}

/// What went wrong between a server of `server_dialect` and a client of
/// `client_dialect` (nothing, if they failed cleanly).
async fn mismatched_pair<R: Runtime + Default>(
    server_dialect: Dialect,
    client_dialect: Dialect,
) -> Vec<String> {
    let pair = format!("{server_dialect:?} server, {client_dialect:?} client");
    let mut problems = Vec::new();
    let server = bind::<R>(server_of(server_dialect)).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let count = delivered.clone();
    server.on_message(move |_, _| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let mut server_events = server.events();
    let config = client_of(server.local_addr(), client_dialect);
    let handshake_timeout = config.connection.handshake_timeout;
    // The handshake timeout, and time for a loaded machine to notice it.
    let limit = handshake_timeout + Duration::from_millis(1500);

    let started = Instant::now();
    let connected = within::<R, _>(STEP, &pair, Client::<R>::connect(config)).await;
    if client_dialect == Dialect::Legacy {
        let client = connected.unwrap_or_else(|e| panic!("{pair}: no handshake to fail: {e}"));
        let mut events = client.events();
        let _ = client.try_send(msg(DATA, "never delivered"));
        let request = client.request(msg(ECHO, "never answered"), STEP);
        if within::<R, _>(limit, &pair, request).await.is_ok() {
            problems.push(format!("{pair}: a request was answered"));
        }
        loop {
            match within::<R, _>(limit, &pair, events.next()).await {
                Some(ClientEvent::Disconnected(_)) | None => break,
                Some(ClientEvent::Message(m)) => {
                    problems.push(format!("{pair}: the client delivered {m:?}"));
                }
                Some(_) => {}
            }
        }
    } else {
        match connected {
            Ok(_) => problems.push(format!("{pair}: connected")),
            Err(Error::Closed(_)) => {}
            Err(other) => problems.push(format!("{pair}: connect failed with {other}")),
        }
    }
    if started.elapsed() >= limit {
        problems.push(format!(
            "{pair}: took {:?}, more than the handshake timeout {handshake_timeout:?}",
            started.elapsed()
        ));
    }

    // Whatever the server reported (a native server takes a silent peer for
    // a legacy one after `legacy_wait`) ends, and no message got through.
    let mut open = 0usize;
    loop {
        let next = server_events.next();
        let event = if open == 0 {
            match finishes_within::<R, _>(Duration::from_millis(300), next).await {
                Some(event) => event,
                None => break,
            }
        } else {
            within::<R, _>(STEP, &pair, next).await
        };
        match event {
            Some(ServerEvent::Connected { .. }) => open += 1,
            Some(ServerEvent::Disconnected { .. }) => open = open.saturating_sub(1),
            Some(ServerEvent::Message { message, .. }) => {
                problems.push(format!("{pair}: the server delivered {message:?}"));
            }
            Some(_) => {}
            None => break,
        }
    }
    sleep::<R>(Duration::from_millis(100)).await;
    let count = delivered.load(Ordering::SeqCst);
    if count > 0 {
        problems.push(format!("{pair}: the server delivered {count} messages"));
    }
    if !server.peers().is_empty() {
        problems.push(format!("{pair}: a peer is still listed"));
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    problems
}
