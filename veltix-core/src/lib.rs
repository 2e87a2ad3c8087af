//! Sans-IO protocol core of Veltix.
//!
//! This crate turns bytes into events and events into bytes; it never opens a
//! socket, reads a clock, spawns a thread or asks the OS for randomness. Time
//! and random seeds are passed in by the driver, so the same inputs always give
//! the same outputs and the whole crate can be fuzzed and tested with virtual time.
//!
//! - [`frame`]: the classic wire format (62-byte header, SHA-256) — the
//!   streaming [`frame::Decoder`], usable on its own.
//! - [`compact`]: the compact "VX" wire of Python Veltix 3.x (15-byte header,
//!   CRC-32) — the streaming [`compact::Decoder`].
//! - [`compression`]: payload compression of the native dialect
//!   (negotiated; LZ4), with its decompression-bomb limits.
//! - [`wire`]: the seam over both — [`wire::Wire`],
//!   [`EncodedFrame`](wire::EncodedFrame) (encode once, send to many) and a
//!   decoder for either.
//! - [`Connection`]: the protocol state machine for one peer — handshake,
//!   authentication, requests, ping, heartbeat, limits, close — in the
//!   [`Dialect`] its configuration names: ours, Python Veltix 1.4–1.6's,
//!   Python Veltix 3.x's, or none.
//! - [`Message`], [`MessageType`], [`RequestId`]: the values on the wire;
//!   typed payloads with [`Message::text`] and, with the `serde` feature,
//!   [`Message::json`]; [`Message::latency`] once a driver stamps the
//!   receive time.
//!
//! # Features
//!
//! - `serde` (on by default): [`Message::json`] and [`Message::parse_json`].
//! - `arbitrary`: [`arbitrary::Arbitrary`](https://docs.rs/arbitrary) for
//!   [`Message`], [`MessageType`] and [`RequestId`], to fuzz one's own
//!   handlers with Veltix messages; `examples/fuzz_handler.rs` shows how.
//!
//! # Run loop
//!
//! A driver owns the transport and one [`Connection`] per peer, and repeats:
//!
//! 1. feed what the transport read to [`Connection::handle_input`];
//! 2. apply the application's mutators ([`Connection::send`],
//!    [`Connection::request`], [`Connection::ping`], …);
//! 3. write what [`Connection::poll_transmit`] hands out;
//! 4. dispatch every [`Connection::poll_event`];
//! 5. sleep until input arrives or [`Connection::poll_timeout`] passes, then
//!    call [`Connection::handle_timeout`].
//!
//! Every call takes the driver's `now`; the connection never reads a clock.
//! Two connections wired back to back in memory, with time moved by hand:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Buf;
//! use veltix_core::{Connection, ConnectionConfig, Event, Message, MessageType, Role};
//!
//! let start = Instant::now(); // the driver's clock; the core never reads one
//! let config = ConnectionConfig::default();
//! let mut client = Connection::new(Role::Client, config.clone(), start, 0, [1; 32])?;
//! let mut server = Connection::new(Role::Server, config, start, 0, [2; 32])?;
//!
//! // Move every queued byte from one side to the other.
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     while let Some(mut t) = from.poll_transmit() {
//!         let bytes = t.copy_to_bytes(t.remaining());
//!         to.handle_input(now, &bytes);
//!     }
//! }
//!
//! let chat = MessageType::new(200)?;
//! // Sent before the handshake is over: held back, then released in order.
//! let id = client.request(start, Message::new(chat, "hi"), Duration::from_secs(5))?;
//! let mut now = start;
//! for _ in 0..3 {
//!     now += Duration::from_millis(1);
//!     pump(&mut client, &mut server, now);
//!     while let Some(event) = server.poll_event() {
//!         if let Event::Message(msg) = event {
//!             server.reply(now, &msg, Message::new(chat, "hello back"))?;
//!         }
//!     }
//!     pump(&mut server, &mut client, now);
//! }
//! let mut answered = false;
//! while let Some(event) = client.poll_event() {
//!     if let Event::Response { request_id, message } = event {
//!         assert_eq!(request_id, id);
//!         assert_eq!(&message.payload()[..], b"hello back");
//!         answered = true;
//!     }
//! }
//! assert!(answered);
//! // The next timer (the heartbeat, after 10 s of send-silence) is in the future.
//! assert!(client.poll_timeout() > Some(now));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod compact;
pub mod compression;
mod connection;
pub mod flow;
pub mod frame;
mod message;
mod message_type;
mod payload;
mod request_id;
pub mod wire;

pub use connection::{
    CloseCode, CloseReason, ConfigError, Connection, ConnectionConfig, ConnectionStats, Dialect,
    Event, HandshakeError, HandshakeMode, KeyStore, MAX_CLIENT_ID_LEN, PROTOCOL_VERSION, PeerInfo,
    PreSharedKey, RequestError, Role, SendError, Transmit,
};
pub use message::Message;
pub use message_type::{MessageType, ReservedTypeError};
#[cfg(feature = "serde")]
pub use payload::JsonError;
pub use payload::TextError;
pub use request_id::{ParseRequestIdError, RequestId};
