//! tokio + Veltix's 62-byte header + SHA-256, hand-written: the same
//! hashing work as Veltix (every payload hashed once by the sender and once
//! by the receiver), none of its code.
//!
//! Header, big-endian: type u16 | payload length u32 | SHA-256 of the
//! payload (32) | timestamp ms u64 | request id (16), then the payload.
//! Types: 200 echo request (answered with the same type, id and payload),
//! 201 one-way (dropped), 0 ping (answered with type 1, the same id and an
//! empty payload). Any other type is dropped like a one-way message.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedRead, FramedWrite};

use super::{ClientStream, CountedTcp, MAX_PAYLOAD};
use crate::client::{EchoReceiver, EchoSender, Target, ended_early};
use crate::counted::{Counted, WireBytes};

/// Header length: type 2 + length 4 + hash 32 + timestamp 8 + request id 16.
const HEADER_LEN: usize = 62;
/// Where the header's fields start.
const LEN_AT: usize = 2;
const HASH_AT: usize = 6;
const TIMESTAMP_AT: usize = 38;
const ID_AT: usize = 46;

/// PING and PONG, the protocol's codes (veltix-core `docs/protocol.md` §2).
const PING: u16 = 0;
const PONG: u16 = 1;
/// The bench's own types, the codes Veltix is driven with.
const ECHO: u16 = crate::wire::ECHO.code();
const SINK: u16 = crate::wire::SINK.code();

/// One frame: its type, request id and payload. The timestamp is written on
/// encoding and not kept on decoding: nothing here reads it.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The message type code.
    kind: u16,
    /// 16 raw bytes; the client numbers its frames.
    request_id: [u8; 16],
    /// The payload, sharing the read buffer after decoding.
    payload: Bytes,
}

/// The 62-byte-header codec: the length is checked on the header before
/// anything is reserved, the hash once the whole frame is in.
#[derive(Debug, Default)]
pub(crate) struct ShaCodec;

/// A peer sent something this codec refuses; the connection is closed.
fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Decoder for ShaCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Frame>> {
        let Some(header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([
            header[LEN_AT],
            header[LEN_AT + 1],
            header[LEN_AT + 2],
            header[LEN_AT + 3],
        ]);
        // Refused from the header alone: a lying length reserves nothing.
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= MAX_PAYLOAD)
            .ok_or_else(|| invalid("payload over 16 MiB"))?;
        if src.len() < HEADER_LEN + len {
            // Room for the whole frame at once, so a large payload is read
            // in a few large reads instead of growing the buffer step by step.
            src.reserve(HEADER_LEN + len - src.len());
            return Ok(None);
        }
        let header = src.split_to(HEADER_LEN);
        let payload = src.split_to(len).freeze();
        if Sha256::digest(&payload)[..] != header[HASH_AT..TIMESTAMP_AT] {
            // The protocol allows skipping a corrupt frame, but a bench peer
            // never sends one: closing is the simplest correct answer.
            return Err(invalid("payload hash mismatch"));
        }
        let mut request_id = [0; 16];
        request_id.copy_from_slice(&header[ID_AT..HEADER_LEN]);
        Ok(Some(Frame {
            kind: u16::from_be_bytes([header[0], header[1]]),
            request_id,
            payload,
        }))
    }
}

impl Encoder<Frame> for ShaCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> io::Result<()> {
        // A payload the peer would refuse is refused here, with a clear
        // error, rather than by the peer closing the connection.
        let len = u32::try_from(frame.payload.len())
            .ok()
            .filter(|_| frame.payload.len() <= MAX_PAYLOAD)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "payload over 16 MiB"))?;
        // A real wall-clock timestamp per frame, as Veltix writes: equal work.
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        dst.reserve(HEADER_LEN + frame.payload.len());
        dst.put_u16(frame.kind);
        dst.put_u32(len);
        dst.put_slice(&Sha256::digest(&frame.payload));
        dst.put_u64(timestamp_ms);
        dst.put_slice(&frame.request_id);
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

/// A client over one `Framed<S, ShaCodec>`: over TCP, or over TLS
/// ([`ShaTlsClient`](super::ShaTlsClient)).
pub(crate) struct ShaClient<S = CountedTcp> {
    /// The connection; its write buffer holds one-way messages until the
    /// next request flushes them (or the buffer passes its backpressure
    /// boundary).
    framed: Framed<S, ShaCodec>,
    /// The last request id used, a counter in the id's 16 bytes.
    last_id: u128,
}

/// A frame with the request id after `last_id`, which it advances.
fn numbered(last_id: &mut u128, kind: u16, payload: Bytes) -> Frame {
    *last_id = last_id.wrapping_add(1);
    Frame {
        kind,
        request_id: last_id.to_be_bytes(),
        payload,
    }
}

impl<S: ClientStream> ShaClient<S> {
    /// A frame with the next request id.
    fn frame(&mut self, kind: u16, payload: Bytes) -> Frame {
        numbered(&mut self.last_id, kind, payload)
    }

    /// Sends `frame`, flushing everything buffered before it, and waits for
    /// the answer: of type `expect`, carrying the frame's request id. One
    /// request is in flight at a time, so the next frame must be it.
    async fn round_trip(&mut self, frame: Frame, expect: u16) -> io::Result<Bytes> {
        let id = frame.request_id;
        self.framed.send(frame).await?;
        match self.framed.next().await {
            Some(Ok(answer)) if answer.kind == expect && answer.request_id == id => {
                Ok(answer.payload)
            }
            Some(Ok(_)) => Err(invalid("unexpected answer")),
            Some(Err(err)) => Err(err),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

impl<S: ClientStream> crate::client::BenchClient for ShaClient<S> {
    type Sender = ShaSender<S::WriteHalf>;
    type Receiver = ShaReceiver<S::ReadHalf>;

    async fn connect(target: Target) -> io::Result<Self> {
        let stream = S::connect(&target).await?;
        Ok(Self {
            framed: super::client_framed(stream, ShaCodec),
            last_id: 0,
        })
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let frame = self.frame(ECHO, payload);
        self.round_trip(frame, ECHO).await
    }

    async fn ping(&mut self) -> io::Result<()> {
        let frame = self.frame(PING, Bytes::new());
        self.round_trip(frame, PONG).await.map(drop)
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        let frame = self.frame(SINK, payload);
        // Buffered: `feed` writes only once the write buffer passes Framed's
        // backpressure boundary, and the next request flushes the rest.
        self.framed.feed(frame).await
    }

    async fn close(mut self) {
        // Flushes what is buffered, then shuts the write side down. The
        // connection is going away: there is no one to report an error to.
        let _ = self.framed.close().await;
    }

    fn wire(&self) -> Option<WireBytes> {
        Some(self.framed.get_ref().wire())
    }

    async fn split(self) -> io::Result<(Self::Sender, Self::Receiver)> {
        let (writer, reader) = super::split_client(self.framed, || ShaCodec)?;
        let sender = ShaSender {
            writer,
            last_id: self.last_id,
        };
        Ok((sender, ShaReceiver(reader)))
    }
}

/// The write half of a split [`ShaClient`]: echo requests numbered like
/// any other frame.
pub(crate) struct ShaSender<W = Counted<OwnedWriteHalf>> {
    writer: FramedWrite<W, ShaCodec>,
    last_id: u128,
}

impl<W: AsyncWrite + Unpin + Send + 'static> EchoSender for ShaSender<W> {
    async fn send_echo(&mut self, payload: Bytes) -> io::Result<()> {
        let frame = numbered(&mut self.last_id, ECHO, payload);
        // Buffered up to the write batch, as one-way messages are.
        self.writer.feed(frame).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().await
    }

    async fn close(mut self) {
        let _ = self.writer.close().await;
    }
}

/// The read half of a split [`ShaClient`]; the codec checks every hash.
pub(crate) struct ShaReceiver<R = Counted<OwnedReadHalf>>(FramedRead<R, ShaCodec>);

impl<R: AsyncRead + Unpin + Send + 'static> EchoReceiver for ShaReceiver<R> {
    async fn next_echo(&mut self) -> io::Result<Bytes> {
        let frame = self.0.next().await.ok_or_else(ended_early)??;
        if frame.kind == ECHO {
            Ok(frame.payload)
        } else {
            Err(invalid("not an echo"))
        }
    }
}

/// The header + SHA-256 baseline server: accepts forever (until an accept
/// error), one task per connection; echo requests and pings are answered,
/// everything else is dropped (after its hash was checked).
pub(crate) async fn serve_sha(listener: TcpListener) -> io::Result<()> {
    super::serve::accept_loop(listener, || ShaCodec, answer, None).await
}

/// The server's answer to one frame, if any.
pub(super) fn answer(frame: Frame) -> Option<Frame> {
    match frame.kind {
        ECHO => Some(frame),
        PING => Some(Frame {
            kind: PONG,
            request_id: frame.request_id,
            payload: Bytes::new(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::super::tests::{LIMIT, round_trip, spawn_server};
    use super::*;

    async fn server() -> SocketAddr {
        spawn_server(serve_sha).await
    }

    fn encoded(kind: u16, id: u8, payload: &'static [u8]) -> BytesMut {
        let mut wire = BytesMut::new();
        let frame = Frame {
            kind,
            request_id: [id; 16],
            payload: Bytes::from_static(payload),
        };
        ShaCodec.encode(frame, &mut wire).unwrap();
        wire
    }

    /// Reads to the end: the server closes without answering (a reset is a
    /// close too).
    async fn assert_closed_without_answer(mut stream: TcpStream) {
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest).await;
        assert!(read.map_or(true, |n| n == 0), "no answer expected");
    }

    #[tokio::test]
    async fn client_and_server_round_trip() {
        round_trip::<ShaClient>(server().await).await;
    }

    #[test]
    fn header_matches_the_protocol() {
        let wire = encoded(ECHO, 7, b"hello");
        assert_eq!(wire.len(), HEADER_LEN + 5);
        assert_eq!(&wire[..2], &200u16.to_be_bytes());
        assert_eq!(&wire[LEN_AT..HASH_AT], &5u32.to_be_bytes());
        // SHA-256("hello"), computed independently.
        assert_eq!(
            wire[HASH_AT..TIMESTAMP_AT],
            [
                0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9,
                0xe2, 0x9e, 0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62,
                0x93, 0x8b, 0x98, 0x24
            ]
        );
        let timestamp = u64::from_be_bytes(wire[TIMESTAMP_AT..ID_AT].try_into().unwrap());
        assert!(timestamp > 1_600_000_000_000, "a wall-clock timestamp");
        assert_eq!(&wire[ID_AT..HEADER_LEN], &[7; 16]);
        assert_eq!(&wire[HEADER_LEN..], b"hello");
    }

    #[test]
    fn codec_round_trips_byte_by_byte() {
        let wire = encoded(ECHO, 7, b"hello");
        let mut partial = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            partial.put_u8(*byte);
            let decoded = ShaCodec.decode(&mut partial).unwrap();
            assert_eq!(decoded.is_some(), i == wire.len() - 1);
            if let Some(f) = decoded {
                assert_eq!(
                    (f.kind, f.request_id, &f.payload[..]),
                    (ECHO, [7; 16], &b"hello"[..])
                );
            }
        }
        assert!(partial.is_empty());

        // Two frames arriving together come out one by one.
        let mut two = encoded(PING, 1, b"");
        two.extend_from_slice(&encoded(SINK, 2, b"xy"));
        let first = ShaCodec.decode(&mut two).unwrap().unwrap();
        let second = ShaCodec.decode(&mut two).unwrap().unwrap();
        assert_eq!(
            (first.kind, first.request_id, first.payload.len()),
            (PING, [1; 16], 0)
        );
        assert_eq!((second.kind, &second.payload[..]), (SINK, &b"xy"[..]));
        assert!(ShaCodec.decode(&mut two).unwrap().is_none());
    }

    #[test]
    fn codec_refuses_a_bad_hash_and_a_lying_length() {
        let mut corrupt = encoded(ECHO, 7, b"hello");
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let err = ShaCodec.decode(&mut corrupt).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let mut lying = BytesMut::from(&[0u8; HEADER_LEN][..]);
        lying[LEN_AT..HASH_AT].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = ShaCodec.decode(&mut lying).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            lying.capacity() < 1024,
            "nothing reserved for a lying length"
        );

        let mut over = BytesMut::from(&[0u8; HEADER_LEN][..]);
        let len = u32::try_from(MAX_PAYLOAD + 1).unwrap();
        over[LEN_AT..HASH_AT].copy_from_slice(&len.to_be_bytes());
        assert!(ShaCodec.decode(&mut over).is_err());

        let too_long = Frame {
            kind: SINK,
            request_id: [0; 16],
            payload: Bytes::from(vec![0; MAX_PAYLOAD + 1]),
        };
        let mut dst = BytesMut::new();
        let err = ShaCodec.encode(too_long, &mut dst).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(dst.is_empty());
    }

    #[tokio::test]
    async fn pipelined_requests_are_all_answered_in_order() {
        let addr = server().await;
        tokio::time::timeout(LIMIT, async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut out = BytesMut::new();
            for i in 0..100u8 {
                out.extend_from_slice(&encoded(SINK, i, b"dropped"));
                out.extend_from_slice(&encoded(ECHO, i, b"abc"));
            }
            out.extend_from_slice(&encoded(PING, 0xff, b""));
            stream.write_all(&out).await.unwrap();

            let mut framed = Framed::new(stream, ShaCodec);
            for i in 0..100u8 {
                let f = framed.next().await.unwrap().unwrap();
                assert_eq!(
                    (f.kind, f.request_id, &f.payload[..]),
                    (ECHO, [i; 16], &b"abc"[..])
                );
            }
            let pong = framed.next().await.unwrap().unwrap();
            assert_eq!(
                (pong.kind, pong.request_id, pong.payload.len()),
                (PONG, [0xff; 16], 0)
            );
        })
        .await
        .expect("within the time limit");
    }

    #[tokio::test]
    async fn server_closes_on_a_bad_hash_or_a_length_over_the_limit() {
        let addr = server().await;
        tokio::time::timeout(LIMIT, async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut corrupt = encoded(ECHO, 1, b"hello");
            corrupt[HASH_AT] ^= 1;
            stream.write_all(&corrupt).await.unwrap();
            assert_closed_without_answer(stream).await;

            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut header = encoded(ECHO, 1, b"");
            let len = u32::try_from(MAX_PAYLOAD + 1).unwrap();
            header[LEN_AT..HASH_AT].copy_from_slice(&len.to_be_bytes());
            stream.write_all(&header).await.unwrap();
            assert_closed_without_answer(stream).await;
        })
        .await
        .expect("within the time limit");
    }
}
