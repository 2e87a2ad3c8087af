//! tokio + Veltix's 62-byte header + SHA-256, hand-written: the same
//! hashing work as Veltix (every payload hashed once by the sender and once
//! by the receiver), none of its code.
//!
//! Header, big-endian: type u16 | payload length u32 | SHA-256 of the
//! payload (32) | timestamp ms u64 | request id (16). Types: 200 echo
//! request (answered with the same type, id and payload), 201 one-way
//! (dropped), 0 ping (answered with type 1, same id, empty payload).

use std::io;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder, Framed};

const HEADER_LEN: usize = 62;
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
const PING: u16 = 0;
const PONG: u16 = 1;
const ECHO: u16 = 200;
const SINK: u16 = 201;

/// One frame: its type, request id and payload.
pub(crate) struct Frame {
    kind: u16,
    request_id: [u8; 16],
    payload: Bytes,
}

/// The 62-byte-header codec: the length is checked on the header before
/// anything is reserved, the hash when the whole frame is in.
#[derive(Debug, Default)]
pub(crate) struct ShaCodec;

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Decoder for ShaCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Frame>> {
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[2], src[3], src[4], src[5]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(invalid("payload over 16 MiB"));
        }
        if src.len() < HEADER_LEN + len {
            src.reserve(HEADER_LEN + len - src.len());
            return Ok(None);
        }
        let header = src.split_to(HEADER_LEN);
        let payload = src.split_to(len).freeze();
        if Sha256::digest(&payload)[..] != header[6..38] {
            return Err(invalid("payload hash mismatch"));
        }
        let mut request_id = [0; 16];
        request_id.copy_from_slice(&header[46..62]);
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
        let len = u32::try_from(frame.payload.len()).map_err(|_| invalid("payload too long"))?;
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
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

/// A client over one `Framed<TcpStream, ShaCodec>`.
pub(crate) struct ShaClient {
    framed: Framed<TcpStream, ShaCodec>,
    next_id: u128,
}

impl ShaClient {
    fn frame(&mut self, kind: u16, payload: Bytes) -> Frame {
        self.next_id += 1;
        Frame {
            kind,
            request_id: self.next_id.to_be_bytes(),
            payload,
        }
    }

    /// Sends `frame` and waits for the answer carrying its request id.
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

impl crate::client::BenchClient for ShaClient {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            framed: Framed::new(stream, ShaCodec),
            next_id: 0,
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
        // Buffered, as in the LengthDelimited baseline.
        self.framed.feed(frame).await
    }

    async fn close(mut self) {
        let _ = self.framed.close().await;
    }
}

/// The header + SHA-256 baseline server.
pub(crate) async fn serve_sha(listener: TcpListener) -> io::Result<()> {
    super::serve::accept_loop(
        listener,
        || ShaCodec,
        |frame: Frame| match frame.kind {
            ECHO => Some(frame),
            PING => Some(Frame {
                kind: PONG,
                request_id: frame.request_id,
                payload: Bytes::new(),
            }),
            _ => None,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trips_and_rejects_a_bad_hash_and_a_lying_length() {
        let mut codec = ShaCodec;
        let mut wire = BytesMut::new();
        let frame = Frame {
            kind: ECHO,
            request_id: [7; 16],
            payload: Bytes::from_static(b"hello"),
        };
        codec.encode(frame, &mut wire).unwrap();
        assert_eq!(wire.len(), HEADER_LEN + 5);
        let mut corrupt = wire.clone();

        // Byte by byte: nothing until the last byte, then the frame.
        let mut partial = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            partial.put_u8(*byte);
            let decoded = codec.decode(&mut partial).unwrap();
            assert_eq!(decoded.is_some(), i == wire.len() - 1);
            if let Some(f) = decoded {
                assert_eq!(
                    (f.kind, f.request_id, &f.payload[..]),
                    (ECHO, [7; 16], &b"hello"[..])
                );
            }
        }

        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(codec.decode(&mut corrupt).is_err());

        let mut lying = BytesMut::from(&[0u8; HEADER_LEN][..]);
        lying[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(codec.decode(&mut lying).is_err());
        assert!(
            lying.capacity() < 1024,
            "nothing reserved for a lying length"
        );
    }
}
