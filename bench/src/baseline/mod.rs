//! Hand-written tokio baselines, the yardsticks every Veltix figure is
//! divided by. Both are the code an experienced tokio user would write for
//! the same job — one task per connection, `tokio_util` framing, `TCP_NODELAY`,
//! one-way messages buffered on the client, answers written in batches on the
//! server — and share nothing with Veltix's driver or core: no connection,
//! frame or codec code, so a bug or a shortcut there cannot flatter Veltix.
//!
//! - [`ld`]: `LengthDelimitedCodec`, no integrity check: the floor of what
//!   framing over tokio costs. Veltix does more work per message (a 62-byte
//!   header and SHA-256 of every payload, hashed by the sender and again by
//!   the receiver), so it is expected to be slower on throughput, most of all
//!   on large messages where hashing dominates; on round trips, where the
//!   hops between tasks and the syscalls matter more than the bytes, it
//!   should come close.
//! - [`sha`]: Veltix's own 62-byte header and SHA-256 of every payload,
//!   written on send and checked on receipt: the same hashing work as Veltix,
//!   so the difference between Veltix and this baseline is the library's own
//!   overhead (its tasks, channels, buffers and bookkeeping).

//! - [`tls`]: the [`sha`] baseline over `tokio-rustls`, with the same
//!   rustls configurations as Veltix's TLS rows: what Veltix over TLS is
//!   divided by. Its client splits the stream with `tokio::io::split`, as
//!   a tokio user pipelining over TLS does.

mod ld;
mod serve;
mod sha;
mod tls;

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Framed, FramedRead, FramedWrite};

use crate::client::Target;
use crate::counted::{Counted, WireBytes};

pub(crate) use ld::{LdClient, serve_ld};
pub(crate) use sha::{ShaClient, serve_sha};
pub(crate) use tls::{ShaTlsClient, serve_sha_tls};

/// The byte stream under a baseline client: TCP, or TLS over TCP.
pub(crate) trait ClientStream:
    AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static
{
    /// The halves of a split stream, for a task that reads while another writes.
    type ReadHalf: AsyncRead + Unpin + Send + 'static;
    /// See [`ReadHalf`](Self::ReadHalf).
    type WriteHalf: AsyncWrite + Unpin + Send + 'static;

    /// Connects to `target` with `TCP_NODELAY` (requests are small and
    /// waited on: no Nagle delay) and, over TLS, completes the TLS handshake.
    fn connect(target: &Target) -> impl Future<Output = io::Result<Self>> + Send;

    /// Splits the stream into its two halves.
    fn split(self) -> (Self::ReadHalf, Self::WriteHalf);

    /// Bytes the TCP socket under the stream has sent and received so far
    /// (under TLS, the encrypted records).
    fn wire(&self) -> WireBytes;
}

/// A TCP stream whose bytes are counted ([`crate::counted`]): one atomic
/// add per read or write call.
pub(crate) type CountedTcp = Counted<TcpStream>;

impl ClientStream for CountedTcp {
    type ReadHalf = Counted<OwnedReadHalf>;
    type WriteHalf = Counted<OwnedWriteHalf>;

    async fn connect(target: &Target) -> io::Result<Self> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        Ok(Counted::new(stream))
    }

    fn split(self) -> (Self::ReadHalf, Self::WriteHalf) {
        let (stream, counter) = self.into_parts();
        let (read, write) = stream.into_split();
        (
            Counted::with(read, counter.clone()),
            Counted::with(write, counter),
        )
    }

    fn wire(&self) -> WireBytes {
        Counted::wire(self)
    }
}

/// The largest payload either baseline accepts: Veltix's default limit, so
/// all implementations accept the same messages.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// How many bytes a client's write buffer collects before `feed` writes them
/// out: Veltix's driver coalesces small frames into writes of up to 64 KiB,
/// so the baselines batch pipelined one-way messages the same way rather
/// than in `Framed`'s default 8 KiB batches (measured on loopback: 10 % of
/// the LengthDelimited baseline's 64 B one-way throughput, 30 % of the
/// SHA-256 baseline's).
const WRITE_BATCH: usize = 64 * 1024;

/// A `Framed` client connection with [`WRITE_BATCH`] as its backpressure
/// boundary.
fn client_framed<S: ClientStream, C>(stream: S, codec: C) -> Framed<S, C> {
    let mut framed = Framed::new(stream, codec);
    framed.set_backpressure_boundary(WRITE_BATCH);
    framed
}

/// A client connection's two halves, for one task that writes (batched
/// like [`client_framed`]) and another that reads at the same time: what a
/// tokio program pipelining requests does. `codec` makes the reader's codec.
///
/// # Errors
/// When the connection was used already: bytes buffered in `framed` would be lost.
#[allow(clippy::type_complexity)]
fn split_client<S: ClientStream, C>(
    framed: Framed<S, C>,
    codec: impl FnOnce() -> C,
) -> io::Result<(FramedWrite<S::WriteHalf, C>, FramedRead<S::ReadHalf, C>)> {
    let parts = framed.into_parts();
    if !parts.read_buf.is_empty() || !parts.write_buf.is_empty() {
        return Err(io::Error::other("a used connection cannot be split"));
    }
    let (read, write) = parts.io.split();
    let mut writer = FramedWrite::new(write, parts.codec);
    writer.set_backpressure_boundary(WRITE_BATCH);
    Ok((writer, FramedRead::new(read, codec())))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::net::TcpListener;

    use crate::client::{BenchClient, EchoReceiver as _, EchoSender as _, Target};
    use crate::wire::payload;

    /// Every baseline test is bounded: a hang fails instead of blocking the suite.
    pub(super) const LIMIT: Duration = Duration::from_secs(20);

    /// Starts a baseline server on a free loopback port.
    pub(super) async fn spawn_server<F>(serve: fn(TcpListener) -> F) -> SocketAddr
    where
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        addr
    }

    /// [`exercise`] with client `C` against `addr`, within [`LIMIT`].
    pub(super) async fn round_trip<C: BenchClient>(addr: SocketAddr) {
        tokio::time::timeout(LIMIT, exercise::<C>(addr))
            .await
            .expect("within the time limit")
            .unwrap();
    }

    /// What the scenarios do with a client, on a small scale: a request,
    /// a ping, a thousand one-way messages followed by a request (whose
    /// answer proves they all arrived), an empty and a 1 MiB payload; then
    /// a split connection's pipelined echoes, read while they are sent.
    async fn exercise<C: BenchClient>(addr: SocketAddr) -> io::Result<()> {
        exercise_target::<C>(Target::plain(addr, false)).await
    }

    /// [`exercise`] against `target`, which may be over TLS.
    pub(super) async fn exercise_target<C: BenchClient>(target: Target) -> io::Result<()> {
        let mut client = C::connect(target.clone()).await?;
        let body = payload(1, 64);
        assert_eq!(client.request(body.clone()).await?, body);
        client.ping().await?;
        for i in 0..1000 {
            client.send(payload(i, 100)).await?;
        }
        let after = payload(2, 8);
        assert_eq!(client.request(after.clone()).await?, after);
        assert_eq!(client.request(Bytes::new()).await?, Bytes::new());
        let large = payload(3, 1 << 20);
        for _ in 0..3 {
            client.send(large.clone()).await?;
        }
        assert_eq!(client.request(large.clone()).await?, large);
        client.ping().await?;
        client.close().await;

        // The server serves a second connection after the first has gone.
        let mut again = C::connect(target.clone()).await?;
        again.ping().await?;
        again.close().await;

        let (mut sender, mut receiver) = C::connect(target).await?.split().await?;
        let reading = tokio::spawn(async move {
            for i in 0..5000 {
                assert_eq!(receiver.next_echo().await?, payload(i, 64), "echo {i}");
            }
            io::Result::Ok(())
        });
        for i in 0..5000 {
            sender.send_echo(payload(i, 64)).await?;
        }
        sender.flush().await?;
        reading.await.expect("the reader did not panic")?;
        sender.close().await;
        Ok(())
    }
}
