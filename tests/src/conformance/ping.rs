//! Ping round trips both ways, pings that time out when told to, and
//! keep-alives that hold a quiet connection open past its idle timeout.

use std::time::{Duration, Instant};

use veltix_driver::{CloseCode, Error, Runtime, ServerEvent};

use crate::raw::RawPeer;
use crate::support::{
    ECHO, STEP, bind, client_config, connect, echo_server, expect_connected, expect_disconnected,
    msg, next_server_event, on_thread, server_config, sleep, within,
};

/// `Client::ping`, `Server::ping` and `Peer::ping` return round-trip times.
pub async fn ping_both_directions<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    for _ in 0..20 {
        let rtt = within::<R, _>(STEP, "client ping", client.ping(STEP))
            .await
            .expect("client → server ping");
        assert!(rtt < Duration::from_secs(2), "{rtt:?}");
    }
    for _ in 0..20 {
        let rtt = within::<R, _>(STEP, "server ping", server.ping(peer, STEP))
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    let (_, reason) = expect_disconnected::<R>(&mut events).await;
    assert_eq!(reason.code(), CloseCode::NORMAL);
    let unknown = within::<R, _>(STEP, "ping a gone peer", server.ping(peer, STEP)).await;
    assert!(
        matches!(unknown, Err(Error::UnknownPeer(p)) if p == peer),
        "{unknown:?}"
    );
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
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A ping to a peer that never answers fails with `TimedOut` after the
/// timeout it was given, long before the idle timeout (5 s here), and the
/// connection lives on: the client's ping of a silent server, the server's
/// of a silent client.
pub async fn ping_to_a_silent_peer_times_out_at_the_given_timeout<R: Runtime + Default>() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    // Well below the 5 s idle timeout, generous for a loaded machine.
    const LATE: Duration = Duration::from_millis(2500);

    // A silent server: accepts, never writes. The client skips the
    // handshake, so it is connected without the server saying a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let silent = on_thread::<R, _>(STEP, "silent server", move || {
        let (_stream, _) = listener.accept().expect("accept");
        let _ = hold_rx.recv(); // keeps the socket open until told
    });
    let client = connect::<R>(client_config(addr).legacy()).await;
    let started = Instant::now();
    let outcome = within::<R, _>(STEP, "client ping", client.ping(TIMEOUT)).await;
    let waited = started.elapsed();
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    assert!(
        waited >= TIMEOUT - Duration::from_millis(20),
        "gave up early: {waited:?}"
    );
    assert!(waited < LATE, "waited past its timeout: {waited:?}");
    assert!(
        client.is_connected(),
        "a lost ping does not end the connection"
    );
    drop(hold_tx);
    let _ = within::<R, _>(STEP, "client close", client.close()).await;
    silent.await;

    // A silent client: connects, never writes (served as a legacy peer
    // after the legacy wait), never answers.
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let raw = RawPeer::connect(server.local_addr()).expect("connect");
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let started = Instant::now();
    let outcome = within::<R, _>(STEP, "server ping", server.ping(peer, TIMEOUT)).await;
    let waited = started.elapsed();
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    assert!(
        waited >= TIMEOUT - Duration::from_millis(20),
        "gave up early: {waited:?}"
    );
    assert!(waited < LATE, "waited past its timeout: {waited:?}");
    assert!(server.peer(peer).is_some_and(|p| !p.is_closed()));
    drop(raw);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
