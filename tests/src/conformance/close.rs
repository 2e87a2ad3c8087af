//! Ending connections: `close_peer` with a reason, a close on the wire at
//! once, graceful shutdown, flushing what `send` accepted, dropping the last
//! client handle.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use veltix_driver::{ClientEvent, CloseCode, CloseReason, Error, Runtime};

use crate::raw::{Ending, RawPeer};
use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, echo_server, eventually, expect_connected,
    expect_disconnected, msg, next_client_event, next_server_event, on_thread, seq_of, seq_payload,
    server_config, spawn, within,
};

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
    within::<R, _>(STEP, "client close", bystander.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    let took = started.elapsed();
    raw_server.await;
    assert!(took < prompt, "Client::close took {took:?}");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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

/// Dropping the last handle of a client closes its connection.
pub async fn dropping_every_client_handle_closes_the_connection<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let clone = client.clone();
    drop(client);
    within::<R, _>(STEP, "ping through the clone", clone.ping(STEP))
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
