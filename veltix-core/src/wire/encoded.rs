//! A frame encoded once, ready to be queued to any number of peers.

use bytes::{BufMut, Bytes};

use super::{EncodeError, PayloadTooLongError, Wire};
use crate::{Message, MessageType, RequestId, compact, frame};

/// A frame ready for the wire: its header (62 bytes classic, 15 compact) and
/// its payload.
///
/// The payload is hashed once, when the frame is made. Cloning the frame
/// copies the header and bumps the payload's reference count, so one frame
/// can be queued to any number of peers without re-hashing or copying the
/// payload ("encode once, send many").
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    header: HeaderBytes,
    payload: Bytes,
}

#[derive(Clone, PartialEq, Eq)]
enum HeaderBytes {
    Classic([u8; frame::HEADER_LEN]),
    Compact([u8; compact::HEADER_LEN]),
}

impl EncodedFrame {
    /// Encodes `message` as a classic frame, with the request id and
    /// timestamp it carries.
    ///
    /// # Errors
    /// [`PayloadTooLongError`] when the payload does not fit the 32-bit length field.
    pub fn new(message: &Message) -> Result<Self, PayloadTooLongError> {
        Self::classic_from_parts(
            message.message_type(),
            message.request_id(),
            message.timestamp_ms(),
            message.payload().clone(),
        )
    }

    /// Encodes `message` as a compact frame (no timestamp; the request id
    /// must be a 16-bit one, see [`RequestId::from_compact`]).
    ///
    /// # Errors
    /// [`EncodeError`]: payload too long, or request id wider than 16 bits.
    pub fn new_compact(message: &Message) -> Result<Self, EncodeError> {
        let id = compact_id(message.request_id())?;
        Self::compact_from_parts(message.message_type(), id, message.payload().clone())
    }

    /// Encodes a classic frame from its fields, taking the payload (no
    /// reference count is bumped and dropped again, as going through a
    /// [`Message`] would).
    pub(crate) fn classic_from_parts(
        message_type: MessageType,
        request_id: RequestId,
        timestamp_ms: u64,
        payload: Bytes,
    ) -> Result<Self, PayloadTooLongError> {
        let hash = frame::payload_hash(&payload);
        Self::classic_with_hash(message_type, request_id, timestamp_ms, payload, hash)
    }

    /// Encodes a classic frame whose hash field is `payload_hash`: the
    /// payload's SHA-256, or [`frame::NO_HASH`] where the peers agreed to
    /// leave it out.
    pub(crate) fn classic_with_hash(
        message_type: MessageType,
        request_id: RequestId,
        timestamp_ms: u64,
        payload: Bytes,
        payload_hash: [u8; 32],
    ) -> Result<Self, PayloadTooLongError> {
        let header = frame::Header {
            message_type,
            payload_len: payload_len(&payload)?,
            payload_hash,
            timestamp_ms,
            request_id,
        };
        Ok(Self {
            header: HeaderBytes::Classic(header.to_bytes()),
            payload,
        })
    }

    /// Encodes a compact frame from its fields, taking the payload.
    pub(crate) fn compact_from_parts(
        message_type: MessageType,
        request_id: u16,
        payload: Bytes,
    ) -> Result<Self, EncodeError> {
        let header = compact::Header {
            flags: 0,
            message_type,
            payload_len: payload_len(&payload)?,
            checksum: compact::checksum(&payload),
            request_id,
        };
        Ok(Self {
            header: HeaderBytes::Compact(header.to_bytes()),
            payload,
        })
    }

    /// Which wire the frame is encoded for.
    pub fn wire(&self) -> Wire {
        match self.header {
            HeaderBytes::Classic(_) => Wire::Classic,
            HeaderBytes::Compact(_) => Wire::Compact,
        }
    }

    /// The message type written in the header.
    pub fn message_type(&self) -> MessageType {
        let at = match self.header {
            HeaderBytes::Classic(_) => frame::offset::TYPE_CODE,
            HeaderBytes::Compact(_) => compact::offset::TYPE_CODE,
        };
        let h = self.header();
        MessageType::from_code(u16::from_be_bytes([h[at], h[at + 1]]))
    }

    /// The request id written in the header.
    pub fn request_id(&self) -> RequestId {
        match &self.header {
            HeaderBytes::Classic(h) => frame::Header::parse(h).request_id,
            HeaderBytes::Compact(h) => {
                let at = compact::offset::REQUEST_ID;
                RequestId::from_compact(u16::from_be_bytes([h[at], h[at + 1]]))
            }
        }
    }

    /// The timestamp written in the header (ms since the Unix epoch, as
    /// the field holds it: bit 63 included); 0 for a compact frame, which
    /// has none.
    pub fn timestamp_ms(&self) -> u64 {
        match &self.header {
            HeaderBytes::Classic(h) => frame::Header::parse(h).timestamp_ms,
            HeaderBytes::Compact(_) => 0,
        }
    }

    /// A classic frame with another timestamp (only the header is
    /// rewritten); a compact frame as it is.
    pub(crate) fn with_timestamp_ms(&self, timestamp_ms: u64) -> Self {
        let mut out = self.clone();
        if let HeaderBytes::Classic(h) = &mut out.header {
            h[frame::offset::TIMESTAMP..frame::offset::REQUEST_ID]
                .copy_from_slice(&timestamp_ms.to_be_bytes());
        }
        out
    }

    /// The same frame with another request id. Only the header is rewritten:
    /// both wires' checksums cover the payload alone.
    ///
    /// # Errors
    /// [`EncodeError::RequestIdNotCompact`] for a compact frame and an id
    /// wider than 16 bits.
    pub fn with_request_id(&self, request_id: RequestId) -> Result<Self, EncodeError> {
        let header = match self.header {
            HeaderBytes::Classic(mut h) => {
                h[frame::offset::REQUEST_ID..].copy_from_slice(request_id.as_bytes());
                HeaderBytes::Classic(h)
            }
            HeaderBytes::Compact(mut h) => {
                let id = compact_id(request_id)?;
                h[compact::offset::REQUEST_ID..].copy_from_slice(&id.to_be_bytes());
                HeaderBytes::Compact(h)
            }
        };
        Ok(Self {
            header,
            payload: self.payload.clone(),
        })
    }

    /// This frame encoded for `wire`: itself if it already is; otherwise
    /// the payload is hashed again for the other wire (SHA-256 or CRC-32),
    /// and a classic frame gets `timestamp_ms` (the compact wire has none).
    ///
    /// # Errors
    /// [`EncodeError::RequestIdNotCompact`] when going to the compact wire
    /// with an id wider than 16 bits.
    pub fn to_wire(&self, wire: Wire, timestamp_ms: u64) -> Result<Self, EncodeError> {
        if self.wire() == wire {
            return Ok(self.clone());
        }
        let (ty, id, payload) = (self.message_type(), self.request_id(), self.payload.clone());
        match wire {
            Wire::Classic => Ok(Self::classic_from_parts(ty, id, timestamp_ms, payload)?),
            Wire::Compact => Self::compact_from_parts(ty, compact_id(id)?, payload),
        }
    }

    /// The encoded header.
    pub fn header(&self) -> &[u8] {
        match &self.header {
            HeaderBytes::Classic(h) => h,
            HeaderBytes::Compact(h) => h,
        }
    }

    /// The payload, shared with the message it was encoded from.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Total bytes on the wire: header plus payload.
    pub fn wire_len(&self) -> usize {
        self.header().len() + self.payload.len()
    }

    /// Appends the whole frame to `dst` (one copy of the payload).
    pub fn write_to(&self, dst: &mut impl BufMut) {
        dst.put_slice(self.header());
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
        let mut out = f.debug_struct("EncodedFrame");
        match &self.header {
            HeaderBytes::Classic(h) => out.field("header", &frame::Header::parse(h)),
            HeaderBytes::Compact(h) => out.field("header", &compact::Header::parse(h)),
        };
        out.finish_non_exhaustive()
    }
}

fn payload_len(payload: &Bytes) -> Result<u32, PayloadTooLongError> {
    u32::try_from(payload.len()).map_err(|_| PayloadTooLongError { len: payload.len() })
}

fn compact_id(request_id: RequestId) -> Result<u16, EncodeError> {
    request_id
        .to_compact()
        .ok_or(EncodeError::RequestIdNotCompact { request_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message::new(MessageType::from_code(300), "payload")
            .with_request_id(RequestId::from_compact(0x8001))
            .with_timestamp_ms(42)
    }

    #[test]
    fn both_wires_expose_the_same_fields() {
        let classic = EncodedFrame::new(&message()).expect("fits");
        let compact = EncodedFrame::new_compact(&message()).expect("fits");
        for frame in [&classic, &compact] {
            assert_eq!(frame.message_type().code(), 300);
            assert_eq!(frame.request_id(), RequestId::from_compact(0x8001));
            assert_eq!(&frame.payload()[..], b"payload");
            assert_eq!(frame.wire_len(), frame.header().len() + 7);
        }
        assert_eq!(
            (classic.wire(), classic.header().len()),
            (Wire::Classic, 62)
        );
        assert_eq!(
            (compact.wire(), compact.header().len()),
            (Wire::Compact, 15)
        );
    }

    #[test]
    fn with_request_id_rewrites_only_the_header() {
        let compact = EncodedFrame::new_compact(&message()).expect("fits");
        let moved = compact
            .with_request_id(RequestId::from_compact(9))
            .expect("fits 16 bits");
        assert_eq!(moved.request_id().to_compact(), Some(9));
        assert_eq!(moved.header()[..13], compact.header()[..13]);
        assert_eq!(
            compact.with_request_id(RequestId::from_u128(1 << 16)),
            Err(EncodeError::RequestIdNotCompact {
                request_id: RequestId::from_u128(1 << 16)
            })
        );
        let classic = EncodedFrame::new(&message()).expect("fits");
        let id = RequestId::from_u128(u128::MAX);
        assert_eq!(
            classic.with_request_id(id).expect("any id").request_id(),
            id
        );
    }

    #[test]
    fn to_wire_re_encodes_between_wires() {
        let classic = EncodedFrame::new(&message()).expect("fits");
        let compact = classic.to_wire(Wire::Compact, 0).expect("compact id");
        assert_eq!(
            compact,
            EncodedFrame::new_compact(&message()).expect("fits")
        );
        let back = compact.to_wire(Wire::Classic, 42).expect("classic");
        assert_eq!(back, classic);
        assert_eq!(classic.to_wire(Wire::Classic, 7).expect("same"), classic);
    }
}
