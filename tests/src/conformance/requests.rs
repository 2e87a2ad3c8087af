//! Requests and replies: answered from the event stream or from callbacks,
//! many in flight at once, timed out, failed by a close, cancelled by a drop.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::{Either, join_all, select};
use veltix_driver::{ClientEvent, CloseCode, CloseReason, Error, Runtime, ServerEvent};

use crate::support::{
    ECHO, STEP, bind, client_config, connect, echo_server, expect_connected, expect_message, msg,
    next_client_event, next_server_event, seq_of, seq_payload, server_config, spawn, within,
};

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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
