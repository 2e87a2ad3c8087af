//! Sans-IO protocol core of Veltix.
//!
//! This crate turns bytes into events and events into bytes; it never opens a
//! socket, reads a clock, spawns a thread or asks the OS for randomness. Time
//! and random seeds are passed in by the driver, so the same inputs always give
//! the same outputs and the whole crate can be fuzzed and tested with virtual time.
//!
//! - [`frame`]: the classic wire format — [`frame::EncodedFrame`] and the
//!   streaming [`frame::Decoder`], usable on their own.
//! - [`Message`], [`MessageType`], [`RequestId`]: the values on the wire.
#![forbid(unsafe_code)]

mod connection;
pub mod frame;
mod message;
mod message_type;
mod request_id;

pub use connection::{
    CloseCode, CloseReason, ConfigError, Connection, ConnectionConfig, ConnectionStats, Event,
    HandshakeMode, PROTOCOL_VERSION, PeerInfo, PreSharedKey, RequestError, Role, SendError,
    Transmit,
};
pub use message::Message;
pub use message_type::{MessageType, ReservedTypeError};
pub use request_id::{ParseRequestIdError, RequestId};
