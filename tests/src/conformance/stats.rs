//! `stats()` on the client, a server's peer and the server: the bytes and
//! frames of a known exchange, round-trip times, requests pending and timed
//! out, reconnections; and the same through the `metrics` facade.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

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

/// The test recorder, installed once per test binary (before any server of
/// this test registers its handles).
fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder in the test binary");
        snapshotter
    })
}

/// What the recorder saw for the series labelled `server`, by (name,
/// role), added to `seen`. Taking a snapshot resets counters and gauges, so
/// the values are summed across snapshots (a gauge moved up and down sums
/// to its value); the `_seconds` gauges, which are set, keep the last.
fn record(seen: &mut HashMap<(String, String), f64>, server: &str) {
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        if label("server").as_deref() != Some(server) {
            continue;
        }
        let slot = seen
            .entry((key.name().to_owned(), label("role").unwrap_or_default()))
            .or_insert(0.0);
        match value {
            #[allow(clippy::cast_precision_loss)] // test counts are small
            DebugValue::Counter(n) => *slot += n as f64,
            DebugValue::Gauge(g) if key.name().ends_with("_seconds") => {
                if g.0 > 0.0 {
                    *slot = g.0;
                }
            }
            DebugValue::Gauge(g) => *slot += g.0,
            DebugValue::Histogram(_) => {}
        }
    }
}

fn value(seen: &HashMap<(String, String), f64>, name: &str, role: &str) -> f64 {
    seen.get(&(name.to_owned(), role.to_owned()))
        .copied()
        .unwrap_or(0.0)
}

/// Feature `metrics`: a server's and a client's counters and gauges reach
/// the installed recorder, labelled with the server's address and the
/// role, and agree with their `stats()`; the connection gauges go back to
/// zero once the connections end; a route's error is counted there too.
#[allow(clippy::cast_precision_loss)] // test counts are small
pub async fn metrics_record_into_a_test_recorder<R: Runtime + Default>() {
    let _ = recorder();
    let server = echo_server::<R>(server_config().connection(quiet())).await;
    server.route(DATA, |_, _| Err::<(), _>("metered failure"));
    let label = server.local_addr().to_string();
    let client = connect::<R>(client_config(server.local_addr()).connection(quiet())).await;
    within::<R, _>(STEP, "send", client.send(msg(DATA, "fails")))
        .await
        .expect("send");
    for i in 0..REQUESTS {
        let text = format!("metered {i}");
        within::<R, _>(STEP, "request", client.request(msg(ECHO, text), STEP))
            .await
            .expect("request");
    }
    let mut seen = HashMap::new();
    eventually::<R>(STEP, "the exchange reaches the recorder", || {
        record(&mut seen, &label);
        value(&seen, "veltix_frames_in", "server") >= (REQUESTS + 1) as f64
            && value(&seen, "veltix_frames_in", "client") >= REQUESTS as f64
            && value(&seen, "veltix_connections", "server") == 1.0
            && value(&seen, "veltix_connections", "client") == 1.0
            && value(&seen, "veltix_handler_errors", "server") == 1.0
    })
    .await;
    assert_eq!(server.stats().handler_errors, 1);
    assert_eq!(value(&seen, "veltix_handler_errors", "client"), 0.0);
    assert!(
        value(&seen, "veltix_rtt_seconds", "client") > 0.0,
        "{seen:?}"
    );
    assert!(value(&seen, "veltix_smoothed_rtt_seconds", "client") > 0.0);

    within::<R, _>(STEP, "client close", client.close())
        .await
        .expect("client close");
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    let (server_stats, client_stats) = (server.stats(), client.stats());
    eventually::<R>(STEP, "the recorder agrees with stats()", || {
        record(&mut seen, &label);
        let agrees = |role, stats: &Stats| {
            value(&seen, "veltix_bytes_in", role) == stats.bytes_in as f64
                && value(&seen, "veltix_bytes_out", role) == stats.bytes_out as f64
                && value(&seen, "veltix_frames_in", role) == stats.frames_in as f64
                && value(&seen, "veltix_frames_out", role) == stats.frames_out as f64
        };
        agrees("server", &server_stats)
            && agrees("client", &client_stats)
            && value(&seen, "veltix_connections", "server") == 0.0
            && value(&seen, "veltix_connections", "client") == 0.0
    })
    .await;
    assert_eq!(value(&seen, "veltix_requests_pending", "client"), 0.0);
    assert_eq!(value(&seen, "veltix_queued_bytes", "server"), 0.0);
    assert_eq!(value(&seen, "veltix_corrupt_frames", "server"), 0.0);
}
