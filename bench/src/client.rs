//! The one interface every scenario drives: Veltix on each runtime, the
//! threaded mio client and the two hand-written baselines implement it, so a
//! scenario is written once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use veltix_core::Dialect;
use veltix_core::compression::Compression;
use veltix_tls::TlsClientConfig;

use crate::counted::WireBytes;

/// The server a client connects to, and how.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The server's address.
    pub(crate) addr: SocketAddr,
    /// Whether a Veltix client runs the handshake. Off for servers that have
    /// none (Python Veltix 1.x): `ClientConfig::legacy()`. The baselines
    /// never run one (Veltix servers accept such legacy peers).
    pub(crate) handshake: bool,
    /// The dialect a Veltix client speaks (`--dialect`); the server speaks
    /// the same. The baselines have one wire of their own and ignore it.
    pub(crate) dialect: Dialect,
    /// TLS 1.3 to a server whose key is pinned (the TLS rows, and the
    /// rustls baseline); `None`: plaintext.
    pub(crate) tls: Option<TlsClientConfig>,
    /// What a Veltix client offers in its handshake
    /// (`ConnectionConfig::compression`); its server offers the same. The
    /// baselines compress nothing and ignore it.
    pub(crate) compression: Option<Compression>,
}

#[cfg(test)]
impl Target {
    /// A plaintext target in the native dialect.
    pub(crate) fn plain(addr: SocketAddr, handshake: bool) -> Self {
        Self {
            addr,
            handshake,
            dialect: Dialect::Native,
            tls: None,
            compression: None,
        }
    }
}

/// One client connection, used by one task at a time.
pub(crate) trait BenchClient: Sized + Send + 'static {
    /// The sending half of a split connection.
    type Sender: EchoSender;
    /// The receiving half of a split connection.
    type Receiver: EchoReceiver;

    /// Connects (and, for Veltix unless `target.handshake` is off,
    /// completes the handshake).
    fn connect(target: Target) -> impl Future<Output = io::Result<Self>> + Send;

    /// Sends an echo request and waits for its answer (the same payload).
    fn request(&mut self, payload: Bytes) -> impl Future<Output = io::Result<Bytes>> + Send;

    /// Sends a ping and waits for the pong.
    fn ping(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Sends a one-way message that the server only receives and checks.
    /// May buffer: the next `request` pushes everything before it out, and
    /// its answer proves the server has received everything sent before it.
    fn send(&mut self, payload: Bytes) -> impl Future<Output = io::Result<()>> + Send;

    /// Closes the connection.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// Bytes this connection's socket has sent and received so far
    /// ([`crate::counted`]); `None` for a client whose socket the bench
    /// cannot count.
    fn wire(&self) -> Option<WireBytes> {
        None
    }

    /// Splits a fresh connection (nothing sent on it yet) into a half that
    /// sends echo requests and a half that reads their echoes, for two
    /// tasks to use at once.
    fn split(self) -> impl Future<Output = io::Result<(Self::Sender, Self::Receiver)>> + Send;
}

/// The sending half of a split connection.
pub(crate) trait EchoSender: Send + 'static {
    /// Sends a message of the echo type as a plain message (no answer is
    /// awaited; the server answers it all the same). May buffer.
    fn send_echo(&mut self, payload: Bytes) -> impl Future<Output = io::Result<()>> + Send;

    /// Writes out whatever is buffered.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Closes the connection.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// The receiving half of a split connection.
pub(crate) trait EchoReceiver: Send + 'static {
    /// The payload of the next echo, in the order they arrive.
    fn next_echo(&mut self) -> impl Future<Output = io::Result<Bytes>> + Send;
}

/// The connection ended while echoes were awaited.
pub(crate) fn ended_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the connection ended while echoes were awaited",
    )
}
