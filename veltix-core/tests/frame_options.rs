//! The native dialect's negotiated frame options — payload compression
//! (`ConnectionConfig::compression`) and hash skipping under an
//! authenticated transport (`ConnectionConfig::transport_authenticated`) —
//! in the two-peer harness: what is agreed with whom, what goes on the wire
//! byte by byte, what a hostile peer's compressed payload does, and that
//! every peer that does not agree (one side off, an older release, legacy,
//! the Python dialects) sees exactly the bytes it saw before.

mod common;

use bytes::Bytes;
use common::{Pair, Side, classic_frames, closed_reasons, is_connected, solo, wire_of};
use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use veltix_core::compression::{Algorithm, Compression, Compressor, DecompressError};
use veltix_core::frame::{
    DecodeError, Decoder, EncodedFrame, Encoder, FrameOptions, NO_HASH, TIMESTAMP_COMPRESSED,
    offset, payload_hash,
};
use veltix_core::{
    CloseCode, CloseReason, ConnectionConfig, Dialect, Event, HandshakeMode, Message, MessageType,
    PreSharedKey, RequestId, Role,
};

const HELLO: u16 = 10;
const HELLO_ACK: u16 = 11;
const FEATURE_HEARTBEAT: u32 = 0x1;
const FEATURE_COMPRESSION: u32 = 0x8;
const FEATURE_UNHASHED: u32 = 0x10;
const LZ4: u8 = 0x01;
/// The HELLO payload of a client without an id (`docs/protocol.md` §3.1).
const HELLO_LEN: usize = 49;

fn config(compress: bool, authenticated_transport: bool) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.compression = compress.then(Compression::default);
    c.transport_authenticated = authenticated_transport;
    c
}

/// JSON records: compresses about 3:1.
fn json(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 100);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                r#"{{"id": {i}, "user": "user_{:04}", "active": true}}, "#,
                i * 7 % 9973
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// Incompressible bytes.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn app(payload: impl Into<Bytes>) -> Message {
    Message::new(MessageType::new(200).expect("user type"), payload)
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

fn connected(events: &[Event]) -> veltix_core::PeerInfo {
    events
        .iter()
        .find_map(|e| match e {
            Event::Connected(info) => Some(*info),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not connected: {events:?}"))
}

/// Whole classic frames of a byte stream, as raw bytes.
fn raw_frames(mut wire: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let len = u32::from_be_bytes(wire[2..6].try_into().expect("4 bytes")) as usize;
        let (frame, rest) = wire.split_at(62 + len);
        out.push(frame);
        wire = rest;
    }
    out
}

fn timestamp(frame: &[u8]) -> u64 {
    u64::from_be_bytes(
        frame[offset::TIMESTAMP..offset::REQUEST_ID]
            .try_into()
            .expect("8 bytes"),
    )
}

fn hash_field(frame: &[u8]) -> &[u8] {
    &frame[offset::HASH..offset::TIMESTAMP]
}

/// A classic frame written by hand: `timestamp` as given (bit 63 is the
/// compressed flag between agreeing peers), and `hash` or the payload's.
fn hand_frame(ty: u16, timestamp: u64, payload: &[u8], hash: Option<[u8; 32]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&hash.unwrap_or_else(|| payload_hash(payload)));
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&[0x11; 16]);
    out.extend_from_slice(payload);
    out
}

/// The same script on any pair of configurations: the handshake, then
/// from each side a large JSON message, a small one and incompressible
/// bytes; returns the pair (events left in it).
fn scripted(client: ConnectionConfig, server: ConnectionConfig) -> Pair {
    let mut p = Pair::new(client, server);
    p.settle();
    let now = p.now;
    for side in [Side::Client, Side::Server] {
        let conn = p.conn(side);
        conn.send(now, app(json(8000))).expect("queued");
        conn.send(now, app(&b"small"[..])).expect("queued");
        conn.send(now, app(noise(5000))).expect("queued");
    }
    p.settle();
    p
}

fn assert_script_delivered(p: &mut Pair) {
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        assert_eq!(
            messages(&events),
            vec![
                Bytes::from(json(8000)),
                Bytes::from_static(b"small"),
                Bytes::from(noise(5000))
            ],
            "{side:?}"
        );
        assert!(closed_reasons(&events).is_empty(), "{side:?}: {events:?}");
    }
}

#[test]
fn both_offering_compression_agree_on_lz4_and_large_compressible_payloads_shrink() {
    let mut p = Pair::new(config(true, false), config(true, false));
    p.settle();
    for side in [Side::Client, Side::Server] {
        let info = connected(&p.take_events(side));
        assert_eq!(info.compression, Some(Algorithm::Lz4), "{side:?}");
        assert!(!info.hash_skipped);
    }
    let now = p.now;
    for side in [Side::Client, Side::Server] {
        let conn = p.conn(side);
        conn.send(now, app(json(8000))).expect("queued");
        conn.send(now, app(&b"small"[..])).expect("queued");
        conn.send(now, app(noise(5000))).expect("queued");
    }
    p.settle();
    assert_script_delivered(&mut p);
    for (wire, name) in [
        (&p.wire_to_server, "to server"),
        (&p.wire_to_client, "to client"),
    ] {
        let frames = raw_frames(wire);
        let app_frames: Vec<_> = frames
            .iter()
            .filter(|f| f[..2] == 200u16.to_be_bytes())
            .collect();
        assert_eq!(app_frames.len(), 3, "{name}");
        // JSON: flagged, [u32 8000][LZ4 block], hash of the compressed bytes.
        let big = app_frames[0];
        assert_ne!(timestamp(big) & TIMESTAMP_COMPRESSED, 0, "{name}");
        assert!(big.len() - 62 < 8000 / 2, "{name}: {}", big.len());
        assert_eq!(&big[62..66], &8000u32.to_be_bytes());
        assert_eq!(hash_field(big), payload_hash(&big[62..]));
        // Below the threshold, or not shrinking: as they are, flag clear.
        for plain in &app_frames[1..] {
            assert_eq!(timestamp(plain) & TIMESTAMP_COMPRESSED, 0, "{name}");
        }
        assert_eq!(app_frames[1].len(), 62 + 5);
        assert_eq!(app_frames[2].len(), 62 + 5000);
        // The timestamp is still the wall clock in the other 63 bits.
        assert_eq!(
            timestamp(big) & !TIMESTAMP_COMPRESSED,
            timestamp(app_frames[1])
        );
    }
    for side in [Side::Client, Side::Server] {
        let stats = p.conn(side).stats();
        assert_eq!((stats.frames_compressed, stats.frames_decompressed), (1, 1));
    }
}

/// The example of `docs/protocol.md` §4.1, byte for byte.
#[test]
fn the_documented_compressed_frame() {
    let id: RequestId = "12345678-9abc-def0-1234-56789abcdef0"
        .parse()
        .expect("valid id");
    let msg = app(b"hello ".repeat(200))
        .with_request_id(id)
        .with_timestamp_ms(1_764_000_000_123);
    let compressed = FrameOptions::default().with_compression(Some(Compression::default()));
    let frame = Encoder::new(compressed).encode(&msg).expect("fits");
    let block = "000004b0 6f68656c6c6f200600ffffffff956068656c6c6f20";
    let want = format!(
        "00c8 00000019 17022e885b62bba9e89e38b8de8452bd0b1d0c736f512f0a4a53c8e8c7587bbb \
         8000019ab697e87b 123456789abcdef0123456789abcdef0 {block}"
    );
    assert_eq!(hex::encode(frame.to_bytes()), want.replace(' ', ""));
    // Both options: the same with a zero hash field.
    let frame = Encoder::new(compressed.with_skip_hash(true))
        .encode(&msg)
        .expect("fits");
    let want = format!(
        "00c8 00000019 {} 8000019ab697e87b 123456789abcdef0123456789abcdef0 {block}",
        "00".repeat(32)
    );
    assert_eq!(hex::encode(frame.to_bytes()), want.replace(' ', ""));
    // And it reads back.
    let mut decoder = Decoder::with_options(1 << 20, compressed);
    let mut buf = bytes::BytesMut::from(&frame.to_bytes()[..]);
    decoder.set_options(compressed.with_skip_hash(true));
    assert_eq!(decoder.decode(&mut buf), Ok(Some(msg)));
}

#[test]
fn received_timestamps_lose_the_flag_and_keep_the_clock() {
    let mut p = Pair::new(config(true, false), config(true, false));
    p.settle();
    let now = p.now;
    p.client.send(now, app(json(4000))).expect("queued");
    p.settle();
    let events = p.take_events(Side::Server);
    let msg = events
        .iter()
        .find_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .expect("delivered");
    assert_eq!(msg.timestamp_ms(), p.client.wall_ms(now));
}

#[test]
fn the_threshold_is_each_senders_own() {
    let mut low = Compression::default();
    low.threshold = 100;
    let mut client = config(true, false);
    client.compression = Some(low);
    let mut p = Pair::new(client, config(true, false));
    p.settle();
    let now = p.now;
    p.client.send(now, app(json(500))).expect("queued");
    p.server.send(now, app(json(500))).expect("queued");
    p.settle();
    assert_eq!(p.client.stats().frames_compressed, 1, "client: 500 ≥ 100");
    assert_eq!(p.server.stats().frames_compressed, 0, "server: 500 < 1024");
    assert_eq!(messages(&p.take_events(Side::Server)), vec![json(500)]);
    assert_eq!(messages(&p.take_events(Side::Client)), vec![json(500)]);
}

#[test]
fn one_side_without_compression_changes_no_byte_after_the_offer() {
    let mut reference = scripted(config(false, false), config(false, false));
    assert_script_delivered(&mut reference);
    // The server offers, the client does not: nothing differs at all.
    let mut p = scripted(config(false, false), config(true, false));
    assert_script_delivered(&mut p);
    assert_eq!(p.wire_to_server, reference.wire_to_server);
    assert_eq!(p.wire_to_client, reference.wire_to_client);
    // The client offers, the server does not: only the HELLO differs (the
    // bit, and the algorithm byte after the idle timeout).
    let mut p = scripted(config(true, false), config(false, false));
    assert_script_delivered(&mut p);
    assert_eq!(p.wire_to_client, reference.wire_to_client);
    let (ours, theirs) = (
        raw_frames(&p.wire_to_server),
        raw_frames(&reference.wire_to_server),
    );
    assert_eq!(ours[1..], theirs[1..]);
    let hello = &classic_frames(&p.wire_to_server)[0].2;
    let plain = &classic_frames(&reference.wire_to_server)[0].2;
    assert_eq!(hello.len(), HELLO_LEN + 1);
    assert_eq!(hello[HELLO_LEN], LZ4);
    let features = u32::from_be_bytes(hello[9..13].try_into().expect("4 bytes"));
    assert_eq!(features, FEATURE_HEARTBEAT | FEATURE_COMPRESSION);
    assert_eq!(hello[..9], plain[..9]);
    assert_eq!(hello[13..HELLO_LEN], plain[13..]);
    for side in [Side::Client, Side::Server] {
        assert_eq!(p.conn(side).peer_info().and_then(|i| i.compression), None);
    }
}

#[test]
fn one_side_without_an_authenticated_transport_keeps_every_hash() {
    let mut reference = scripted(config(false, false), config(false, false));
    assert_script_delivered(&mut reference);
    let mut p = scripted(config(false, false), config(false, true));
    assert_script_delivered(&mut p);
    assert_eq!(p.wire_to_server, reference.wire_to_server);
    assert_eq!(p.wire_to_client, reference.wire_to_client);
    let mut p = scripted(config(false, true), config(false, false));
    assert_script_delivered(&mut p);
    assert_eq!(p.wire_to_client, reference.wire_to_client);
    let (ours, theirs) = (
        raw_frames(&p.wire_to_server),
        raw_frames(&reference.wire_to_server),
    );
    assert_eq!(ours[1..], theirs[1..]);
    let hello = &classic_frames(&p.wire_to_server)[0].2;
    assert_eq!(hello.len(), HELLO_LEN, "UNHASHED adds no field");
    let features = u32::from_be_bytes(hello[9..13].try_into().expect("4 bytes"));
    assert_eq!(features, FEATURE_HEARTBEAT | FEATURE_UNHASHED);
    for side in [Side::Client, Side::Server] {
        let info = p.conn(side).peer_info().expect("connected");
        assert!(!info.hash_skipped);
    }
}

#[test]
fn agreed_hash_skipping_writes_zeros_and_delivers_a_corrupted_payload_as_is() {
    let mut p = Pair::new(config(false, true), config(false, true));
    p.settle();
    for side in [Side::Client, Side::Server] {
        let info = connected(&p.take_events(side));
        assert!(info.hash_skipped, "{side:?}");
        assert_eq!(info.compression, None);
    }
    let now = p.now;
    p.client.send(now, app(json(3000))).expect("queued");
    p.client
        .ping(now, std::time::Duration::from_secs(1))
        .expect("queued");
    p.settle();
    let frames = raw_frames(&p.wire_to_server);
    // HELLO is hashed (nothing is agreed yet); everything after it is not.
    assert_eq!(hash_field(frames[0]), payload_hash(&frames[0][62..]));
    for frame in &frames[1..] {
        assert_eq!(hash_field(frame), NO_HASH);
    }
    let acks = raw_frames(&p.wire_to_client);
    assert_eq!(
        hash_field(acks[0]),
        payload_hash(&acks[0][62..]),
        "HELLO_ACK"
    );
    assert_eq!(hash_field(acks[1]), NO_HASH, "PONG");
    assert_eq!(messages(&p.take_events(Side::Server)), vec![json(3000)]);
    assert!(
        p.take_events(Side::Client)
            .iter()
            .any(|e| matches!(e, Event::Pong { .. }))
    );
    // A payload whose hash field is wrong: not checked, delivered as it is
    // (integrity is the transport's job now), neither dropped nor counted.
    p.inject(
        Side::Server,
        &hand_frame(201, 5, b"tampered", Some([0xab; 32])),
    );
    p.inject(Side::Server, &hand_frame(202, 5, b"real hash", None));
    let events = p.take_events(Side::Server);
    assert_eq!(messages(&events), vec!["tampered", "real hash"]);
    assert_eq!(p.server.stats().hash_mismatches, 0);
}

#[test]
fn without_agreement_a_corrupted_payload_is_still_dropped() {
    let mut p = Pair::new(config(false, true), config(false, false));
    p.settle();
    p.take_events(Side::Server);
    p.inject(
        Side::Server,
        &hand_frame(201, 5, b"tampered", Some([0xab; 32])),
    );
    let events = p.take_events(Side::Server);
    assert!(messages(&events).is_empty());
    assert!(matches!(
        events[..],
        [Event::FrameDropped(DecodeError::HashMismatch { .. })]
    ));
}

#[test]
fn compression_and_hash_skipping_together() {
    let mut p = scripted(config(true, true), config(true, true));
    for side in [Side::Client, Side::Server] {
        let info = p.conn(side).peer_info().expect("connected");
        assert_eq!(
            (info.compression, info.hash_skipped),
            (Some(Algorithm::Lz4), true)
        );
    }
    assert_script_delivered(&mut p);
    for wire in [&p.wire_to_server, &p.wire_to_client] {
        let frames = raw_frames(wire);
        let big = frames
            .iter()
            .find(|f| timestamp(f) & TIMESTAMP_COMPRESSED != 0)
            .expect("a compressed frame");
        assert_eq!(hash_field(big), NO_HASH);
        assert_eq!(&big[62..66], &8000u32.to_be_bytes());
    }
}

#[test]
fn messages_held_before_the_handshake_are_compressed_when_it_completes() {
    let mut p = Pair::new(config(true, false), config(true, false));
    let now = p.now;
    p.client.send(now, app(json(6000))).expect("held");
    p.client.send(now, app(&b"after"[..])).expect("held");
    p.settle();
    let frames = raw_frames(&p.wire_to_server);
    let big = frames
        .iter()
        .find(|f| f[..2] == 200u16.to_be_bytes())
        .expect("sent");
    assert_ne!(timestamp(big) & TIMESTAMP_COMPRESSED, 0);
    assert_eq!(hash_field(big), payload_hash(&big[62..]));
    assert_eq!(
        messages(&p.take_events(Side::Server)),
        vec![Bytes::from(json(6000)), Bytes::from_static(b"after")]
    );
    assert_eq!(p.client.stats().frames_compressed, 1);
}

#[test]
fn a_broadcast_frame_is_sent_as_encoded_and_its_timestamp_cannot_fake_the_flag() {
    let mut p = Pair::new(config(true, true), config(true, true));
    p.settle();
    // Encoded once for many peers, plain, with a timestamp whose bit 63 is
    // set (a careless caller's): sent uncompressed with its real hash, bit
    // 63 cleared so the peer does not read it as compressed.
    let msg = app(json(5000)).with_timestamp_ms(TIMESTAMP_COMPRESSED | 42);
    let frame = EncodedFrame::new(&msg).expect("fits");
    let now = p.now;
    p.client.send_frame(now, frame.clone()).expect("queued");
    p.settle();
    let sent = *raw_frames(&p.wire_to_server).last().expect("sent");
    assert_eq!(timestamp(sent), 42);
    assert_eq!(hash_field(sent), payload_hash(&json(5000)), "real hash");
    assert_eq!(&sent[62..], &json(5000)[..], "not compressed");
    let events = p.take_events(Side::Server);
    let got: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.timestamp_ms(), m.payload().clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![(42, Bytes::from(json(5000)))]);
    // Without the agreement the same frame goes out byte for byte.
    let mut p = Pair::default_configs();
    p.settle();
    let now = p.now;
    p.client.send_frame(now, frame.clone()).expect("queued");
    p.settle();
    assert_eq!(
        *raw_frames(&p.wire_to_server).last().expect("sent"),
        &frame.to_bytes()[..]
    );
}

/// A server with `max_payload` 64 KiB and compression agreed, fed
/// `payload` flagged as compressed (its hash valid unless `hash` is given).
fn server_fed(payload: &[u8], hash: Option<[u8; 32]>) -> (Pair, Vec<Event>) {
    let mut server = config(true, false);
    server.max_payload = 64 * 1024;
    let mut p = Pair::new(config(true, false), server);
    p.settle();
    p.take_events(Side::Server);
    p.inject(
        Side::Server,
        &hand_frame(200, TIMESTAMP_COMPRESSED | 7, payload, hash),
    );
    let events = p.take_events(Side::Server);
    (p, events)
}

fn decompress_error(events: &[Event]) -> DecompressError {
    match &closed_reasons(events)[..] {
        [CloseReason::Decode(DecodeError::Decompress { error, .. })] => *error,
        other => panic!("{other:?} in {events:?}"),
    }
}

#[test]
fn a_bomb_declaring_more_than_the_limit_is_refused_and_closes_with_code_5() {
    // 1 MiB of zeros in 4 KiB on the wire, declaring its true size: above
    // the receiver's 64 KiB.
    let bomb = Compressor::new()
        .compress(&vec![0; 1 << 20])
        .expect("shrinks");
    assert!(bomb.len() < 5000, "{}", bomb.len());
    let (mut p, events) = server_fed(&bomb, None);
    assert_eq!(
        decompress_error(&events),
        DecompressError::TooLarge {
            len: 1 << 20,
            max: 64 * 1024
        }
    );
    assert!(messages(&events).is_empty());
    let reason = p.server.close_reason().expect("closed").clone();
    assert_eq!(reason.code(), CloseCode::PAYLOAD_TOO_LARGE);
    p.settle();
    let client = closed_reasons(&p.take_events(Side::Client));
    assert!(
        matches!(&client[..], [CloseReason::Peer { code, .. }] if *code == CloseCode::PAYLOAD_TOO_LARGE),
        "{client:?}"
    );
}

#[test]
fn a_bomb_lying_about_its_size_stops_at_the_declared_size_and_closes_with_code_4() {
    // Declares 60 KiB (within the limit) but expands to 1 MiB.
    let mut bomb = Compressor::new()
        .compress(&vec![0; 1 << 20])
        .expect("shrinks")
        .to_vec();
    bomb[..4].copy_from_slice(&(60u32 * 1024).to_be_bytes());
    let (p, events) = server_fed(&bomb, None);
    assert_eq!(
        decompress_error(&events),
        DecompressError::ExpandsPast {
            declared: 60 * 1024
        }
    );
    assert_eq!(
        p.server.close_reason().expect("closed").code(),
        CloseCode::PROTOCOL_VIOLATION
    );
    // A size no LZ4 block of this length can reach: refused on the prefix.
    bomb[..4].copy_from_slice(&(64u32 * 1024).to_be_bytes());
    bomb.truncate(100);
    let (_, events) = server_fed(&bomb, None);
    assert_eq!(
        decompress_error(&events),
        DecompressError::Implausible {
            len: 64 * 1024,
            block_len: 96
        }
    );
}

#[test]
fn corrupted_compressed_data_with_a_valid_hash_closes_and_with_a_bad_hash_is_dropped() {
    let good = Compressor::new().compress(&json(5000)).expect("shrinks");
    let mut corrupt = good.to_vec();
    // Break the block: cut it short (the declared size is no longer met)…
    corrupt.truncate(corrupt.len() - 40);
    let (_, events) = server_fed(&corrupt, None);
    let error = decompress_error(&events);
    assert!(
        matches!(
            error,
            DecompressError::Malformed | DecompressError::SizeMismatch { .. }
        ),
        "{error:?}"
    );
    // …or point a match before the start of the output.
    let mut corrupt = b"\x00\x00\x00\x08".to_vec();
    corrupt.extend_from_slice(&[0x04, 0xff, 0xff]);
    let (p, events) = server_fed(&corrupt, None);
    assert_eq!(decompress_error(&events), DecompressError::Malformed);
    assert_eq!(
        p.server.close_reason().expect("closed").code(),
        CloseCode::PROTOCOL_VIOLATION
    );
    // The same corruption with a hash that does not match: dropped as any
    // corrupt frame, and the connection lives on.
    let (mut p, events) = server_fed(&corrupt, Some(payload_hash(b"something else")));
    assert!(closed_reasons(&events).is_empty(), "{events:?}");
    assert!(matches!(
        events[..],
        [Event::FrameDropped(DecodeError::HashMismatch { .. })]
    ));
    assert!(p.server.is_established());
    // A valid compressed frame after it is read.
    p.inject(
        Side::Server,
        &hand_frame(200, TIMESTAMP_COMPRESSED | 7, &good, None),
    );
    assert_eq!(messages(&p.take_events(Side::Server)), vec![json(5000)]);
}

#[test]
fn without_agreement_the_flag_bit_is_an_ordinary_timestamp_bit() {
    // A server that offered compression to a client that did not: a frame
    // with bit 63 set is an ordinary frame, its payload untouched.
    let mut p = Pair::new(config(false, false), config(true, false));
    p.settle();
    p.take_events(Side::Server);
    let payload = Compressor::new().compress(&json(5000)).expect("shrinks");
    p.inject(
        Side::Server,
        &hand_frame(200, TIMESTAMP_COMPRESSED | 7, &payload, None),
    );
    let events = p.take_events(Side::Server);
    let got = events
        .iter()
        .find_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .expect("delivered");
    assert_eq!(got.payload(), &payload);
    assert_eq!(got.timestamp_ms(), TIMESTAMP_COMPRESSED | 7);
}

/// A HELLO payload (`docs/protocol.md` §3.1): nonce `[7; 32]`, idle 30 s.
fn hello(features: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = b"VLTX\x01\x00\x01\x00\x01".to_vec();
    out.extend_from_slice(&features.to_be_bytes());
    out.extend_from_slice(&[7; 32]);
    out.extend_from_slice(&30_000u32.to_be_bytes());
    out.extend_from_slice(tail);
    out
}

/// A HELLO_ACK payload (§3.2) without a proof: nonce `[9; 32]`, idle 30 s.
fn ack(features: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = b"VLTX\x01\x00\x01".to_vec();
    out.extend_from_slice(&features.to_be_bytes());
    out.extend_from_slice(&[9; 32]);
    out.extend_from_slice(&30_000u32.to_be_bytes());
    out.extend_from_slice(tail);
    out
}

#[test]
fn an_older_client_gets_the_same_answer_and_frames_as_before() {
    // A client that predates the options sends the 49 bytes it always did.
    let old_hello = hand_frame(HELLO, 1, &hello(FEATURE_HEARTBEAT, b""), None);
    let mut wires = Vec::new();
    for server in [config(false, false), config(true, true)] {
        let (mut conn, now) = solo(Role::Server, server);
        conn.handle_input(now, &old_hello);
        let info = common::events_of(&mut conn)
            .into_iter()
            .find_map(|e| match e {
                Event::Connected(info) => Some(info),
                _ => None,
            })
            .expect("connected");
        assert_eq!((info.compression, info.hash_skipped), (None, false));
        conn.send(now, app(json(8000))).expect("queued");
        let wire = wire_of(&mut conn);
        let frames = classic_frames(&wire);
        assert_eq!(frames[0].0, HELLO_ACK);
        assert_eq!(
            u32::from_be_bytes(frames[0].2[7..11].try_into().expect("4 bytes")),
            FEATURE_HEARTBEAT
        );
        wires.push(wire);
    }
    assert_eq!(wires[0], wires[1]);
}

#[test]
fn an_older_server_that_ignores_the_offer_gets_plain_frames() {
    // A server that predates the options reads its 49 bytes, ignores the
    // rest, and agrees to HEARTBEAT only: the client then writes exactly
    // what a client without the options writes.
    let old_ack = hand_frame(HELLO_ACK, 1, &ack(FEATURE_HEARTBEAT, b""), None);
    let mut wires = Vec::new();
    for client in [config(false, false), config(true, true)] {
        let (mut conn, now) = solo(Role::Client, client);
        let hello = wire_of(&mut conn);
        assert_eq!(classic_frames(&hello)[0].0, HELLO);
        conn.handle_input(now, &old_ack);
        let info = conn.peer_info().expect("connected");
        assert_eq!((info.compression, info.hash_skipped), (None, false));
        conn.send(now, app(json(8000))).expect("queued");
        wires.push(wire_of(&mut conn));
    }
    assert_eq!(wires[0], wires[1]);
    assert_eq!(classic_frames(&wires[1])[0].2, json(8000));
}

#[test]
fn a_client_refuses_an_answer_agreeing_to_what_it_did_not_offer() {
    let cases: [(ConnectionConfig, Vec<u8>); 4] = [
        // Compression it did not offer.
        (
            config(false, false),
            ack(FEATURE_HEARTBEAT | FEATURE_COMPRESSION, &[LZ4]),
        ),
        // Hash skipping it did not offer.
        (config(true, false), ack(FEATURE_UNHASHED, b"")),
        // An algorithm it does not know.
        (config(true, false), ack(FEATURE_COMPRESSION, &[0x02])),
        // Two algorithms at once.
        (config(true, false), ack(FEATURE_COMPRESSION, &[0x03])),
    ];
    for (client, payload) in cases {
        let (mut conn, now) = solo(Role::Client, client);
        let _hello = wire_of(&mut conn);
        conn.handle_input(now, &hand_frame(HELLO_ACK, 1, &payload, None));
        assert!(
            matches!(conn.close_reason(), Some(CloseReason::ProtocolViolation(_))),
            "{:?}",
            conn.close_reason()
        );
    }
    // The algorithm byte missing from an ACK that agrees to compression.
    let (mut conn, now) = solo(Role::Client, config(true, false));
    let _hello = wire_of(&mut conn);
    conn.handle_input(
        now,
        &hand_frame(HELLO_ACK, 1, &ack(FEATURE_COMPRESSION, b""), None),
    );
    assert_eq!(
        conn.close_reason(),
        Some(&CloseReason::ProtocolViolation("malformed HELLO_ACK"))
    );
}

#[test]
fn a_server_refuses_an_offer_without_algorithms_and_ignores_unknown_ones() {
    for tail in [&b""[..], &[0x00]] {
        let (mut conn, now) = solo(Role::Server, config(true, false));
        conn.handle_input(
            now,
            &hand_frame(HELLO, 1, &hello(FEATURE_COMPRESSION, tail), None),
        );
        assert_eq!(
            conn.close_reason().map(CloseReason::code),
            Some(CloseCode::PROTOCOL_VIOLATION),
            "{tail:?}"
        );
    }
    // Only algorithms this release does not know: no compression, and the
    // ACK is the plain one.
    let (mut conn, now) = solo(Role::Server, config(true, false));
    conn.handle_input(
        now,
        &hand_frame(HELLO, 1, &hello(FEATURE_COMPRESSION, &[0xfe]), None),
    );
    let info = conn.peer_info().expect("connected");
    assert_eq!(info.compression, None);
    let wire = wire_of(&mut conn);
    let ack = &classic_frames(&wire)[0].2;
    assert_eq!(ack.len(), 47);
    assert_eq!(
        u32::from_be_bytes(ack[7..11].try_into().expect("4 bytes")),
        0
    );
    // Some unknown, one known: that one.
    let (mut conn, now) = solo(Role::Server, config(true, false));
    conn.handle_input(
        now,
        &hand_frame(HELLO, 1, &hello(FEATURE_COMPRESSION, &[0xf1]), None),
    );
    let wire = wire_of(&mut conn);
    let ack = &classic_frames(&wire)[0].2;
    assert_eq!((ack.len(), ack[47]), (48, LZ4));
}

#[test]
fn the_offer_follows_a_client_id_and_the_proofs_bind_the_algorithm() {
    let key = b"a pre-shared key of 32 bytes....";
    let mut client = config(true, true);
    client.pre_shared_key = Some(PreSharedKey::new(key));
    client.client_id = Some("alice".to_owned());
    let mut server = config(true, true);
    server.pre_shared_key = Some(PreSharedKey::new(key));
    let mut p = Pair::new(client, server);
    let now = p.now;
    p.client.send(now, app(json(3000))).expect("held");
    p.settle();
    let server_events = p.take_events(Side::Server);
    for events in [p.take_events(Side::Client), server_events.clone()] {
        let info = connected(&events);
        assert!(info.authenticated);
        assert_eq!(
            (info.compression, info.hash_skipped),
            (Some(Algorithm::Lz4), true)
        );
    }
    let to_server = classic_frames(&p.wire_to_server);
    let hello = &to_server[0].2;
    // [idle timeout][05 "alice"][01]
    assert_eq!(&hello[HELLO_LEN..], b"\x05alice\x01");
    let ack = &classic_frames(&p.wire_to_client)[0].2;
    // Without a key store the server ignores the id (no CLIENT_ID): the
    // proof sits at 43, the idle timeout at 75, the algorithm at 79.
    let features = u32::from_be_bytes(ack[7..11].try_into().expect("4 bytes"));
    assert_eq!(
        features,
        0x2 | FEATURE_HEARTBEAT | FEATURE_COMPRESSION | FEATURE_UNHASHED
    );
    assert_eq!((ack.len(), ack[79]), (80, LZ4));
    // The server's proof, written out from §3.3: the algorithm byte last.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any length");
    mac.update(b"veltix auth v1 server");
    mac.update(&hello[13..45]);
    mac.update(&ack[11..43]);
    mac.update(&ack[5..7]);
    mac.update(&ack[7..11]);
    mac.update(&[LZ4]);
    assert_eq!(&ack[43..75], &mac.finalize().into_bytes()[..]);
    assert_eq!(messages(&server_events), vec![json(3000)]);
}

#[test]
fn legacy_peers_see_the_same_bytes() {
    let mut legacy_client = ConnectionConfig::default();
    legacy_client.handshake = HandshakeMode::Disabled;
    let mut reference = scripted(legacy_client.clone(), ConnectionConfig::default());
    assert_script_delivered(&mut reference);
    let mut legacy_opts = legacy_client.clone();
    legacy_opts.compression = Some(Compression::default());
    legacy_opts.transport_authenticated = true;
    let mut p = scripted(legacy_opts, config(true, true));
    assert_script_delivered(&mut p);
    assert_eq!(p.wire_to_server, reference.wire_to_server);
    assert_eq!(p.wire_to_client, reference.wire_to_client);
}

#[test]
fn the_python_dialects_are_unaffected() {
    for dialect in [Dialect::Python14, Dialect::Python3, Dialect::Legacy] {
        let plain = common::dialect_config(dialect);
        let mut reference = scripted(plain.clone(), plain.clone());
        assert_script_delivered(&mut reference);
        let mut with = plain;
        with.compression = Some(Compression::default());
        with.transport_authenticated = true;
        let mut p = scripted(with.clone(), with);
        assert_script_delivered(&mut p);
        assert_eq!(p.wire_to_server, reference.wire_to_server, "{dialect:?}");
        assert_eq!(p.wire_to_client, reference.wire_to_client, "{dialect:?}");
        let info = p.client.peer_info().expect("connected");
        assert_eq!((info.compression, info.hash_skipped), (None, false));
    }
}

#[test]
fn a_native_client_with_options_still_connects_to_everything() {
    // The offer is harmless to every server kind.
    for server in [
        ConnectionConfig::default(),
        config(true, false),
        config(false, true),
    ] {
        let mut p = Pair::new(config(true, true), server);
        p.settle();
        assert!(p.take_events(Side::Client).iter().any(is_connected));
    }
}

fn settings() -> impl Strategy<Value = (Option<u32>, bool)> {
    (
        prop_oneof![Just(None), (0u32..3000).prop_map(Some)],
        any::<bool>(),
    )
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        (0usize..6000).prop_map(json),
        (0usize..20_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary payloads both ways, any chunking of the stream, any
    /// settings on either side: every message arrives intact and in order,
    /// and compression or hash skipping is in effect exactly when both
    /// sides asked for it.
    #[test]
    fn any_settings_any_chunking_every_message_arrives_intact(
        client in settings(),
        server in settings(),
        payloads in prop::collection::vec((any::<bool>(), payload()), 1..12),
        chunks in prop::collection::vec(1usize..3000, 1..8),
        early in any::<bool>(),
    ) {
        let make = |(threshold, tls): (Option<u32>, bool)| {
            let mut c = ConnectionConfig::default();
            c.compression = threshold.map(|t| {
                let mut s = Compression::default();
                s.threshold = t;
                s
            });
            c.transport_authenticated = tls;
            c
        };
        let mut p = Pair::new(make(client), make(server));
        let mut i = 0;
        p.chunker = Some(Box::new(move |left| {
            i += 1;
            chunks[i % chunks.len()].min(left)
        }));
        if !early {
            p.settle();
        }
        let now = p.now;
        let mut sent = (Vec::new(), Vec::new());
        for (from_client, payload) in &payloads {
            let (side, list) = if *from_client {
                (Side::Client, &mut sent.0)
            } else {
                (Side::Server, &mut sent.1)
            };
            if p.conn(side).send(now, app(payload.clone())).is_ok() {
                list.push(Bytes::from(payload.clone()));
            }
        }
        p.settle();
        prop_assert_eq!(messages(&p.take_events(Side::Server)), sent.0);
        prop_assert_eq!(messages(&p.take_events(Side::Client)), sent.1);
        let info = p.client.peer_info().expect("connected");
        let both_compress = client.0.is_some() && server.0.is_some();
        prop_assert_eq!(info.compression.is_some(), both_compress);
        prop_assert_eq!(info.hash_skipped, client.1 && server.1);
        prop_assert_eq!(p.server.peer_info().expect("connected"), info);
        if !both_compress {
            prop_assert_eq!(p.client.stats().frames_compressed, 0);
            prop_assert_eq!(p.server.stats().frames_compressed, 0);
        }
        prop_assert_eq!(p.client.stats().frames_compressed, p.server.stats().frames_decompressed);
        prop_assert_eq!(p.server.stats().frames_compressed, p.client.stats().frames_decompressed);
        if !(client.1 && server.1) {
            // Every frame carries its payload's true hash.
            for wire in [&p.wire_to_server, &p.wire_to_client] {
                for frame in raw_frames(wire) {
                    prop_assert_eq!(hash_field(frame), payload_hash(&frame[62..]));
                }
            }
        }
    }
}

#[test]
fn request_ids_and_replies_survive_compression() {
    let mut p = Pair::new(config(true, true), config(true, true));
    p.settle();
    let now = p.now;
    let id = p
        .client
        .request(now, app(json(9000)), std::time::Duration::from_secs(5))
        .expect("queued");
    p.settle();
    let request = p
        .take_events(Side::Server)
        .into_iter()
        .find_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .expect("delivered");
    assert_eq!(request.request_id(), id);
    let now = p.now;
    p.server
        .reply(now, &request, app(json(12_000)))
        .expect("queued");
    p.settle();
    let answered = p.take_events(Side::Client).into_iter().any(|e| {
        matches!(e, Event::Response { request_id, message } if request_id == id && message.payload()[..] == json(12_000)[..])
    });
    assert!(answered);
    assert_ne!(RequestId::NIL, id);
}
