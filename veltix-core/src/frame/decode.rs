//! Streaming decoding of classic frames: bytes in any split → whole, verified frames.

use bytes::{Buf, BytesMut};

use super::encode::{FrameOptions, payload_hash};
use super::header::{HEADER_LEN, Header, TIMESTAMP_COMPRESSED};
use crate::Message;
use crate::compression;
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
/// [`FrameOptions`] (what two native peers agreed, plain by default) may
/// turn the hash check off and compressed payloads on; a compressed
/// payload is decompressed within the same limit (see
/// [`compression::decompress`]).
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
    options: FrameOptions,
    /// Compressed payloads decompressed so far.
    decompressed: u64,
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
        Self::with_options(max_payload, FrameOptions::PLAIN)
    }

    /// A decoder that refuses payloads (compressed or decompressed) longer
    /// than `max_payload` bytes and reads frames written with `options`.
    pub fn with_options(max_payload: u32, options: FrameOptions) -> Self {
        Self {
            max_payload,
            options,
            decompressed: 0,
            pending: None,
            failed: None,
        }
    }

    /// The options frames are read with.
    pub fn options(&self) -> FrameOptions {
        self.options
    }

    /// Reads the next frames with `options` (a frame whose header is
    /// already read is finished with them too).
    pub fn set_options(&mut self, options: FrameOptions) {
        self.options = options;
    }

    /// Compressed payloads decompressed so far.
    pub fn frames_decompressed(&self) -> u64 {
        self.decompressed
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
    /// - [`DecodeError::Decompress`] (fatal; only with compression in the
    ///   options): the frame was consumed; returned again on every later
    ///   call.
    /// - [`DecodeError::HashMismatch`]: the frame was dropped; go on (never
    ///   when the options skip the hash).
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
        if !self.options.skip_hash && payload_hash(&payload) != header.payload_hash {
            return Err(DecodeError::HashMismatch {
                message_type: header.message_type,
                request_id: header.request_id,
                payload_len: header.payload_len,
            });
        }
        let mut timestamp_ms = header.timestamp_ms;
        let mut payload = payload;
        if self.options.compression.is_some() {
            timestamp_ms &= !TIMESTAMP_COMPRESSED;
            if header.timestamp_ms & TIMESTAMP_COMPRESSED != 0 {
                match compression::decompress(&payload, self.max_payload) {
                    Ok(decompressed) => payload = decompressed,
                    Err(error) => {
                        let err = DecodeError::Decompress {
                            message_type: header.message_type,
                            request_id: header.request_id,
                            error,
                        };
                        self.failed = Some(err.clone());
                        return Err(err);
                    }
                }
                self.decompressed += 1;
            }
        }
        Ok(Some(
            Message::new(header.message_type, payload)
                .with_request_id(header.request_id)
                .with_timestamp_ms(timestamp_ms),
        ))
    }
}
