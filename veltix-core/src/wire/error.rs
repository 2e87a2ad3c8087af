//! What can go wrong turning messages into bytes and bytes into messages,
//! on either wire.

use crate::compression::DecompressError;
use crate::{MessageType, RequestId};

/// Why bytes read from the peer could not be decoded into a frame.
///
/// One enum for both wires: the classic frame (SHA-256) and the compact "VX"
/// frame (CRC-32). [`is_fatal`](Self::is_fatal) tells whether the stream can
/// still be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header announced a payload above the limit. Fatal: the stream cannot
    /// be trusted any more and the connection must be closed. Decided on the
    /// header alone, before any buffer is reserved for the payload.
    #[error("frame announces a {len}-byte payload, above the {max}-byte limit")]
    PayloadTooLarge {
        /// The length the header announced.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// The payload's integrity check (SHA-256 on the classic wire, CRC-32 on
    /// the compact wire) does not match the header. Not fatal: the frame was
    /// consumed and dropped, and decoding continues with the next frame.
    #[error(
        "payload hash mismatch on a {message_type} frame ({payload_len} bytes, request id {request_id})"
    )]
    HashMismatch {
        /// Type code of the dropped frame.
        message_type: MessageType,
        /// Request id of the dropped frame.
        request_id: RequestId,
        /// Payload length of the dropped frame.
        payload_len: u32,
    },
    /// Compact wire only: bytes where a frame should have started did not
    /// begin with the magic `VX`; they were skipped up to the next frame that
    /// verified. Not fatal: reported once the stream is back in sync, and the
    /// frame found there is returned by the next call.
    #[error("{skipped} bytes without the frame magic were skipped to resynchronise")]
    BadMagic {
        /// Bytes discarded between the last good frame and the next one.
        skipped: u64,
    },
    /// Classic wire with compression agreed ([`FrameOptions`](crate::frame::FrameOptions)):
    /// a payload flagged compressed passed its integrity check but does not
    /// decompress — it declares more than the limit, more than its block can
    /// hold, or is malformed (see [`DecompressError`]). Fatal: the peer sent
    /// it so. Never more than the limit is reserved or written, and a
    /// declared size is refused before anything is.
    #[error("compressed payload of a {message_type} frame (request id {request_id}): {error}")]
    Decompress {
        /// Type code of the frame.
        message_type: MessageType,
        /// Request id of the frame.
        request_id: RequestId,
        /// What was wrong with it.
        error: DecompressError,
    },
}

impl DecodeError {
    /// Whether the stream is unusable after this error (the connection must close).
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::PayloadTooLarge { .. } | Self::Decompress { .. } => true,
            Self::HashMismatch { .. } | Self::BadMagic { .. } => false,
        }
    }
}

impl From<DecodeError> for std::io::Error {
    fn from(err: DecodeError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }
}

/// A payload longer than the 32-bit length field can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload of {len} bytes does not fit the 32-bit length field")]
pub struct PayloadTooLongError {
    /// The payload length that was refused.
    pub len: usize,
}

/// Why a message could not be encoded as a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload does not fit the 32-bit length field.
    #[error(transparent)]
    PayloadTooLong(#[from] PayloadTooLongError),
    /// The compact wire carries 16-bit request ids; this id is wider (see
    /// [`RequestId::to_compact`]).
    #[error("request id {request_id} does not fit the compact wire's 16-bit id")]
    RequestIdNotCompact {
        /// The id that was refused.
        request_id: RequestId,
    },
}

impl From<EncodeError> for std::io::Error {
    fn from(err: EncodeError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    }
}
