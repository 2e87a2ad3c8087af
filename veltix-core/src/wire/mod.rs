//! The seam between wire formats and the protocol logic.
//!
//! Veltix has two wires, and everything above this module is written once
//! for both:
//!
//! | [`Wire`] | header | integrity | request id | timestamp | spoken by |
//! |---|---:|---|---|---|---|
//! | [`Classic`](Wire::Classic) ([`frame`](crate::frame)) | 62 bytes | SHA-256 | 16 bytes | ms since the epoch | Python Veltix 1.2 – 1.6.1, this crate's native dialect |
//! | [`Compact`](Wire::Compact) ([`compact`](crate::compact)) | 15 bytes, magic `VX` | CRC-32 | 16-bit | none | Python Veltix 2.0.3 – 3.3 |
//!
//! Both are reached through three things: [`Wire::encode`] turns a
//! [`Message`] into an [`EncodedFrame`], [`Wire::decoder`] gives a streaming
//! [`Decoder`], and both report [`DecodeError`] / [`EncodeError`]. The
//! [`Connection`](crate::Connection) uses nothing else, so it speaks either
//! wire; which one is fixed by the
//! [`Dialect`](crate::Dialect) in its configuration, never guessed.
//!
//! Shared limits: a length above the decoder's limit is refused on the header
//! alone, before any memory is reserved, and buffers then grow in steps of at
//! most 64 KiB as the payload really arrives.
//!
//! ```
//! use bytes::BytesMut;
//! use veltix_core::wire::Wire;
//! use veltix_core::{Message, MessageType, RequestId};
//!
//! let msg = Message::new(MessageType::new(200)?, "hi").with_request_id(RequestId::from_compact(1));
//! for wire in [Wire::Classic, Wire::Compact] {
//!     let frame = wire.encode(&msg)?;
//!     assert_eq!(frame.wire_len(), wire.header_len() + 2);
//!     let mut buf = BytesMut::from(&frame.to_bytes()[..]);
//!     let decoded = wire.decoder(1024).decode(&mut buf)?.expect("a whole frame");
//!     assert_eq!(decoded.payload(), msg.payload());
//!     assert_eq!(decoded.request_id(), msg.request_id());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decoder;
mod encoded;
mod error;

pub use decoder::Decoder;
pub use encoded::EncodedFrame;
pub use error::{DecodeError, EncodeError, PayloadTooLongError};

use crate::Message;

/// Default largest payload a decoder accepts: 16 MiB.
pub const DEFAULT_MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// How much buffer a decoder asks for at most in one step while a large
/// payload arrives. Memory then follows the bytes a peer really sent, not the
/// length it claims: a peer announcing 16 MiB and sending 10 bytes costs
/// kilobytes, not megabytes.
pub(crate) const RESERVE_STEP: usize = 64 * 1024;

/// A wire format: how frames are laid out on the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wire {
    /// The classic 62-byte header with SHA-256 ([`crate::frame`]).
    Classic,
    /// The compact 15-byte "VX" header with CRC-32 ([`crate::compact`]).
    Compact,
}

impl Wire {
    /// Length of this wire's frame header in bytes.
    pub const fn header_len(self) -> usize {
        match self {
            Self::Classic => crate::frame::HEADER_LEN,
            Self::Compact => crate::compact::HEADER_LEN,
        }
    }

    /// Encodes `message` for this wire.
    ///
    /// # Errors
    /// [`EncodeError`]: the payload does not fit 32 bits, or (compact) the
    /// request id does not fit 16 bits.
    pub fn encode(self, message: &Message) -> Result<EncodedFrame, EncodeError> {
        match self {
            Self::Classic => Ok(EncodedFrame::new(message)?),
            Self::Compact => EncodedFrame::new_compact(message),
        }
    }

    /// A streaming decoder for this wire that refuses payloads above `max_payload` bytes.
    pub fn decoder(self, max_payload: u32) -> Decoder {
        Decoder::new(self, max_payload)
    }
}
