//! The driver shared by every Veltix runtime adapter.
//!
//! `veltix-core` is a sans-IO state machine; this crate runs it over real
//! sockets. The connection loop (read → feed → drain → write → sleep until
//! `poll_timeout`), the peer registry, broadcast fan-out, request waiters,
//! reconnect and shutdown are written here once, against the small
//! [`Runtime`] trait. `veltix-tokio` and `veltix-smol` each implement that trait
//! in one short file and re-export [`Server`] and [`Client`] for their runtime,
//! so every runtime has the same API and the same behaviour.
//!
//! Applications use an adapter crate, not this one.
#![forbid(unsafe_code)]

mod backlog;
mod client;
mod command_queue;
mod config;
mod driver;
mod error;
mod event;
mod event_queue;
mod handle;
mod handlers;
mod meters;
mod os;
mod peer;
mod routes;
mod runtime;
mod server;
mod stats;
mod sync;

pub use client::{Client, ClientEvents};
pub use config::{ClientConfig, ClientTls, Reconnect, ServerConfig};
pub use error::Error;
pub use event::{ClientEvent, Incoming, PeerId, ServerEvent};
pub use peer::Peer;
pub use routes::{IntoReply, Reply};
pub use runtime::{LISTEN_BACKLOG, Listener, Runtime, Socket, Timer, bind_listener};
pub use server::{Server, ServerEvents};
pub use stats::Stats;
/// The error of `Message::json` and `Message::parse_json` (typed payloads).
pub use veltix_core::JsonError;
pub use veltix_core::compression::Compression;
pub use veltix_core::flow::FlowControl;
pub use veltix_core::{
    CloseCode, CloseReason, ConnectionConfig, Dialect, HandshakeError, HandshakeMode, KeyStore,
    Message, MessageType, PeerInfo, PreSharedKey, RequestId, SendError, TextError,
};
pub use veltix_tls as tls;
