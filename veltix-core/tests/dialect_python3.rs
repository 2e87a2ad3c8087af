//! The Python 3.x dialect (compact wire, JSON handshake) on the two-peer
//! harness with virtual time, and against hand-made hostile bytes. Expected
//! handshake bytes come from the real Python Veltix 3.3.0 package
//! (`data/python_vectors.json`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    Pair, Side, closed_reasons, compact_frames, dialect_config, events_of, python_hex, solo,
    wire_of,
};
use veltix_core::frame::EncodedFrame;
use veltix_core::wire::{DecodeError, Wire};
use veltix_core::{
    CloseCode, CloseReason, ConnectionConfig, Dialect, Event, HandshakeError, Message, MessageType,
    RequestId, Role, SendError,
};

fn py3() -> ConnectionConfig {
    dialect_config(Dialect::Python3)
}

fn app(code: u16, payload: &'static [u8]) -> Message {
    Message::new(
        MessageType::new(code).expect("user type"),
        Bytes::from_static(payload),
    )
}

fn greeting() -> Vec<u8> {
    python_hex(&["python3_handshake", "greeting_hex"])
}

fn result_ok() -> Vec<u8> {
    python_hex(&["python3_handshake", "result_ok_hex"])
}

/// One handshake message: `u16` length, then the text.
fn json(text: &str) -> Vec<u8> {
    let mut out = u16::try_from(text.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

fn compact(code: u16, id: u16, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(MessageType::from_code(code), payload.to_vec())
        .with_request_id(RequestId::from_compact(id));
    EncodedFrame::new_compact(&m)
        .expect("fits")
        .to_bytes()
        .to_vec()
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

/// An established pair; returns it with the handshake bytes of each
/// direction already on the wire.
fn established() -> (Pair, usize, usize) {
    let mut p = Pair::new(py3(), py3());
    p.settle();
    p.take_events(Side::Client);
    p.take_events(Side::Server);
    let (to_server, to_client) = (p.wire_to_server.len(), p.wire_to_client.len());
    (p, to_server, to_client)
}

#[test]
fn the_handshake_is_byte_for_byte_pythons() {
    let mut p = Pair::new(py3(), py3());
    p.settle();
    // Server first: the greeting, then {"result": "ok"}; the client answers
    // with the same keys (it also announces 3.3.0 by default).
    assert_eq!(p.wire_to_client, [greeting(), result_ok()].concat());
    assert_eq!(p.wire_to_server, greeting());
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        let [Event::Connected(info)] = &events[..] else {
            panic!("{side:?}: {events:?}")
        };
        assert_eq!(info.dialect, Dialect::Python3);
        assert_eq!(info.protocol_version, None);
        assert!(!info.authenticated && !info.heartbeat);
        assert_eq!(p.conn(side).peer_version(), Some("3.3.0"));
        assert_eq!(p.conn(side).wire(), Wire::Compact);
    }
}

#[test]
fn announced_versions_are_configurable_and_written_as_json_dumps_would() {
    let mut server = py3();
    server.announce_version = Some("9.9.9-rust \"q\" é".into());
    let mut client = py3();
    client.announce_version = Some("3.2.1".into());
    let mut p = Pair::new(client, server);
    p.settle();
    let want = json(r#"{"v": "9.9.9-rust \"q\" é", "pv": "1.0", "meta": {}}"#);
    assert_eq!(&p.wire_to_client[..want.len()], &want[..]);
    assert_eq!(p.client.peer_version(), Some("9.9.9-rust \"q\" é"));
    assert_eq!(p.server.peer_version(), Some("3.2.1"));
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn messages_sent_before_the_handshake_are_held_then_delivered_in_order() {
    let mut p = Pair::new(py3(), py3());
    let now = p.now;
    for payload in [&b"one"[..], b"two"] {
        p.client.send(now, app(200, payload)).expect("queued");
    }
    p.server.send(now, app(201, b"early")).expect("queued");
    // Nothing but the handshake leaves before it completes.
    p.run_for(Duration::from_millis(1));
    assert_eq!(p.wire_to_client, greeting());
    assert!(p.wire_to_server.is_empty());
    p.settle();
    let to_server: Vec<_> = messages(&p.take_events(Side::Server))
        .iter()
        .map(|m| m.payload().clone())
        .collect();
    assert_eq!(to_server, vec!["one", "two"]);
    let to_client = messages(&p.take_events(Side::Client));
    assert_eq!(to_client.len(), 1);
    assert_eq!(to_client[0].payload(), "early");
}

#[test]
fn requests_and_replies_carry_ids_from_each_sides_half() {
    let (mut p, hs_server, hs_client) = established();
    let now = p.now;
    let c = p
        .client
        .request(now, app(250, b"2+2"), Duration::from_secs(5))
        .expect("queued");
    let s = p
        .server
        .request(now, app(260, b"who?"), Duration::from_secs(5))
        .expect("queued");
    assert!(c.to_compact().is_some_and(|id| id < 32_768), "{c}");
    assert!(
        s.to_compact()
            .is_some_and(|id| (32_768..62_768).contains(&id)),
        "{s}"
    );
    p.settle();
    for (side, id, answer) in [(Side::Server, c, &b"4"[..]), (Side::Client, s, b"me")] {
        let events = p.take_events(side);
        let [Event::Message(q)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(q.request_id(), id);
        assert_eq!(q.timestamp_ms(), 0, "the compact wire has no timestamp");
        let q = q.clone();
        let now = p.now;
        p.conn(side)
            .reply(now, &q, Message::new(MessageType::from_code(251), answer))
            .expect("queued");
    }
    p.settle();
    let client = p.take_events(Side::Client);
    assert!(
        matches!(&client[..], [Event::Response { request_id, message }] if *request_id == c && message.payload() == "4"),
        "{client:?}"
    );
    let server = p.take_events(Side::Server);
    assert!(
        matches!(&server[..], [Event::Response { request_id, message }] if *request_id == s && message.payload() == "me"),
        "{server:?}"
    );
    // On the wire: the request and the reply with the client's id, as Python reads them.
    let c = c.to_compact().expect("16-bit");
    let s = s.to_compact().expect("16-bit");
    assert_eq!(
        compact_frames(&p.wire_to_server[hs_server..]),
        vec![(250, c, b"2+2".to_vec()), (251, s, b"me".to_vec())]
    );
    assert_eq!(
        compact_frames(&p.wire_to_client[hs_client..]),
        vec![(260, s, b"who?".to_vec()), (251, c, b"4".to_vec())]
    );
}

#[test]
fn ping_measures_the_round_trip_and_the_pong_echoes_the_id() {
    let (mut p, _, hs_client) = established();
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
    assert!(p.take_events(Side::Server).is_empty(), "PING surfaced");
    let id = id.to_compact().expect("16-bit");
    // 56 58 | 00 | 00 01 | 00000000 | 00000000 | id: PONG, empty, CRC 0.
    let mut pong = b"VX\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    pong.extend_from_slice(&id.to_be_bytes());
    assert_eq!(&p.wire_to_client[hs_client..], &pong[..]);
}

#[test]
fn keep_alive_is_a_ping_that_python_answers_with_a_pong() {
    let (mut p, hs_server, hs_client) = established();
    p.run_for(Duration::from_secs(60));
    assert!(p.client.is_established() && p.server.is_established());
    let to_server = compact_frames(&p.wire_to_server[hs_server..]);
    let to_client = compact_frames(&p.wire_to_client[hs_client..]);
    // Every 10 s of silence the client pings; each ping is answered, which
    // also keeps the server from pinging on its own.
    assert_eq!(to_server.len(), 6, "{to_server:?}");
    assert!(
        to_server
            .iter()
            .all(|(code, _, payload)| *code == 0 && payload.is_empty())
    );
    let pings: Vec<u16> = to_server.iter().map(|f| f.1).collect();
    let pongs: Vec<u16> = to_client.iter().map(|f| f.1).collect();
    assert!(to_client.iter().all(|(code, _, _)| *code == 1));
    assert_eq!(pings, pongs);
    assert_eq!(p.client.stats().unmatched_pongs, 6);
    assert!(p.take_events(Side::Client).is_empty());
    assert!(p.take_events(Side::Server).is_empty());
}

#[test]
fn a_full_server_sends_exactly_pythons_refusal_and_no_greeting() {
    let mut p = Pair::new(py3(), py3());
    let now = p.now;
    p.server
        .close(now, CloseCode::SERVER_FULL, "server is full");
    p.settle();
    assert_eq!(
        p.wire_to_client,
        python_hex(&["python3_handshake", "server_full_hex"])
    );
    assert!(p.wire_to_server.is_empty(), "the client answers nothing");
    assert_eq!(
        closed_reasons(&p.take_events(Side::Client)),
        vec![CloseReason::Peer {
            code: CloseCode::SERVER_FULL,
            reason: "server_full".into()
        }]
    );
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn a_server_full_after_the_greeting_left_still_refuses() {
    let (mut server, now) = solo(Role::Server, py3());
    assert_eq!(wire_of(&mut server), greeting(), "greeting written");
    server.close(now, CloseCode::SERVER_FULL, "server is full");
    let refusal = wire_of(&mut server);
    assert_eq!(refusal, json(r#"{"error": "server_full"}"#));
    // A client that already answered the greeting reads it in place of "ok".
    let (mut client, now) = solo(Role::Client, py3());
    client.handle_input(now, &greeting());
    assert_eq!(wire_of(&mut client), greeting());
    client.handle_input(now, &refusal);
    assert_eq!(
        closed_reasons(&events_of(&mut client)),
        vec![CloseReason::Peer {
            code: CloseCode::SERVER_FULL,
            reason: "server_full".into()
        }]
    );
}

#[test]
fn other_closes_send_nothing_before_or_after_the_handshake() {
    let (mut server, now) = solo(Role::Server, py3());
    server.close(now, CloseCode::NORMAL, "changed my mind");
    assert!(wire_of(&mut server).is_empty(), "greeting withdrawn");

    let (mut p, _, hs_client) = established();
    let now = p.now;
    p.server.close(now, CloseCode::SHUTDOWN, "bye");
    p.settle();
    // Python 3.x knows no ERROR frame: it would drop it as an unknown type.
    assert_eq!(p.wire_to_client.len(), hs_client);
    p.client.handle_transport_closed();
    assert_eq!(
        closed_reasons(&p.take_events(Side::Client)),
        vec![CloseReason::TransportClosed]
    );
}

#[test]
fn a_pv_of_another_major_closes_without_a_word() {
    let (mut server, now) = solo(Role::Server, py3());
    let _ = wire_of(&mut server);
    server.handle_input(now, &json(r#"{"v": "4.0.0", "pv": "2.0", "meta": {}}"#));
    assert_eq!(
        closed_reasons(&events_of(&mut server)),
        vec![CloseReason::PeerVersionMismatch {
            ours: "1.0".into(),
            theirs: "2.0".into()
        }]
    );
    assert!(wire_of(&mut server).is_empty(), "no ok, no error frame");

    let (mut client, now) = solo(Role::Client, py3());
    client.handle_input(now, &json(r#"{"v": "4.0.0", "pv": "2.7", "meta": {}}"#));
    assert!(matches!(
        &closed_reasons(&events_of(&mut client))[..],
        [CloseReason::PeerVersionMismatch { theirs, .. }] if theirs == "2.7"
    ));
    assert!(wire_of(&mut client).is_empty(), "the client never answered");

    // The minor is informational, as in Python.
    let (mut client, now) = solo(Role::Client, py3());
    client.handle_input(
        now,
        &json(r#"{"v": "3.9.0", "pv": "1.9", "meta": {"x": 1}}"#),
    );
    assert_eq!(wire_of(&mut client), greeting());
    client.handle_input(now, &result_ok());
    assert!(client.is_established());
}

#[test]
fn hostile_handshake_messages_close_with_a_typed_reason() {
    let deep = format!(
        r#"{{"pv": "1.0", "x": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(Vec<u8>, HandshakeError)> = vec![
        // Refused on the length prefix alone, before the body is buffered.
        (
            vec![0x78, 0x01],
            HandshakeError::TooLarge {
                len: 30_721,
                max: 30_720,
            },
        ),
        (
            vec![0xff, 0xff],
            HandshakeError::TooLarge {
                len: 65_535,
                max: 30_720,
            },
        ),
        (json("[]"), HandshakeError::NotAnObject),
        (json("3"), HandshakeError::NotAnObject),
        (json(r#""pv""#), HandshakeError::NotAnObject),
        (json("{"), HandshakeError::InvalidJson),
        (json(""), HandshakeError::InvalidJson),
        (json(r#"{"pv": "1.0"} {}"#), HandshakeError::InvalidJson),
        (json(&deep), HandshakeError::InvalidJson),
        (
            [&[0, 6][..], b"{\"\xff\":1}"].concat(),
            HandshakeError::InvalidJson,
        ),
        (json("{}"), HandshakeError::MissingField("pv")),
        (json(r#"{"pv": 1.0}"#), HandshakeError::MissingField("pv")),
        (
            json(r#"{"pv": "one"}"#),
            HandshakeError::MalformedVersion("one".into()),
        ),
        (
            json(r#"{"pv": "1.0.0"}"#),
            HandshakeError::MalformedVersion("1.0.0".into()),
        ),
    ];
    for (bytes, err) in cases {
        for role in [Role::Server, Role::Client] {
            let (mut conn, now) = solo(role, py3());
            let before = wire_of(&mut conn);
            conn.handle_input(now, &bytes);
            assert_eq!(
                closed_reasons(&events_of(&mut conn)),
                vec![CloseReason::Handshake(err.clone())],
                "{role:?} {bytes:02x?}"
            );
            assert!(wire_of(&mut conn).is_empty(), "{role:?} answered {err}");
            assert_eq!(before.is_empty(), role == Role::Client);
        }
    }
}

#[test]
fn a_handshake_message_of_exactly_30_kib_is_accepted() {
    let head = r#"{"v": "3.3.0", "pv": "1.0", "meta": {"pad": ""#;
    let tail = r#""}}"#;
    let text = format!(
        "{head}{}{tail}",
        "a".repeat(30 * 1024 - head.len() - tail.len())
    );
    assert_eq!(text.len(), 30_720);
    let (mut server, now) = solo(Role::Server, py3());
    let _ = wire_of(&mut server);
    server.handle_input(now, &json(&text));
    assert!(server.is_established());
    assert_eq!(wire_of(&mut server), result_ok());
}

#[test]
fn the_handshake_survives_any_chunking() {
    for chunk in [1usize, 2, 7, 40] {
        let mut p = Pair::new(py3(), py3());
        p.chunker = Some(Box::new(move |_| chunk));
        let now = p.now;
        let id = p
            .client
            .request(now, app(300, b"split"), Duration::from_secs(5))
            .expect("queued");
        p.settle();
        let server = p.take_events(Side::Server);
        let q = messages(&server).pop().expect("the request arrived");
        assert_eq!(q.request_id(), id, "chunk {chunk}");
        let now = p.now;
        p.server
            .reply(now, &q, app(300, b"joined"))
            .expect("queued");
        p.settle();
        assert!(
            p.take_events(Side::Client)
                .iter()
                .any(|e| matches!(e, Event::Response { request_id, .. } if *request_id == id))
        );
    }
}

#[test]
fn frames_arriving_with_the_acknowledgement_are_read() {
    let (mut client, now) = solo(Role::Client, py3());
    client.handle_input(now, &greeting());
    let _ = wire_of(&mut client);
    let together = [result_ok(), compact(300, 32_768, b"early")].concat();
    client.handle_input(now, &together);
    let events = events_of(&mut client);
    assert!(matches!(events[0], Event::Connected(_)), "{events:?}");
    assert_eq!(messages(&events)[0].payload(), "early");
    assert_eq!(events.len(), 2);
}

#[test]
fn a_refusal_other_than_server_full_is_reported_as_refused() {
    for (text, reason) in [
        (r#"{"error": "maintenance"}"#, "maintenance"),
        (r#"{"error": 42}"#, "42"),
    ] {
        let (mut client, now) = solo(Role::Client, py3());
        client.handle_input(now, &json(text));
        assert_eq!(
            closed_reasons(&events_of(&mut client)),
            vec![CloseReason::Peer {
                code: CloseCode::REFUSED,
                reason: reason.into()
            }]
        );
    }
}

#[test]
fn an_answer_other_than_ok_closes() {
    let (mut client, now) = solo(Role::Client, py3());
    client.handle_input(now, &greeting());
    client.handle_input(now, &json(r#"{"result": "no"}"#));
    assert_eq!(
        closed_reasons(&events_of(&mut client)),
        vec![CloseReason::Handshake(HandshakeError::NotAcknowledged)]
    );
}

#[test]
fn a_silent_server_times_the_handshake_out() {
    let (mut client, start) = solo(Role::Client, py3());
    assert_eq!(client.poll_timeout(), Some(start + Duration::from_secs(10)));
    client.handle_timeout(start + Duration::from_secs(10));
    assert_eq!(
        closed_reasons(&events_of(&mut client)),
        vec![CloseReason::HandshakeTimeout]
    );
    assert!(wire_of(&mut client).is_empty());
}

#[test]
fn compact_ids_wrap_and_skip_those_still_pending() {
    let (mut p, _, _) = established();
    let now = p.now;
    let empty = || app(200, b"");
    // Client: request 0 stays pending; 1..=32767 are plain sends; the
    // allocator wraps, skips 0 and hands out 1 again.
    let pending = p
        .client
        .request(now, empty(), Duration::from_secs(3600))
        .expect("queued");
    assert_eq!(pending.to_compact(), Some(0));
    for want in 1..32_768u16 {
        let id = p.client.send(now, empty()).expect("room");
        assert_eq!(id.to_compact(), Some(want));
    }
    assert_eq!(
        p.client.send(now, empty()).expect("room").to_compact(),
        Some(1)
    );
    // Server: the ping 32768 stays pending through 30 000 ids.
    let ping = p
        .server
        .ping(now, Duration::from_secs(3600))
        .expect("queued");
    assert_eq!(ping.to_compact(), Some(32_768));
    for want in 32_769..62_768u16 {
        let id = p.server.send(now, empty()).expect("room");
        assert_eq!(id.to_compact(), Some(want));
    }
    assert_eq!(
        p.server.send(now, empty()).expect("room").to_compact(),
        Some(32_769)
    );
}

#[test]
fn a_reply_to_a_wide_id_is_refused_on_the_compact_wire() {
    let (mut p, _, _) = established();
    let now = p.now;
    let wide = RequestId::from_u128(1 << 16);
    assert_eq!(
        p.server.reply_to(now, wide, app(200, b"x")),
        Err(SendError::RequestIdNotCompact { request_id: wide })
    );
}

#[test]
fn a_broadcast_frame_is_re_encoded_for_the_wire_and_given_a_fresh_id() {
    let (mut p, _, hs_client) = established();
    let now = p.now;
    let classic = EncodedFrame::new(&app(400, b"to all")).expect("fits");
    p.server.send_frame(now, classic).expect("queued");
    assert_eq!(p.server.stats().frames_reencoded, 1);
    let own_id = app(401, b"mine").with_request_id(RequestId::from_compact(5));
    let compact_frame = Wire::Compact.encode(&own_id).expect("fits");
    p.server.send_frame(now, compact_frame).expect("queued");
    assert_eq!(p.server.stats().frames_reencoded, 1, "already compact");
    p.settle();
    let frames = compact_frames(&p.wire_to_client[hs_client..]);
    assert_eq!(frames.len(), 2);
    assert_eq!((frames[0].0, &frames[0].2[..]), (400, &b"to all"[..]));
    assert!((32_768..62_768).contains(&frames[0].1), "{}", frames[0].1);
    assert_eq!(frames[1], (401, 5, b"mine".to_vec()));
    assert_eq!(messages(&p.take_events(Side::Client)).len(), 2);
}

#[test]
fn garbage_and_a_corrupt_frame_are_dropped_and_the_connection_lives() {
    let (mut p, _, _) = established();
    let mut corrupt = compact(200, 3, b"hello");
    *corrupt.last_mut().expect("payload") ^= 1;
    let stream = [
        b"xyz".to_vec(),
        compact(200, 1, b"first"),
        corrupt,
        compact(200, 2, b"second"),
    ]
    .concat();
    p.inject(Side::Server, &stream);
    let events = p.take_events(Side::Server);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[0],
        Event::FrameDropped(DecodeError::BadMagic { skipped: 3 })
    );
    assert!(
        matches!(&events[2], Event::FrameDropped(DecodeError::HashMismatch { request_id, payload_len: 5, .. }) if *request_id == RequestId::from_compact(3))
    );
    let got: Vec<_> = messages(&events)
        .iter()
        .map(|m| m.payload().clone())
        .collect();
    assert_eq!(got, vec!["first", "second"]);
    let stats = p.server.stats();
    assert_eq!(
        (stats.resyncs, stats.bytes_skipped, stats.hash_mismatches),
        (1, 3, 1)
    );
    assert!(p.server.is_established());
}

#[test]
fn an_oversized_length_closes_without_an_error_frame() {
    let mut server = py3();
    server.max_payload = 1024;
    let mut p = Pair::new(py3(), server);
    p.settle();
    p.take_events(Side::Server);
    let sent = p.wire_to_client.len();
    let mut header = compact(200, 0, b"");
    header[5..9].copy_from_slice(&1025u32.to_be_bytes());
    p.inject(Side::Server, &header);
    assert_eq!(
        closed_reasons(&p.take_events(Side::Server)),
        vec![CloseReason::Decode(DecodeError::PayloadTooLarge {
            len: 1025,
            max: 1024
        })]
    );
    p.settle();
    assert_eq!(p.wire_to_client.len(), sent);
}
