//! Counts heap allocations to show that a compressed payload cannot make a
//! receiver reserve more than its payload limit: a 1 KiB bomb that would
//! expand to 200 KB costs at most the limit (64 KiB here) plus a little,
//! and one that declares more than the limit, or more than its block can
//! hold, costs nothing at all — never the size it claims.
#![allow(unsafe_code)] // a counting global allocator is the only way to see allocations

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use veltix_core::compression::{Compression, Compressor, DecompressError};
use veltix_core::frame::{
    DecodeError, Decoder, FrameOptions, HEADER_LEN, TIMESTAMP_COMPRESSED, payload_hash,
};
use veltix_core::{CloseReason, Connection, ConnectionConfig, Role};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATED_BYTES.fetch_add(size, Ordering::Relaxed);
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the bytes it allocated in total
/// (an upper bound on what it held at once) and its largest allocation.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    LARGEST.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let out = f();
    COUNTING.store(false, Ordering::SeqCst);
    (
        out,
        ALLOCATED_BYTES.load(Ordering::SeqCst),
        LARGEST.load(Ordering::SeqCst),
    )
}

const LIMIT: u32 = 64 * 1024;
/// What the limit allows beyond itself: bookkeeping (an error, an event, a
/// close frame), never a second payload.
const SMALL: usize = 4 * 1024;

/// A classic frame flagged compressed, carrying `payload` with its hash.
fn bomb_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&200u16.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload_hash(payload));
    out.extend_from_slice(&(TIMESTAMP_COMPRESSED | 1).to_be_bytes());
    out.extend_from_slice(&[0x11; 16]);
    out.extend_from_slice(payload);
    out
}

/// 200 KB of zeros in an LZ4 block of under 1 KiB, declaring `declared`.
fn bomb(declared: u32) -> Vec<u8> {
    let mut wire = Compressor::new()
        .compress(&vec![0; 200_000])
        .expect("shrinks")
        .to_vec();
    assert!(wire.len() <= 1024, "{}", wire.len());
    wire[..4].copy_from_slice(&declared.to_be_bytes());
    wire
}

fn decode(frame: &[u8]) -> (DecodeError, usize, usize) {
    let options = FrameOptions::default().with_compression(Some(Compression::default()));
    let mut decoder = Decoder::with_options(LIMIT, options);
    let mut buf = BytesMut::with_capacity(frame.len());
    buf.extend_from_slice(frame);
    let (result, bytes, largest) = counted(|| decoder.decode(&mut buf));
    (result.expect_err("refused"), bytes, largest)
}

fn error_of(err: &DecodeError) -> DecompressError {
    match err {
        DecodeError::Decompress { error, .. } => *error,
        other => panic!("{other:?}"),
    }
}

/// A server and a client that agreed on compression, the server limited to
/// [`LIMIT`]; returns the server, after the handshake.
fn agreed_server() -> (Connection, Instant) {
    let now = Instant::now();
    let mut config = ConnectionConfig::default();
    config.compression = Some(Compression::default());
    let mut server_config = config.clone();
    server_config.max_payload = LIMIT;
    let mut client = Connection::new(Role::Client, config, now, 1, [1; 32]).expect("valid");
    let mut server = Connection::new(Role::Server, server_config, now, 1, [2; 32]).expect("valid");
    for _ in 0..2 {
        while let Some(mut t) = client.poll_transmit() {
            let bytes = t.copy_to_bytes(t.remaining());
            server.handle_input(now, &bytes);
        }
        while let Some(mut t) = server.poll_transmit() {
            let bytes = t.copy_to_bytes(t.remaining());
            client.handle_input(now, &bytes);
        }
    }
    assert!(server.peer_info().and_then(|i| i.compression).is_some());
    while server.poll_event().is_some() {}
    (server, now)
}

// One test function only: the counters are process-wide, and a second test
// running on another thread would be counted too.
#[test]
fn a_compressed_bomb_never_costs_more_than_the_limit() {
    let limit = LIMIT as usize;

    // Declares exactly the limit, expands to 200 KB: decoding stops at the
    // limit, in a buffer of the limit.
    let (err, bytes, largest) = decode(&bomb_frame(&bomb(LIMIT)));
    assert_eq!(
        error_of(&err),
        DecompressError::ExpandsPast { declared: LIMIT }
    );
    eprintln!(
        "bomb declaring the 64 KiB limit, expanding to 200 KB: {bytes} bytes allocated, largest {largest}"
    );
    assert!(
        bytes <= limit + SMALL,
        "{bytes} bytes for a {limit}-byte limit"
    );
    assert_eq!(largest, limit);

    // Declares its true 200 KB (above the limit), or 1 GiB: refused on the
    // prefix, before anything is reserved.
    for declared in [200_000, 1 << 30, u32::MAX] {
        let (err, bytes, _) = decode(&bomb_frame(&bomb(declared)));
        assert!(
            matches!(error_of(&err), DecompressError::TooLarge { len, max: LIMIT } if len == declared)
        );
        eprintln!("bomb declaring {declared} bytes: {bytes} bytes allocated");
        assert!(bytes <= SMALL, "{bytes} bytes for a refused size");
    }

    // Within the limit but beyond what its block can hold (255 bytes per
    // byte): refused on the prefix too, when the limit is larger.
    let options = FrameOptions::default().with_compression(Some(Compression::default()));
    let mut decoder = Decoder::with_options(16 << 20, options);
    let frame = bomb_frame(&bomb(16 << 20));
    let mut buf = BytesMut::from(&frame[..]);
    let (result, bytes, _) = counted(|| decoder.decode(&mut buf));
    assert!(matches!(
        result,
        Err(DecodeError::Decompress {
            error: DecompressError::Implausible { .. },
            ..
        })
    ));
    eprintln!("bomb declaring 16 MiB under a 16 MiB limit: {bytes} bytes allocated");
    assert!(bytes <= SMALL);

    // Through a whole connection: the close, its event and its ERROR frame
    // included.
    let (mut server, now) = agreed_server();
    let frame = bomb_frame(&bomb(LIMIT));
    let ((), bytes, largest) = counted(|| server.handle_input(now, &frame));
    eprintln!(
        "connection fed the limit-declaring bomb: {bytes} bytes allocated, largest {largest}"
    );
    assert!(matches!(
        server.close_reason(),
        Some(CloseReason::Decode(DecodeError::Decompress {
            error: DecompressError::ExpandsPast { .. },
            ..
        }))
    ));
    // The input buffer holds the 1 KiB frame; the rest is the limit.
    assert!(bytes <= limit + frame.len() + 2 * SMALL, "{bytes} bytes");
    let (mut server, now) = agreed_server();
    let frame = bomb_frame(&bomb(1 << 30));
    let ((), bytes, _) = counted(|| server.handle_input(now, &frame));
    eprintln!("connection fed a bomb declaring 1 GiB: {bytes} bytes allocated");
    assert!(bytes <= frame.len() + 2 * SMALL, "{bytes} bytes");
}
