//! Limits end to end: `max_connections`, reserved types,
//! `max_pending_requests` and `max_payload`.

use std::time::Duration;

use veltix_driver::{ClientEvent, CloseCode, Error, Runtime, SendError};

use crate::raw::{self, Ending, RawPeer};
use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, echo_server, expect_connected,
    expect_disconnected, expect_message, msg, next_client_event, on_thread, server_config, spawn,
    within,
};

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

    within::<R, _>(STEP, "client close", first.close())
        .await
        .expect("client close");
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
        within::<R, _>(STEP, "client close", client.close())
            .await
            .expect("client close");
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
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
