//! Tests that show bugs in `veltix-driver`, found while writing the
//! conformance suite. They fail today; each one belongs in the conformance
//! suite once the driver is fixed (move its name from
//! [`driver_bugs_tests!`](crate::driver_bugs_tests) to
//! [`conformance_tests!`](crate::conformance_tests)).
//!
//! 1. **The command queue is not bounded.** `Link::command` and
//!    `Link::try_command` (`veltix-driver/src/link.rs`) clone the
//!    `futures::channel::mpsc::Sender` for every call. A futures sender
//!    always has one guaranteed slot of its own on top of the channel's
//!    buffer, so every fresh clone can send even when the buffer is full:
//!    `try_send` (`Server::try_send`, `Peer::try_send`, `Peer::try_reply`,
//!    `Client::try_send`) never answers `Full`, and a peer that does not
//!    read makes the server queue without limit (one run accepted 2 GiB in
//!    8 s). `send().await` is not affected in practice: its future waits in
//!    `poll_flush` until the driver has taken the message, so each waiting
//!    sender holds one message (the conformance tests
//!    `server_send_waits_for_a_non_reading_peer` and
//!    `client_send_waits_for_a_non_reading_server` pass). Tests:
//!    [`server_try_send_reports_full_for_a_non_reading_peer`],
//!    [`client_try_send_reports_full_for_a_non_reading_server`].
//! 2. **Closing drops messages already accepted by `send`.** The driver
//!    handles its control channel (close, cancel) before the command
//!    channel (`Driver::poll`: `poll_control`, then `poll_commands`), and
//!    `poll_commands` stops once the connection is closed. A close requested
//!    after `send().await` returned therefore overtakes the messages still in
//!    the command channel, and they are never written, although
//!    `Server::shutdown`, `Peer::close` and `Client::close` promise to flush
//!    what was queued. Tests: [`shutdown_flushes_every_accepted_message`],
//!    [`close_peer_flushes_every_accepted_message`],
//!    [`client_close_flushes_every_accepted_message`].
//! 3. **A server with callbacks for some events only leaks every peer that
//!    leaves once its event buffer is full.** Events without a callback go
//!    to the event stream; if nobody took it (`Server::events` never called,
//!    as in the demo, which only sets `on_message`), the receiver is kept in
//!    the server, so the channel fills up. A connection whose `Disconnected`
//!    event does not fit waits for room that never comes (`Driver::finished`
//!    needs the last event delivered): the socket of a peer that left is
//!    never closed, its task never ends, and `shutdown` times out. Each
//!    connection's sink holds its own `Sender` clone, so every peer gets one
//!    guaranteed slot and the stall starts at the first `Disconnected` that
//!    finds the buffer full: after about `event_capacity / 2` peers. Test:
//!    [`message_callback_alone_does_not_leak_closed_peers`].

use std::net::TcpListener;
use std::time::{Duration, Instant};

use veltix_driver::{ClientEvent, CloseCode, CloseReason, Error, Message, Runtime, SendError};

use crate::raw::RawPeer;
use crate::support::{
    BIG, DATA, STEP, big_payload, bind, client_config, connect, expect_connected, expect_message,
    finishes_within, msg, next_client_event, next_server_event, on_thread, read_numbered, seq_of,
    seq_payload, server_config, sleep, spawn, within,
};

/// Expands `$callback! { name, … }` with the name of every test in this module.
#[macro_export]
macro_rules! driver_bugs_tests {
    ($callback:ident) => {
        $callback! {
            server_try_send_reports_full_for_a_non_reading_peer,
            client_try_send_reports_full_for_a_non_reading_server,
            message_callback_alone_does_not_leak_closed_peers,
            shutdown_flushes_every_accepted_message,
            close_peer_flushes_every_accepted_message,
            client_close_flushes_every_accepted_message,
        }
    };
}

/// What [`fill_until_full`] learned.
struct Filled {
    accepted: u32,
    full_at: Instant,
}

/// Calls `try_send` with numbered 16 KiB payloads until it has answered
/// `Full` for 300 ms in a row (a transient `Full` while the driver catches
/// up is retried). Other errors fail the test.
async fn fill_until_full<R: Runtime + Default>(
    mut try_send: impl FnMut(Message) -> Result<(), Error>,
) -> Filled {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut accepted = 0u32;
    let mut full_since: Option<Instant> = None;
    loop {
        assert!(
            accepted < MAX_ACCEPTED,
            "try_send accepted {accepted} messages ({} MiB) for a peer that reads \
             nothing and never said Full: the command queue is not bounded",
            (accepted as usize * BIG) >> 20
        );
        assert!(
            Instant::now() < deadline,
            "try_send never stayed Full ({accepted} accepted)"
        );
        match try_send(msg(DATA, big_payload(accepted))) {
            Ok(()) => {
                accepted += 1;
                full_since = None;
            }
            Err(Error::Send(SendError::Full)) => {
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(300) {
                    return Filled {
                        accepted,
                        full_at: since,
                    };
                }
                sleep::<R>(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("try_send failed with {other:?}"),
        }
    }
}

/// Far more than the bounds can hold (command queue, outbound queue, kernel
/// buffers: a few MiB): 32 MiB of 16 KiB messages.
const MAX_ACCEPTED: u32 = 2048;

/// Server → a peer that never reads: `try_send` ends up answering
/// `Send(Full)` (memory stays bounded), `send().await` waits instead of
/// failing, and once the peer reads, everything arrives in order.
///
/// Fails today: `try_send` accepts without bound (see the module doc).
pub async fn server_try_send_reports_full_for_a_non_reading_peer<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None; // the peer is silent on purpose
    let server = bind::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();

    // A legacy raw peer: one frame in, then it stops reading until told.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading peer", move || {
        let mut raw = RawPeer::connect_with_recv_buffer(addr, 16 * 1024).expect("connect");
        raw.send(DATA, 1, b"hi").expect("send");
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return; // the test failed before it wanted the peer to read
        };
        read_numbered(&mut raw, expected);
    });
    let reader = Box::pin(reader);
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let _ = expect_message::<R>(&mut events).await;

    let filled = fill_until_full::<R>(|m| server.try_send(peer, m)).await;
    assert!(filled.accepted > 0);

    // send().await waits while the peer does not read …
    let waiting = {
        let server = server.clone();
        let n = filled.accepted;
        spawn::<R, _>(async move { server.send(peer, msg(DATA, big_payload(n))).await })
    };
    let mut waiting = Box::pin(waiting);
    assert!(
        finishes_within::<R, _>(Duration::from_millis(300), &mut waiting)
            .await
            .is_none(),
        "send().await returned although the peer reads nothing"
    );
    assert!(filled.full_at.elapsed() >= Duration::from_millis(300));
    // … and completes once it does.
    go_tx.send(filled.accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "waiting send", waiting)
        .await
        .expect("the waiting send went through");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Client → a server that never reads: the same backpressure on the client
/// side (`Client::try_send`, `Client::send`).
pub async fn client_try_send_reports_full_for_a_non_reading_server<R: Runtime + Default>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = Box::pin(on_thread::<R, _>(
        Duration::from_secs(20),
        "non-reading server",
        move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut raw = RawPeer::from_stream(stream);
            let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
                return; // the test failed before it wanted the server to read
            };
            read_numbered(&mut raw, expected);
        },
    ));
    let mut config = client_config(addr).legacy(); // the raw server speaks no handshake
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None;
    config.connection.heartbeat_interval = None;
    let client = connect::<R>(config).await;

    let filled = fill_until_full::<R>(|m| client.try_send(m)).await;
    assert!(filled.accepted > 0);
    let waiting = {
        let client = client.clone();
        let n = filled.accepted;
        spawn::<R, _>(async move { client.send(msg(DATA, big_payload(n))).await })
    };
    let mut waiting = Box::pin(waiting);
    assert!(
        finishes_within::<R, _>(Duration::from_millis(300), &mut waiting)
            .await
            .is_none(),
        "send().await returned although the server reads nothing"
    );
    go_tx.send(filled.accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "waiting send", waiting)
        .await
        .expect("the waiting send went through");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "client close", client.close()).await;
}

const FLUSH_N: u32 = 500;

/// Every message `Server::send` accepted before `shutdown` reaches the
/// client before it hears of the shutdown.
///
/// Fails today: the close overtakes the queued commands (bug 2).
pub async fn shutdown_flushes_every_accepted_message<R: Runtime + Default>() {
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
    let shutting_down = spawn::<R, _>({
        let server = server.clone();
        async move { server.shutdown().await }
    });
    let (received, reason) = count_until_disconnected::<R>(&mut client_events).await;
    assert_eq!(
        received, FLUSH_N,
        "messages accepted by send() before shutdown() were dropped"
    );
    assert_eq!(reason.code(), CloseCode::SHUTDOWN, "{reason:?}");
    within::<R, _>(STEP, "shutdown", shutting_down)
        .await
        .expect("shutdown");
}

/// Every message accepted before `close_peer` reaches the client before the close.
///
/// Fails today (bug 2).
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
///
/// Fails today (bug 2).
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
    within::<R, _>(STEP, "client close", client.close()).await;
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

/// A server with an `on_message` callback only (like the demo) whose event
/// stream nobody takes: the connect and disconnect events, which have no
/// callback, must not keep it from finishing the connections of peers that
/// left, nor from shutting down.
///
/// Fails today (bug 3).
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
