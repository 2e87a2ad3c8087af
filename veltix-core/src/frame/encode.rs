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
#[inline]
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
    /// Made on the first payload worth compressing; boxed, so that an
    /// encoder that never compresses (most connections) stays small.
    compressor: Option<Box<Compressor>>,
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
        // Most connections never compress: no call for them.
        let (timestamp_ms, payload) = if self.options.compression.is_some() {
            self.compress(timestamp_ms, payload)
        } else {
            (timestamp_ms, payload)
        };
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
        let compressor = self
            .compressor
            .get_or_insert_with(|| Box::new(Compressor::new()));
        match compressor.compress(&payload) {
            Some(compressed) => (timestamp_ms | TIMESTAMP_COMPRESSED, compressed),
            None => (timestamp_ms, payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::frame::{Decoder, HEADER_LEN, offset};

    fn json(len: usize) -> Vec<u8> {
        br#"{"sensor": 17, "celsius": 21.5, "ok": true}, "#
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    fn message(payload: Vec<u8>) -> Message {
        Message::new(MessageType::from_code(300), payload)
            .with_request_id(RequestId::from_u128(77))
            .with_timestamp_ms(1_764_000_000_123)
    }

    fn decode_all(decoder: &mut Decoder, wire: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::from(wire);
        std::iter::from_fn(|| decoder.decode(&mut buf).expect("valid")).collect()
    }

    #[test]
    fn plain_options_write_what_encoded_frame_writes() {
        for len in [0, 10, 5000] {
            let msg = message(json(len));
            let ours = Encoder::default().encode(&msg).expect("fits");
            assert_eq!(ours, EncodedFrame::new(&msg).expect("fits"));
        }
    }

    #[test]
    fn skipping_the_hash_computes_none_on_either_side() {
        let options = FrameOptions::PLAIN.with_skip_hash(true);
        let mut encoder = Encoder::new(options);
        let mut decoder = Decoder::with_options(1 << 20, options);
        let before = hash_count::get();
        let mut wire = Vec::new();
        for len in [0, 64, 4096, 100_000] {
            let frame = encoder.encode(&message(json(len))).expect("fits");
            assert_eq!(&frame.header()[offset::HASH..offset::TIMESTAMP], &NO_HASH);
            frame.write_to(&mut wire);
        }
        // A real hash, and a wrong one: neither is checked.
        EncodedFrame::new(&message(json(10)))
            .expect("fits")
            .write_to(&mut wire);
        let mut tampered = EncodedFrame::new(&message(json(10)))
            .expect("fits")
            .to_bytes()
            .to_vec();
        tampered[HEADER_LEN] ^= 1;
        let before_decode = hash_count::get();
        wire.extend_from_slice(&tampered);
        let got = decode_all(&mut decoder, &wire);
        assert_eq!(hash_count::get(), before_decode, "the decoder hashed");
        // The two hand-made frames above were hashed by EncodedFrame::new.
        assert_eq!(before_decode - before, 2, "the encoder hashed");
        assert_eq!(got.len(), 6);
        assert_eq!(got[5].payload()[0], json(10)[0] ^ 1);

        // Plain options: one hash per frame each way.
        let mut encoder = Encoder::default();
        let mut decoder = Decoder::default();
        let before = hash_count::get();
        let frame = encoder.encode(&message(json(4096))).expect("fits");
        let got = decode_all(&mut decoder, &frame.to_bytes());
        assert_eq!(got.len(), 1);
        assert_eq!(hash_count::get() - before, 2);
    }

    #[test]
    fn compression_flags_only_what_shrinks_and_round_trips() {
        let options = FrameOptions::PLAIN.with_compression(Some(Compression::default()));
        let mut encoder = Encoder::new(options);
        let mut decoder = Decoder::with_options(1 << 20, options);
        let mut x = 0x9e37_79b9_u32;
        let random: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let msgs = [
            message(json(5000)),
            message(json(1023)),
            message(random),
            message(Vec::new()),
            // A timestamp that would read as the flag is cleared.
            message(json(10)).with_timestamp_ms(TIMESTAMP_COMPRESSED | 5),
        ];
        let mut wire = Vec::new();
        let mut flags = Vec::new();
        for msg in &msgs {
            let frame = encoder.encode(msg).expect("fits");
            flags.push(frame.timestamp_ms() & TIMESTAMP_COMPRESSED != 0);
            assert_eq!(
                &frame.header()[offset::HASH..offset::TIMESTAMP],
                &payload_hash(frame.payload())
            );
            frame.write_to(&mut wire);
        }
        assert_eq!(flags, [true, false, false, false, false]);
        let got = decode_all(&mut decoder, &wire);
        assert_eq!(decoder.frames_decompressed(), 1);
        assert_eq!(got[..4], msgs[..4]);
        assert_eq!(got[4].timestamp_ms(), 5);
    }

    #[test]
    fn adapt_compresses_held_frames_and_clears_a_faked_flag() {
        let options = FrameOptions::PLAIN
            .with_compression(Some(Compression::default()))
            .with_skip_hash(true);
        let mut encoder = Encoder::new(options);
        let held = EncodedFrame::new(&message(json(5000))).expect("fits");
        let adapted = encoder.adapt(held.clone(), true);
        assert_ne!(adapted.timestamp_ms() & TIMESTAMP_COMPRESSED, 0);
        assert_eq!(&adapted.header()[offset::HASH..offset::TIMESTAMP], &NO_HASH);
        assert_eq!(adapted.request_id(), held.request_id());
        let mut decoder = Decoder::with_options(1 << 20, options);
        assert_eq!(
            decode_all(&mut decoder, &adapted.to_bytes()),
            [message(json(5000))]
        );
        // Shared frames: never compressed, only a faked flag cleared.
        assert_eq!(encoder.adapt(held.clone(), false), held);
        let faked =
            EncodedFrame::new(&message(json(10)).with_timestamp_ms(u64::MAX)).expect("fits");
        let fixed = encoder.adapt(faked.clone(), false);
        assert_eq!(fixed.timestamp_ms(), u64::MAX >> 1);
        assert_eq!(fixed.payload(), faked.payload());
        // Without compression agreed, frames are left alone.
        let mut plain = Encoder::new(FrameOptions::PLAIN.with_skip_hash(true));
        assert_eq!(plain.adapt(faked.clone(), true), faked);
    }
}
