//! The in-house runtime: one event-loop thread that implements the driver's
//! [`Runtime`](veltix_driver::Runtime) trait, so the driver's async server
//! and client run on it.
//!
//! - `reactor.rs`: the loop thread — a `mio::Poll`, the sockets it watches
//!   (each direction's readiness, with no edge lost), the timers, and a
//!   queue of ready work it runs between polls.
//! - `executor.rs`: tasks — boxed futures that, when woken, queue themselves
//!   on the reactor as ready work. The executor depends on the reactor; the
//!   reactor knows only its own `Runnable` trait, which tasks implement.
//! - `budget.rs`: how much socket work one poll of a task may do, so one
//!   busy connection cannot hold the only loop thread.
//! - `runtime.rs`: [`Mio`], the handle to the loop, and its sockets and
//!   timers, implementing the driver's traits on the two above.

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
