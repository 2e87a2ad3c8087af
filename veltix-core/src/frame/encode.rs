//! Classic encoding: the payload's SHA-256 and the one-call encoder. The
//! frame value itself, [`EncodedFrame`], is shared by both wires.

use bytes::BufMut;
use sha2::{Digest, Sha256};

use crate::Message;
use crate::wire::{EncodedFrame, PayloadTooLongError};

/// SHA-256 of a payload, as carried in the classic header.
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// Appends `message` as one classic frame to `dst`.
///
/// # Errors
/// [`PayloadTooLongError`] when the payload does not fit the 32-bit length field.
pub fn encode(message: &Message, dst: &mut impl BufMut) -> Result<(), PayloadTooLongError> {
    EncodedFrame::new(message)?.write_to(dst);
    Ok(())
}
