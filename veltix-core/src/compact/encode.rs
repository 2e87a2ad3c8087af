//! Encoding: checksum the payload once, write the 15-byte header.

use bytes::BufMut;

use crate::Message;
use crate::wire::{EncodeError, EncodedFrame};

/// CRC-32/IEEE of a payload, as carried in the compact header: the value
/// Python's `zlib.crc32` returns (0 for an empty payload).
pub fn checksum(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

/// Appends `message` as one compact frame to `dst`.
///
/// # Errors
/// [`EncodeError`]: the payload does not fit the 32-bit length field, or the
/// request id does not fit 16 bits.
pub fn encode(message: &Message, dst: &mut impl BufMut) -> Result<(), EncodeError> {
    EncodedFrame::new_compact(message)?.write_to(dst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_zlib_crc32() {
        // zlib.crc32(b"") == 0, zlib.crc32(b"hello") == 0x3610a686,
        // zlib.crc32(b"123456789") == 0xcbf43926 (the CRC-32/IEEE check value).
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"hello"), 0x3610_a686);
        assert_eq!(checksum(b"123456789"), 0xcbf4_3926);
    }
}
