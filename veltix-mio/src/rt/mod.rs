//! The in-house runtime: one event-loop thread implementing the driver's
//! runtime trait.

mod budget;
mod executor;
mod reactor;
mod runtime;

pub(crate) use reactor::on_loop_thread;
pub use runtime::{Mio, MioListener, MioSocket, MioTimer};

/// The async server of `veltix-driver` on the mio event loop (the API of `veltix-tokio`).
pub type AsyncServer = veltix_driver::Server<Mio>;

/// The async client of `veltix-driver` on the mio event loop (the API of `veltix-tokio`).
pub type AsyncClient = veltix_driver::Client<Mio>;

/// A peer of an [`AsyncServer`]: the driver's peer, with async methods.
pub type AsyncPeer = veltix_driver::Peer;

/// For callers that open [`MioConnection`](crate::MioConnection)s and use
/// the driver's API too: `?` from one into the other's error.
impl From<crate::OpenError> for veltix_driver::Error {
    fn from(err: crate::OpenError) -> Self {
        match err {
            crate::OpenError::Config(err) => Self::Config(err),
            crate::OpenError::Io(err) => Self::Io(err),
        }
    }
}
