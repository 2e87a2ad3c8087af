//! Classic encoding: the payload's SHA-256, the one-call encoder, and the
//! [`Encoder`] for the options a native handshake agreed. The frame value
//! itself, [`EncodedFrame`], is shared by both wires.

use bytes::{BufMut, Bytes};
use sha2::{Digest, Sha256};

use super::header::{NO_HASH, TIMESTAMP_COMPRESSED};
use crate::compression::{Compression, Compressor};
use crate::wire::{EncodedFrame, PayloadTooLongError, Wire};
use crate::{Message, MessageType, RequestId};

/// SHA-256 of a payload, as carried in the classic header.
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    #[cfg(test)]
    hash_count::bump();
    Sha256::digest(payload).into()
}

/// Counts the payload hashes computed on this thread, so unit tests can
/// check that a path really skips them.
#[cfg(test)]
pub(crate) mod hash_count {
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn bump() {
        COUNT.with(|c| c.set(c.get() + 1));
    }

    /// Hashes computed on this thread so far.
    pub(crate) fn get() -> u64 {
        COUNT.with(Cell::get)
    }
}

/// Appends `message` as one classic frame to `dst`.
///
/// # Errors
/// [`PayloadTooLongError`] when the payload does not fit the 32-bit length field.
pub fn encode(message: &Message, dst: &mut impl BufMut) -> Result<(), PayloadTooLongError> {
    EncodedFrame::new(message)?.write_to(dst);
    Ok(())
}

/// What two native peers agreed about their classic frames beyond the plain
/// format (`docs/protocol.md` §4.1). The default is the plain frame, byte
/// for byte: every payload hashed, none compressed.
///
/// The same options serve both directions: an [`Encoder`] writes with them,
/// a [`Decoder`](super::Decoder) reads with them. A decoder is lenient
/// towards plain frames: an uncompressed payload is always read, and a
/// decoder that skips the hash accepts a real one.
///
/// ```
/// use veltix_core::compression::Compression;
/// use veltix_core::frame::FrameOptions;
///
/// let options = FrameOptions::default()
///     .with_compression(Some(Compression::default()))
///     .with_skip_hash(true);
/// assert!(options.skip_hash && options.compression.is_some());
/// assert_eq!(FrameOptions::default(), FrameOptions::PLAIN);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct FrameOptions {
    /// Compression agreed. Writing: payloads of at least the threshold are
    /// compressed when that shrinks them, and flagged with bit 63 of the
    /// timestamp ([`TIMESTAMP_COMPRESSED`](super::TIMESTAMP_COMPRESSED));
    /// every timestamp is then 63 bits. Reading: flagged payloads are
    /// decompressed (within the payload limit), and bit 63 is cleared from
    /// every timestamp.
    pub compression: Option<Compression>,
    /// The hash field is not computed (written as [`NO_HASH`](super::NO_HASH),
    /// zeros) and not checked: the transport below guarantees integrity.
    pub skip_hash: bool,
}

impl FrameOptions {
    /// The plain classic frame (the default).
    pub const PLAIN: Self = Self {
        compression: None,
        skip_hash: false,
    };

    /// These options with compression set to `compression`.
    #[must_use]
    pub fn with_compression(mut self, compression: Option<Compression>) -> Self {
        self.compression = compression;
        self
    }

    /// These options with hashing skipped (`true`) or not.
    #[must_use]
    pub fn with_skip_hash(mut self, skip_hash: bool) -> Self {
        self.skip_hash = skip_hash;
        self
    }
}

/// Encodes classic frames with [`FrameOptions`]: compresses what is worth
/// it, leaves the hash out when told to. With the default options it writes
/// exactly what [`EncodedFrame::new`] writes.
///
/// It keeps the compressor's working table between frames, so keep one
/// encoder per connection rather than one per frame.
///
/// ```
/// use veltix_core::compression::Compression;
/// use veltix_core::frame::{Decoder, Encoder, FrameOptions};
/// use veltix_core::{Message, MessageType};
///
/// let options = FrameOptions::default().with_compression(Some(Compression::default()));
/// let json = br#"{"sensor": 17, "celsius": 21.5}, "#.repeat(64);
/// let msg = Message::new(MessageType::new(200)?, json.clone());
/// let frame = Encoder::new(options).encode(&msg)?;
/// assert!(frame.payload().len() < json.len() / 4);
///
/// let mut wire = bytes::BytesMut::from(&frame.to_bytes()[..]);
/// let got = Decoder::with_options(1 << 20, options).decode(&mut wire)?.expect("a frame");
/// assert_eq!(got, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    options: FrameOptions,
    /// Made on the first payload worth compressing.
    compressor: Option<Compressor>,
}

impl Encoder {
    /// An encoder writing with `options`.
    pub fn new(options: FrameOptions) -> Self {
        Self {
            options,
            compressor: None,
        }
    }

    /// The options it writes with.
    pub fn options(&self) -> FrameOptions {
        self.options
    }

    /// Writes the next frames with `options`.
    pub fn set_options(&mut self, options: FrameOptions) {
        self.options = options;
        if options.compression.is_none() {
            self.compressor = None;
        }
    }

    /// Encodes `message`, with the request id and timestamp it carries (bit
    /// 63 of the timestamp cleared when compression is on).
    ///
    /// # Errors
    /// [`PayloadTooLongError`] when the payload does not fit the 32-bit
    /// length field.
    pub fn encode(&mut self, message: &Message) -> Result<EncodedFrame, PayloadTooLongError> {
        self.encode_parts(
            message.message_type(),
            message.request_id(),
            message.timestamp_ms(),
            message.payload().clone(),
        )
    }

    /// [`encode`](Self::encode) from the fields, taking the payload.
    pub(crate) fn encode_parts(
        &mut self,
        message_type: MessageType,
        request_id: RequestId,
        timestamp_ms: u64,
        payload: Bytes,
    ) -> Result<EncodedFrame, PayloadTooLongError> {
        let (timestamp_ms, payload) = self.compress(timestamp_ms, payload);
        let hash = if self.options.skip_hash {
            NO_HASH
        } else {
            payload_hash(&payload)
        };
        EncodedFrame::classic_with_hash(message_type, request_id, timestamp_ms, payload, hash)
    }

    /// A classic frame encoded without these options (before the
    /// handshake, or once for many peers) made fit for them: with
    /// compression on, a timestamp with bit 63 set has it cleared (only the
    /// header is rewritten), and with `compress` its payload is compressed
    /// if that is worth it (and hashed again unless the hash is skipped).
    /// Without compression the frame is returned as it is: a real hash is
    /// read by a side that skips checking.
    pub(crate) fn adapt(&mut self, frame: EncodedFrame, compress: bool) -> EncodedFrame {
        if self.options.compression.is_none() || frame.wire() != Wire::Classic {
            return frame;
        }
        let timestamp_ms = frame.timestamp_ms();
        if compress {
            let (ts, payload) = self.compress(timestamp_ms, frame.payload().clone());
            if ts & TIMESTAMP_COMPRESSED != 0 {
                let hash = if self.options.skip_hash {
                    NO_HASH
                } else {
                    payload_hash(&payload)
                };
                // The compressed payload is shorter than one that fitted.
                if let Ok(compressed) = EncodedFrame::classic_with_hash(
                    frame.message_type(),
                    frame.request_id(),
                    ts,
                    payload,
                    hash,
                ) {
                    return compressed;
                }
            }
        }
        if timestamp_ms & TIMESTAMP_COMPRESSED != 0 {
            frame.with_timestamp_ms(timestamp_ms & !TIMESTAMP_COMPRESSED)
        } else {
            frame
        }
    }

    /// The timestamp and payload to send: with compression on, the
    /// timestamp's bit 63 says whether the payload is compressed.
    fn compress(&mut self, timestamp_ms: u64, payload: Bytes) -> (u64, Bytes) {
        let Some(settings) = self.options.compression else {
            return (timestamp_ms, payload);
        };
        let timestamp_ms = timestamp_ms & !TIMESTAMP_COMPRESSED;
        // u32 → usize is lossless on every platform this crate builds for.
        if payload.len() < settings.threshold as usize {
            return (timestamp_ms, payload);
        }
        let compressor = self.compressor.get_or_insert_with(Compressor::new);
        match compressor.compress(&payload) {
            Some(compressed) => (timestamp_ms | TIMESTAMP_COMPRESSED, compressed),
            None => (timestamp_ms, payload),
        }
    }
}
