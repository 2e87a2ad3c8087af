//! Fuzzes payload decompression (`veltix_core::compression`) directly and
//! through the classic frame decoder with compression agreed.
//!
//! The input is a payload limit and a list of cases: arbitrary bytes taken
//! as a compressed payload, a real compressed payload (of arbitrary or
//! highly repetitive data) then tampered with (bytes flipped, cut short,
//! size prefix rewritten), and a stream of such payloads as flagged frames
//! with valid hashes, fed to a `frame::Decoder` in arbitrary chunks.
//!
//! Invariants checked:
//! - nothing panics;
//! - a payload decompresses only to exactly the size its prefix declares,
//!   which is within the limit and within 255 bytes per block byte; a
//!   prefix above the limit is always `TooLarge`, one above the block's
//!   reach (within the limit) always `Implausible`;
//! - what the compressor writes is shorter than its input and decompresses
//!   back to it under any limit at least its size;
//! - the chunked decoder yields, frame by frame, exactly what `decompress`
//!   makes of each payload (a message, or a fatal `Decompress` error after
//!   which it returns the same error on every call).
//!
//! Run it with a small malloc limit to catch any allocation of a claimed
//! size: `cargo +nightly fuzz run decompress -- -malloc_limit_mb=64`.
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use veltix_core::compression::{
    Compression, Compressor, DecompressError, MAX_EXPANSION, SIZE_PREFIX_LEN, decompress,
};
use veltix_core::frame::{
    DecodeError, Decoder, FrameOptions, HEADER_LEN, TIMESTAMP_COMPRESSED, payload_hash,
};
use veltix_core::{Message, MessageType, RequestId};

#[derive(Debug, Arbitrary)]
enum Limit {
    Tiny(u8),
    Small(u16),
    Any(u32),
}

impl Limit {
    fn get(&self) -> u32 {
        match *self {
            Self::Tiny(n) => u32::from(n),
            Self::Small(n) => u32::from(n),
            Self::Any(n) => n,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Source {
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// `len` copies of a short pattern: compresses up to LZ4's 255:1.
    Repeat { pattern: Vec<u8>, len: u16 },
}

impl Source {
    fn data(&self) -> Vec<u8> {
        match self {
            Self::Bytes(bytes) => bytes.clone(),
            Self::Repeat { pattern, len } => {
                let pattern = if pattern.is_empty() {
                    &[0][..]
                } else {
                    pattern
                };
                pattern
                    .iter()
                    .copied()
                    .cycle()
                    .take(usize::from(*len) * 16)
                    .collect()
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Flip { at: u16, mask: u8 },
    Truncate(u16),
    Prefix(u32),
    Append(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Case {
    /// Arbitrary bytes as a compressed payload.
    Raw(Vec<u8>),
    /// A real compressed payload, then edited.
    Compressed { source: Source, edits: Vec<Edit> },
}

impl Case {
    /// The compressed payload, and the original it came from (if unedited).
    fn payload(&self, compressor: &mut Compressor) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Self::Raw(bytes) => (bytes.clone(), None),
            Self::Compressed { source, edits } => {
                let data = source.data();
                let Some(compressed) = compressor.compress(&data) else {
                    // Not shorter: stored as is would be the sender's choice.
                    return (data, None);
                };
                assert!(compressed.len() < data.len());
                let mut out = compressed.to_vec();
                for edit in edits {
                    match edit {
                        Edit::Flip { at, mask } => {
                            if !out.is_empty() {
                                let at = usize::from(*at) % out.len();
                                out[at] ^= mask;
                            }
                        }
                        Edit::Truncate(n) => out.truncate(usize::from(*n)),
                        Edit::Prefix(len) => {
                            if out.len() >= SIZE_PREFIX_LEN {
                                out[..SIZE_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
                            }
                        }
                        Edit::Append(bytes) => out.extend_from_slice(bytes),
                    }
                }
                let original = edits.is_empty().then_some(data);
                (out, original)
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    limit: Limit,
    cases: Vec<Case>,
    /// Chunk lengths for the decoder, in a cycle; none or all zero: at once.
    chunks: Vec<u16>,
}

/// Checks `decompress` against its contract; returns its result.
fn check(payload: &[u8], max: u32, original: Option<&[u8]>) -> Result<Vec<u8>, DecompressError> {
    let result = decompress(payload, max).map(|b| b.to_vec());
    match payload.split_first_chunk::<SIZE_PREFIX_LEN>() {
        None => assert_eq!(result, Err(DecompressError::Truncated)),
        Some((prefix, block)) => {
            let declared = u32::from_be_bytes(*prefix);
            let reach = block.len() as u64 * MAX_EXPANSION;
            if declared > max {
                assert_eq!(
                    result,
                    Err(DecompressError::TooLarge { len: declared, max })
                );
            } else if u64::from(declared) > reach {
                assert!(
                    matches!(result, Err(DecompressError::Implausible { len, .. }) if len == declared)
                );
            }
            if let Ok(out) = &result {
                assert_eq!(out.len() as u64, u64::from(declared));
                assert!(declared <= max && u64::from(declared) <= reach);
            }
        }
    }
    if let Some(original) = original {
        if original.len() as u64 <= u64::from(max) {
            assert_eq!(result.as_deref(), Ok(original));
        }
    }
    result
}

fn frame(payload: &[u8], n: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&200u16.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload_hash(payload));
    out.extend_from_slice(&(TIMESTAMP_COMPRESSED | u64::from(n)).to_be_bytes());
    out.extend_from_slice(&RequestId::from_u128(u128::from(n)).as_bytes()[..]);
    out.extend_from_slice(payload);
    out
}

fuzz_target!(|input: Input| {
    let max = input.limit.get();
    let mut compressor = Compressor::new();
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for (n, case) in input.cases.iter().enumerate() {
        let (payload, original) = case.payload(&mut compressor);
        let n = n as u16;
        let result = check(&payload, max, original.as_deref());
        // A round trip under a limit that always fits.
        if let Some(original) = &original {
            let wire = compressor.compress(original).expect("compressed once");
            assert_eq!(
                decompress(&wire, u32::MAX).expect("round trip"),
                original[..]
            );
        }
        if payload.len() as u64 <= u64::from(max) {
            stream.extend_from_slice(&frame(&payload, n));
            expected.push(result.map(|out| {
                Message::new(MessageType::from_code(200), out)
                    .with_request_id(RequestId::from_u128(u128::from(n)))
                    .with_timestamp_ms(u64::from(n))
            }));
        }
    }

    // The same payloads as flagged frames through the streaming decoder.
    let options = FrameOptions::default().with_compression(Some(Compression::default()));
    let mut decoder = Decoder::with_options(max, options);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let lens: Vec<usize> = input.chunks.iter().map(|&n| usize::from(n)).collect();
    let mut rest = &stream[..];
    let mut i = 0;
    let mut fatal: Option<DecodeError> = None;
    while !rest.is_empty() {
        let step = match lens.get(i % lens.len().max(1)) {
            Some(&n) if n > 0 => n.min(rest.len()),
            _ => rest.len(),
        };
        i += 1;
        buf.extend_from_slice(&rest[..step]);
        rest = &rest[step..];
        if let Some(err) = &fatal {
            assert_eq!(decoder.decode(&mut buf).as_ref(), Err(err));
            continue;
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(message)) => got.push(Ok(message)),
                Err(err) => {
                    assert!(err.is_fatal());
                    let DecodeError::Decompress { error, .. } = &err else {
                        panic!("unexpected {err:?}");
                    };
                    got.push(Err(*error));
                    fatal = Some(err);
                    break;
                }
            }
        }
    }
    // Everything up to and including the first failure, in order.
    let cut = expected
        .iter()
        .position(Result::is_err)
        .map_or(expected.len(), |at| at + 1);
    assert_eq!(got, expected[..cut]);
});
