//! Fuzzes the streaming frame decoder against a whole-stream reference model.
//!
//! The input is a payload limit, a list of chunk lengths and a stream built
//! from segments (raw bytes, valid frames, frames with a rewritten length
//! field, single-byte flips). The stream is fed to a [`Decoder`] chunk by
//! chunk, draining after every chunk, and the results are compared with a
//! straightforward reference decoder that sees the whole stream at once.
//!
//! Invariants checked:
//! - the chunked decoder yields exactly the reference's messages and errors,
//!   in order, whatever the chunking;
//! - every yielded message re-encodes to the very bytes it was read from,
//!   whose hash field equals `payload_hash(payload)`, and its payload is
//!   within the limit;
//! - a fatal error changes neither the buffer's length nor its capacity, and
//!   after it the decoder returns the same error on every call;
//! - while the decoder is live, the buffer never holds more than one maximal
//!   frame plus one chunk;
//! - at the end, the bytes left in the buffer (plus a pending header) are
//!   exactly the bytes the reference did not consume.
#![no_main]

use std::ops::Range;

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use veltix_core::frame::{
    DEFAULT_MAX_PAYLOAD, DecodeError, Decoder, EncodedFrame, HEADER_LEN, offset, payload_hash,
};
use veltix_core::{Message, MessageType, RequestId};

/// The decoder's payload limit.
#[derive(Debug, Arbitrary)]
enum Limit {
    Tiny(u8),
    Small(u16),
    Default,
    Any(u32),
}

impl Limit {
    fn get(&self) -> u32 {
        match *self {
            Self::Tiny(n) => u32::from(n),
            Self::Small(n) => u32::from(n),
            Self::Default => DEFAULT_MAX_PAYLOAD,
            Self::Any(n) => n,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct FrameSpec {
    type_code: u16,
    timestamp_ms: u64,
    request_id: [u8; 16],
    payload: Vec<u8>,
}

impl FrameSpec {
    fn wire(&self) -> Vec<u8> {
        let message = Message::new(MessageType::from_code(self.type_code), self.payload.clone())
            .with_request_id(RequestId::from_bytes(self.request_id))
            .with_timestamp_ms(self.timestamp_ms);
        EncodedFrame::new(&message)
            .expect("fuzz payloads are small")
            .to_bytes()
            .to_vec()
    }
}

#[derive(Debug, Arbitrary)]
enum Segment {
    /// Arbitrary bytes: headers, lying lengths, hash mismatches.
    Raw(Vec<u8>),
    /// A valid frame (the only way a fuzzer gets past SHA-256).
    Frame(FrameSpec),
    /// A valid frame whose length field is then overwritten.
    Relength(FrameSpec, u32),
    /// XOR of one byte already in the stream.
    Flip { at: u32, mask: u8 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    limit: Limit,
    /// Chunk lengths, used in a cycle; all zero (or none) feeds the stream at once.
    chunks: Vec<u8>,
    segments: Vec<Segment>,
}

fn build_stream(segments: &[Segment]) -> Vec<u8> {
    let mut stream = Vec::new();
    for segment in segments {
        match segment {
            Segment::Raw(bytes) => stream.extend_from_slice(bytes),
            Segment::Frame(spec) => stream.extend_from_slice(&spec.wire()),
            Segment::Relength(spec, len) => {
                let mut wire = spec.wire();
                wire[offset::PAYLOAD_LEN..offset::HASH].copy_from_slice(&len.to_be_bytes());
                stream.extend_from_slice(&wire);
            }
            Segment::Flip { at, mask } => {
                if !stream.is_empty() {
                    let at = *at as usize % stream.len();
                    stream[at] ^= mask;
                }
            }
        }
    }
    stream
}

fn split_chunks<'a>(stream: &'a [u8], lens: &[u8]) -> Vec<&'a [u8]> {
    if lens.iter().all(|&len| len == 0) {
        return vec![stream];
    }
    let mut out = Vec::new();
    let mut rest = stream;
    for &len in lens.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Message(Message),
    Error(DecodeError),
}

/// What a correct decoder makes of the whole stream.
struct Reference {
    outcomes: Vec<Outcome>,
    /// Where in the stream each yielded message's frame lies, in order.
    frames: Vec<Range<usize>>,
    /// Bytes consumed (a refused header is not consumed).
    consumed: usize,
}

fn reference(stream: &[u8], max: u32) -> Reference {
    let mut outcomes = Vec::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    while stream.len() - pos >= HEADER_LEN {
        let h = &stream[pos..pos + HEADER_LEN];
        let type_code = u16::from_be_bytes([h[0], h[1]]);
        let len = u32::from_be_bytes([h[2], h[3], h[4], h[5]]);
        let hash: [u8; 32] = h[6..38].try_into().expect("32 bytes");
        let timestamp_ms = u64::from_be_bytes(h[38..46].try_into().expect("8 bytes"));
        let request_id = RequestId::from_bytes(h[46..62].try_into().expect("16 bytes"));
        let message_type = MessageType::from_code(type_code);
        if len > max {
            outcomes.push(Outcome::Error(DecodeError::PayloadTooLarge { len, max }));
            break;
        }
        let end = pos + HEADER_LEN + len as usize;
        if stream.len() < end {
            break;
        }
        let payload = &stream[pos + HEADER_LEN..end];
        if payload_hash(payload) == hash {
            outcomes.push(Outcome::Message(
                Message::new(message_type, payload.to_vec())
                    .with_request_id(request_id)
                    .with_timestamp_ms(timestamp_ms),
            ));
            frames.push(pos..end);
        } else {
            outcomes.push(Outcome::Error(DecodeError::HashMismatch {
                message_type,
                request_id,
                payload_len: len,
            }));
        }
        pos = end;
    }
    Reference {
        outcomes,
        frames,
        consumed: pos,
    }
}

fuzz_target!(|input: Input| {
    let max = input.limit.get();
    let stream = build_stream(&input.segments);
    let want = reference(&stream, max);
    let max_frame = HEADER_LEN + max as usize;

    let mut decoder = Decoder::new(max);
    assert_eq!(decoder.max_payload(), max);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut fatal: Option<DecodeError> = None;

    for chunk in split_chunks(&stream, &input.chunks) {
        buf.extend_from_slice(chunk);
        if let Some(err) = &fatal {
            // Dead decoder: same error every time, buffer untouched.
            let before = buf.clone();
            assert_eq!(decoder.decode(&mut buf).as_ref(), Err(err));
            assert_eq!(buf, before);
            continue;
        }
        assert!(
            buf.len() <= max_frame + chunk.len(),
            "buffer holds {} bytes, above one {max_frame}-byte frame plus a {}-byte chunk",
            buf.len(),
            chunk.len()
        );
        loop {
            let (len, capacity) = (buf.len(), buf.capacity());
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(message)) => {
                    assert!(message.payload().len() <= max as usize);
                    let wire = EncodedFrame::new(&message).expect("payload within the limit");
                    assert_eq!(
                        wire.header()[offset::HASH..offset::TIMESTAMP],
                        payload_hash(message.payload())
                    );
                    got.push(Outcome::Message(message));
                }
                Err(err) => {
                    let is_fatal = err.is_fatal();
                    assert_eq!(is_fatal, matches!(err, DecodeError::PayloadTooLarge { .. }));
                    got.push(Outcome::Error(err.clone()));
                    if is_fatal {
                        // Refused on the header alone: nothing consumed or reserved.
                        assert_eq!((buf.len(), buf.capacity()), (len, capacity));
                        fatal = Some(err);
                        break;
                    }
                }
            }
        }
    }

    assert_eq!(got, want.outcomes);

    // Each yielded message re-encodes to exactly the bytes it came from, so
    // the hash on the wire was the payload's true hash.
    let messages = got.iter().filter_map(|outcome| match outcome {
        Outcome::Message(message) => Some(message),
        Outcome::Error(_) => None,
    });
    for (message, range) in messages.zip(&want.frames) {
        let wire = EncodedFrame::new(message)
            .expect("small payload")
            .to_bytes();
        assert_eq!(&wire[..], &stream[range.clone()]);
    }

    let left = stream.len() - want.consumed;
    match &fatal {
        Some(err) => {
            // The refused header stays in the buffer; the error sticks.
            assert_eq!(buf.len(), left);
            assert!(!decoder.is_mid_frame());
            for _ in 0..2 {
                assert_eq!(decoder.decode(&mut buf).as_ref(), Err(err));
            }
            assert_eq!(buf.len(), left);
        }
        None => {
            assert_eq!(decoder.decode(&mut buf), Ok(None));
            let pending = if decoder.is_mid_frame() {
                HEADER_LEN
            } else {
                0
            };
            assert_eq!(decoder.is_mid_frame(), left >= HEADER_LEN);
            assert_eq!(buf.len() + pending, left);
        }
    }
});
