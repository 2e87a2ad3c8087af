//! The classic Veltix frame (`docs/protocol.md` §1): header layout, encoder and
//! streaming decoder, usable on their own below the [`Connection`](crate::Connection).
//!
//! A frame is a 62-byte header (type code, payload length, SHA-256 of the
//! payload, timestamp, request id; all big-endian) followed by the payload.
//! Python Veltix 1.2 – 1.6.1 and this crate's native dialect speak it.
//!
//! Between two native peers, the handshake may agree on [`FrameOptions`]
//! (payload compression, no per-frame hash under an authenticated
//! transport); an [`Encoder`] and a [`Decoder`] set to the same options
//! speak that variant. The default options are the plain frame, byte for
//! byte.
//!
//! The compact "VX" frame of Python Veltix 3.x lives in
//! [`compact`](crate::compact); [`wire`](crate::wire) is the seam that
//! lets the connection use either. [`EncodedFrame`], [`DecodeError`] and
//! [`PayloadTooLongError`] are shared with it and re-exported here.

mod decode;
mod encode;
mod header;

pub use crate::wire::{DEFAULT_MAX_PAYLOAD, DecodeError, EncodedFrame, PayloadTooLongError};
pub use decode::Decoder;
pub use encode::{Encoder, FrameOptions, encode, payload_hash};
pub use header::{HEADER_LEN, Header, NO_HASH, TIMESTAMP_COMPRESSED, offset};

#[cfg(test)]
pub(crate) use encode::hash_count;
