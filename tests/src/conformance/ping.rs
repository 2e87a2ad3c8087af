//! Ping round trips both ways, and keep-alives that hold a quiet connection
//! open past its idle timeout.

use std::time::Duration;

use veltix_driver::{CloseCode, Error, Runtime, ServerEvent};

use crate::support::{
    ECHO, STEP, bind, client_config, connect, echo_server, expect_connected, expect_disconnected,
    msg, next_server_event, server_config, sleep, within,
};

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
