//! Embedded: a Veltix connection in your own `mio::Poll`.

mod connection;

pub use connection::MioConnection;
