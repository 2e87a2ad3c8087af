//! Backpressure towards a peer that does not read: `send().await` waits,
//! `try_send` answers `Full`, memory stays bounded, and everything arrives
//! in order once the peer reads again.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::time::{Duration, Instant};

use veltix_driver::{Error, Message, Runtime, SendError};

use crate::raw::RawPeer;
use crate::support::{
    BIG, DATA, STEP, big_payload, bind, client_config, connect, expect_connected, expect_message,
    finishes_within, msg, on_thread, read_numbered, server_config, sleep, spawn, within,
};

/// Calls `send` with numbered [`BIG`] payloads, each in a task of its own,
/// until one does not finish within 300 ms (it waits: backpressure); returns
/// how many finished and the one still waiting. Fails if 32 MiB go through
/// without a wait.
async fn send_until_it_waits<R, F>(
    send: impl Fn(Message) -> F,
) -> (u32, Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>)
where
    R: Runtime + Default,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    for accepted in 0..2048u32 {
        let mut sending = Box::pin(spawn::<R, _>(send(msg(DATA, big_payload(accepted)))));
        match finishes_within::<R, _>(Duration::from_millis(300), &mut sending).await {
            Some(result) => result.expect("send"),
            None => return (accepted, sending),
        }
    }
    panic!("send().await took 32 MiB for a peer that reads nothing without ever waiting");
}

/// Server → a peer that never reads: `send().await` waits (instead of
/// failing or queueing without bound), and once the peer reads, the waiting
/// send completes and everything arrives complete and in order.
pub async fn server_send_waits_for_a_non_reading_peer<R: Runtime + Default>() {
    let mut config = server_config();
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None; // the peer is silent on purpose
    let server = bind::<R>(config).await;
    let addr = server.local_addr();
    let mut events = server.events();

    // A legacy raw peer: one frame in, then it reads nothing until told.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading peer", move || {
        let mut raw = RawPeer::connect_with_recv_buffer(addr, 16 * 1024).expect("connect");
        raw.send(DATA, 1, b"hi").expect("send");
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return; // the test failed before it wanted the peer to read
        };
        read_numbered(&mut raw, expected);
    });
    let (peer, _, _) = expect_connected::<R>(&mut events).await;
    let _ = expect_message::<R>(&mut events).await;

    let handle = server.peer(peer).expect("connected");
    let (accepted, waiting) = send_until_it_waits::<R, _>(move |m| {
        let handle = handle.clone();
        async move { handle.send(m).await }
    })
    .await;
    go_tx.send(accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "the waiting send", waiting)
        .await
        .expect("the waiting send went through once the peer read");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Client → a server that never reads: the same on the client side.
pub async fn client_send_waits_for_a_non_reading_server<R: Runtime + Default>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u32>();
    let reader = on_thread::<R, _>(Duration::from_secs(20), "non-reading server", move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut raw = RawPeer::from_stream(stream);
        let Ok(expected) = go_rx.recv_timeout(Duration::from_secs(15)) else {
            return;
        };
        read_numbered(&mut raw, expected);
    });
    let mut config = client_config(addr).legacy(); // the raw server speaks no handshake
    config.connection.max_outbound_bytes = 256 * 1024;
    config.connection.idle_timeout = None;
    config.connection.heartbeat_interval = None;
    let client = connect::<R>(config).await;

    let sender = client.clone();
    let (accepted, waiting) = send_until_it_waits::<R, _>(move |m| {
        let sender = sender.clone();
        async move { sender.send(m).await }
    })
    .await;
    go_tx.send(accepted + 1).expect("reader alive");
    within::<R, _>(STEP, "the waiting send", waiting)
        .await
        .expect("the waiting send went through once the server read");
    within::<R, _>(Duration::from_secs(20), "reader", reader).await;
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
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
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
}
