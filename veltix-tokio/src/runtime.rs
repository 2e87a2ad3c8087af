//! The tokio implementation of the driver's runtime trait.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use veltix_driver::{Listener, Runtime, Socket, Timer, bind_listener};

/// The tokio runtime of the current context (`tokio::spawn`, tokio timers and sockets).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// A tokio TCP stream with `TCP_NODELAY`.
#[derive(Debug)]
pub struct TokioSocket(TcpStream);

/// A tokio TCP listener.
#[derive(Debug)]
pub struct TokioListener(TcpListener);

/// A tokio sleep that is reset in place.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl Runtime for Tokio {
    type Socket = TokioSocket;
    type Listener = TokioListener;
    type Timer = TokioTimer;

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(future);
    }

    /// tokio's clock: frozen and advanced by `tokio::time::pause` and
    /// `advance` in tests, so every Veltix timer runs in virtual time there.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn timer(&self, deadline: Instant) -> TokioTimer {
        TokioTimer(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    fn bind(&self, addr: SocketAddr) -> io::Result<TokioListener> {
        Ok(TokioListener(TcpListener::from_std(bind_listener(addr)?)?))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TokioSocket> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioSocket(stream))
    }
}

impl Socket for TokioSocket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Listener for TokioListener {
    type Socket = TokioSocket;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TokioSocket, SocketAddr)>> {
        self.0.poll_accept(cx).map(|result| {
            let (stream, addr) = result?;
            stream.set_nodelay(true)?;
            Ok((TokioSocket(stream), addr))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Timer for TokioTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
