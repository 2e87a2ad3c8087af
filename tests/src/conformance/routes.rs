//! Routes and handlers: one handler per message type, `on_message` for the
//! rest, replies returned from handlers, errors and unrouted messages
//! counted; async handlers in order or up to a limit at once, tied into
//! flow control, surviving panics.
//!
//! The sync tests are in `conformance_tests!` (every runtime); the async
//! ones in `async_handler_tests!` (tokio and smol: async handlers are not
//! offered on veltix-mio's threaded API).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::join_all;
use veltix_driver::{Error, Message, MessageType, Runtime};

use crate::support::{
    DATA, ECHO, STEP, bind, client_config, connect, eventually, msg, server_config, sleep, spawn,
    within,
};

/// A type with no route in the tests that route some.
const OTHER: MessageType = match MessageType::new(202) {
    Ok(t) => t,
    Err(_) => panic!("not a user type code"),
};

/// How long a request that gets no answer is waited for.
const NO_ANSWER: Duration = Duration::from_millis(300);

fn upper(message: &Message) -> Message {
    msg(
        message.message_type(),
        message.payload().to_ascii_uppercase(),
    )
}

fn text(message: &Message) -> String {
    String::from_utf8_lossy(message.payload()).into_owned()
}

/// A server's route answers a client's request by returning a message, and
/// a client's route answers the server's.
pub async fn a_route_answers_a_request<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.route(ECHO, |_, message| upper(&message));
    let (peer_tx, mut peers) = mpsc::unbounded();
    server.on_connect(move |peer, _| drop(peer_tx.unbounded_send(peer.clone())));
    let client = connect::<R>(client_config(server.local_addr())).await;
    client.route(ECHO, |_, message| {
        Some(msg(ECHO, format!("client: {}", text(&message))))
    });
    for i in 0..20 {
        let reply = within::<R, _>(
            STEP,
            "request",
            client.request(msg(ECHO, format!("hello {i}")), STEP),
        )
        .await
        .expect("answered by the route");
        assert_eq!(text(&reply), format!("HELLO {i}"));
    }
    let peer = within::<R, _>(STEP, "connected", peers.next())
        .await
        .expect("a peer");
    let reply = within::<R, _>(
        STEP,
        "server request",
        peer.request(msg(ECHO, "down"), STEP),
    )
    .await
    .expect("answered by the client's route");
    assert_eq!(text(&reply), "client: down");
    assert_eq!(server.stats().handler_errors, 0);
}

/// Routed types go to their routes, the rest to `on_message`; neither sees
/// the other's.
pub async fn routes_and_on_message_split_traffic_by_type<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    for kind in [ECHO, DATA] {
        let seen = seen.clone();
        server.route(kind, move |_, message: Message| {
            seen.lock()
                .unwrap()
                .push(format!("route {}: {}", kind.code(), text(&message)));
        });
    }
    let rest = seen.clone();
    server.on_message(move |_, message| {
        rest.lock().unwrap().push(format!(
            "on_message {}: {}",
            message.message_type().code(),
            text(&message)
        ));
        upper(&message)
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    client.send(msg(DATA, "d1")).await.expect("send");
    client.send(msg(OTHER, "o1")).await.expect("send");
    client.send(msg(ECHO, "e1")).await.expect("send");
    // Answered by on_message: the reply also tells us the three before it
    // were handled (one connection, handled in order).
    let reply = within::<R, _>(STEP, "request", client.request(msg(OTHER, "o2"), STEP))
        .await
        .expect("on_message answers");
    assert_eq!(text(&reply), "O2");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "route 201: d1",
            "on_message 202: o1",
            "route 200: e1",
            "on_message 202: o2"
        ]
    );
}

/// With routes and neither a route for its type nor `on_message` (nor an
/// event stream taken), a message is counted as unrouted; the peer is
/// served on.
pub async fn an_unknown_type_without_on_message_is_counted<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.route(ECHO, |_, message| upper(&message));
    let client = connect::<R>(client_config(server.local_addr())).await;
    for i in 0..3 {
        client
            .send(msg(DATA, format!("nobody {i}")))
            .await
            .expect("send");
    }
    let reply = within::<R, _>(
        STEP,
        "request",
        client.request(msg(ECHO, "still here"), STEP),
    )
    .await
    .expect("the route answers after the unrouted ones");
    assert_eq!(text(&reply), "STILL HERE");
    let stats = server.stats();
    assert_eq!(stats.unrouted, 3, "{stats:?}");
    let peer = &server.peers()[0];
    assert_eq!(peer.stats().unrouted, 3);
}

/// A route that returns an `Err` sends nothing; the error is counted and
/// the peer's next requests are answered.
pub async fn a_route_error_is_counted_and_the_peer_served_on<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.route(ECHO, |_, message| {
        if message.payload().as_ref() == b"bad" {
            Err("bad input")
        } else {
            Ok(upper(&message))
        }
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    let failed = within::<R, _>(
        STEP,
        "bad request",
        client.request(msg(ECHO, "bad"), NO_ANSWER),
    )
    .await;
    assert!(matches!(failed, Err(Error::TimedOut)), "{failed:?}");
    let reply = within::<R, _>(
        STEP,
        "good request",
        client.request(msg(ECHO, "good"), STEP),
    )
    .await
    .expect("served on");
    assert_eq!(text(&reply), "GOOD");
    assert_eq!(server.stats().handler_errors, 1);
    assert!(client.is_connected());
}

/// A pseudo-random pause from `seed`, 0–15 ms.
fn jitter(seed: usize) -> Duration {
    Duration::from_millis(((seed * 7919) % 16) as u64)
}

/// Async handlers of one peer run one at a time, in arrival order, by
/// default; their returned messages are the replies, so requests sent at
/// once are answered in order too.
pub async fn async_handlers_keep_order<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let (handled, order_seen, overlap) = (order.clone(), order.clone(), running.clone());
    server.route_async(ECHO, move |_, message: Message| {
        let (handled, running) = (handled.clone(), running.clone());
        async move {
            assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "one at a time");
            let n: usize = text(&message).parse().expect("a number");
            sleep::<R>(jitter(n)).await;
            handled.lock().unwrap().push(n);
            running.fetch_sub(1, Ordering::SeqCst);
            upper(&message)
        }
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    let answered = Arc::new(Mutex::new(Vec::new()));
    let requests = (0..30).map(|n| {
        let (client, answered) = (client.clone(), answered.clone());
        async move {
            let reply = client.request(msg(ECHO, n.to_string()), STEP).await;
            answered.lock().unwrap().push(n);
            reply
        }
    });
    for reply in within::<R, _>(STEP, "requests", join_all(requests)).await {
        reply.expect("answered");
    }
    let expected: Vec<usize> = (0..30).collect();
    assert_eq!(
        *order_seen.lock().unwrap(),
        expected,
        "handled in arrival order"
    );
    assert_eq!(*answered.lock().unwrap(), expected, "answered in order");
    assert_eq!(overlap.load(Ordering::SeqCst), 0);
    assert_eq!(server.stats().handler_errors, 0);
}

/// With `handler_concurrency` above 1, a peer's async handlers overlap, up
/// to the limit.
pub async fn async_handlers_overlap_up_to_the_limit<R: Runtime + Default>() {
    let server = bind::<R>(server_config().handler_concurrency(4)).await;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (running.clone(), most.clone());
    server.on_message_async(move |_, message: Message| {
        let (running, most) = (now.clone(), peak.clone());
        async move {
            let at_once = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(at_once, Ordering::SeqCst);
            // Long enough for the next ones to start beside it.
            sleep::<R>(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            upper(&message)
        }
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    let requests = (0..12).map(|n| client.request(msg(ECHO, format!("r{n}")), STEP));
    for reply in within::<R, _>(STEP, "requests", join_all(requests)).await {
        reply.expect("answered");
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most > 1, "handlers overlapped: {most} at once");
    assert!(most <= 4, "at most the limit: {most} at once");
}

/// A peer whose async handler is stuck is not read once its waiting
/// messages pass the high-water mark: its sends stop going through while
/// the server reads next to nothing of it, and another peer is served at
/// once. Released, the handler catches up with every message.
pub async fn a_slow_async_handler_pauses_its_peer_while_others_are_served<R: Runtime + Default>() {
    const SIZE: usize = 4 * 1024;
    const TOTAL: usize = 10_000; // 40 MiB: more than any socket buffers hold
    let mut config = server_config();
    config.flow = config.flow.water_marks(16 * 1024, 64 * 1024);
    let server = bind::<R>(config).await;
    let open = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicUsize::new(0));
    let (gate, count) = (open.clone(), handled.clone());
    server.route_async(DATA, move |_, _| {
        let (open, handled) = (gate.clone(), count.clone());
        async move {
            while !open.load(Ordering::SeqCst) {
                sleep::<R>(Duration::from_millis(5)).await;
            }
            handled.fetch_add(1, Ordering::SeqCst);
        }
    });
    server.route_async(ECHO, |_, message: Message| async move { upper(&message) });
    let slow = connect::<R>(client_config(server.local_addr())).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (slow, sent) = (slow.clone(), sent.clone());
        spawn::<R, _>(async move {
            let payload = bytes::Bytes::from(vec![7u8; SIZE]);
            for _ in 0..TOTAL {
                slow.send(msg(DATA, payload.clone())).await.expect("send");
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // The sender stalls: what it has sent stops growing.
    let mut last = 0;
    let mut stalled = false;
    for _ in 0..40 {
        sleep::<R>(Duration::from_millis(250)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last && now > 0 {
            stalled = true;
            break;
        }
        last = now;
    }
    assert!(stalled, "the sender never stalled ({last} sent)");
    assert!(last < TOTAL, "everything went through a stuck handler");
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    let read = server.peers()[0].stats().bytes_in;
    assert!(
        read < 1024 * 1024,
        "the server read {read} bytes of a paused peer"
    );
    // Another peer is served at once.
    let other = connect::<R>(client_config(server.local_addr())).await;
    let reply = within::<R, _>(STEP, "the other peer", other.request(msg(ECHO, "hi"), STEP))
        .await
        .expect("the other peer is served");
    assert_eq!(text(&reply), "HI");
    // Released: every message is handled.
    open.store(true, Ordering::SeqCst);
    within::<R, _>(Duration::from_secs(20), "the sender finishes", sender).await;
    eventually::<R>(STEP, "every message handled", || {
        handled.load(Ordering::SeqCst) == TOTAL
    })
    .await;
}

/// An async handler that panics is logged and counted; its peer and the
/// server are served on.
pub async fn a_panicking_async_handler_leaves_peer_and_server_alive<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.route_async(ECHO, |_, message: Message| async move {
        if message.payload().as_ref() == b"panic" {
            panic!("a handler panicked on purpose");
        }
        upper(&message)
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    let failed = within::<R, _>(
        STEP,
        "panicking request",
        client.request(msg(ECHO, "panic"), NO_ANSWER),
    )
    .await;
    assert!(matches!(failed, Err(Error::TimedOut)), "{failed:?}");
    let reply = within::<R, _>(
        STEP,
        "next request",
        client.request(msg(ECHO, "after"), STEP),
    )
    .await
    .expect("the peer is served on");
    assert_eq!(text(&reply), "AFTER");
    let other = connect::<R>(client_config(server.local_addr())).await;
    let reply = within::<R, _>(STEP, "another peer", other.request(msg(ECHO, "new"), STEP))
        .await
        .expect("the server is served on");
    assert_eq!(text(&reply), "NEW");
    assert_eq!(server.stats().handler_errors, 1);
}

/// An async handler may await a request of its own to the same peer
/// before answering.
pub async fn an_async_handler_awaits_a_request_to_its_peer<R: Runtime + Default>() {
    let server = bind::<R>(server_config()).await;
    server.route_async(ECHO, |peer, message: Message| async move {
        let asked = peer.request(msg(DATA, "who?"), STEP).await?;
        Ok::<_, Error>(msg(
            ECHO,
            format!("{} says {}", text(&asked), text(&message)),
        ))
    });
    let client = connect::<R>(client_config(server.local_addr())).await;
    client.route(DATA, |_, _| msg(DATA, "client"));
    let reply = within::<R, _>(STEP, "request", client.request(msg(ECHO, "hello"), STEP))
        .await
        .expect("answered after the inner request");
    assert_eq!(text(&reply), "client says hello");
}
