//! The compact 15-byte header (`docs/protocol.md` §7): layout, parsing and writing.

use crate::MessageType;

/// Length of the compact frame header in bytes.
pub const HEADER_LEN: usize = 15;

/// The two bytes every compact frame starts with: `VX`.
pub const MAGIC: [u8; 2] = *b"VX";

/// Byte offsets of the header fields (all integers big-endian).
pub mod offset {
    /// Magic `VX`, 2 bytes.
    pub const MAGIC: usize = 0;
    /// Flags, 1 byte: sent 0, ignored on receive.
    pub const FLAGS: usize = 2;
    /// Type code, `u16`.
    pub const TYPE_CODE: usize = 3;
    /// Payload length, `u32` (payload only).
    pub const PAYLOAD_LEN: usize = 5;
    /// CRC-32/IEEE of the payload, `u32` (0 for an empty payload).
    pub const CHECKSUM: usize = 9;
    /// Request id, `u16`.
    pub const REQUEST_ID: usize = 13;
}

/// The fields of a compact frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The flags byte. Python Veltix sends 0 and ignores it on receive; so
    /// does this crate (it is kept here only so a header round-trips).
    pub flags: u8,
    /// Message type code.
    pub message_type: MessageType,
    /// Number of payload bytes that follow the header.
    pub payload_len: u32,
    /// CRC-32/IEEE of the payload as the sender computed it.
    pub checksum: u32,
    /// The 16-bit request id.
    pub request_id: u16,
}

impl Header {
    /// Reads a header from exactly [`HEADER_LEN`] bytes; `None` when they do
    /// not start with [`MAGIC`]. Whether the length is acceptable is the
    /// decoder's decision.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Self> {
        let [
            m0,
            m1,
            flags,
            t0,
            t1,
            l0,
            l1,
            l2,
            l3,
            c0,
            c1,
            c2,
            c3,
            i0,
            i1,
        ] = *bytes;
        ([m0, m1] == MAGIC).then(|| Self {
            flags,
            message_type: MessageType::from_code(u16::from_be_bytes([t0, t1])),
            payload_len: u32::from_be_bytes([l0, l1, l2, l3]),
            checksum: u32::from_be_bytes([c0, c1, c2, c3]),
            request_id: u16::from_be_bytes([i0, i1]),
        })
    }

    /// The header as bytes, magic first.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[offset::MAGIC..offset::FLAGS].copy_from_slice(&MAGIC);
        out[offset::FLAGS] = self.flags;
        out[offset::TYPE_CODE..offset::PAYLOAD_LEN]
            .copy_from_slice(&self.message_type.code().to_be_bytes());
        out[offset::PAYLOAD_LEN..offset::CHECKSUM].copy_from_slice(&self.payload_len.to_be_bytes());
        out[offset::CHECKSUM..offset::REQUEST_ID].copy_from_slice(&self.checksum.to_be_bytes());
        out[offset::REQUEST_ID..HEADER_LEN].copy_from_slice(&self.request_id.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_add_up_to_the_header_length() {
        assert_eq!(offset::FLAGS - offset::MAGIC, 2);
        assert_eq!(offset::TYPE_CODE - offset::FLAGS, 1);
        assert_eq!(offset::PAYLOAD_LEN - offset::TYPE_CODE, 2);
        assert_eq!(offset::CHECKSUM - offset::PAYLOAD_LEN, 4);
        assert_eq!(offset::REQUEST_ID - offset::CHECKSUM, 4);
        assert_eq!(HEADER_LEN - offset::REQUEST_ID, 2);
    }

    #[test]
    fn parse_inverts_to_bytes_and_refuses_a_foreign_magic() {
        let header = Header {
            flags: 0x80,
            message_type: MessageType::from_code(0xabcd),
            payload_len: 0x0102_0304,
            checksum: 0xdead_beef,
            request_id: 0x8001,
        };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..2], b"VX");
        assert_eq!(Header::parse(&bytes), Some(header));
        let mut foreign = bytes;
        foreign[1] = b'Y';
        assert_eq!(Header::parse(&foreign), None);
    }
}
