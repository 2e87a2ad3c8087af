//! Veltix on tokio.
//!
//! Structured binary messages over TCP with SHA-256 integrity,
//! request/response with timeouts, ping with round-trip times, broadcast, a
//! versioned handshake with optional pre-shared-key authentication, and limits
//! that keep a hostile peer from hurting anyone else. Speaks the wire format of
//! Python Veltix 1.x, so Python peers work too.
//!
//! ```no_run
//! use std::time::Duration;
//! use veltix_tokio::{Client, ClientConfig, Message, MessageType, Server, ServerConfig, ServerEvent};
//!
//! # #[tokio::main] async fn main() -> Result<(), veltix_tokio::Error> {
//! let server = Server::bind(ServerConfig::new("127.0.0.1:7000")).await?;
//! let mut events = server.events();
//! let echo = server.clone();
//! tokio::spawn(async move {
//!     while let Some(event) = events.next().await {
//!         if let ServerEvent::Message { peer, message } = event {
//!             let answer = Message::new(message.message_type(), message.payload().clone());
//!             let _ = echo.reply(peer, &message, answer).await;
//!         }
//!     }
//! });
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:7000")).await?;
//! let kind = MessageType::new(200).expect("user types start at 200");
//! let reply = client.request(Message::new(kind, "hello"), Duration::from_secs(1)).await?;
//! assert_eq!(&reply.payload()[..], b"hello");
//! println!("ping: {:?}", client.ping(Duration::from_secs(2)).await?);
//! # Ok(()) }
//! ```
//!
//! The same API exists for smol (`veltix-smol`) and as a threaded, blocking
//! variant on mio (`veltix-mio`); all run the same driver (`veltix-driver`)
//! over the same sans-IO core (`veltix-core`).
#![forbid(unsafe_code)]

#[cfg(feature = "codec")]
pub mod codec;
mod runtime;

pub use runtime::{Tokio, TokioListener, TokioSocket, TokioTimer};
/// TLS 1.3 settings, certificates and pins (the `veltix-tls` crate).
pub use veltix_driver::tls;
pub use veltix_driver::{
    ClientConfig, ClientEvent, ClientEvents, ClientTls, CloseCode, CloseReason, Compression,
    ConnectionConfig, Dialect, Error, FlowControl, HandshakeError, HandshakeMode, Incoming,
    JsonError, KeyStore, Message, MessageType, Peer, PeerId, PeerInfo, PreSharedKey, Reconnect,
    RequestId, SendError, ServerConfig, ServerEvent, ServerEvents, Stats, TextError,
};

/// A Veltix server on tokio. See [`veltix_driver::Server`] for every method.
pub type Server = veltix_driver::Server<Tokio>;

/// A Veltix client on tokio. See [`veltix_driver::Client`] for every method.
pub type Client = veltix_driver::Client<Tokio>;
