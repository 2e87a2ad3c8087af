//! The tiny trait a runtime implements so the driver can run on it.
//!
//! One short file per runtime (`veltix-tokio/src/runtime.rs`,
//! `veltix-smol/src/runtime.rs`, `veltix-mio/src/runtime.rs`) implements it;
//! the connection loop, the server and the client are written once, against
//! this trait. Time comes from it too ([`Runtime::now`]), so a runtime with
//! a virtual clock (tokio's `time::pause`) runs every timeout, heartbeat,
//! linger and backoff in virtual time.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

/// An async runtime: spawns tasks, makes timers and TCP sockets.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    type Socket: Socket;
    /// A listening TCP socket.
    type Listener: Listener<Socket = Self::Socket>;
    /// A resettable timer.
    type Timer: Timer;

    /// Runs `future` to completion in the background.
    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static);

    /// The runtime's monotonic clock: what its timers measure against.
    fn now(&self) -> Instant;

    /// The wall clock, for the header timestamps the core writes. The
    /// system's, unless a runtime has reason to differ.
    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }

    /// A timer that fires at `deadline`.
    fn timer(&self, deadline: Instant) -> Self::Timer;

    /// Binds a listener (with `SO_REUSEADDR` where the runtime does so).
    ///
    /// # Errors
    /// The OS's bind error.
    fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener>;

    /// Connects to `addr` with `TCP_NODELAY` set.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Socket>> + Send;
}

/// A connected TCP stream with `TCP_NODELAY` set.
pub trait Socket: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from several buffers at once.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Shuts the write half down after the last byte.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A listening TCP socket.
pub trait Listener: Send + Unpin + 'static {
    /// The stream type accepted connections are.
    type Socket: Socket;
    /// Accepts the next connection, with `TCP_NODELAY` set.
    fn poll_accept(&mut self, cx: &mut Context<'_>)
    -> Poll<io::Result<(Self::Socket, SocketAddr)>>;
    /// The bound address.
    ///
    /// # Errors
    /// The OS's error.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A timer that can be moved to a new deadline without reallocating.
pub trait Timer: Send + Unpin + 'static {
    /// Moves the deadline.
    fn reset(&mut self, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The runtime's wall clock in microseconds since the Unix epoch (0 before
/// it): receive stamps, converted once per batch.
pub(crate) fn wall_micros<R: Runtime>(runtime: &R) -> u64 {
    runtime
        .wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

/// Milliseconds since the Unix epoch on `runtime`'s wall clock (0 before it).
pub(crate) fn wall_ms<R: Runtime>(runtime: &R) -> u64 {
    runtime
        .wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Waits until `deadline` on `runtime`.
pub(crate) async fn sleep_until<R: Runtime>(runtime: &R, deadline: Instant) {
    let mut timer = runtime.timer(deadline);
    std::future::poll_fn(|cx| timer.poll_expired(cx)).await;
}

/// The listen backlog of every Veltix server: connections the kernel
/// completes before the server accepts them. std's and mio's 128 overflows
/// when a few thousand clients connect at once (each dropped handshake
/// costs its client a 1 s SYN retransmission); tokio uses 1024 too. The
/// kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 1024;

/// A nonblocking listening socket bound to `addr`, as every runtime's
/// [`Runtime::bind`] makes it: `SO_REUSEADDR` (a restarted server rebinds
/// while old connections linger in TIME_WAIT) and a backlog of
/// [`LISTEN_BACKLOG`]. A runtime wraps it in its own listener type.
///
/// # Errors
/// What `socket`, `bind` or `listen` report.
pub fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Where a test's manual clock starts. Any instant will do (a test moves its
/// clock by hand from there); it is read here, where the driver's clock
/// reads live, so the rest of the driver has none.
#[cfg(test)]
pub(crate) fn test_clock_origin() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    /// 300 clients connect to a listener that accepts nobody: the kernel
    /// completes every handshake into the backlog. With std's 128, the
    /// 130th SYN would be dropped and its connect time out here.
    #[test]
    fn the_backlog_holds_a_burst_of_connects_nobody_has_accepted_yet() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(LISTEN_BACKLOG);
        let burst = 300.min(somaxconn as usize);
        let clients: Vec<TcpStream> = (0..burst)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connect {i} of {burst}: {e}"))
            })
            .collect();
        assert_eq!(clients.len(), burst);
    }
}
