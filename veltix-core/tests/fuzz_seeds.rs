//! The seed corpora of the fuzz targets `decoder` and `compact_decoder`
//! (`fuzz/seeds/<target>/`), built from the golden vectors so that a fuzz
//! run starts from valid frames (and the two invalid classic ones).
//!
//! The targets take structured inputs (`arbitrary`), so a seed is not the
//! frame itself but the bytes `arbitrary` decodes into the target's `Input`
//! holding it: a `Raw` segment of the golden frame's bytes, and a `Frame`
//! segment of its fields (which the fuzzer can then mutate while the target
//! keeps the hash or CRC right). [`Writer`] writes arbitrary 1.x's format:
//! integers little-endian, a collection as elements each preceded by a byte
//! with the low bit set and ended by one without, an enum variant as a `u32`
//! whose top bits pick it.
//!
//! This test builds every seed, checks that `arbitrary` reads it back into a
//! mirror of the target's `Input` whose stream is exactly the golden bytes,
//! and compares it with the file checked in. After a change to the vectors
//! or to a target's `Input`, regenerate with
//! `VELTIX_BLESS_SEEDS=1 cargo test -p veltix-core --test fuzz_seeds`
//! (and keep the mirrors below in step with `fuzz/fuzz_targets/`).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use serde_json::Value;
use veltix_core::frame::EncodedFrame;
use veltix_core::{Message, MessageType, RequestId, compact};

/// Writes values in the byte format `arbitrary` 1.x reads them from.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    /// Variant `index` of an enum with `count` variants (derive: the variant
    /// is `(u32 * count) >> 32`).
    fn variant(&mut self, index: u32, count: u32) -> &mut Self {
        let value = ((u64::from(index) << 32).div_ceil(u64::from(count))) as u32;
        debug_assert_eq!(
            (u64::from(value) * u64::from(count)) >> 32,
            u64::from(index)
        );
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn bytes(&mut self, raw: &[u8]) -> &mut Self {
        self.0.extend_from_slice(raw);
        self
    }

    /// A `Vec<u8>`, not in last position: each byte after a "more" flag.
    fn byte_vec(&mut self, items: &[u8]) -> &mut Self {
        for &b in items {
            self.0.extend_from_slice(&[1, b]);
        }
        self.0.push(0);
        self
    }

    /// The "more" flag before one element of a collection.
    fn more(&mut self) -> &mut Self {
        self.0.push(1);
        self
    }

    fn done(&mut self) -> Vec<u8> {
        // The last collection's end flag; also what an exhausted input reads.
        self.0.push(0);
        std::mem::take(&mut self.0)
    }
}

/// One golden frame: its message, as far as the target's `FrameSpec` can
/// say it, and its exact bytes.
struct Golden {
    name: String,
    message: Option<Message>,
    frame: Vec<u8>,
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().expect("hex string")).expect("valid hex")
}

fn classic_vectors() -> Vec<Golden> {
    let all: Value =
        serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json parses");
    let mut out = Vec::new();
    for v in all["valid"].as_array().expect("valid") {
        let code = u16::try_from(v["type_code"].as_u64().expect("code")).expect("u16");
        let id: RequestId = v["request_id"].as_str().expect("id").parse().expect("uuid");
        let message = Message::new(MessageType::from_code(code), hex_field(v, "payload_hex"))
            .with_request_id(id)
            .with_timestamp_ms(v["timestamp_ms"].as_u64().expect("timestamp"));
        out.push(Golden {
            name: v["name"].as_str().expect("name").to_owned(),
            message: Some(message),
            frame: hex_field(v, "frame_hex"),
        });
    }
    for v in all["invalid"].as_array().expect("invalid") {
        out.push(Golden {
            name: format!("invalid {}", v["name"].as_str().expect("name")),
            message: None,
            frame: hex_field(v, "frame_hex"),
        });
    }
    out
}

fn compact_vectors() -> Vec<Golden> {
    // PROTOCOL.md §5 (as in compact_golden.rs), then Python 3.3.0's frames.
    let mut out: Vec<Golden> = [
        (
            200,
            &b"hello"[..],
            0x1234,
            "56580000c8000000053610a686123468656c6c6f",
        ),
        (0, b"", 0, "565800000000000000000000000000"),
        (
            201,
            "Veltix 🦀".as_bytes(),
            0xFFFF,
            "56580000c90000000b035d5cdeffff56656c74697820f09fa680",
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (code, payload, id, frame))| Golden {
        name: format!("protocol.md {i}"),
        message: Some(
            Message::new(MessageType::from_code(code), payload.to_vec())
                .with_request_id(RequestId::from_compact(id)),
        ),
        frame: hex::decode(frame).expect("hex"),
    })
    .collect();
    let python = common::python_vectors();
    for (i, v) in python["compact_frames"]
        .as_array()
        .expect("compact frames")
        .iter()
        .enumerate()
    {
        let code = u16::try_from(v["type_code"].as_u64().expect("code")).expect("u16");
        let id = u16::try_from(v["request_id"].as_u64().expect("id")).expect("u16");
        out.push(Golden {
            name: format!("python 3.3.0 {i}"),
            message: Some(
                Message::new(MessageType::from_code(code), hex_field(v, "payload_hex"))
                    .with_request_id(RequestId::from_compact(id)),
            ),
            frame: hex_field(v, "frame_hex"),
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Mirrors of the targets' inputs (fuzz/fuzz_targets/{decoder,compact_decoder}.rs),
// field for field and variant for variant.

// The mirrors' other variants and fields are only ever built by arbitrary.
#[allow(dead_code)]
mod classic_input {
    use super::*;

    #[derive(Debug, Arbitrary)]
    pub(super) enum Limit {
        Tiny(u8),
        Small(u16),
        Default,
        Any(u32),
    }

    #[derive(Debug, Arbitrary)]
    pub(super) struct FrameSpec {
        pub(super) type_code: u16,
        pub(super) timestamp_ms: u64,
        pub(super) request_id: [u8; 16],
        pub(super) payload: Vec<u8>,
    }

    #[derive(Debug, Arbitrary)]
    pub(super) enum Segment {
        Raw(Vec<u8>),
        Frame(FrameSpec),
        Relength(FrameSpec, u32),
        Flip { at: u32, mask: u8 },
    }

    #[derive(Debug, Arbitrary)]
    pub(super) struct Input {
        pub(super) limit: Limit,
        pub(super) chunks: Vec<u8>,
        pub(super) segments: Vec<Segment>,
    }

    pub(super) const SEGMENTS: u32 = 4;
    pub(super) const LIMITS: u32 = 4;
    pub(super) const LIMIT_DEFAULT: u32 = 2;
}

#[allow(dead_code)]
mod compact_input {
    use super::*;

    #[derive(Debug, Arbitrary)]
    pub(super) enum Limit {
        Tiny(u8),
        Small(u16),
        Default,
        Any(u32),
    }

    #[derive(Debug, Arbitrary)]
    pub(super) struct FrameSpec {
        pub(super) type_code: u16,
        pub(super) request_id: u16,
        pub(super) flags: u8,
        pub(super) payload: Vec<u8>,
    }

    #[derive(Debug, Arbitrary)]
    pub(super) enum Segment {
        Raw(Vec<u8>),
        Frame(FrameSpec),
        Relength(FrameSpec, u32),
        Magic([u8; 13]),
        Flip { at: u32, mask: u8 },
    }

    #[derive(Debug, Arbitrary)]
    pub(super) struct Input {
        pub(super) limit: Limit,
        pub(super) chunks: Vec<u8>,
        pub(super) segments: Vec<Segment>,
    }

    pub(super) const SEGMENTS: u32 = 5;
    pub(super) const LIMITS: u32 = 4;
    pub(super) const LIMIT_DEFAULT: u32 = 2;
}

/// Chunkings the seeds use: the whole stream at once, and awkward splits.
const CHUNKINGS: [&[u8]; 2] = [&[], &[1, 7, 64]];

/// The seeds of `decoder`: file name → bytes.
fn classic_seeds() -> BTreeMap<String, Vec<u8>> {
    use classic_input::{LIMIT_DEFAULT, LIMITS, SEGMENTS};
    let vectors = classic_vectors();
    let mut seeds = BTreeMap::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut w = Writer::default();
        w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[0]);
        w.more().variant(0, SEGMENTS).byte_vec(&v.frame);
        seeds.insert(format!("raw-{i}"), w.done());
        if let Some(m) = &v.message {
            let mut w = Writer::default();
            w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[1]);
            w.more().variant(1, SEGMENTS);
            w.bytes(&m.message_type().code().to_le_bytes())
                .bytes(&m.timestamp_ms().to_le_bytes())
                .bytes(m.request_id().as_bytes())
                .byte_vec(m.payload());
            seeds.insert(format!("frame-{i}"), w.done());
        }
    }
    // Every golden frame back to back, fed in awkward chunks.
    let mut w = Writer::default();
    w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[1]);
    for v in &vectors {
        w.more().variant(0, SEGMENTS).byte_vec(&v.frame);
    }
    seeds.insert("raw-all".to_owned(), w.done());
    seeds
}

/// The seeds of `compact_decoder`: file name → bytes.
fn compact_seeds() -> BTreeMap<String, Vec<u8>> {
    use compact_input::{LIMIT_DEFAULT, LIMITS, SEGMENTS};
    let vectors = compact_vectors();
    let mut seeds = BTreeMap::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut w = Writer::default();
        w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[0]);
        w.more().variant(0, SEGMENTS).byte_vec(&v.frame);
        seeds.insert(format!("raw-{i}"), w.done());
        if let Some(m) = &v.message {
            let mut w = Writer::default();
            w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[1]);
            w.more().variant(1, SEGMENTS);
            let id = m.request_id().to_compact().expect("compact id");
            w.bytes(&m.message_type().code().to_le_bytes())
                .bytes(&id.to_le_bytes())
                .bytes(&[v.frame[compact::offset::FLAGS]])
                .byte_vec(m.payload());
            seeds.insert(format!("frame-{i}"), w.done());
        }
    }
    let mut w = Writer::default();
    w.variant(LIMIT_DEFAULT, LIMITS).byte_vec(CHUNKINGS[1]);
    for v in &vectors {
        w.more().variant(0, SEGMENTS).byte_vec(&v.frame);
    }
    seeds.insert("raw-all".to_owned(), w.done());
    seeds
}

/// The stream `decoder` builds from a seed, with its chunking.
fn classic_stream(seed: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use classic_input::{Input, Limit, Segment};
    let input = Input::arbitrary_take_rest(Unstructured::new(seed)).expect("seed decodes");
    assert!(matches!(input.limit, Limit::Default), "{input:?}");
    let mut stream = Vec::new();
    for segment in &input.segments {
        match segment {
            Segment::Raw(bytes) => stream.extend_from_slice(bytes),
            Segment::Frame(spec) => {
                let message =
                    Message::new(MessageType::from_code(spec.type_code), spec.payload.clone())
                        .with_request_id(RequestId::from_bytes(spec.request_id))
                        .with_timestamp_ms(spec.timestamp_ms);
                stream.extend_from_slice(&EncodedFrame::new(&message).expect("fits").to_bytes());
            }
            other => panic!("seeds hold no {other:?}"),
        }
    }
    (stream, input.chunks)
}

/// The stream `compact_decoder` builds from a seed, with its chunking.
fn compact_stream(seed: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use compact_input::{Input, Limit, Segment};
    let input = Input::arbitrary_take_rest(Unstructured::new(seed)).expect("seed decodes");
    assert!(matches!(input.limit, Limit::Default), "{input:?}");
    let mut stream = Vec::new();
    for segment in &input.segments {
        match segment {
            Segment::Raw(bytes) => stream.extend_from_slice(bytes),
            Segment::Frame(spec) => {
                let message =
                    Message::new(MessageType::from_code(spec.type_code), spec.payload.clone())
                        .with_request_id(RequestId::from_compact(spec.request_id));
                let mut wire = EncodedFrame::new_compact(&message)
                    .expect("fits")
                    .to_bytes()
                    .to_vec();
                wire[compact::offset::FLAGS] = spec.flags;
                stream.extend_from_slice(&wire);
            }
            other => panic!("seeds hold no {other:?}"),
        }
    }
    (stream, input.chunks)
}

/// What a target builds from a seed: its stream and its chunk lengths.
type StreamOf = fn(&[u8]) -> (Vec<u8>, Vec<u8>);

fn check_streams(seeds: &BTreeMap<String, Vec<u8>>, vectors: &[Golden], stream_of: StreamOf) {
    for (name, seed) in seeds {
        let (stream, chunks) = stream_of(seed);
        let (want, vector): (Vec<u8>, &str) = match name.split_once('-') {
            Some((_, "all")) => (
                vectors.iter().flat_map(|v| v.frame.clone()).collect(),
                "all",
            ),
            Some((_, i)) => {
                let v = &vectors[i.parse::<usize>().expect("index")];
                (v.frame.clone(), &v.name)
            }
            None => panic!("seed name {name}"),
        };
        assert_eq!(stream, want, "seed {name} ({vector}) builds another stream");
        assert!(
            CHUNKINGS.contains(&&chunks[..]),
            "seed {name}: chunks {chunks:?}"
        );
    }
}

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Compares `seeds` with `fuzz/seeds/<target>/`, or writes them there with
/// `VELTIX_BLESS_SEEDS=1`.
fn compare_or_bless(target: &str, seeds: &BTreeMap<String, Vec<u8>>) {
    let dir = seed_dir(target);
    if std::env::var_os("VELTIX_BLESS_SEEDS").is_some() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove old seeds");
        }
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).expect("write a seed");
        }
    }
    let mut on_disk = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().into_string().expect("UTF-8 name");
        on_disk.insert(name, std::fs::read(entry.path()).expect("read a seed"));
    }
    assert!(
        on_disk == *seeds,
        "fuzz/seeds/{target} is not what the golden vectors give: regenerate it with \
         `VELTIX_BLESS_SEEDS=1 cargo test -p veltix-core --test fuzz_seeds`"
    );
}

#[test]
fn decoder_seeds_are_the_golden_frames() {
    let seeds = classic_seeds();
    assert_eq!(
        seeds.len(),
        7 + 5 + 1,
        "raw of 7 vectors, frames of 5 valid, all"
    );
    check_streams(&seeds, &classic_vectors(), classic_stream);
    compare_or_bless("decoder", &seeds);
}

#[test]
fn compact_decoder_seeds_are_the_golden_frames() {
    let seeds = compact_seeds();
    assert_eq!(seeds.len(), 10 + 10 + 1);
    check_streams(&seeds, &compact_vectors(), compact_stream);
    compare_or_bless("compact_decoder", &seeds);
}

#[test]
fn writer_matches_arbitrary() {
    // The writer's pieces, read back by arbitrary itself.
    let mut w = Writer::default();
    w.variant(2, 4)
        .byte_vec(&[9, 8])
        .bytes(&0xbeef_u16.to_le_bytes());
    let bytes = w.done();
    let mut u = Unstructured::new(&bytes);
    assert!(matches!(
        classic_input::Limit::arbitrary(&mut u),
        Ok(classic_input::Limit::Default)
    ));
    assert_eq!(Vec::<u8>::arbitrary(&mut u).ok(), Some(vec![9, 8]));
    assert_eq!(u16::arbitrary(&mut u).ok(), Some(0xbeef));
    for count in 1..=6 {
        for index in 0..count {
            let mut w = Writer::default();
            let bytes = w.variant(index, count).done();
            let value = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
            assert_eq!(
                (u64::from(value) * u64::from(count)) >> 32,
                u64::from(index)
            );
        }
    }
}
