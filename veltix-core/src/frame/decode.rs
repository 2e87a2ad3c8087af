//! Streaming decoding of classic frames: bytes in any split → whole, verified frames.

use bytes::{Buf, BytesMut};
use sha2::{Digest, Sha256};

use super::header::{HEADER_LEN, Header};
use crate::Message;
use crate::wire::{DEFAULT_MAX_PAYLOAD, DecodeError, RESERVE_STEP};

/// A streaming decoder for classic frames.
///
/// The caller owns the byte buffer: append what the transport read to a
/// [`BytesMut`] and call [`decode`](Self::decode) until it returns `Ok(None)`.
/// Frames may be split across reads or packed many to one read; payloads are
/// handed out as `Bytes` split off the caller's buffer, without copying.
///
/// Limits: the payload length is checked against the limit as soon as the
/// header is complete, before the buffer grows for the payload; the buffer is
/// then grown in steps of at most 64 KiB as the payload arrives. A caller
/// that drains the decoder after every read holds at most one maximal frame
/// plus one read chunk.
///
/// ```
/// use bytes::BytesMut;
/// use veltix_core::frame::{Decoder, EncodedFrame};
/// use veltix_core::{Message, MessageType};
///
/// let msg = Message::new(MessageType::new(200)?, "hello");
/// let wire = EncodedFrame::new(&msg)?.to_bytes();
///
/// let mut decoder = Decoder::default();
/// let mut buf = BytesMut::new();
/// buf.extend_from_slice(&wire[..10]); // half a header: nothing yet
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(&wire[10..]);
/// assert_eq!(decoder.decode(&mut buf)?, Some(msg));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_payload: u32,
    /// The header of the frame whose payload is still arriving.
    pending: Option<Header>,
    /// Set once a fatal error was seen; every later call returns it again.
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl Decoder {
    /// A decoder that refuses payloads longer than `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Self {
            max_payload,
            pending: None,
            failed: None,
        }
    }

    /// The payload limit in bytes.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Whether a frame has been started (its header read) but not finished.
    pub fn is_mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    /// Decodes the next whole frame from the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` holds no whole frame yet (the partial frame
    /// stays in `src`, or its header in the decoder). Call again after a
    /// non-fatal error: the bad frame has been consumed.
    ///
    /// # Errors
    /// - [`DecodeError::PayloadTooLarge`] (fatal): returned again on every
    ///   later call, without touching `src`.
    /// - [`DecodeError::HashMismatch`]: the frame was dropped; go on.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let header = match self.pending {
            Some(header) => header,
            None => {
                let Some(head) = src.get(..HEADER_LEN) else {
                    return Ok(None);
                };
                let mut bytes = [0; HEADER_LEN];
                bytes.copy_from_slice(head);
                let header = Header::parse(&bytes);
                if header.payload_len > self.max_payload {
                    let err = DecodeError::PayloadTooLarge {
                        len: header.payload_len,
                        max: self.max_payload,
                    };
                    self.failed = Some(err.clone());
                    return Err(err);
                }
                src.advance(HEADER_LEN);
                self.pending = Some(header);
                header
            }
        };

        // u32 → usize is lossless on every platform this crate builds for.
        let len = header.payload_len as usize;
        if src.len() < len {
            src.reserve((len - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        self.pending = None;
        let payload = src.split_to(len).freeze();
        if Sha256::digest(&payload)[..] != header.payload_hash[..] {
            return Err(DecodeError::HashMismatch {
                message_type: header.message_type,
                request_id: header.request_id,
                payload_len: header.payload_len,
            });
        }
        Ok(Some(
            Message::new(header.message_type, payload)
                .with_request_id(header.request_id)
                .with_timestamp_ms(header.timestamp_ms),
        ))
    }
}
