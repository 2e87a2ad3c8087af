//! The mio implementation of the driver's runtime trait: tasks, sockets and
//! timers of one event-loop thread (see `reactor.rs` and `executor.rs`).

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use veltix_driver::{Listener, Runtime, Socket, Timer};

use super::executor;
use super::reactor::{self, Core, Deadline, Direction, Registered};

/// A veltix-mio event loop: one thread running a `mio::Poll`, the driver's
/// tasks, their sockets and their timers.
///
/// `Mio::default()` is the process-wide loop, started on first use; every
/// clone is a handle to the same loop. It is what the threaded
/// [`Server`](crate::Server) and [`Client`](crate::Client) run on, and what
/// [`AsyncServer`](crate::AsyncServer) and [`AsyncClient`](crate::AsyncClient)
/// run on for users who want the async API on it.
///
/// # Panics
/// `default()` panics if the OS refuses to create the poll or the thread.
#[derive(Clone)]
pub struct Mio {
    core: Arc<Core>,
}

impl Default for Mio {
    fn default() -> Self {
        Self {
            core: reactor::global(),
        }
    }
}

impl fmt::Debug for Mio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mio").finish_non_exhaustive()
    }
}

/// A TCP stream on the event loop, with `TCP_NODELAY`.
pub struct MioSocket(Registered<TcpStream>);

/// A TCP listener on the event loop.
pub struct MioListener(Registered<TcpListener>);

/// A timer of the event loop, reset in place.
pub struct MioTimer(Deadline);

impl Runtime for Mio {
    type Socket = MioSocket;
    type Listener = MioListener;
    type Timer = MioTimer;

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        executor::spawn(&self.core, future);
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn timer(&self, deadline: Instant) -> MioTimer {
        MioTimer(Deadline::new(self.core.clone(), deadline))
    }

    fn bind(&self, addr: SocketAddr) -> io::Result<MioListener> {
        let listener = TcpListener::from_std(veltix_driver::bind_listener(addr)?);
        Ok(MioListener(Registered::new(&self.core, listener)?))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<MioSocket> {
        let stream = Registered::new(&self.core, TcpStream::connect(addr)?)?;
        std::future::poll_fn(|cx| stream.poll_io(Direction::Write, cx, connected)).await?;
        stream.get().set_nodelay(true)?;
        Ok(MioSocket(stream))
    }
}

/// Whether a non-blocking connect has completed: `WouldBlock` while in progress.
fn connected(stream: &TcpStream) -> io::Result<()> {
    if let Some(err) = stream.take_error()? {
        return Err(err);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotConnected => {
            Err(io::ErrorKind::WouldBlock.into())
        }
        Err(err) => Err(err),
    }
}

impl Socket for MioSocket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.0
            .poll_read_into(cx, buf, |mut stream, buf| stream.read(buf))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_io(Direction::Write, cx, |mut stream| {
            stream.write_vectored(bufs)
        })
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.0.get().shutdown(Shutdown::Write) {
            // The peer is gone already: nothing left to shut.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
            result => result,
        })
    }
}

impl Listener for MioListener {
    type Socket = MioSocket;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(MioSocket, SocketAddr)>> {
        self.0
            .poll_io(Direction::Read, cx, TcpListener::accept)
            .map(|result| {
                let (stream, addr) = result?;
                stream.set_nodelay(true)?;
                Ok((MioSocket(Registered::new(self.0.core(), stream)?), addr))
            })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get().local_addr()
    }
}

impl Timer for MioTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.reset(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_expired(cx)
    }
}

impl fmt::Debug for MioSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MioSocket").field(self.0.get()).finish()
    }
}

impl fmt::Debug for MioListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MioListener").field(self.0.get()).finish()
    }
}

impl fmt::Debug for MioTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MioTimer").finish_non_exhaustive()
    }
}
