//! Callbacks without anyone taking the event streams: nothing stalls and
//! no closed peer is kept; what `on_disconnect` is told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_driver::{CloseCode, PeerId, Runtime, ServerEvent};

use crate::raw::RawPeer;
use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, eventually, msg, next_server_event, on_thread,
    server_config, within,
};

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
        client.on_disconnect(|_, _| {});
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
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
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

/// `on_disconnect` is told who left: the server's gets the peer (the id and
/// address `on_connect` saw), the event stream's `Disconnected` the same
/// address, and the client's the address of the server it was connected to.
pub async fn on_disconnect_is_told_the_address<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let (connect_tx, mut connects) = mpsc::unbounded();
    server.on_connect(move |peer, _| {
        let _ = connect_tx.unbounded_send((peer.id(), peer.addr()));
    });
    let (gone_tx, mut gone) = mpsc::unbounded();
    server.on_disconnect(move |peer, reason| {
        let _ = gone_tx.unbounded_send((peer.id(), peer.addr(), reason.code(), peer.is_closed()));
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    let (left_tx, mut left) = mpsc::unbounded();
    client.on_disconnect(move |server, reason| {
        let _ = left_tx.unbounded_send((server, reason.code()));
    });
    let (id, addr) = within::<R, _>(STEP, "on_connect", connects.next())
        .await
        .expect("on_connect ran");

    // The server closes the peer: both callbacks run.
    server.close_peer(id, "bye").expect("close_peer");
    let (gone_id, gone_addr, code, closed) = within::<R, _>(STEP, "on_disconnect", gone.next())
        .await
        .expect("on_disconnect ran");
    assert_eq!((gone_id, gone_addr), (id, addr));
    assert_eq!(code, CloseCode::NORMAL);
    assert!(closed, "the peer handed to on_disconnect has ended");
    let (server_addr, code) = within::<R, _>(STEP, "client on_disconnect", left.next())
        .await
        .expect("the client's on_disconnect ran");
    assert_eq!(server_addr, server.local_addr());
    assert_eq!(code, CloseCode::NORMAL);

    // Without a callback, the event says the same.
    let plain = bind::<R>(server_config()).await;
    let mut events = plain.events();
    let client = connect::<R>(client_config(plain.local_addr())).await;
    let (peer, addr): (PeerId, _) = match next_server_event::<R>(&mut events).await {
        ServerEvent::Connected { peer, addr, .. } => (peer, addr),
        other => panic!("expected Connected, got {other:?}"),
    };
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    match next_server_event::<R>(&mut events).await {
        ServerEvent::Disconnected {
            peer: gone,
            addr: gone_addr,
            ..
        } => assert_eq!((gone, gone_addr), (peer, addr)),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    for server in [server, plain] {
        within::<R, _>(STEP, "shutdown", server.shutdown())
            .await
            .expect("shutdown");
    }
}
