//! Fuzzes the compact ("VX") streaming decoder against a whole-stream
//! reference model of its documented rules.
//!
//! The input is a payload limit, a list of chunk lengths and a stream built
//! from segments (raw bytes, valid frames, frames with a rewritten length,
//! stray magics, single-byte flips). The stream is fed to a
//! [`compact::Decoder`] chunk by chunk, draining after every chunk, and the
//! results are compared with a straightforward reference that sees the whole
//! stream at once.
//!
//! Invariants checked:
//! - the chunked decoder yields exactly the reference's messages and errors,
//!   in order, whatever the chunking (resynchronisation included);
//! - every yielded message re-encodes to the very bytes it was read from
//!   (flags aside), so its checksum was right, and its payload is within the
//!   limit;
//! - a fatal error changes neither the buffer's length nor its capacity, and
//!   after it the decoder returns the same error on every call;
//! - the buffer never holds more than one maximal frame plus one chunk;
//! - at the end, the bytes left in the buffer are exactly those the
//!   reference left.
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use veltix_core::compact::{self, DecodeError, Decoder, EncodedFrame, HEADER_LEN, offset};
use veltix_core::{Message, MessageType, RequestId};

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
            Self::Default => compact::DEFAULT_MAX_PAYLOAD,
            Self::Any(n) => n,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct FrameSpec {
    type_code: u16,
    request_id: u16,
    flags: u8,
    payload: Vec<u8>,
}

impl FrameSpec {
    fn wire(&self) -> Vec<u8> {
        let message = Message::new(MessageType::from_code(self.type_code), self.payload.clone())
            .with_request_id(RequestId::from_compact(self.request_id));
        let mut wire = EncodedFrame::new_compact(&message)
            .expect("fuzz payloads are small")
            .to_bytes()
            .to_vec();
        wire[offset::FLAGS] = self.flags;
        wire
    }
}

#[derive(Debug, Arbitrary)]
enum Segment {
    Raw(Vec<u8>),
    /// A valid frame (the only way a fuzzer gets past CRC-32 reliably).
    Frame(FrameSpec),
    /// A valid frame whose length field is then overwritten.
    Relength(FrameSpec, u32),
    /// A stray magic followed by arbitrary header bytes.
    Magic([u8; 13]),
    /// XOR of one byte already in the stream.
    Flip {
        at: u32,
        mask: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    limit: Limit,
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
                wire[offset::PAYLOAD_LEN..offset::CHECKSUM].copy_from_slice(&len.to_be_bytes());
                stream.extend_from_slice(&wire);
            }
            Segment::Magic(rest) => {
                stream.extend_from_slice(b"VX");
                stream.extend_from_slice(rest);
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

struct Header {
    code: u16,
    len: u32,
    crc: u32,
    id: u16,
}

fn header_at(stream: &[u8], pos: usize) -> Option<Header> {
    let h = stream.get(pos..pos + HEADER_LEN)?;
    Some(Header {
        code: u16::from_be_bytes([h[3], h[4]]),
        len: u32::from_be_bytes([h[5], h[6], h[7], h[8]]),
        crc: u32::from_be_bytes([h[9], h[10], h[11], h[12]]),
        id: u16::from_be_bytes([h[13], h[14]]),
    })
}

/// What the documented rules make of the whole stream: outcomes, where
/// each message's frame lies, and how many bytes stay in the buffer.
fn reference(stream: &[u8], max: u32) -> (Vec<Outcome>, Vec<std::ops::Range<usize>>, usize) {
    let mut outcomes = Vec::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut scanning: Option<u64> = None;
    let left = loop {
        match scanning {
            None => {
                let rest = &stream[pos..];
                if rest.is_empty() || rest == b"V" {
                    break rest.len();
                }
                if !rest.starts_with(b"VX") {
                    scanning = Some(0);
                    continue;
                }
                let Some(h) = header_at(stream, pos) else {
                    break rest.len();
                };
                if h.len > max {
                    outcomes.push(Outcome::Error(DecodeError::PayloadTooLarge {
                        len: h.len,
                        max,
                    }));
                    break rest.len();
                }
                let end = pos + HEADER_LEN + h.len as usize;
                if end > stream.len() {
                    break rest.len();
                }
                let payload = &stream[pos + HEADER_LEN..end];
                let message_type = MessageType::from_code(h.code);
                let request_id = RequestId::from_compact(h.id);
                if compact::checksum(payload) == h.crc {
                    outcomes.push(Outcome::Message(
                        Message::new(message_type, payload.to_vec()).with_request_id(request_id),
                    ));
                    frames.push(pos..end);
                } else {
                    outcomes.push(Outcome::Error(DecodeError::HashMismatch {
                        message_type,
                        request_id,
                        payload_len: h.len,
                    }));
                }
                pos = end;
            }
            Some(skipped) => {
                let Some(at) = stream[pos..].windows(2).position(|w| w == b"VX") else {
                    break usize::from(stream.last() == Some(&b'V') && pos < stream.len());
                };
                let skipped = skipped + at as u64;
                pos += at;
                let Some(h) = header_at(stream, pos) else {
                    break stream.len() - pos;
                };
                if h.len > max {
                    pos += 1;
                    scanning = Some(skipped + 1);
                } else {
                    outcomes.push(Outcome::Error(DecodeError::BadMagic { skipped }));
                    scanning = None;
                }
            }
        }
    };
    (outcomes, frames, left)
}

fuzz_target!(|input: Input| {
    let max = input.limit.get();
    let stream = build_stream(&input.segments);
    let (want, frames, want_left) = reference(&stream, max);

    let mut decoder = Decoder::new(max);
    assert_eq!(decoder.max_payload(), max);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut fatal: Option<DecodeError> = None;
    let max_frame = HEADER_LEN.saturating_add(max as usize);

    for chunk in split_chunks(&stream, &input.chunks) {
        buf.extend_from_slice(chunk);
        if let Some(err) = &fatal {
            let before = buf.clone();
            assert_eq!(decoder.decode(&mut buf).as_ref(), Err(err));
            assert_eq!(buf, before);
            continue;
        }
        assert!(
            buf.len() <= max_frame.saturating_add(chunk.len()),
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
                    assert_eq!(message.timestamp_ms(), 0);
                    got.push(Outcome::Message(message));
                }
                Err(err) => {
                    let is_fatal = err.is_fatal();
                    assert_eq!(is_fatal, matches!(err, DecodeError::PayloadTooLarge { .. }));
                    got.push(Outcome::Error(err.clone()));
                    if is_fatal {
                        assert_eq!((buf.len(), buf.capacity()), (len, capacity));
                        fatal = Some(err);
                        break;
                    }
                }
            }
        }
    }

    assert_eq!(got, want);

    // Each message re-encodes to the bytes it came from (the flags byte aside).
    let messages = got.iter().filter_map(|o| match o {
        Outcome::Message(m) => Some(m),
        Outcome::Error(_) => None,
    });
    for (message, range) in messages.zip(&frames) {
        let mut wire = EncodedFrame::new_compact(message)
            .expect("16-bit id")
            .to_bytes()
            .to_vec();
        wire[offset::FLAGS] = stream[range.start + offset::FLAGS];
        assert_eq!(&wire[..], &stream[range.clone()]);
    }

    if let Some(err) = &fatal {
        for _ in 0..2 {
            assert_eq!(decoder.decode(&mut buf).as_ref(), Err(err));
        }
    } else {
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }
    assert_eq!(buf.len(), want_left, "bytes left in the buffer");
});
