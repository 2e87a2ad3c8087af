//! The classic Veltix frame (PROTOCOL.md §1): header layout, encoder and
//! streaming decoder, usable on their own below the [`Connection`](crate::Connection).
//!
//! A frame is a 62-byte header (type code, payload length, SHA-256 of the
//! payload, timestamp, request id; all big-endian) followed by the payload.
//!
//! This module is the seam between the wire format and the protocol logic:
//! the connection only ever calls [`EncodedFrame::new`] and
//! [`Decoder::decode`], so a second wire format (the compact "VX" frame of
//! Python Veltix 3.x) can be added here without touching the connection.

mod decode;
mod encode;
mod header;

pub use decode::{DEFAULT_MAX_PAYLOAD, DecodeError, Decoder};
pub use encode::{EncodedFrame, PayloadTooLongError, encode, payload_hash};
pub use header::{HEADER_LEN, Header, offset};
