//! Embedded: one Veltix connection in a `mio::Poll` you own.
//!
//! [`MioConnection`] (`connection.rs`) puts a sans-IO core `Connection` on a
//! `mio` TCP stream, with TLS from `veltix-tls` when asked; [`OpenError`]
//! (`error.rs`) says why one could not be opened. Nothing here uses
//! `veltix-driver`, a thread or async: this wing is all the crate is without
//! the `runtime` feature.

mod connection;
mod error;

pub use connection::MioConnection;
pub use error::OpenError;
