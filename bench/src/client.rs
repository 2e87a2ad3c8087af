//! The one interface every scenario drives: Veltix on each runtime and the
//! two hand-written baselines implement it, so a scenario is written once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;

/// One client connection, used by one task at a time.
pub(crate) trait BenchClient: Sized + Send + 'static {
    /// Connects (and, for Veltix, completes the handshake).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send;

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
}
