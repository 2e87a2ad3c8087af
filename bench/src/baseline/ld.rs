//! tokio + `LengthDelimitedCodec` (4-byte big-endian length), no hashing:
//! the floor of what framing over tokio costs.
//!
//! A frame's body is `[kind u8][payload]`: kind 0 is an echo request
//! (answered with the same frame), 1 a one-way message (dropped), 2 a ping
//! (answered with `[2]`). Any other kind, or an empty body, is dropped like a
//! one-way message.
//!
//! Frames are limited to 16 MiB of payload (plus the kind byte), the limit
//! Veltix and the SHA-256 baseline use, rather than `LengthDelimitedCodec`'s
//! 8 MiB default, so the baselines accept the same messages.

use std::io;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedRead, FramedWrite, LengthDelimitedCodec};

use super::{ClientStream as _, CountedTcp, MAX_PAYLOAD};
use crate::client::{EchoReceiver, EchoSender, Target, ended_early};
use crate::counted::{Counted, WireBytes};

/// Echo request: the server answers with the same frame.
const ECHO: u8 = 0;
/// One-way message: the server drops it.
const SINK: u8 = 1;
/// Ping: the server answers with a body of just this byte.
const PING: u8 = 2;

/// The largest frame body: the kind byte and the payload.
const MAX_BODY: usize = 1 + MAX_PAYLOAD;
/// The length prefix, `LengthDelimitedCodec`'s default: 4 bytes, big-endian.
const LENGTH_LEN: usize = 4;

/// `LengthDelimitedCodec`'s wire format and reader, with a writer that puts
/// the kind byte and the payload straight into the write buffer.
///
/// `LengthDelimitedCodec`'s own encoder takes the whole body as one `Bytes`,
/// so prefixing the kind would mean copying every payload into a new buffer
/// before the encoder copies it again into the write buffer: twice the
/// copies Veltix and the SHA-256 baseline make, which would lower the floor
/// this baseline is meant to be (it shows on the 1 MiB scenario).
#[derive(Debug)]
pub(crate) struct LdCodec {
    /// Reassembles frames and refuses a length over [`MAX_BODY`] from the
    /// prefix alone, before reserving anything.
    inner: LengthDelimitedCodec,
}

impl LdCodec {
    /// A codec with the 16 MiB payload limit.
    pub(crate) fn new() -> Self {
        Self {
            inner: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_BODY)
                .new_codec(),
        }
    }
}

impl Decoder for LdCodec {
    /// The body, `[kind][payload]`.
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        self.inner.decode(src)
    }
}

impl Encoder<(u8, Bytes)> for LdCodec {
    type Error = io::Error;

    /// Writes `[length][kind][payload]`, the same bytes
    /// `LengthDelimitedCodec` would write for the body `[kind][payload]`.
    fn encode(&mut self, (kind, payload): (u8, Bytes), dst: &mut BytesMut) -> io::Result<()> {
        let body_len = 1 + payload.len();
        // A body the peer would refuse is refused here, with a clear error,
        // rather than by the peer closing the connection.
        let prefix = u32::try_from(body_len)
            .ok()
            .filter(|_| body_len <= MAX_BODY)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "payload over 16 MiB"))?;
        dst.reserve(LENGTH_LEN + body_len);
        dst.put_u32(prefix);
        dst.put_u8(kind);
        dst.put_slice(&payload);
        Ok(())
    }
}

/// A client over one `Framed<TcpStream, LdCodec>` (its bytes counted).
pub(crate) struct LdClient {
    /// The connection; its write buffer holds one-way messages until the
    /// next request flushes them (or the buffer passes its backpressure
    /// boundary).
    framed: Framed<CountedTcp, LdCodec>,
}

impl LdClient {
    /// Sends `kind` and `payload`, flushing everything buffered before it,
    /// and waits for the next frame. One request is in flight at a time, so
    /// the next frame is the answer.
    async fn round_trip(&mut self, kind: u8, payload: Bytes) -> io::Result<BytesMut> {
        self.framed.send((kind, payload)).await?;
        match self.framed.next().await {
            Some(frame) => frame,
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

impl crate::client::BenchClient for LdClient {
    type Sender = LdSender;
    type Receiver = LdReceiver;

    async fn connect(target: Target) -> io::Result<Self> {
        // With TCP_NODELAY: requests are small and waited on, no Nagle delay.
        let stream = CountedTcp::connect(&target).await?;
        Ok(Self {
            framed: super::client_framed(stream, LdCodec::new()),
        })
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let answer = self.round_trip(ECHO, payload).await?;
        echo_payload(answer)
    }

    async fn ping(&mut self) -> io::Result<()> {
        let answer = self.round_trip(PING, Bytes::new()).await?;
        match &answer[..] {
            [PING] => Ok(()),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not a pong")),
        }
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        // Buffered: `feed` writes only once the write buffer passes Framed's
        // backpressure boundary, and the next request flushes the rest.
        self.framed.feed((SINK, payload)).await
    }

    async fn close(mut self) {
        // Flushes what is buffered, then shuts the write side down. The
        // connection is going away: there is no one to report an error to.
        let _ = futures::SinkExt::<(u8, Bytes)>::close(&mut self.framed).await;
    }

    fn wire(&self) -> Option<WireBytes> {
        Some(self.framed.get_ref().wire())
    }

    async fn split(self) -> io::Result<(LdSender, LdReceiver)> {
        let (writer, reader) = super::split_client(self.framed, LdCodec::new)?;
        Ok((LdSender(writer), LdReceiver(reader)))
    }
}

/// The payload of an echo frame body, `[ECHO][payload]`.
fn echo_payload(body: BytesMut) -> io::Result<Bytes> {
    match body.first() {
        // The payload shares the read buffer: no copy.
        Some(&ECHO) => Ok(body.freeze().slice(1..)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not an echo")),
    }
}

/// The write half of a split [`LdClient`].
pub(crate) struct LdSender(FramedWrite<Counted<OwnedWriteHalf>, LdCodec>);

impl EchoSender for LdSender {
    async fn send_echo(&mut self, payload: Bytes) -> io::Result<()> {
        // Buffered up to the write batch, as one-way messages are.
        self.0.feed((ECHO, payload)).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        futures::SinkExt::<(u8, Bytes)>::flush(&mut self.0).await
    }

    async fn close(mut self) {
        let _ = futures::SinkExt::<(u8, Bytes)>::close(&mut self.0).await;
    }
}

/// The read half of a split [`LdClient`].
pub(crate) struct LdReceiver(FramedRead<Counted<OwnedReadHalf>, LdCodec>);

impl EchoReceiver for LdReceiver {
    async fn next_echo(&mut self) -> io::Result<Bytes> {
        echo_payload(self.0.next().await.ok_or_else(ended_early)??)
    }
}

/// The LengthDelimited baseline server: accepts forever (until an accept
/// error), one task per connection; echo requests and pings are answered,
/// everything else is dropped.
pub(crate) async fn serve_ld(listener: TcpListener) -> io::Result<()> {
    super::serve::accept_loop(listener, LdCodec::new, answer, None).await
}

/// The server's answer to one frame body, if any.
fn answer(body: BytesMut) -> Option<(u8, Bytes)> {
    match body.first() {
        // The echoed payload shares the read buffer: the only copy is the
        // one into the write buffer.
        Some(&ECHO) => Some((ECHO, body.freeze().slice(1..))),
        Some(&PING) => Some((PING, Bytes::new())),
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
        spawn_server(serve_ld).await
    }

    #[tokio::test]
    async fn client_and_server_round_trip() {
        round_trip::<LdClient>(server().await).await;
    }

    #[test]
    fn encoder_writes_what_length_delimited_codec_writes() {
        let mut ours = BytesMut::new();
        LdCodec::new()
            .encode((ECHO, Bytes::from_static(b"hello")), &mut ours)
            .unwrap();
        let mut theirs = BytesMut::new();
        LengthDelimitedCodec::new()
            .encode(Bytes::from_static(b"\0hello"), &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(
            LdCodec::new().decode(&mut ours).unwrap().as_deref(),
            Some(&b"\0hello"[..])
        );
    }

    #[test]
    fn encoder_refuses_a_payload_over_the_limit() {
        let too_long = Bytes::from(vec![0; MAX_PAYLOAD + 1]);
        let mut dst = BytesMut::new();
        let err = LdCodec::new()
            .encode((SINK, too_long), &mut dst)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(dst.is_empty());
    }

    #[tokio::test]
    async fn pipelined_requests_are_all_answered_in_order() {
        let addr = server().await;
        tokio::time::timeout(LIMIT, async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut codec = LdCodec::new();
            let mut out = BytesMut::new();
            for i in 0..100u8 {
                codec
                    .encode((ECHO, Bytes::from(vec![i; 3])), &mut out)
                    .unwrap();
            }
            codec.encode((PING, Bytes::new()), &mut out).unwrap();
            stream.write_all(&out).await.unwrap();

            let mut framed = Framed::new(stream, LdCodec::new());
            for i in 0..100u8 {
                let frame = framed.next().await.unwrap().unwrap();
                assert_eq!(&frame[..], &[ECHO, i, i, i][..]);
            }
            assert_eq!(&framed.next().await.unwrap().unwrap()[..], &[PING][..]);
        })
        .await
        .expect("within the time limit");
    }

    #[tokio::test]
    async fn server_closes_on_a_length_over_the_limit() {
        let addr = server().await;
        tokio::time::timeout(LIMIT, async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let too_long = u32::try_from(MAX_BODY + 1).unwrap();
            stream.write_all(&too_long.to_be_bytes()).await.unwrap();
            stream.write_all(&[ECHO]).await.unwrap();
            // The server closes without answering (a reset is a close too).
            let mut rest = Vec::new();
            let read = stream.read_to_end(&mut rest).await;
            assert!(read.map_or(true, |n| n == 0), "no answer expected");
        })
        .await
        .expect("within the time limit");
    }
}
