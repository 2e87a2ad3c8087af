//! Veltix on mio (docs to come).
#![forbid(unsafe_code)]

mod executor;
mod reactor;
mod runtime;

pub use runtime::{Mio, MioListener, MioSocket, MioTimer};

/// The async server of `veltix-driver` on the mio event loop.
pub type AsyncServer = veltix_driver::Server<Mio>;
/// The async client of `veltix-driver` on the mio event loop.
pub type AsyncClient = veltix_driver::Client<Mio>;
/// Threaded server (to come).
pub type Server = AsyncServer;
/// Threaded client (to come).
pub type Client = AsyncClient;
