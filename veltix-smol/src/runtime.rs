//! The smol implementation of the driver's runtime trait.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use smol::Async;
use smol::io::{AsyncRead, AsyncWrite};
use veltix_driver::{Listener, Runtime, Socket, Timer, bind_listener};

/// smol's global executor, reactor and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// A smol TCP stream with `TCP_NODELAY`.
#[derive(Debug)]
pub struct SmolSocket {
    stream: Async<TcpStream>,
    /// The last read returned less than asked: the socket is empty for now,
    /// so the next read waits for readiness first instead of making a read
    /// call that can only say "would block" (async-io tries the read first).
    /// No end of stream is missed: async-io re-arms its level-triggered
    /// interest on the wait, which reports a pending end of stream at once.
    drained: bool,
}

impl SmolSocket {
    fn new(stream: Async<TcpStream>) -> Self {
        Self {
            stream,
            drained: false,
        }
    }
}

/// A smol TCP listener.
#[derive(Debug)]
pub struct SmolListener(Async<TcpListener>);

/// A smol timer that is reset in place.
#[derive(Debug)]
pub struct SmolTimer(smol::Timer);

impl Runtime for Smol {
    type Socket = SmolSocket;
    type Listener = SmolListener;
    type Timer = SmolTimer;

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn timer(&self, deadline: Instant) -> SmolTimer {
        SmolTimer(smol::Timer::at(deadline))
    }

    fn bind(&self, addr: SocketAddr) -> io::Result<SmolListener> {
        Ok(SmolListener(Async::new(bind_listener(addr)?)?))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SmolSocket> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(SmolSocket::new(stream))
    }
}

impl Socket for SmolSocket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.drained {
            ready!(self.stream.poll_readable(cx))?;
            self.drained = false;
        }
        let n = ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        self.drained = n > 0 && n < buf.len();
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // async-io's `poll_close` only flushes; the peer must see end of stream now.
        Poll::Ready(self.stream.get_ref().shutdown(Shutdown::Write))
    }
}

impl Listener for SmolListener {
    type Socket = SmolSocket;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(SmolSocket, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, addr)) => {
                    stream.set_nodelay(true)?;
                    return Poll::Ready(Ok((SmolSocket::new(Async::new(stream)?), addr)));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?
                }
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

impl Timer for SmolTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}
