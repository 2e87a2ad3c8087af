//! Veltix on mio, in three wings. Pick by who owns the event loop and
//! whether your code is async:
//!
//! | you have | take | the wing |
//! |---|---|---|
//! | threads and no async; the shape of Python Veltix | [`Server`], [`Client`], [`Peer`]: blocking calls, callbacks on a worker thread | `blocking` |
//! | async code, and no tokio or smol | [`AsyncServer`], [`AsyncClient`], [`AsyncPeer`] on [`Mio`], our event-loop thread | `rt` |
//! | your own `mio::Poll` | [`MioConnection`]: one connection, driven by your loop | `embed` |
//!
//! `blocking` is built on `rt`, and `rt` on `veltix-driver`, the same
//! connection loop as `veltix-tokio`'s and `veltix-smol`'s; together they are
//! the default feature `runtime`. `embed` stands alone: with
//! `default-features = false` this crate is [`MioConnection`] on
//! `veltix-core`, `veltix-tls` and `mio`, with no driver, no thread and no
//! async.
//!
//! # Threaded: `blocking`
//!
//! The closest thing to Python Veltix. Our event-loop thread (one
//! `mio::Poll`, started on first use) runs every socket, timer and protocol
//! state machine; your threads call blocking methods with the same names as
//! `veltix-tokio`'s, and your callbacks run on a Veltix worker thread:
//!
//! ```no_run
//! use std::time::Duration;
//! use veltix_mio::{Client, ClientConfig, Message, MessageType, Server, ServerConfig};
//!
//! # fn main() -> Result<(), veltix_mio::Error> {
//! let server = Server::bind(ServerConfig::new("127.0.0.1:7000"))?;
//! server.on_message(|peer, message| {
//!     let answer = Message::new(message.message_type(), message.payload().clone());
//!     let _ = peer.reply(&message, answer);
//! });
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:7000"))?;
//! let kind = MessageType::new(200).expect("user types start at 200");
//! let reply = client.request(Message::new(kind, "hello"), Duration::from_secs(1))?;
//! assert_eq!(&reply.payload()[..], b"hello");
//! println!("ping: {:?}", client.ping(Duration::from_secs(2))?);
//! client.close()?;
//! server.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! - **Callbacks** (`on_connect`, `on_message`, `on_disconnect`) run on the
//!   Veltix worker thread, one at a time, in the order the events happened —
//!   never on the event loop, so a slow callback delays later callbacks but
//!   not the network. A callback may block, and may call `request`, `ping`,
//!   `send` or `broadcast` itself: answers reach the waiting caller directly,
//!   not through the event queue the worker is busy with.
//! - **Blocking calls** (`request(msg, timeout)`, `ping(timeout)`, `send`, …) block
//!   the calling thread and may be made from any thread but the event loop
//!   (they panic there rather than deadlock).
//! - Events without a callback go to the blocking iterator from `events()`.
//!
//! Each blocking type is its async one with blocking methods, and
//! `as_async()` returns that one ([`Server::as_async`],
//! [`Client::as_async`], [`Peer::as_async`]).
//!
//! # Async on our loop: `rt`
//!
//! [`Mio`] implements the driver's [`Runtime`] trait, so [`AsyncServer`] and
//! [`AsyncClient`] are the async server and client of `veltix-tokio` and
//! `veltix-smol` — the same driver code — on the mio event loop, for async
//! code that brings no runtime of its own. Their callbacks run on the event
//! loop and must not block.
//!
//! # Embedded: `embed`
//!
//! For a program that already has an event loop: a [`MioConnection`] is a
//! sans-IO `veltix_core::Connection` plus a `mio` TCP stream. You register it
//! with your token, hand it the events for that token and the deadline from
//! its `poll_timeout`, and drain its events: no thread, nothing hidden, and
//! nothing allocated per message beyond what the core itself does. See its
//! calling contract, and `examples/embed.rs` for one `Poll` serving a
//! listener and many connections. Opening one fails with [`OpenError`].
#![forbid(unsafe_code)]
// This page describes all three wings; without `runtime`, two are not built.
#![cfg_attr(not(feature = "runtime"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "runtime")]
mod blocking;
mod embed;
#[cfg(feature = "runtime")]
mod rt;
#[cfg(feature = "runtime")]
mod sync;

pub use embed::{MioConnection, OpenError};
pub use veltix_core::compression::Compression;
pub use veltix_core::flow::FlowControl;
pub use veltix_core::{
    CloseCode, CloseReason, ConfigError, Connection, ConnectionConfig, Dialect, Event,
    HandshakeError, HandshakeMode, JsonError, KeyStore, Message, MessageType, PeerInfo,
    PreSharedKey, RequestError, RequestId, Role, SendError, TextError,
};
/// TLS 1.3 settings, certificates and pins (the `veltix-tls` crate).
pub use veltix_tls as tls;

#[cfg(feature = "runtime")]
pub use blocking::{Client, ClientEvents, Events, Peer, Server, ServerEvents};
#[cfg(feature = "runtime")]
pub use rt::{AsyncClient, AsyncPeer, AsyncServer, Mio, MioListener, MioSocket, MioTimer};
#[cfg(feature = "runtime")]
pub use veltix_driver::{
    ClientConfig, ClientEvent, ClientTls, Error, Incoming, IntoReply, Listener, PeerId, Reconnect,
    Reply, Runtime, ServerConfig, ServerEvent, Socket, Stats, Timer,
};
