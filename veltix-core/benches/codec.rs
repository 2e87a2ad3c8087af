//! Frame codec throughput: encode, decode and the raw SHA-256 of the same
//! payload (the floor both are bound by), for 64 B, 1 KiB, 64 KiB and 1 MiB
//! payloads.
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
use veltix_core::frame::{Decoder, EncodedFrame, HEADER_LEN};
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

fn message(size: usize) -> Message {
    Message::new(MessageType::from_code(200), payload(size))
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

criterion_group!(benches, encode, decode, sha256);
criterion_main!(benches);
