//! Encoding: hash the payload once, write the header, share the result.

use bytes::{BufMut, Bytes};
use sha2::{Digest, Sha256};

use super::header::{HEADER_LEN, Header};
use crate::Message;

/// SHA-256 of a payload, as carried in the classic header.
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// A frame ready for the wire: its 62-byte header and its payload.
///
/// The payload is hashed once, in [`EncodedFrame::new`]. Cloning the frame
/// copies the 62-byte header and bumps the payload's reference count, so one
/// frame can be queued to any number of peers without re-hashing or copying
/// the payload ("encode once, send many").
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    header: [u8; HEADER_LEN],
    payload: Bytes,
}

impl EncodedFrame {
    /// Encodes `message` with the request id and timestamp it carries.
    ///
    /// # Errors
    /// [`PayloadTooLongError`] when the payload does not fit the 32-bit length field.
    pub fn new(message: &Message) -> Result<Self, PayloadTooLongError> {
        Self::from_parts(
            message.message_type(),
            message.request_id(),
            message.timestamp_ms(),
            message.payload().clone(),
        )
    }

    /// Encodes a frame from its fields, taking the payload (no reference
    /// count is bumped and dropped again, as going through a [`Message`] would).
    pub(crate) fn from_parts(
        message_type: crate::MessageType,
        request_id: crate::RequestId,
        timestamp_ms: u64,
        payload: Bytes,
    ) -> Result<Self, PayloadTooLongError> {
        let payload_len =
            u32::try_from(payload.len()).map_err(|_| PayloadTooLongError { len: payload.len() })?;
        let header = Header {
            message_type,
            payload_len,
            payload_hash: payload_hash(&payload),
            timestamp_ms,
            request_id,
        };
        Ok(Self {
            header: header.to_bytes(),
            payload,
        })
    }

    /// The message type written in the header.
    pub fn message_type(&self) -> crate::MessageType {
        crate::MessageType::from_code(u16::from_be_bytes([self.header[0], self.header[1]]))
    }

    /// The request id written in the header.
    pub fn request_id(&self) -> crate::RequestId {
        let mut id = [0; 16];
        id.copy_from_slice(&self.header[super::header::offset::REQUEST_ID..]);
        crate::RequestId::from_bytes(id)
    }

    /// The encoded header.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The payload, shared with the message it was encoded from.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Total bytes on the wire: header plus payload.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Appends the whole frame to `dst` (one copy of the payload).
    pub fn write_to(&self, dst: &mut impl BufMut) {
        dst.put_slice(&self.header);
        dst.put_slice(&self.payload);
    }

    /// The whole frame as one contiguous buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.wire_len());
        self.write_to(&mut out);
        out.into()
    }
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut header = [0; HEADER_LEN];
        header.copy_from_slice(&self.header);
        f.debug_struct("EncodedFrame")
            .field("header", &Header::parse(&header))
            .finish_non_exhaustive()
    }
}

/// A payload longer than the 32-bit length field can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload of {len} bytes does not fit the 32-bit length field")]
pub struct PayloadTooLongError {
    /// The payload length that was refused.
    pub len: usize,
}

/// Appends `message` as one frame to `dst`.
///
/// # Errors
/// [`PayloadTooLongError`] when the payload does not fit the 32-bit length field.
pub fn encode(message: &Message, dst: &mut impl BufMut) -> Result<(), PayloadTooLongError> {
    EncodedFrame::new(message)?.write_to(dst);
    Ok(())
}
