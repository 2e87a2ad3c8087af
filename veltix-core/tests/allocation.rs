//! Counts heap allocations to show that a lying length field costs nothing:
//! the classic and the compact decoders refuse a 4 GiB length on the header
//! alone, before reserving.
#![allow(unsafe_code)] // a counting global allocator is the only way to see allocations

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::BytesMut;
use veltix_core::compact;
use veltix_core::frame::{DecodeError, Decoder, HEADER_LEN};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn compact_header_with_len(len: u32) -> [u8; compact::HEADER_LEN] {
    let mut header = [0u8; compact::HEADER_LEN];
    header[..2].copy_from_slice(b"VX");
    header[3..5].copy_from_slice(&200u16.to_be_bytes());
    header[5..9].copy_from_slice(&len.to_be_bytes());
    header
}

fn header_with_len(len: u32) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0..2].copy_from_slice(&200u16.to_be_bytes());
    header[2..6].copy_from_slice(&len.to_be_bytes());
    header
}

// One test function only: the counters are process-wide, and a second test
// running on another thread would be counted too.
#[test]
fn lying_length_fields_allocate_nothing() {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::with_capacity(4096);
    buf.extend_from_slice(&header_with_len(u32::MAX));

    COUNTING.store(true, Ordering::SeqCst);
    let result = decoder.decode(&mut buf);
    let again = decoder.decode(&mut buf);
    COUNTING.store(false, Ordering::SeqCst);

    assert!(matches!(
        result,
        Err(DecodeError::PayloadTooLarge { len: u32::MAX, .. })
    ));
    assert_eq!(again, result);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "the decoder allocated"
    );
    assert_eq!(buf.capacity(), 4096);

    // A length just under the limit is accepted, but the decoder reserves only a
    // bounded step for it, not the 16 MiB the header claims.
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&header_with_len(16 * 1024 * 1024));
    buf.extend_from_slice(b"only ten b");
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = decoder.decode(&mut buf);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(result, Ok(None));
    let reserved = ALLOCATED_BYTES.load(Ordering::SeqCst);
    assert!(
        reserved <= 128 * 1024,
        "reserved {reserved} bytes for a 10-byte trickle"
    );

    // The compact decoder: the same two promises.
    let mut decoder = compact::Decoder::default();
    let mut buf = BytesMut::with_capacity(4096);
    buf.extend_from_slice(&compact_header_with_len(u32::MAX));
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = decoder.decode(&mut buf);
    let again = decoder.decode(&mut buf);
    COUNTING.store(false, Ordering::SeqCst);
    assert!(matches!(
        result,
        Err(DecodeError::PayloadTooLarge { len: u32::MAX, .. })
    ));
    assert_eq!(again, result);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "the compact decoder allocated"
    );
    assert_eq!(buf.capacity(), 4096);

    let mut decoder = compact::Decoder::default();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&compact_header_with_len(16 * 1024 * 1024));
    buf.extend_from_slice(b"only ten b");
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = decoder.decode(&mut buf);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(result, Ok(None));
    let reserved = ALLOCATED_BYTES.load(Ordering::SeqCst);
    assert!(
        reserved <= 128 * 1024,
        "compact: reserved {reserved} bytes for a 10-byte trickle"
    );
}
