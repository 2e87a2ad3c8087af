//! `stats()` on the client, a server's peer and the server: the bytes and
//! frames of a known exchange, round-trip times, requests pending and timed
//! out, reconnections.

use std::time::Duration;

use veltix_core::frame::HEADER_LEN;
use veltix_driver::{ConnectionConfig, Error, Reconnect, Runtime, Stats};

use crate::support::{
    DATA, ECHO, STEP, client_config, connect, echo_server, eventually, fast_connection, msg,
    server_config, within,
};

/// Requests in the known exchange, and their payload size.
const REQUESTS: u64 = 10;
const PAYLOAD: usize = 64;

/// No keep-alives: nothing but the test's own frames moves.
fn quiet() -> ConnectionConfig {
    let mut connection = fast_connection();
    connection.heartbeat_interval = None;
    connection.idle_timeout = None;
    connection
}

fn delta(after: &Stats, before: &Stats) -> (u64, u64, u64, u64) {
    (
        after.frames_out - before.frames_out,
        after.bytes_out - before.bytes_out,
        after.frames_in - before.frames_in,
        after.bytes_in - before.bytes_in,
    )
}

/// Ten 64-byte requests are ten frames of header + 64 bytes each way, on
/// the client, on the server's peer and in the server's totals; each
/// answer gives a round-trip time; a request left unanswered is counted
/// as timed out; nothing is pending or queued once all is answered.
pub async fn stats_count_a_known_exchange<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config().connection(quiet())).await;
    let client = connect::<R>(client_config(server.local_addr()).connection(quiet())).await;
    let mut peer = None;
    eventually::<R>(STEP, "the peer is listed", || {
        peer = server.peers().into_iter().next();
        peer.is_some()
    })
    .await;
    let peer = peer.expect("listed");
    // The handshake is over once each side has counted what the other sent.
    eventually::<R>(STEP, "the handshake is counted", || {
        let (c, p) = (client.stats(), peer.stats());
        c.frames_out == p.frames_in && p.frames_out == c.frames_in && c.bytes_out == p.bytes_in
    })
    .await;
    let (client_before, peer_before, server_before) =
        (client.stats(), peer.stats(), server.stats());
    assert_eq!(client_before.last_rtt, None, "no request or ping yet");

    for i in 0..REQUESTS {
        let payload = vec![u8::try_from(i).expect("small"); PAYLOAD];
        let reply = within::<R, _>(
            STEP,
            "request",
            client.request(msg(ECHO, payload.clone()), STEP),
        )
        .await
        .expect("request");
        assert_eq!(&reply.payload()[..], &payload[..]);
    }
    let frame = (HEADER_LEN + PAYLOAD) as u64;
    let exchange = (REQUESTS, REQUESTS * frame, REQUESTS, REQUESTS * frame);
    eventually::<R>(STEP, "every frame of the exchange is counted", || {
        delta(&client.stats(), &client_before) == exchange
            && delta(&peer.stats(), &peer_before) == exchange
    })
    .await;
    let (c, p) = (client.stats(), peer.stats());
    assert_eq!(delta(&c, &client_before), exchange, "client: {c:?}");
    assert_eq!(delta(&p, &peer_before), exchange, "peer: {p:?}");
    assert_eq!(
        delta(&server.stats(), &server_before),
        exchange,
        "the server's totals"
    );
    assert!(c.last_rtt.is_some() && c.smoothed_rtt.is_some(), "{c:?}");
    assert_eq!((c.requests_pending, c.requests_timed_out), (0, 0));
    assert_eq!(
        (c.corrupt_frames, p.corrupt_frames, c.reconnects),
        (0, 0, 0)
    );
    eventually::<R>(STEP, "nothing left queued", || {
        client.stats().queued_bytes == 0 && peer.stats().queued_bytes == 0
    })
    .await;

    // The server's ping of the peer: a round-trip time on its side too.
    within::<R, _>(STEP, "server ping", server.ping(peer.id(), STEP))
        .await
        .expect("ping");
    eventually::<R>(STEP, "the ping's RTT", || {
        peer.stats().last_rtt.is_some() && server.stats().last_rtt.is_some()
    })
    .await;

    // A request nobody answers: the echo callback is replaced by one that
    // ignores everything.
    server.on_message(|_, _| {});
    let outcome = within::<R, _>(
        STEP,
        "unanswered request",
        client.request(msg(DATA, "no answer"), Duration::from_millis(200)),
    )
    .await;
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    eventually::<R>(STEP, "the timeout is counted", || {
        let c = client.stats();
        c.requests_timed_out == 1 && c.requests_pending == 0
    })
    .await;

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    // A peer's figures outlive it; the totals keep the peers gone.
    assert!(peer.is_closed());
    assert!(server.stats().frames_in >= peer.stats().frames_in);
}

/// A client's counters add up across its connections, and each
/// reconnection is counted.
pub async fn stats_count_reconnections<R: Runtime + Default>() {
    let server = echo_server::<R>(server_config()).await;
    let mut config = client_config(server.local_addr());
    let mut backoff = Reconnect::default();
    backoff.initial_delay = Duration::from_millis(50);
    backoff.max_delay = Duration::from_millis(200);
    config.reconnect = Some(backoff);
    let client = connect::<R>(config).await;
    within::<R, _>(STEP, "request", client.request(msg(ECHO, "one"), STEP))
        .await
        .expect("request");
    let first = client.stats();
    let peer = server.peers().into_iter().next().expect("listed");
    server
        .close_peer(peer.id(), "come back")
        .expect("close_peer");
    eventually::<R>(STEP, "reconnected", || {
        client.stats().reconnects == 1 && client.is_connected()
    })
    .await;
    let reply = within::<R, _>(STEP, "request", client.request(msg(ECHO, "two"), STEP)).await;
    assert!(reply.is_ok(), "{reply:?}");
    let second = client.stats();
    assert!(second.frames_out > first.frames_out && second.bytes_in > first.bytes_in);
    assert_eq!(second.reconnects, 1);
    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
