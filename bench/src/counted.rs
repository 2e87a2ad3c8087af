//! Bytes on the wire, counted where the bench client's socket meets the
//! kernel: every byte a `write`/`writev` on the client's TCP socket accepted,
//! and every byte a `read` returned. On a TCP connection that is exactly the
//! stream the peer receives and sends — frame headers, compressed or plain
//! payloads, handshake, pings, and under TLS the records as encrypted — and
//! nothing else (no TCP/IP headers, no retransmissions).
//!
//! Veltix's own per-connection counters (`ConnectionStats`) are not exposed
//! by the driver, and count what the core was fed (the plaintext under
//! TLS); `/proc/net/dev` counts the whole loopback interface, which the
//! machine's other work shares. So the bench counts itself:
//!
//! - the Veltix clients connect through [`CountingRuntime`], the runtime
//!   they run on with its sockets wrapped in [`Counted`] (one atomic add per
//!   read or write call, which the driver makes 64 KiB at a time or more);
//! - the baseline clients' tokio streams are [`Counted`] too.
//!
//! The threaded mio client runs on its own event loop and cannot be given a
//! runtime: its rows have no count.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use veltix_driver::{Listener, Runtime, Socket};

/// Bytes a connection's socket has sent and received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WireBytes {
    /// Accepted by `write` calls.
    pub(crate) sent: u64,
    /// Returned by `read` calls.
    pub(crate) received: u64,
}

impl WireBytes {
    /// What was counted between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            sent: self.sent.saturating_sub(earlier.sent),
            received: self.received.saturating_sub(earlier.received),
        }
    }
}

/// The counters of one client (all its connections, reconnections
/// included), shared by its socket and whoever reads them.
#[derive(Debug, Default)]
pub(crate) struct WireCounter {
    sent: AtomicU64,
    received: AtomicU64,
}

impl WireCounter {
    /// The counts so far.
    pub(crate) fn now(&self) -> WireBytes {
        WireBytes {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }

    fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn add_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A socket, listener or tokio stream whose bytes are counted.
#[derive(Debug)]
pub(crate) struct Counted<T> {
    inner: T,
    counter: Arc<WireCounter>,
}

impl<T> Counted<T> {
    /// `inner`, counted into a fresh counter.
    pub(crate) fn new(inner: T) -> Self {
        Self::with(inner, Arc::default())
    }

    /// `inner`, counted into `counter`.
    pub(crate) fn with(inner: T, counter: Arc<WireCounter>) -> Self {
        Self { inner, counter }
    }

    /// The counts so far.
    pub(crate) fn wire(&self) -> WireBytes {
        self.counter.now()
    }

    /// What is counted, and its counter.
    pub(crate) fn into_parts(self) -> (T, Arc<WireCounter>) {
        (self.inner, self.counter)
    }
}

/// Counts `polled` (a read or write that moved `n` bytes) into `add`.
fn counted(polled: Poll<io::Result<usize>>, add: impl FnOnce(usize)) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = polled {
        add(n);
    }
    polled
}

/// Veltix runtime `R` whose sockets are [`Counted`] into one counter.
/// Everything else (tasks, timers, clocks) is `R`'s own.
#[derive(Debug, Clone)]
pub(crate) struct CountingRuntime<R> {
    inner: R,
    counter: Arc<WireCounter>,
}

impl<R> CountingRuntime<R> {
    /// `inner`, counting into `counter`.
    pub(crate) fn new(inner: R, counter: Arc<WireCounter>) -> Self {
        Self { inner, counter }
    }
}

impl<R: Runtime> Runtime for CountingRuntime<R> {
    type Socket = Counted<R::Socket>;
    type Listener = Counted<R::Listener>;
    type Timer = R::Timer;

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.inner.spawn(future);
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn wall_clock(&self) -> SystemTime {
        self.inner.wall_clock()
    }

    fn timer(&self, deadline: Instant) -> R::Timer {
        self.inner.timer(deadline)
    }

    fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        Ok(Counted::with(self.inner.bind(addr)?, self.counter.clone()))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Socket> {
        let socket = self.inner.connect(addr).await?;
        Ok(Counted::with(socket, self.counter.clone()))
    }
}

impl<S: Socket> Socket for Counted<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let counter = &self.counter;
        counted(self.inner.poll_read(cx, buf), |n| counter.add_received(n))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let counter = &self.counter;
        counted(self.inner.poll_write_vectored(cx, bufs), |n| {
            counter.add_sent(n);
        })
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown(cx)
    }
}

impl<L: Listener> Listener for Counted<L> {
    type Socket = Counted<L::Socket>;

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Socket, SocketAddr)>> {
        self.inner.poll_accept(cx).map(|accepted| {
            let (socket, addr) = accepted?;
            Ok((Counted::with(socket, self.counter.clone()), addr))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.counter.add_received(buf.filled().len() - before);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let counter = &this.counter;
        counted(Pin::new(&mut this.inner).poll_write(cx, buf), |n| {
            counter.add_sent(n);
        })
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let counter = &this.counter;
        counted(
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            |n| {
                counter.add_sent(n);
            },
        )
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn differences_never_go_below_zero() {
        let later = WireBytes {
            sent: 1000,
            received: 30,
        };
        let earlier = WireBytes {
            sent: 400,
            received: 10,
        };
        assert_eq!(
            later.since(earlier),
            WireBytes {
                sent: 600,
                received: 20
            }
        );
        assert_eq!(earlier.since(later), WireBytes::default());
    }

    #[tokio::test]
    async fn a_tokio_stream_counts_what_it_writes_and_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            let mut got = vec![0; 100_000];
            peer.read_exact(&mut got).await.unwrap();
            peer.write_all(&got[..1234]).await.unwrap();
        });
        let mut stream = Counted::new(TcpStream::connect(addr).await.unwrap());
        stream.write_all(&[7; 100_000]).await.unwrap();
        let mut back = vec![0; 1234];
        stream.read_exact(&mut back).await.unwrap();
        echo.await.unwrap();
        assert_eq!(
            stream.wire(),
            WireBytes {
                sent: 100_000,
                received: 1234
            }
        );
    }
}
