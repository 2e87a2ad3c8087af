//! Frame codec throughput: encode, decode and the raw SHA-256 of the same
//! payload (the floor both are bound by), for 64 B, 1 KiB, 64 KiB and 1 MiB
//! payloads.
//!
//! The negotiated frame options of the native dialect:
//! - `encode_unhashed` / `decode_unhashed`: the same frames with the hash
//!   skipped (both peers under an authenticated transport), to compare with
//!   `encode` / `decode`;
//! - `json_plain` / `json_lz4` / `random_lz4`: encode then decode of JSON
//!   records (which LZ4 shrinks ~3.7×) without and with compression, and of
//!   random bytes with compression on (the cost of trying: they are sent
//!   as they are); `json_unhashed` / `json_lz4_unhashed`: the same under an
//!   authenticated transport (no hash). Throughput counts the uncompressed
//!   payload.
//!
//! Small payloads are processed in batches of frames (64 KiB of payload per
//! iteration), so divide the time per iteration by the batch size for a
//! per-frame figure; throughput is payload bytes per second in every case.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use sha2::{Digest, Sha256};
use veltix_core::compression::Compression;
use veltix_core::frame::{Decoder, EncodedFrame, Encoder, FrameOptions, HEADER_LEN};
use veltix_core::{Message, MessageType, RequestId};

const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];

/// Payload bytes per iteration for small frames.
const BATCH_BYTES: usize = 64 * 1024;

fn frames_per_iter(size: usize) -> usize {
    (BATCH_BYTES / size).max(1)
}

/// Sets the throughput for one benchmark of `size`-byte payloads; frames of a
/// millisecond or so use flat sampling so 100 samples fit the measurement time.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, size: usize) {
    group.throughput(Throughput::Bytes((frames_per_iter(size) * size) as u64));
    group.sampling_mode(if size >= 1024 * 1024 {
        SamplingMode::Flat
    } else {
        SamplingMode::Auto
    });
}

fn payload(size: usize) -> Bytes {
    // Deterministic, not all-equal bytes (SHA-256 speed does not depend on
    // content, but memcpy of zero pages could flatter the encoder).
    let mut x: u32 = 0x9e37_79b9;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

/// JSON records, as an application would send them: keys repeat, values
/// vary (pseudo-random), about 3.7:1 for LZ4.
fn json(size: usize) -> Bytes {
    const WORDS: [&str; 10] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    ];
    let mut x: u32 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut out = Vec::with_capacity(size + 300);
    let mut i = 0u64;
    while out.len() < size {
        let (a, b, c) = (next(), next(), next());
        out.extend_from_slice(
            format!(
                r#"{{"id": {i}, "user": "user_{:05}", "email": "user{}@example.com", "score": {}.{:02}, "active": {}, "tags": ["{}", "{}"], "ts": "2025-11-{:02}T{:02}:{:02}:{:02}Z"}}, "#,
                a % 100_000,
                b % 10_000,
                c % 1000,
                a % 100,
                b % 2 == 0,
                WORDS[(a % 10) as usize],
                WORDS[(b % 10) as usize],
                1 + c % 28,
                a % 24,
                b % 60,
                c % 60,
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(size);
    out.into()
}

fn message(size: usize) -> Message {
    message_of(payload(size))
}

fn message_of(payload: Bytes) -> Message {
    Message::new(MessageType::from_code(200), payload)
        .with_request_id(RequestId::from_u128(
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
        ))
        .with_timestamp_ms(1_700_000_000_000)
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (size, label) in SIZES {
        let n = frames_per_iter(size);
        let msg = message(size);
        let mut out = Vec::with_capacity(n * (size + HEADER_LEN));
        configure(&mut group, size);
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..n {
                    EncodedFrame::new(black_box(&msg))
                        .expect("payload fits")
                        .write_to(&mut out);
                }
                black_box(out.as_slice());
            });
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (size, label) in SIZES {
        let n = frames_per_iter(size);
        let msg = message(size);
        let mut wire = BytesMut::new();
        for _ in 0..n {
            EncodedFrame::new(&msg)
                .expect("payload fits")
                .write_to(&mut wire);
        }
        let wire = wire.freeze();
        configure(&mut group, size);
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut decoder = Decoder::default();
                    let mut count = 0;
                    while let Some(msg) = decoder.decode(&mut buf).expect("valid frames") {
                        black_box(&msg);
                        count += 1;
                    }
                    assert_eq!(count, n);
                    // Dropped outside the timed section.
                    buf
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    for (size, label) in SIZES {
        let n = frames_per_iter(size);
        let payload = payload(size);
        configure(&mut group, size);
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                for _ in 0..n {
                    black_box(Sha256::digest(black_box(&payload[..])));
                }
            });
        });
    }
    group.finish();
}

fn unhashed() -> FrameOptions {
    FrameOptions::default().with_skip_hash(true)
}

fn encode_unhashed(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_unhashed");
    for (size, label) in SIZES {
        let n = frames_per_iter(size);
        let msg = message(size);
        let mut encoder = Encoder::new(unhashed());
        let mut out = Vec::with_capacity(n * (size + HEADER_LEN));
        configure(&mut group, size);
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..n {
                    encoder
                        .encode(black_box(&msg))
                        .expect("payload fits")
                        .write_to(&mut out);
                }
                black_box(out.as_slice());
            });
        });
    }
    group.finish();
}

fn decode_unhashed(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_unhashed");
    for (size, label) in SIZES {
        let n = frames_per_iter(size);
        let msg = message(size);
        let mut encoder = Encoder::new(unhashed());
        let mut wire = BytesMut::new();
        for _ in 0..n {
            encoder
                .encode(&msg)
                .expect("payload fits")
                .write_to(&mut wire);
        }
        let wire = wire.freeze();
        configure(&mut group, size);
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut decoder = Decoder::with_options(16 << 20, unhashed());
                    let mut count = 0;
                    while let Some(msg) = decoder.decode(&mut buf).expect("valid frames") {
                        black_box(&msg);
                        count += 1;
                    }
                    assert_eq!(count, n);
                    buf
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// Encodes then decodes a batch of `payload` frames with `options`.
fn round_trips(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    payload: Bytes,
    options: FrameOptions,
) {
    let size = payload.len();
    let n = frames_per_iter(size);
    let msg = message_of(payload);
    let mut encoder = Encoder::new(options);
    let mut wire = BytesMut::with_capacity(n * (size + HEADER_LEN));
    configure(group, size);
    group.bench_function(BenchmarkId::from_parameter(label), |b| {
        b.iter(|| {
            wire.clear();
            for _ in 0..n {
                encoder
                    .encode(black_box(&msg))
                    .expect("payload fits")
                    .write_to(&mut wire);
            }
            let mut decoder = Decoder::with_options(16 << 20, options);
            let mut count = 0;
            while let Some(msg) = decoder.decode(&mut wire).expect("valid frames") {
                black_box(&msg);
                count += 1;
            }
            assert_eq!(count, n);
        });
    });
}

const COMPRESSIBLE: [(usize, &str); 3] = [
    (4 * 1024, "4KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];

fn compression(c: &mut Criterion) {
    let lz4 = FrameOptions::default().with_compression(Some(Compression::default()));
    for (name, options, random) in [
        ("json_plain", FrameOptions::default(), false),
        ("json_lz4", lz4, false),
        ("random_lz4", lz4, true),
        ("json_unhashed", unhashed(), false),
        ("json_lz4_unhashed", lz4.with_skip_hash(true), false),
    ] {
        let mut group = c.benchmark_group(name);
        for (size, label) in COMPRESSIBLE {
            let data = if random { payload(size) } else { json(size) };
            if options.compression.is_some() {
                let frame = Encoder::new(options)
                    .encode(&message_of(data.clone()))
                    .expect("fits");
                eprintln!(
                    "{name}/{label}: {} bytes on the wire for {} ({:.2}:1)",
                    frame.payload().len(),
                    data.len(),
                    data.len() as f64 / frame.payload().len() as f64
                );
            }
            round_trips(&mut group, label, data, options);
        }
        group.finish();
    }
}

criterion_group!(
    benches,
    encode,
    decode,
    sha256,
    encode_unhashed,
    decode_unhashed,
    compression
);
criterion_main!(benches);
