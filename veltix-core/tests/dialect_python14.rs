//! The Python 1.4 – 1.6 dialect (classic wire, server-first HELLO /
//! HELLO_ACK) on the two-peer harness with virtual time, and against
//! hand-made hostile frames. The expected HELLO payload comes from the real
//! Python Veltix 1.6.1 package (`data/python_vectors.json`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    Pair, Side, classic_frames, closed_reasons, dialect_config, events_of, python_hex, solo,
    wire_of,
};
use veltix_core::frame::EncodedFrame;
use veltix_core::{
    CloseCode, CloseReason, ConnectionConfig, Dialect, Event, HandshakeError, Message, MessageType,
    RequestId, Role,
};

fn py14() -> ConnectionConfig {
    dialect_config(Dialect::Python14)
}

fn app(code: u16, payload: &'static [u8]) -> Message {
    Message::new(
        MessageType::new(code).expect("user type"),
        Bytes::from_static(payload),
    )
}

fn frame(code: u16, id: RequestId, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(MessageType::from_code(code), payload.to_vec()).with_request_id(id);
    EncodedFrame::new(&m).expect("fits").to_bytes().to_vec()
}

/// `[u16 len][version]`, the HELLO / HELLO_ACK payload.
fn version_payload(version: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(version.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(version);
    out
}

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// A server's HELLO, written; returns its request id.
fn hello_id(server: &mut veltix_core::Connection) -> RequestId {
    let frames = classic_frames(&wire_of(server));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 10);
    RequestId::from_bytes(frames[0].1)
}

fn established() -> Pair {
    let mut p = Pair::new(py14(), py14());
    p.settle();
    p.take_events(Side::Client);
    p.take_events(Side::Server);
    p
}

#[test]
fn the_server_says_hello_and_the_client_acks_with_its_major_minor() {
    let mut p = Pair::new(py14(), py14());
    p.settle();
    let to_client = classic_frames(&p.wire_to_client);
    let to_server = classic_frames(&p.wire_to_server);
    assert_eq!(to_client.len(), 1, "{to_client:?}");
    assert_eq!(to_server.len(), 1, "{to_server:?}");
    let (hello, ack) = (&to_client[0], &to_server[0]);
    assert_eq!((hello.0, &hello.2[..]), (10, &b"\x00\x051.6.1"[..]));
    // Same request id; the client answers with the server's own major.minor.
    assert_eq!(
        (ack.0, ack.1, &ack.2[..]),
        (11, hello.1, &b"\x00\x051.6.0"[..])
    );
    assert_ne!(hello.1, [0; 16], "a fresh id");
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        assert!(
            matches!(&events[..], [Event::Connected(info)] if info.dialect == Dialect::Python14 && info.protocol_version.is_none() && !info.heartbeat),
            "{side:?}: {events:?}"
        );
    }
    assert_eq!(p.client.peer_version(), Some("1.6.1"));
    assert_eq!(p.server.peer_version(), Some("1.6.0"));
}

#[test]
fn announcing_1_6_0_gives_python_1_6_1s_own_hello_payload() {
    let mut config = py14();
    config.announce_version = Some("1.6.0".into());
    let (mut server, _) = solo(Role::Server, config);
    let frames = classic_frames(&wire_of(&mut server));
    assert_eq!(
        frames[0].2,
        python_hex(&["python14_handshake", "hello_payload_hex"])
    );
}

#[test]
fn an_ack_with_another_patch_is_accepted() {
    let (mut server, now) = solo(Role::Server, py14());
    let id = hello_id(&mut server);
    server.handle_input(now, &frame(11, id, &version_payload(b"1.6.0")));
    assert!(server.is_established());
    assert_eq!(server.peer_version(), Some("1.6.0"));
    assert!(matches!(&events_of(&mut server)[..], [Event::Connected(_)]));
}

#[test]
fn a_major_minor_mismatch_closes_without_a_word() {
    for theirs in ["1.4.2", "2.6.1", "1.5.0"] {
        let (mut server, now) = solo(Role::Server, py14());
        let id = hello_id(&mut server);
        server.handle_input(now, &frame(11, id, &version_payload(theirs.as_bytes())));
        assert_eq!(
            closed_reasons(&events_of(&mut server)),
            vec![CloseReason::PeerVersionMismatch {
                ours: "1.6.1".into(),
                theirs: theirs.into()
            }]
        );
        assert!(wire_of(&mut server).is_empty(), "{theirs}: said something");
    }
}

#[test]
fn a_hostile_hello_closes_the_client_with_a_typed_reason() {
    let cases: Vec<(Vec<u8>, HandshakeError)> = vec![
        (b"\x00\x02\xff\xfe".to_vec(), HandshakeError::VersionNotUtf8),
        (
            b"\x00\x05\xc3\x28.0.0".to_vec(),
            HandshakeError::VersionNotUtf8,
        ),
        (b"\x00".to_vec(), HandshakeError::Truncated),
        (b"\x00\x09short".to_vec(), HandshakeError::Truncated),
        (
            version_payload(b"abc"),
            HandshakeError::MalformedVersion("abc".into()),
        ),
        (
            version_payload(b"1.6"),
            HandshakeError::MalformedVersion("1.6".into()),
        ),
        (
            version_payload(b"VLTX"),
            HandshakeError::MalformedVersion("VLTX".into()),
        ),
    ];
    for (payload, err) in cases {
        let (mut client, now) = solo(Role::Client, py14());
        client.handle_input(now, &frame(10, RequestId::from_u128(7), &payload));
        assert_eq!(
            closed_reasons(&events_of(&mut client)),
            vec![CloseReason::Handshake(err)],
            "{payload:02x?}"
        );
        assert!(wire_of(&mut client).is_empty());
    }
}

#[test]
fn a_hostile_hello_ack_closes_the_server_with_a_typed_reason() {
    for (payload, err) in [
        (b"\x00\x02\xff\xfe".to_vec(), HandshakeError::VersionNotUtf8),
        (b"\x00\x09short".to_vec(), HandshakeError::Truncated),
        (Vec::new(), HandshakeError::Truncated),
    ] {
        let (mut server, now) = solo(Role::Server, py14());
        let id = hello_id(&mut server);
        server.handle_input(now, &frame(11, id, &payload));
        assert_eq!(
            closed_reasons(&events_of(&mut server)),
            vec![CloseReason::Handshake(err)],
            "{payload:02x?}"
        );
        assert!(wire_of(&mut server).is_empty());
    }
    // A version that parses but is not MAJOR.MINOR.PATCH is a mismatch, as in Python.
    let (mut server, now) = solo(Role::Server, py14());
    let id = hello_id(&mut server);
    server.handle_input(now, &frame(11, id, &version_payload(b"1.6")));
    assert_eq!(
        closed_reasons(&events_of(&mut server)),
        vec![CloseReason::PeerVersionMismatch {
            ours: "1.6.1".into(),
            theirs: "1.6".into()
        }]
    );
}

#[test]
fn a_long_version_is_kept_to_64_bytes() {
    let long = format!("1.6.{}", "0".repeat(1000));
    let (mut client, now) = solo(Role::Client, py14());
    client.handle_input(
        now,
        &frame(
            10,
            RequestId::from_u128(7),
            &version_payload(long.as_bytes()),
        ),
    );
    assert!(client.is_established());
    assert_eq!(client.peer_version().map(str::len), Some(64));
}

#[test]
fn anything_but_the_expected_handshake_frame_closes() {
    let (mut server, now) = solo(Role::Server, py14());
    let id = hello_id(&mut server);
    let other = RequestId::from_u128(99);
    server.handle_input(now, &frame(11, other, &version_payload(b"1.6.0")));
    assert_eq!(
        closed_reasons(&events_of(&mut server)),
        vec![CloseReason::Handshake(HandshakeError::WrongRequestId {
            expected: id,
            got: other
        })]
    );

    // A mismatched Python 1.6 client sends no HELLO_ACK, only its messages.
    let (mut server, now) = solo(Role::Server, py14());
    let _ = hello_id(&mut server);
    server.handle_input(now, &frame(200, RequestId::from_u128(1), b"hi"));
    let events = events_of(&mut server);
    assert!(messages(&events).is_empty());
    assert_eq!(
        closed_reasons(&events),
        vec![CloseReason::Handshake(HandshakeError::UnexpectedFrame {
            expected: MessageType::HELLO_ACK,
            got: MessageType::from_code(200)
        })]
    );

    let (mut client, now) = solo(Role::Client, py14());
    client.handle_input(now, &frame(0, RequestId::from_u128(1), b""));
    assert_eq!(
        closed_reasons(&events_of(&mut client)),
        vec![CloseReason::Handshake(HandshakeError::UnexpectedFrame {
            expected: MessageType::HELLO,
            got: MessageType::PING
        })]
    );
    assert!(
        wire_of(&mut client).is_empty(),
        "no PONG before the handshake"
    );
}

#[test]
fn requests_replies_and_ping_work() {
    let mut p = established();
    let before = p.wire_to_client.len();
    p.latency = Duration::from_millis(21);
    let now = p.now;
    let id = p
        .client
        .request(now, app(250, b"q"), Duration::from_secs(5))
        .expect("queued");
    let ping = p.server.ping(now, Duration::from_secs(5)).expect("queued");
    p.settle();
    let server = p.take_events(Side::Server);
    let q = messages(&server).pop().expect("request");
    assert_eq!(q.request_id(), id);
    assert_eq!(
        q.timestamp_ms(),
        common::WALL_START_MS + 10,
        "classic wire keeps the timestamp"
    );
    assert!(server.contains(&Event::Pong {
        request_id: ping,
        rtt: Duration::from_millis(42)
    }));
    let now = p.now;
    p.server.reply(now, &q, app(251, b"a")).expect("queued");
    p.settle();
    assert!(matches!(
        &p.take_events(Side::Client)[..],
        [Event::Response { request_id, message }] if *request_id == id && message.payload() == "a"
    ));
    // The server's PING and the client's PONG share the id.
    let to_client = classic_frames(&p.wire_to_client[before..]);
    assert_eq!((to_client[0].0, to_client[0].1), (0, *ping.as_bytes()));
}

#[test]
fn keep_alive_is_a_ping_never_a_heartbeat() {
    let mut p = established();
    let (hs_server, hs_client) = (p.wire_to_server.len(), p.wire_to_client.len());
    p.run_for(Duration::from_secs(60));
    assert!(p.client.is_established() && p.server.is_established());
    // Whichever side fell silent first pings every 10 s; the other answers.
    let mut frames = classic_frames(&p.wire_to_server[hs_server..]);
    frames.extend(classic_frames(&p.wire_to_client[hs_client..]));
    let ids = |code: u16| {
        let mut ids: Vec<[u8; 16]> = frames.iter().filter(|f| f.0 == code).map(|f| f.1).collect();
        ids.sort_unstable();
        ids
    };
    assert!(
        frames
            .iter()
            .all(|f| (f.0 == 0 || f.0 == 1) && f.2.is_empty()),
        "{frames:?}"
    );
    assert_eq!(ids(0).len(), 6);
    assert_eq!(ids(0), ids(1), "every PING answered with its id");
    assert!(p.take_events(Side::Client).is_empty() && p.take_events(Side::Server).is_empty());
}

#[test]
fn a_full_server_withdraws_its_hello_and_sends_an_error_frame() {
    let mut p = Pair::new(py14(), py14());
    let now = p.now;
    p.server
        .close(now, CloseCode::SERVER_FULL, "server is full");
    p.settle();
    let frames = classic_frames(&p.wire_to_client);
    assert_eq!(
        frames,
        vec![(20, [0; 16], b"\x00\x03server is full".to_vec())]
    );
    assert_eq!(
        closed_reasons(&p.take_events(Side::Client)),
        vec![CloseReason::Peer {
            code: CloseCode::SERVER_FULL,
            reason: "server is full".into()
        }]
    );
    assert!(p.wire_to_server.is_empty());
}

#[test]
fn an_orderly_close_before_the_handshake_sends_nothing() {
    let (mut server, now) = solo(Role::Server, py14());
    server.close(now, CloseCode::NORMAL, "no");
    assert!(wire_of(&mut server).is_empty(), "HELLO withdrawn, no ERROR");
}

#[test]
fn after_the_handshake_errors_are_announced_and_error_frames_delivered() {
    let mut p = established();
    // An ERROR frame from a Python peer is an application message to it.
    p.inject(Side::Client, &frame(20, RequestId::NIL, b"\x00\x07oops"));
    let events = p.take_events(Side::Client);
    assert_eq!(messages(&events)[0].message_type(), MessageType::ERROR);
    assert!(p.client.is_established());
    // Closing for an error says so with an ERROR frame; an orderly close does not.
    let before = p.wire_to_client.len();
    let now = p.now;
    p.server.close(now, CloseCode::PROTOCOL_VIOLATION, "bad");
    p.settle();
    let frames = classic_frames(&p.wire_to_client[before..]);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 20);

    let mut p = established();
    let before = p.wire_to_client.len();
    let now = p.now;
    p.server.close(now, CloseCode::NORMAL, "bye");
    p.settle();
    assert_eq!(p.wire_to_client.len(), before);
}

#[test]
fn a_handshake_frame_after_the_handshake_is_a_violation() {
    let mut p = established();
    p.inject(
        Side::Client,
        &frame(10, RequestId::from_u128(3), &version_payload(b"1.6.1")),
    );
    assert_eq!(
        closed_reasons(&p.take_events(Side::Client)),
        vec![CloseReason::ProtocolViolation(
            "handshake frame after the handshake"
        )]
    );
}

#[test]
fn a_silent_client_times_the_handshake_out() {
    let mut p = Pair::new(py14(), py14());
    p.deaf = Some(Side::Server);
    p.run_for(Duration::from_secs(11));
    assert_eq!(
        closed_reasons(&p.take_events(Side::Server)),
        vec![CloseReason::HandshakeTimeout]
    );
}
