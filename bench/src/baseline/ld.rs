//! tokio + `LengthDelimitedCodec` (4-byte big-endian length), no hashing.
//! A frame's body is `[kind][payload]`: kind 0 is an echo request (answered
//! with the same frame), 1 a one-way message (dropped), 2 a ping (answered
//! with `[2]`).

use std::io;
use std::net::SocketAddr;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const ECHO: u8 = 0;
const SINK: u8 = 1;
const PING: u8 = 2;

/// A client over one `Framed<TcpStream, LengthDelimitedCodec>`.
pub(crate) struct LdClient {
    framed: Framed<TcpStream, LengthDelimitedCodec>,
}

impl LdClient {
    fn frame(kind: u8, payload: &[u8]) -> Bytes {
        let mut body = BytesMut::with_capacity(1 + payload.len());
        body.put_u8(kind);
        body.put_slice(payload);
        body.freeze()
    }

    /// Sends `body` and waits for the next frame.
    async fn round_trip(&mut self, body: Bytes) -> io::Result<BytesMut> {
        self.framed.send(body).await?;
        match self.framed.next().await {
            Some(frame) => frame,
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

impl crate::client::BenchClient for LdClient {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            framed: Framed::new(stream, LengthDelimitedCodec::new()),
        })
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let answer = self.round_trip(Self::frame(ECHO, &payload)).await?;
        match answer.first() {
            Some(&ECHO) => Ok(answer.freeze().slice(1..)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not an echo")),
        }
    }

    async fn ping(&mut self) -> io::Result<()> {
        let answer = self.round_trip(Bytes::from_static(&[PING])).await?;
        match &answer[..] {
            [PING] => Ok(()),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not a pong")),
        }
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        // Buffered: Framed writes once its buffer passes its backpressure
        // boundary, and the next request flushes the rest.
        self.framed.feed(Self::frame(SINK, &payload)).await
    }

    async fn close(mut self) {
        let _ = futures::SinkExt::<Bytes>::close(&mut self.framed).await;
    }
}

/// The LengthDelimited baseline server.
pub(crate) async fn serve_ld(listener: TcpListener) -> io::Result<()> {
    super::serve::accept_loop(
        listener,
        LengthDelimitedCodec::new,
        |frame: BytesMut| match frame.first() {
            Some(&ECHO | &PING) => Some(frame.freeze()),
            _ => None,
        },
    )
    .await
}
