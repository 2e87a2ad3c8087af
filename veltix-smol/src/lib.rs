//! Veltix on smol: the same `Server` and `Client` as `veltix-tokio`, with the
//! same methods, settings and behaviour, on smol's executor and reactor.
//!
//! ```no_run
//! use std::time::Duration;
//! use veltix_smol::{Client, ClientConfig, Message, MessageType, Server, ServerConfig, ServerEvent};
//!
//! # fn main() -> Result<(), veltix_smol::Error> {
//! smol::block_on(async {
//!     let server = Server::bind(ServerConfig::new("127.0.0.1:7000")).await?;
//!     server.on_message(|peer, message| {
//!         let answer = Message::new(message.message_type(), message.payload().clone());
//!         let _ = peer.try_reply(&message, answer);
//!     });
//!
//!     let client = Client::connect(ClientConfig::new("127.0.0.1:7000")).await?;
//!     let kind = MessageType::new(200).expect("user types start at 200");
//!     let reply = client.request(Message::new(kind, "hello"), Duration::from_secs(1)).await?;
//!     assert_eq!(&reply.payload()[..], b"hello");
//!     println!("ping: {:?}", client.ping(Duration::from_secs(2)).await?);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! Tasks run on smol's global executor (`SMOL_THREADS` sets its thread count,
//! default 1), so the futures above may be driven by `smol::block_on`.
#![forbid(unsafe_code)]

mod runtime;

pub use runtime::{Smol, SmolListener, SmolSocket, SmolTimer};
/// TLS 1.3 settings, certificates and pins (the `veltix-tls` crate).
pub use veltix_driver::tls;
pub use veltix_driver::{
    ClientConfig, ClientEvent, ClientEvents, ClientTls, CloseCode, CloseReason, Compression,
    ConnectionConfig, Dialect, Error, FlowControl, HandshakeError, HandshakeMode, Incoming,
    JsonError, KeyStore, Message, MessageType, Peer, PeerId, PeerInfo, PreSharedKey, Reconnect,
    RequestId, SendError, ServerConfig, ServerEvent, ServerEvents, Stats, TextError,
};

/// A Veltix server on smol. See [`veltix_driver::Server`] for every method.
pub type Server = veltix_driver::Server<Smol>;

/// A Veltix client on smol. See [`veltix_driver::Client`] for every method.
pub type Client = veltix_driver::Client<Smol>;
