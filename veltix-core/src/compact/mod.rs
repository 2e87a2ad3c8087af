//! The compact Veltix frame of Python Veltix 2.0.3 – 3.3 (`docs/protocol.md` §7):
//! header layout, encoder and streaming decoder, usable on their own below
//! the [`Connection`](crate::Connection).
//!
//! A frame is a 15-byte header followed by the payload; integers big-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 2 | magic `56 58` (`VX`) |
//! | 2 | 1 | flags (sent 0, ignored on receive) |
//! | 3 | 2 | type code |
//! | 5 | 4 | payload length |
//! | 9 | 4 | CRC-32/IEEE of the payload (`zlib.crc32`; 0 when empty) |
//! | 13 | 2 | request id |
//!
//! There is no timestamp, and request ids are 16-bit: a [`RequestId`](crate::RequestId)
//! made by [`RequestId::from_compact`](crate::RequestId::from_compact).
//! Frames are encoded with [`EncodedFrame::new_compact`] (or
//! [`Wire::Compact`](crate::wire::Wire::Compact)) and read with [`Decoder`],
//! whose documentation states the receive policies (length limit, checksum,
//! resynchronisation on the magic).
//!
//! CRC-32 detects accidental corruption only; it is no defence against a
//! peer that means harm.

mod decode;
mod encode;
mod header;

pub use crate::wire::{DEFAULT_MAX_PAYLOAD, DecodeError, EncodeError, EncodedFrame};
pub use decode::Decoder;
pub use encode::{checksum, encode};
pub use header::{HEADER_LEN, Header, MAGIC, offset};
