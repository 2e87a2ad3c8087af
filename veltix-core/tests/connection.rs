//! The Connection state machine driven by the in-memory two-peer harness:
//! handshake, authentication, legacy peers, requests, ping, heartbeat, idle,
//! bounds and close — no sockets, no sleeps.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Pair, Side, closed_reasons, is_connected};
use veltix_core::frame::{DecodeError, EncodedFrame, payload_hash};
use veltix_core::{
    CloseCode, CloseReason, ConnectionConfig, Event, HandshakeMode, Message, MessageType,
    PreSharedKey, RequestError, RequestId, SendError,
};

fn app(code: u16, payload: &'static [u8]) -> Message {
    Message::new(
        MessageType::new(code).expect("user type"),
        Bytes::from_static(payload),
    )
}

fn messages(events: &[Event]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload().clone()),
            _ => None,
        })
        .collect()
}

fn legacy() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.handshake = HandshakeMode::Disabled;
    c
}

fn with_key(key: &[u8]) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.pre_shared_key = Some(PreSharedKey::new(key));
    c
}

fn frame(ty: u16, id: RequestId, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(MessageType::from_code(ty), payload.to_vec()).with_request_id(id);
    EncodedFrame::new(&m).expect("fits").to_bytes().to_vec()
}

#[test]
fn handshake_negotiates_version_and_heartbeat() {
    let mut p = Pair::default_configs();
    p.settle();
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        assert_eq!(events.len(), 1, "{side:?}: {events:?}");
        let Event::Connected(info) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(info.protocol_version, Some(1));
        assert!(info.heartbeat);
        assert!(!info.authenticated);
    }
    assert!(p.client.is_established() && p.server.is_established());
    // HELLO then HELLO_ACK on the wire, nothing else.
    assert_eq!(&p.wire_to_server[..2], &10u16.to_be_bytes());
    assert_eq!(&p.wire_to_client[..2], &11u16.to_be_bytes());
}

#[test]
fn messages_sent_before_the_handshake_are_held_then_delivered_in_order() {
    let mut p = Pair::default_configs();
    let now = p.now;
    for payload in [&b"one"[..], b"two", b"three"] {
        p.client
            .send(
                now,
                Message::new(MessageType::new(200).expect("user"), payload),
            )
            .expect("queued");
    }
    p.settle();
    assert_eq!(
        messages(&p.take_events(Side::Server)),
        vec!["one", "two", "three"]
    );
}

#[test]
fn version_mismatch_closes_both_sides_with_typed_errors() {
    let mut server = ConnectionConfig::default();
    server.protocol_versions = 2..=3;
    let mut p = Pair::new(ConnectionConfig::default(), server);
    p.settle();
    let server_closed = closed_reasons(&p.take_events(Side::Server));
    assert_eq!(
        server_closed,
        vec![CloseReason::VersionMismatch {
            ours_min: 2,
            ours_max: 3,
            theirs_min: 1,
            theirs_max: 1
        }]
    );
    let client_closed = closed_reasons(&p.take_events(Side::Client));
    assert!(
        matches!(&client_closed[..], [CloseReason::Peer { code, reason }] if *code == CloseCode::VERSION_MISMATCH && reason.contains("2..=3")),
        "{client_closed:?}"
    );
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn right_key_authenticates_both_sides() {
    let mut p = Pair::new(with_key(b"correct horse"), with_key(b"correct horse"));
    let now = p.now;
    p.client.send(now, app(200, b"after auth")).expect("queued");
    p.settle();
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        assert!(
            matches!(events.first(), Some(Event::Connected(info)) if info.authenticated),
            "{side:?}: {events:?}"
        );
        if side == Side::Server {
            assert_eq!(messages(&events), vec!["after auth"]);
        }
    }
    // The key never crosses the wire.
    let key = b"correct horse";
    for wire in [&p.wire_to_server, &p.wire_to_client] {
        assert!(!wire.windows(key.len()).any(|w| w == key));
    }
}

#[test]
fn wrong_key_closes_and_no_message_is_delivered() {
    let mut p = Pair::new(with_key(b"guess"), with_key(b"secret"));
    let now = p.now;
    p.client
        .send(now, app(200, b"should never arrive"))
        .expect("queued");
    p.settle();
    let client = p.take_events(Side::Client);
    let server = p.take_events(Side::Server);
    assert_eq!(
        closed_reasons(&client),
        vec![CloseReason::AuthFailed("the server's proof is wrong")]
    );
    assert!(messages(&server).is_empty());
    assert!(!server.iter().any(is_connected), "{server:?}");
    assert!(
        matches!(&closed_reasons(&server)[..], [CloseReason::Peer { code, .. }] if *code == CloseCode::AUTH_FAILED),
        "{server:?}"
    );
}

#[test]
fn a_forged_client_proof_is_refused_before_any_message() {
    let mut p = Pair::new(ConnectionConfig::default(), with_key(b"secret"));
    // Play a client by hand: a HELLO claiming a key, a made-up proof, a message.
    let mut hello = b"VLTX\x01\x00\x01\x00\x01\x00\x00\x00\x03".to_vec();
    hello.extend_from_slice(&[7; 32]);
    p.inject(Side::Server, &frame(10, RequestId::NIL, &hello));
    p.inject(Side::Server, &frame(12, RequestId::NIL, &[0; 32]));
    p.inject(Side::Server, &frame(200, RequestId::NIL, b"sneaky"));
    let server = p.take_events(Side::Server);
    assert_eq!(
        closed_reasons(&server),
        vec![CloseReason::AuthFailed("the client's proof is wrong")]
    );
    assert!(messages(&server).is_empty() && !server.iter().any(is_connected));
}

#[test]
fn a_client_without_the_key_is_refused() {
    let mut p = Pair::new(ConnectionConfig::default(), with_key(b"secret"));
    p.settle();
    assert_eq!(
        closed_reasons(&p.take_events(Side::Server)),
        vec![CloseReason::AuthFailed("the peer has no pre-shared key")]
    );
    assert!(matches!(
        &closed_reasons(&p.take_events(Side::Client))[..],
        [CloseReason::Peer { code, .. }] if *code == CloseCode::AUTH_FAILED
    ));
}

#[test]
fn a_key_without_the_handshake_is_refused_at_construction() {
    let mut config = with_key(b"secret");
    config.handshake = HandshakeMode::Disabled;
    let made = veltix_core::Connection::new(
        veltix_core::Role::Server,
        config,
        std::time::Instant::now(),
        0,
        [0; 32],
    );
    assert!(matches!(
        made,
        Err(veltix_core::ConfigError::KeyWithoutHandshake)
    ));
}

#[test]
fn a_client_with_a_key_refuses_a_server_without_one() {
    let mut p = Pair::new(with_key(b"secret"), ConnectionConfig::default());
    p.settle();
    assert_eq!(
        closed_reasons(&p.take_events(Side::Client)),
        vec![CloseReason::AuthFailed("the server did not prove the key")]
    );
}

#[test]
fn legacy_client_is_accepted_by_a_default_server() {
    let mut p = Pair::new(legacy(), ConnectionConfig::default());
    let now = p.now;
    p.client
        .send(now, app(200, b"hi from python"))
        .expect("queued");
    p.settle();
    let server = p.take_events(Side::Server);
    assert!(
        matches!(&server[0], Event::Connected(info) if info.protocol_version.is_none()),
        "{server:?}"
    );
    assert_eq!(messages(&server), vec!["hi from python"]);
    // The legacy side never saw a handshake frame.
    assert!(p.wire_to_client.is_empty());
}

#[test]
fn a_silent_legacy_peer_is_accepted_after_the_legacy_wait() {
    let mut p = Pair::new(legacy(), ConnectionConfig::default());
    p.run_for(Duration::from_millis(1999));
    assert!(!p.server.is_established());
    p.run_for(Duration::from_millis(2));
    assert!(p.server.is_established());
    let now = p.now;
    p.server.send(now, app(201, b"welcome")).expect("queued");
    p.settle();
    assert_eq!(messages(&p.take_events(Side::Client)), vec!["welcome"]);
}

#[test]
fn legacy_peers_are_refused_when_a_key_or_the_handshake_is_required() {
    let mut required = ConnectionConfig::default();
    required.handshake = HandshakeMode::Required;
    for (server, want) in [
        (required, CloseReason::ProtocolViolation("expected HELLO")),
        (
            with_key(b"k"),
            CloseReason::AuthFailed("a legacy peer cannot prove the pre-shared key"),
        ),
    ] {
        let mut p = Pair::new(legacy(), server);
        let now = p.now;
        p.client.send(now, app(200, b"x")).expect("queued");
        p.settle();
        let events = p.take_events(Side::Server);
        assert_eq!(closed_reasons(&events), vec![want]);
        assert!(messages(&events).is_empty());
    }
}

#[test]
fn legacy_peers_get_an_error_frame_for_errors_only() {
    for (code, sent) in [
        (CloseCode::NORMAL, false),
        (CloseCode::SHUTDOWN, false),
        (CloseCode::SERVER_FULL, true),
    ] {
        let mut p = Pair::new(legacy(), ConnectionConfig::default());
        let now = p.now;
        p.client.send(now, app(200, b"hi")).expect("queued");
        p.settle();
        let before = p.wire_to_client.len();
        let now = p.now;
        p.server.close(now, code, "bye");
        p.settle();
        let frames = &p.wire_to_client[before..];
        assert_eq!(!frames.is_empty(), sent, "{code:?}");
        if sent {
            assert_eq!(&frames[..2], &20u16.to_be_bytes());
        }
    }
}

#[test]
fn a_legacy_client_talks_to_a_legacy_server() {
    let mut p = Pair::new(legacy(), legacy());
    let now = p.now;
    let id = p
        .client
        .request(now, app(300, b"q"), Duration::from_secs(1))
        .expect("queued");
    p.settle();
    let server = p.take_events(Side::Server);
    let Some(Event::Message(q)) = server.iter().find(|e| matches!(e, Event::Message(_))) else {
        panic!("{server:?}")
    };
    assert_eq!(q.request_id(), id);
    let q = q.clone();
    let now = p.now;
    p.server.reply(now, &q, app(300, b"a")).expect("queued");
    p.settle();
    assert!(p
        .take_events(Side::Client)
        .iter()
        .any(|e| matches!(e, Event::Response { request_id, message } if *request_id == id && message.payload() == "a")));
}

/// The type codes of the frames in a byte stream.
fn frame_types(mut wire: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while wire.len() >= 62 {
        let len = u32::from_be_bytes(wire[2..6].try_into().expect("4 bytes")) as usize;
        types.push(u16::from_be_bytes([wire[0], wire[1]]));
        wire = &wire[(62 + len).min(wire.len())..];
    }
    types
}

fn established() -> Pair {
    let mut p = Pair::default_configs();
    p.settle();
    p.take_events(Side::Client);
    p.take_events(Side::Server);
    p
}

#[test]
fn request_is_answered_with_the_reply_carrying_its_id() {
    let mut p = established();
    let now = p.now;
    let id = p
        .client
        .request(now, app(250, b"2+2"), Duration::from_secs(5))
        .expect("queued");
    p.settle();
    let server = p.take_events(Side::Server);
    let [Event::Message(q)] = &server[..] else {
        panic!("{server:?}")
    };
    assert_eq!(q.request_id(), id);
    assert_eq!(
        q.timestamp_ms(),
        common::WALL_START_MS + 10,
        "header carries wall ms at send"
    );
    let q = q.clone();
    let now = p.now;
    p.server.reply(now, &q, app(251, b"4")).expect("queued");
    p.settle();
    let client = p.take_events(Side::Client);
    assert_eq!(client.len(), 1, "{client:?}");
    assert!(
        matches!(&client[0], Event::Response { request_id, message } if *request_id == id && message.payload() == "4")
    );
    assert_eq!(p.client.pending_requests(), 0);
}

#[test]
fn request_times_out_exactly_once_and_a_late_reply_is_an_ordinary_message() {
    let mut p = established();
    let t0 = p.now;
    let id = p
        .client
        .request(t0, app(250, b"slow"), Duration::from_millis(100))
        .expect("queued");
    p.run_for(Duration::from_millis(99));
    assert!(p.take_events(Side::Client).is_empty());
    p.run_for(Duration::from_millis(1));
    assert_eq!(
        p.take_events(Side::Client),
        vec![Event::RequestFailed {
            request_id: id,
            error: RequestError::TimedOut
        }]
    );
    let server = p.take_events(Side::Server);
    let [Event::Message(q)] = &server[..] else {
        panic!("{server:?}")
    };
    let q = q.clone();
    let now = p.now;
    p.server.reply(now, &q, app(251, b"late")).expect("queued");
    p.settle();
    let client = p.take_events(Side::Client);
    assert_eq!(messages(&client), vec!["late"]);
    assert_eq!(client.len(), 1);
}

#[test]
fn pending_requests_fail_the_moment_the_connection_closes() {
    let mut p = established();
    let now = p.now;
    let a = p
        .client
        .request(now, app(250, b"a"), Duration::from_secs(60))
        .expect("queued");
    let b = p.client.ping(now, Duration::from_secs(60)).expect("queued");
    p.settle();
    let now = p.now;
    p.server.close(now, CloseCode::NORMAL, "bye");
    p.settle();
    let client = p.take_events(Side::Client);
    let reason = CloseReason::Peer {
        code: CloseCode::NORMAL,
        reason: "bye".into(),
    };
    let closed = RequestError::ConnectionClosed(reason.clone());
    assert_eq!(
        client,
        vec![
            Event::Pong {
                request_id: b,
                rtt: Duration::from_millis(10)
            },
            Event::RequestFailed {
                request_id: a,
                error: closed
            },
            Event::Closed(reason),
        ]
    );
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn ping_rtt_is_the_virtual_time_elapsed_and_ping_never_reaches_the_app() {
    let mut p = established();
    p.latency = Duration::from_millis(37);
    let now = p.now;
    let id = p.client.ping(now, Duration::from_secs(1)).expect("queued");
    p.settle();
    assert_eq!(
        p.take_events(Side::Client),
        vec![Event::Pong {
            request_id: id,
            rtt: Duration::from_millis(74)
        }]
    );
    assert!(
        p.take_events(Side::Server).is_empty(),
        "PING surfaced on the server"
    );
    // The PONG carries the PING's id and an empty payload.
    let pong = &p.wire_to_client[p.wire_to_client.len() - 62..];
    assert_eq!(&pong[..2], &1u16.to_be_bytes());
    assert_eq!(&pong[2..6], &0u32.to_be_bytes());
    assert_eq!(&pong[6..38], &payload_hash(b""));
    assert_eq!(&pong[46..62], id.as_bytes());
}

#[test]
fn ping_times_out_when_no_pong_comes() {
    let mut p = established();
    let now = p.now;
    let id = p
        .client
        .ping(now, Duration::from_millis(3))
        .expect("queued");
    p.run_for(Duration::from_millis(20));
    let client = p.take_events(Side::Client);
    assert_eq!(
        client,
        vec![Event::RequestFailed {
            request_id: id,
            error: RequestError::TimedOut
        }]
    );
    assert_eq!(
        p.client.stats().unmatched_pongs,
        1,
        "the late PONG is counted"
    );
}

#[test]
fn heartbeats_flow_on_silence_and_keep_the_connection_open() {
    let mut p = established();
    let before = p.wire_to_server.len();
    p.run_for(Duration::from_secs(120));
    assert!(p.client.is_established() && p.server.is_established());
    let sent = &p.wire_to_server[before..];
    // Every 10 s of silence, one 62-byte HEARTBEAT frame.
    assert_eq!(sent.len(), 12 * 62, "{}", sent.len());
    assert!(sent.chunks(62).all(|f| f[..2] == 2u16.to_be_bytes()));
    assert!(p.take_events(Side::Client).is_empty());
}

#[test]
fn application_traffic_suppresses_heartbeats() {
    let mut p = established();
    let before = p.wire_to_server.len();
    for _ in 0..12 {
        let now = p.now;
        p.client.send(now, app(200, b"tick")).expect("queued");
        p.run_for(Duration::from_secs(5));
    }
    let sent = &p.wire_to_server[before..];
    assert_eq!(sent.len(), 12 * (62 + 4), "only the 12 ticks, no heartbeat");
    assert!(sent.chunks(66).all(|f| f[..2] == 200u16.to_be_bytes()));
}

#[test]
fn a_late_hello_from_a_peer_taken_for_legacy_still_negotiates() {
    let mut p = Pair::default_configs();
    p.latency = Duration::from_millis(2500); // the HELLO arrives after legacy_wait
    p.settle();
    let server = p.take_events(Side::Server);
    assert_eq!(server.len(), 2, "{server:?}");
    assert!(matches!(&server[0], Event::Connected(info) if info.protocol_version.is_none()));
    assert!(matches!(&server[1], Event::Connected(info) if info.protocol_version == Some(1)));
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn a_peer_with_a_short_idle_timeout_is_kept_fed() {
    // The server closes after 1 s without a frame; the client would only
    // heartbeat every 10 s, but learns the server's idle timeout in the handshake.
    let mut server = ConnectionConfig::default();
    server.idle_timeout = Some(Duration::from_secs(1));
    server.heartbeat_interval = Some(Duration::from_millis(300));
    let mut p = Pair::new(ConnectionConfig::default(), server);
    p.settle();
    p.run_for(Duration::from_secs(20));
    assert!(p.client.is_established() && p.server.is_established());
    let heartbeats = frame_types(&p.wire_to_server)
        .iter()
        .filter(|&&t| t == 2)
        .count();
    assert!(heartbeats >= 20 * 3 - 1, "{heartbeats} heartbeats in 20 s");
}

#[test]
fn legacy_peers_are_kept_alive_with_pings() {
    let mut p = Pair::new(legacy(), legacy());
    p.settle();
    p.take_events(Side::Server);
    p.run_for(Duration::from_secs(100));
    assert!(p.client.is_established() && p.server.is_established());
    let pings = p
        .wire_to_server
        .chunks(62)
        .filter(|f| f[..2] == 0u16.to_be_bytes())
        .count();
    assert!(pings >= 9, "{pings} pings");
    assert!(
        p.take_events(Side::Server).is_empty(),
        "keep-alive pings surfaced"
    );
}

#[test]
fn a_silent_peer_is_closed_by_the_idle_timeout() {
    let mut quiet = ConnectionConfig::default();
    quiet.heartbeat_interval = None;
    quiet.idle_timeout = None;
    let mut p = Pair::new(quiet, ConnectionConfig::default());
    p.settle();
    assert!(p.server.is_established());
    let server_info = p.server.peer_info().expect("established");
    assert!(
        !server_info.heartbeat,
        "the quiet client did not offer heartbeats"
    );
    // The client goes dead: nothing it sends reaches the server any more.
    p.deaf = Some(Side::Server);
    let t0 = p.now;
    p.run_for(Duration::from_secs(29));
    assert!(p.server.is_established());
    p.run_for(Duration::from_secs(2));
    let server = p.take_events(Side::Server);
    assert_eq!(closed_reasons(&server), vec![CloseReason::IdleTimeout]);
    assert!(p.now - t0 >= Duration::from_secs(30));
}

#[test]
fn a_peer_trickling_half_a_frame_is_closed_by_the_idle_timeout() {
    let mut silent = legacy();
    silent.heartbeat_interval = None;
    let mut p = Pair::new(silent, ConnectionConfig::default());
    // Only the bytes injected below reach the server's stream.
    p.deaf = Some(Side::Client);
    let whole = frame(200, RequestId::NIL, &[0xaa; 1000]);
    let start = p.now;
    // One byte every 5 s: never a whole frame.
    for byte in whole.iter().take(20) {
        p.inject(Side::Server, std::slice::from_ref(byte));
        p.run_for(Duration::from_secs(5));
        if p.server.is_closed() {
            break;
        }
    }
    assert_eq!(
        closed_reasons(&p.take_events(Side::Server)),
        vec![CloseReason::IdleTimeout]
    );
    assert!(p.now - start <= Duration::from_secs(35));
}

#[test]
fn pending_requests_are_bounded() {
    let mut config = ConnectionConfig::default();
    config.max_pending_requests = 4;
    let mut p = Pair::new(config, ConnectionConfig::default());
    p.settle();
    let now = p.now;
    for _ in 0..3 {
        p.client
            .request(now, app(200, b"r"), Duration::from_secs(1))
            .expect("room");
    }
    p.client.ping(now, Duration::from_secs(1)).expect("room");
    assert_eq!(
        p.client
            .request(now, app(200, b"r"), Duration::from_secs(1)),
        Err(SendError::TooManyPending { limit: 4 })
    );
    assert_eq!(
        p.client.ping(now, Duration::from_secs(1)),
        Err(SendError::TooManyPending { limit: 4 })
    );
    p.settle();
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.client.pending_requests(), 0);
    p.client
        .request(p.now, app(200, b"r"), Duration::from_secs(1))
        .expect("room again");
}

#[test]
fn outbound_bytes_are_bounded_and_free_up_when_written() {
    let mut config = ConnectionConfig::default();
    config.max_outbound_bytes = 1000;
    let mut p = Pair::new(config, ConnectionConfig::default());
    p.settle();
    let now = p.now;
    let mut accepted = 0;
    loop {
        match p.client.send(now, app(200, &[0; 100])) {
            Ok(_) => accepted += 1,
            Err(SendError::Full) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 100, "never full");
    }
    assert_eq!(accepted, 1000 / 162);
    assert!(p.client.queued_bytes() <= 1000);
    assert!(!p.client.can_send(100));
    p.settle();
    assert_eq!(messages(&p.take_events(Side::Server)).len(), accepted);
    assert!(p.client.can_send(100));
    // One frame larger than the whole bound still goes into an empty queue.
    p.client
        .send(p.now, app(200, &[0; 4000]))
        .expect("empty queue takes one frame");
}

#[test]
fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    let mut config = ConnectionConfig::default();
    config.max_outbound_bytes = 62 * 100;
    config.handshake = HandshakeMode::Disabled;
    let mut p = Pair::new(legacy(), config);
    let pings: Vec<u8> = (0..1000u32)
        .flat_map(|i| frame(0, RequestId::from_u128(i.into()), b""))
        .collect();
    // Feed the server directly and never collect what it wants to send.
    let now = p.now;
    p.server.handle_input(now, &pings);
    assert!(p.server.queued_bytes() <= 62 * 100);
    assert_eq!(p.server.stats().pongs_dropped, 900);
    assert!(p.server.is_established());
}

#[test]
fn an_oversized_length_closes_with_a_typed_error_and_tells_the_peer() {
    let mut config = ConnectionConfig::default();
    config.max_payload = 1024;
    let mut p = Pair::new(ConnectionConfig::default(), config);
    p.settle();
    p.take_events(Side::Server);
    let mut header = frame(200, RequestId::NIL, b"");
    header[2..6].copy_from_slice(&1025u32.to_be_bytes());
    p.inject(Side::Server, &header);
    let reasons = closed_reasons(&p.take_events(Side::Server));
    assert_eq!(reasons.len(), 1);
    assert_eq!(
        reasons[0],
        CloseReason::Decode(DecodeError::PayloadTooLarge {
            len: 1025,
            max: 1024
        })
    );
    p.settle();
    assert!(matches!(
        &closed_reasons(&p.take_events(Side::Client))[..],
        [CloseReason::Peer { code, .. }] if *code == CloseCode::PAYLOAD_TOO_LARGE
    ));
}

#[test]
fn a_corrupt_frame_is_dropped_reported_and_the_next_one_delivered() {
    let mut p = established();
    let mut bad = frame(200, RequestId::NIL, b"hello");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    bad.extend_from_slice(&frame(200, RequestId::NIL, b"world"));
    p.inject(Side::Server, &bad);
    let events = p.take_events(Side::Server);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(events[0], Event::FrameDropped(_)));
    assert_eq!(messages(&events), vec!["world"]);
    assert_eq!(p.server.stats().hash_mismatches, 1);
    assert!(p.server.is_established());
}

#[test]
fn graceful_close_flushes_queued_messages_and_reports_closed_once() {
    let mut p = established();
    let now = p.now;
    for payload in [&b"a"[..], b"b", b"c"] {
        p.client
            .send(
                now,
                Message::new(MessageType::new(200).expect("user"), payload),
            )
            .expect("queued");
    }
    p.client.close(now, CloseCode::NORMAL, "done");
    p.client.close(now, CloseCode::NORMAL, "again"); // no second event
    assert!(matches!(
        p.client.send(now, app(200, b"d")),
        Err(SendError::Closed(CloseReason::Local { .. }))
    ));
    p.settle();
    let server = p.take_events(Side::Server);
    assert_eq!(messages(&server), vec!["a", "b", "c"]);
    assert_eq!(
        closed_reasons(&server),
        vec![CloseReason::Peer {
            code: CloseCode::NORMAL,
            reason: "done".into()
        }]
    );
    let client = p.take_events(Side::Client);
    assert_eq!(
        client,
        vec![Event::Closed(CloseReason::Local {
            code: CloseCode::NORMAL,
            reason: "done".into()
        })]
    );
    assert!(p.client.poll_transmit().is_none());
}

#[test]
fn transport_loss_fails_pending_requests() {
    let mut p = established();
    let now = p.now;
    let id = p
        .client
        .request(now, app(200, b"q"), Duration::from_secs(9))
        .expect("queued");
    p.client.handle_transport_closed();
    assert_eq!(
        p.take_events(Side::Client),
        vec![
            Event::RequestFailed {
                request_id: id,
                error: RequestError::ConnectionClosed(CloseReason::TransportClosed)
            },
            Event::Closed(CloseReason::TransportClosed),
        ]
    );
}

#[test]
fn cancelled_requests_report_nothing() {
    let mut p = established();
    let now = p.now;
    let id = p
        .client
        .request(now, app(200, b"q"), Duration::from_millis(50))
        .expect("queued");
    assert!(p.client.cancel(id));
    assert!(!p.client.cancel(id));
    p.run_for(Duration::from_secs(1));
    assert!(
        p.take_events(Side::Client)
            .iter()
            .all(|e| matches!(e, Event::Message(_)))
    );
}

#[test]
fn system_types_cannot_be_sent_by_the_application() {
    let mut p = established();
    let now = p.now;
    let ping = Message::new(MessageType::PING, "x");
    assert!(matches!(
        p.client.send(now, ping.clone()),
        Err(SendError::ReservedType(_))
    ));
    let frame = EncodedFrame::new(&ping).expect("fits");
    assert!(matches!(
        p.client.send_frame(now, frame),
        Err(SendError::ReservedType(_))
    ));
}

#[test]
fn a_broadcast_frame_is_shared_not_re_encoded() {
    let mut p = established();
    let msg = app(400, b"to everyone")
        .with_request_id(RequestId::from_u128(9))
        .with_timestamp_ms(5);
    let frame = EncodedFrame::new(&msg).expect("fits");
    p.client.send_frame(p.now, frame.clone()).expect("queued");
    p.settle();
    let server = p.take_events(Side::Server);
    assert_eq!(server, vec![Event::Message(msg)]);
    assert!(p.wire_to_server.ends_with(&frame.to_bytes()));
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let run = || {
        let mut p = Pair::new(with_key(b"k"), with_key(b"k"));
        let now = p.now;
        p.client
            .request(now, app(200, b"q"), Duration::from_secs(1))
            .expect("queued");
        p.client.ping(now, Duration::from_secs(1)).expect("queued");
        p.run_for(Duration::from_secs(25));
        (p.wire_to_server, p.wire_to_client)
    };
    let (a, b) = (run(), run());
    // Header timestamps are derived from the same anchor, so even they agree.
    assert_eq!(a, b);
}
