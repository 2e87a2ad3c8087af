//! The classic 62-byte header (`docs/protocol.md` §1): layout, parsing and writing.

use crate::{MessageType, RequestId};

/// Length of the classic frame header in bytes.
pub const HEADER_LEN: usize = 62;

/// Bit 63 of the timestamp field. Between two native peers that agreed on
/// compression, it is set on exactly the frames whose payload is compressed
/// ([`compression`](crate::compression)), and the timestamp is the other 63
/// bits (a wall clock reaches bit 63 in 292 million years). Without that
/// agreement it is an ordinary timestamp bit.
pub const TIMESTAMP_COMPRESSED: u64 = 1 << 63;

/// What the hash field holds when the sender left the hash out (both native
/// peers agreed to, under an authenticated transport): 32 zero bytes.
pub const NO_HASH: [u8; 32] = [0; 32];

/// Byte offsets of the header fields (all integers big-endian).
pub mod offset {
    /// Type code, `u16`.
    pub const TYPE_CODE: usize = 0;
    /// Payload length, `u32`.
    pub const PAYLOAD_LEN: usize = 2;
    /// SHA-256 of the payload, 32 bytes.
    pub const HASH: usize = 6;
    /// Sender's wall clock in ms since the Unix epoch, `u64`.
    pub const TIMESTAMP: usize = 38;
    /// Request id, 16 raw bytes.
    pub const REQUEST_ID: usize = 46;
}

/// The fields of a classic frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Message type code.
    pub message_type: MessageType,
    /// Number of payload bytes that follow the header.
    pub payload_len: u32,
    /// SHA-256 of the payload as the sender computed it.
    pub payload_hash: [u8; 32],
    /// Sender's wall clock in ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Request id.
    pub request_id: RequestId,
}

impl Header {
    /// Reads a header from exactly [`HEADER_LEN`] bytes. Every bit pattern is a
    /// header; whether its length is acceptable is the decoder's decision.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Self {
        let (type_code, rest) = split::<2>(bytes);
        let (payload_len, rest) = split::<4>(rest);
        let (payload_hash, rest) = split::<32>(rest);
        let (timestamp, rest) = split::<8>(rest);
        let (request_id, _) = split::<16>(rest);
        Self {
            message_type: MessageType::from_code(u16::from_be_bytes(type_code)),
            payload_len: u32::from_be_bytes(payload_len),
            payload_hash,
            timestamp_ms: u64::from_be_bytes(timestamp),
            request_id: RequestId::from_bytes(request_id),
        }
    }

    /// Writes the header into exactly [`HEADER_LEN`] bytes.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[offset::TYPE_CODE..offset::PAYLOAD_LEN]
            .copy_from_slice(&self.message_type.code().to_be_bytes());
        out[offset::PAYLOAD_LEN..offset::HASH].copy_from_slice(&self.payload_len.to_be_bytes());
        out[offset::HASH..offset::TIMESTAMP].copy_from_slice(&self.payload_hash);
        out[offset::TIMESTAMP..offset::REQUEST_ID]
            .copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[offset::REQUEST_ID..HEADER_LEN].copy_from_slice(self.request_id.as_bytes());
    }

    /// The header as bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        self.write(&mut out);
        out
    }
}

/// Splits a fixed-size array off the front of `bytes`, which the caller
/// guarantees is long enough (all uses above are on a 62-byte array).
fn split<const N: usize>(bytes: &[u8]) -> ([u8; N], &[u8]) {
    let (head, rest) = bytes.split_at(N);
    let mut out = [0; N];
    out.copy_from_slice(head);
    (out, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_add_up_to_the_header_length() {
        assert_eq!(offset::PAYLOAD_LEN - offset::TYPE_CODE, 2);
        assert_eq!(offset::HASH - offset::PAYLOAD_LEN, 4);
        assert_eq!(offset::TIMESTAMP - offset::HASH, 32);
        assert_eq!(offset::REQUEST_ID - offset::TIMESTAMP, 8);
        assert_eq!(HEADER_LEN - offset::REQUEST_ID, 16);
    }

    #[test]
    fn parse_inverts_write() {
        let header = Header {
            message_type: MessageType::from_code(0xabcd),
            payload_len: 0x0102_0304,
            payload_hash: [7; 32],
            timestamp_ms: 0x1122_3344_5566_7788,
            request_id: RequestId::from_u128(u128::MAX - 5),
        };
        assert_eq!(Header::parse(&header.to_bytes()), header);
    }
}
