//! `veltix_tokio::codec::FrameCodec` (feature `codec`, which the crate's
//! dev-dependency on itself turns on): round trips through `Framed` over an
//! in-memory pipe on both wires, any split of the byte stream, a lying
//! length refused before memory is reserved, corrupt frames dropped as the
//! core's policy says, the stream ending inside a frame, and a framed TCP
//! stream talking to a real server.
#![cfg(feature = "codec")]

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncWriteExt as _, DuplexStream};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder as _, Encoder as _, Framed, FramedRead};
use veltix_core::{compact, frame};
use veltix_tokio::codec::{CodecError, DecodeError, EncodeError, FrameCodec};
use veltix_tokio::{Dialect, Message, MessageType, RequestId, Server, ServerConfig, ServerEvent};

/// Every wait is bounded: a bug fails the test instead of hanging it.
const STEP: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Wire {
    Classic,
    Compact,
}

const WIRES: [Wire; 2] = [Wire::Classic, Wire::Compact];

impl Wire {
    fn codec(self) -> FrameCodec {
        match self {
            Wire::Classic => FrameCodec::classic(),
            Wire::Compact => FrameCodec::compact(),
        }
    }

    fn header_len(self) -> usize {
        match self {
            Wire::Classic => frame::HEADER_LEN,
            Wire::Compact => compact::HEADER_LEN,
        }
    }

    /// Where the payload length sits in the header.
    fn len_offset(self) -> usize {
        match self {
            Wire::Classic => frame::offset::PAYLOAD_LEN,
            Wire::Compact => compact::offset::PAYLOAD_LEN,
        }
    }

    /// Messages this wire carries exactly: the compact wire has 16-bit
    /// request ids and no timestamp.
    fn messages(self) -> Vec<Message> {
        let kind = |code| MessageType::new(code).expect("a user type");
        let large: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let msgs = vec![
            Message::new(kind(200), "hello"),
            Message::new(kind(201), Vec::new()),
            Message::new(kind(202), large),
            Message::new(kind(65_000), &b"last"[..]),
        ];
        msgs.into_iter()
            .enumerate()
            .map(|(i, m)| match self {
                Wire::Classic => m
                    .with_request_id(RequestId::from_u128(u128::MAX - i as u128))
                    .with_timestamp_ms(1_764_000_000_000 + i as u64),
                Wire::Compact => m.with_request_id(RequestId::from_compact(0xff00 + i as u16)),
            })
            .collect()
    }

    fn encode(self, messages: &[Message]) -> BytesMut {
        let mut codec = self.codec();
        let mut wire = BytesMut::new();
        for m in messages {
            codec.encode(m, &mut wire).expect("encodes");
        }
        wire
    }
}

/// Reads every message `framed` yields until the stream ends.
async fn read_all(
    mut stream: impl futures::Stream<Item = Result<Message, CodecError>> + Unpin,
) -> Vec<Message> {
    let mut got = Vec::new();
    while let Some(item) = tokio::time::timeout(STEP, stream.next())
        .await
        .expect("a frame within STEP")
    {
        got.push(item.expect("a valid frame"));
    }
    got
}

#[tokio::test]
async fn messages_round_trip_through_framed_over_a_pipe() {
    for wire in WIRES {
        for pipe in [1, 7, 64 * 1024] {
            let (near, far) = tokio::io::duplex(pipe);
            let mut sender = Framed::new(near, wire.codec());
            let receiver = Framed::new(far, wire.codec());
            let sent = wire.messages();
            let to_send = sent.clone();
            let send = tokio::spawn(async move {
                for m in to_send {
                    sender.send(m).await.expect("sent");
                }
                // Closing the pipe ends the receiver's stream cleanly.
                drop(sender);
            });
            let got = read_all(receiver).await;
            send.await.expect("sender");
            assert_eq!(got, sent, "{wire:?} over a {pipe}-byte pipe");
        }
    }
}

#[test]
fn frames_split_at_every_byte_boundary_decode_the_same() {
    for wire in WIRES {
        // Small payloads so that every split point of a whole stream is tried.
        let sent: Vec<Message> = wire
            .messages()
            .into_iter()
            .filter(|m| m.payload().len() < 100)
            .collect();
        let bytes = wire.encode(&sent);
        for split in 0..=bytes.len() {
            let mut codec = wire.codec();
            let mut buf = BytesMut::from(&bytes[..split]);
            let mut got = Vec::new();
            while let Some(m) = codec.decode(&mut buf).expect("valid") {
                got.push(m);
            }
            buf.extend_from_slice(&bytes[split..]);
            while let Some(m) = codec.decode_eof(&mut buf).expect("valid") {
                got.push(m);
            }
            assert_eq!(got, sent, "{wire:?} split at {split}");
            assert_eq!(codec.frames_dropped(), 0);
        }
    }
}

#[test]
fn a_lying_length_is_refused_on_the_header_before_any_allocation() {
    for wire in WIRES {
        let mut bytes = wire.encode(&wire.messages()[..1]);
        let at = wire.len_offset();
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut codec = wire.codec().with_max_payload(1 << 20);
        let mut buf = BytesMut::with_capacity(bytes.len());
        buf.extend_from_slice(&bytes);
        let capacity = buf.capacity();
        let expected = DecodeError::PayloadTooLarge {
            len: u32::MAX,
            max: 1 << 20,
        };
        for _ in 0..2 {
            // Fatal and sticky; the buffer was not grown for the payload.
            match codec.decode(&mut buf) {
                Err(CodecError::Decode(err)) => assert_eq!(err, expected, "{wire:?}"),
                other => panic!("{wire:?}: {other:?}"),
            }
            assert_eq!(buf.capacity(), capacity, "{wire:?}");
        }
        let err = io::Error::from(codec.decode(&mut buf).expect_err("sticky"));
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // A length within the limit grows the buffer with what arrives, in
        // steps of at most 64 KiB, not to the length announced.
        let mut bytes = wire.encode(&wire.messages()[..1]);
        bytes[at..at + 4].copy_from_slice(&(16u32 << 20).to_be_bytes());
        let mut codec = wire.codec().with_max_payload(16 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        assert!(codec.decode(&mut buf).expect("in limit").is_none());
        assert!(buf.capacity() <= wire.header_len() + 128 * 1024, "{wire:?}");
    }
}

#[tokio::test]
async fn a_lying_length_ends_a_framed_stream_with_a_typed_error() {
    for wire in WIRES {
        let mut bytes = wire.encode(&wire.messages()[..2]);
        let second = wire.header_len() + wire.messages()[0].payload().len() + wire.len_offset();
        bytes[second..second + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let (mut near, far) = tokio::io::duplex(64 * 1024);
        near.write_all(&bytes).await.expect("written");
        let mut framed = FramedRead::new(far, wire.codec().with_max_payload(1 << 20));
        let first = framed.next().await.expect("a frame").expect("valid");
        assert_eq!(first, wire.messages()[0]);
        let err = framed.next().await.expect("an error").expect_err("refused");
        assert!(
            matches!(
                err,
                CodecError::Decode(DecodeError::PayloadTooLarge { len: u32::MAX, .. })
            ),
            "{wire:?}: {err:?}"
        );
        assert!(framed.read_buffer().capacity() < 1 << 20);
        assert!(framed.next().await.is_none(), "the stream ends after it");
    }
}

/// `messages` on `wire`, the payload of the middle one altered after
/// encoding so that its hash (classic) or CRC (compact) fails.
fn with_corrupt_middle(wire: Wire, messages: &[Message]) -> BytesMut {
    let mut bytes = wire.encode(messages);
    let middle = 2 * wire.header_len() + messages[0].payload().len();
    bytes[middle] ^= 0x55;
    bytes
}

#[tokio::test]
async fn a_corrupt_frame_is_dropped_and_counted_and_the_stream_goes_on() {
    for wire in WIRES {
        let kind = MessageType::new(300).expect("a user type");
        let sent = [
            Message::new(kind, "first"),
            Message::new(kind, "garbled"),
            Message::new(kind, "third"),
        ];
        let mut bytes = BytesMut::new();
        if let Wire::Compact = wire {
            // Noise before a frame: skipped up to the magic, and counted.
            bytes.extend_from_slice(b"noise");
        }
        bytes.extend_from_slice(&with_corrupt_middle(wire, &sent));
        let (mut near, far) = tokio::io::duplex(64 * 1024);
        near.write_all(&bytes).await.expect("written");
        drop(near);
        let mut framed = FramedRead::new(far, wire.codec());
        let got = read_all(&mut framed).await;
        assert_eq!(got, [sent[0].clone(), sent[2].clone()], "{wire:?}");
        assert_eq!(framed.decoder().frames_dropped(), 1, "{wire:?}");
        let skipped = match wire {
            Wire::Classic => 0,
            Wire::Compact => 5,
        };
        assert_eq!(framed.decoder().bytes_skipped(), skipped, "{wire:?}");
    }
}

#[tokio::test]
async fn a_stream_ending_inside_a_frame_is_truncated() {
    for wire in WIRES {
        let bytes = wire.encode(&wire.messages()[..1]);
        // Inside the header, just after it (the classic decoder holds it),
        // and inside the payload.
        for cut in [wire.header_len() - 1, wire.header_len(), bytes.len() - 1] {
            let (mut near, far): (DuplexStream, DuplexStream) = tokio::io::duplex(1024);
            near.write_all(&bytes[..cut]).await.expect("written");
            drop(near);
            let mut framed = FramedRead::new(far, wire.codec());
            let err = framed.next().await.expect("an error").expect_err("cut");
            assert!(
                matches!(err, CodecError::Truncated { .. }),
                "{wire:?} cut at {cut}: {err:?}"
            );
            assert_eq!(io::Error::from(err).kind(), io::ErrorKind::UnexpectedEof);
        }
    }
}

#[test]
fn the_encoder_refuses_what_the_peer_would_refuse() {
    let kind = MessageType::new(200).expect("a user type");
    let mut codec = FrameCodec::classic().with_max_payload(4);
    let mut dst = BytesMut::new();
    let err = codec
        .encode(Message::new(kind, "12345"), &mut dst)
        .expect_err("over the limit");
    assert!(
        matches!(err, CodecError::TooLargeToSend { len: 5, max: 4 }),
        "{err:?}"
    );
    assert!(dst.is_empty());
    codec
        .encode(Message::new(kind, "1234"), &mut dst)
        .expect("at the limit");
    assert_eq!(dst.len(), frame::HEADER_LEN + 4);

    // The compact wire's request ids are 16-bit.
    let wide = Message::new(kind, "x").with_request_id(RequestId::from_u128(1 << 20));
    let err = FrameCodec::compact()
        .encode(wide, &mut dst)
        .expect_err("a wide id");
    assert!(
        matches!(
            err,
            CodecError::Encode(EncodeError::RequestIdNotCompact { .. })
        ),
        "{err:?}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    assert_eq!(FrameCodec::default().max_payload(), 16 << 20);
}

#[tokio::test]
async fn a_framed_tcp_stream_talks_to_a_veltix_server() {
    // The legacy dialect (Python Veltix 1.2–1.3) has no handshake: classic
    // frames from the first byte, which is all the codec speaks.
    let config = ServerConfig::new("127.0.0.1:0").dialect(Dialect::Legacy);
    let server = Server::bind(config).await.expect("bound");
    let mut events = server.events();
    let echo = server.clone();
    let echoing = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { peer, message } = event {
                let answer = Message::new(message.message_type(), message.payload().clone());
                echo.reply(peer, &message, answer).await.expect("replied");
            }
        }
    });

    let stream = tokio::time::timeout(STEP, TcpStream::connect(server.local_addr()))
        .await
        .expect("within STEP")
        .expect("connected");
    let mut framed = Framed::new(stream, FrameCodec::classic());
    let kind = MessageType::new(250).expect("a user type");
    let id = RequestId::from_u128(0x1234_5678_9abc_def0);
    let payload = vec![7u8; 100_000];
    framed
        .send(Message::new(kind, payload.clone()).with_request_id(id))
        .await
        .expect("sent");
    let reply = tokio::time::timeout(STEP, framed.next())
        .await
        .expect("a reply within STEP")
        .expect("a frame")
        .expect("valid");
    assert_eq!(reply.message_type(), kind);
    assert_eq!(reply.request_id(), id);
    assert_eq!(&reply.payload()[..], &payload[..]);
    assert_ne!(reply.timestamp_ms(), 0, "the server stamps its frames");
    echoing.abort();
}
