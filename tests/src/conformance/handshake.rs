//! The handshake: pre-shared keys, version negotiation, legacy peers (no
//! handshake), the required mode and a HELLO that comes late.

use std::time::{Duration, Instant};

use veltix_core::PROTOCOL_VERSION;
use veltix_driver::{ClientEvent, CloseCode, CloseReason, Error, Runtime, ServerEvent};

use crate::raw::RawPeer;
use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, echo_server, expect_client_message,
    expect_connected, expect_disconnected, msg, next_client_event, next_server_event, on_thread,
    server_config, within,
};

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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", good.close())
        .await
        .expect("client close");

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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client ping", client.ping(STEP))
        .await
        .expect("client ping");
    within::<R, _>(STEP, "server ping", server.ping(peer, STEP))
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
