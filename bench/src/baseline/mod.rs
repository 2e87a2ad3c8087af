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

mod ld;
mod serve;
mod sha;

use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub(crate) use ld::{LdClient, serve_ld};
pub(crate) use sha::{ShaClient, serve_sha};

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
fn client_framed<C>(stream: TcpStream, codec: C) -> Framed<TcpStream, C> {
    let mut framed = Framed::new(stream, codec);
    framed.set_backpressure_boundary(WRITE_BATCH);
    framed
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::net::TcpListener;

    use crate::client::BenchClient;
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
    /// answer proves they all arrived), an empty and a 1 MiB payload.
    async fn exercise<C: BenchClient>(addr: SocketAddr) -> io::Result<()> {
        let mut client = C::connect(addr).await?;
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
        let mut again = C::connect(addr).await?;
        again.ping().await?;
        again.close().await;
        Ok(())
    }
}
