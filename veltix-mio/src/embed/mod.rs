//! Embedded: a Veltix connection in your own `mio::Poll`.

mod connection;
mod error;

pub use connection::MioConnection;
pub use error::OpenError;
