//! Connecting and reconnecting: how `connect` fails, a reconnecting client
//! that keeps its callbacks, and one that gives up after `max_attempts`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_driver::{
    Client, ClientEvent, CloseCode, CloseReason, Error, Reconnect, Runtime, Server,
};

use crate::raw::RawPeer;
use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, echo_server, eventually, expect_connected, msg,
    next_client_event, on_thread, server_config, sleep, within,
};

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
    within::<R, _>(STEP, "client close", first.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
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
    client.on_disconnect(move |_, reason| {
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

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    assert_eq!(
        next_heard::<R>(&mut heard).await,
        format!("disconnect {}", CloseCode::NORMAL.0)
    );
    within::<R, _>(STEP, "shutdown", second.shutdown())
        .await
        .expect("shutdown");
}

/// A reader that falls behind while the client reconnects still hears the
/// old connection's messages and its end before the new one's start: the
/// client's connections share one lane of its event stream.
pub async fn a_slow_reader_hears_a_reconnection_in_order<R: Runtime + Default>() {
    let first = echo_server::<R>(server_config()).await;
    let addr = first.local_addr();
    let mut first_events = first.events();
    let mut backoff = Reconnect::default();
    backoff.initial_delay = Duration::from_millis(50);
    backoff.max_delay = Duration::from_millis(200);
    let client = connect::<R>(client_config(addr).reconnect(backoff)).await;
    let mut client_events = client.events(); // not read until the end
    let (peer, _, _) = expect_connected::<R>(&mut first_events).await;
    within::<R, _>(STEP, "send", first.send(peer, msg(DATA, "one")))
        .await
        .expect("send");
    within::<R, _>(STEP, "shutdown", first.shutdown())
        .await
        .expect("shutdown");
    eventually::<R>(STEP, "the client knows it is disconnected", || {
        !client.is_connected()
    })
    .await;

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
    let mut second_events = second.events();
    let (peer, _, _) = expect_connected::<R>(&mut second_events).await;
    within::<R, _>(STEP, "send", second.send(peer, msg(DATA, "two")))
        .await
        .expect("send");

    let mut heard = Vec::new();
    while heard.len() < 5 {
        heard.push(match next_client_event::<R>(&mut client_events).await {
            ClientEvent::Connected(_) => "connected".to_owned(),
            ClientEvent::Message(m) => String::from_utf8_lossy(m.payload()).into_owned(),
            ClientEvent::Disconnected(reason) => format!("disconnected {}", reason.code().0),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        heard,
        [
            "connected".to_owned(),
            "one".to_owned(),
            format!("disconnected {}", CloseCode::SHUTDOWN.0),
            "connected".to_owned(),
            "two".to_owned(),
        ]
    );
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", second.shutdown())
        .await
        .expect("shutdown");
}

async fn next_heard<R: Runtime + Default>(heard: &mut mpsc::UnboundedReceiver<String>) -> String {
    within::<R, _>(STEP, "a client callback", heard.next())
        .await
        .expect("callback channel open")
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
