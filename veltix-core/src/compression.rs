//! Payload compression of the native dialect: the settings, the compressor
//! and the bounded decompressor.
//!
//! Two native peers that both offer it in their handshake (feature
//! `COMPRESSION`, `docs/protocol.md` §3 and §4.1) may send any payload of at
//! least [`Compression::threshold`] bytes compressed, when that makes it
//! shorter. Nothing else ever sees a compressed payload: legacy, Python and
//! older native peers never agree to it.
//!
//! # Wire form
//!
//! A compressed payload is `[u32 big-endian decompressed length][LZ4 block]`
//! ([`SIZE_PREFIX_LEN`] bytes, then the block), and the frame says it is
//! compressed with bit 63 of its timestamp field
//! ([`frame::TIMESTAMP_COMPRESSED`](crate::frame::TIMESTAMP_COMPRESSED)).
//! The frame's SHA-256 covers the compressed bytes, as they are on the wire.
//!
//! # Decompression bombs
//!
//! [`decompress`] never reserves, nor writes, more than its limit (the
//! receiver's `max_payload`):
//!
//! 1. the size prefix is checked before anything is reserved: above the
//!    limit is [`DecompressError::TooLarge`]; above what the block could
//!    possibly expand to ([`MAX_EXPANSION`] bytes per block byte, LZ4's
//!    format bound) is [`DecompressError::Implausible`]. A 1 KiB payload can
//!    therefore never make the receiver reserve more than 255 KiB;
//! 2. the block is then decoded into a buffer of exactly the declared size,
//!    and decoding stops with [`DecompressError::ExpandsPast`] at the first
//!    byte that would not fit: nothing grows while decompressing;
//! 3. a block that ends short of the declared size is
//!    [`DecompressError::SizeMismatch`], a malformed one
//!    [`DecompressError::Malformed`].
//!
//! Each of these closes the connection
//! ([`DecodeError::Decompress`](crate::wire::DecodeError::Decompress)).
//!
//! # Compression and encryption
//!
//! Under TLS, compressed sizes can leak content (the CRIME / BREACH
//! attacks): an observer who can put chosen bytes into a message that also
//! holds a secret learns, from the encrypted record sizes, whether the
//! chosen bytes match the secret. Each payload here is compressed on its
//! own (the compressor's table is cleared for every payload; nothing is
//! shared between messages), so only a secret and attacker-chosen bytes in
//! the *same* message are exposed. Leave compression off on connections
//! whose messages mix the two.
//!
//! # Why LZ4, and lz4_flex
//!
//! Measured here on the project's 2-core machine (best of 5 × 100 ms runs,
//! release build; the machine was shared, so runs varied by up to 2×; the
//! ranges are over runs), lz4_flex 0.14 (block format, safe code only)
//! against zstd 0.14 (libzstd 1.5.7, levels 1 and 3):
//!
//! | data | size | codec | ratio | compress MiB/s | decompress MiB/s |
//! |---|---:|---|---:|---:|---:|
//! | JSON records | 1 KiB | lz4_flex | 2.04 | 1 270 | 5 330 |
//! | | | zstd-1 | 2.72 | 314 | 829 |
//! | | 64 KiB | lz4_flex | 3.73 | 1 040 – 1 910 | 2 900 – 6 100 |
//! | | | zstd-1 | 6.29 | 530 – 1 210 | 1 300 – 3 150 |
//! | | | zstd-3 | 6.43 | 410 – 1 100 | 1 280 – 3 440 |
//! | | 1 MiB | lz4_flex | 3.88 | 370 – 960 | 1 470 – 3 690 |
//! | | | zstd-1 | 6.77 | 380 – 890 | 1 100 – 2 510 |
//! | Rust and Markdown text | 64 KiB | lz4_flex | 1.96 | 570 – 1 250 | 2 250 – 5 210 |
//! | | | zstd-1 | 2.68 | 330 – 630 | 870 – 1 990 |
//! | random bytes | 64 KiB | lz4_flex | 1.00 | 13 400 – 20 600 | (stored) |
//! | | | zstd-1 | 1.00 | 6 500 – 11 000 | (stored) |
//! | SHA-256, for scale | 64 KiB | | | 880 – 2 100 | |
//!
//! Clean build of the crate alone, 2 jobs: lz4_flex 0.9 s, zstd 40 – 51 s
//! (it compiles libzstd's C sources).
//!
//! zstd compresses JSON about 1.7× smaller, but LZ4 compresses 1.5 – 4×
//! and decompresses 2 – 6× faster, which is what decides it here: in the
//! codec bench below, a 64 KiB JSON frame costs sender and receiver
//! together 54.6 µs with LZ4 against 60.3 µs plain (the hash covers a
//! quarter of the bytes), where zstd-1's speeds above put it near
//! 110 – 120 µs; under TLS (no hash) the gap is the same in absolute terms.
//! lz4_flex is also pure Rust with no unsafe code (its `safe-encode` and
//! `safe-decode` features), builds in under a second instead of compiling
//! C, is fuzzed with the rest of this crate (`fuzz/fuzz_targets/decompress.rs`),
//! and LZ4's format bounds the expansion (255:1), so a lying size prefix is
//! caught before anything is reserved. Incompressible data costs LZ4 little
//! (it gives up at over 10 GiB/s), so trying every payload above the
//! threshold is cheap.
//!
//! lz4_flex has a single compression level (LZ4's fast one), so
//! [`Compression`] has no level. The handshake names algorithms by bit, so a
//! later release can offer another one (zstd with levels, say) without
//! breaking this one.
//!
//! # Off by default
//!
//! [`ConnectionConfig::compression`](crate::ConnectionConfig::compression)
//! is `None` unless set. The codec bench (`benches/codec.rs`, groups
//! `json_*` and `random_lz4`: encode then decode, so both sides' CPU) on
//! the same machine, per 64 KiB of payload (per frame at 1 MiB):
//!
//! | payload | plain | LZ4 | no hash | LZ4, no hash |
//! |---|---:|---:|---:|---:|
//! | JSON, 4 KiB frames (2.8:1) | 62.6 µs | 71.8 µs | 1.5 µs | 53.1 µs |
//! | JSON, 64 KiB frame (3.7:1) | 60.3 µs | 54.6 µs | 0.6 µs | 37.7 µs |
//! | JSON, 1 MiB frame (3.9:1) | 984 µs | 1 507 µs | 16.7 µs | 1 266 µs |
//! | random, 4 KiB / 64 KiB / 1 MiB | 62.6 / 60.3 / 984 µs | 71.9 / 64.4 / 1 031 µs | | |
//!
//! So compression costs CPU (+15 % to +53 % for JSON, except near 64 KiB
//! where hashing a quarter of the bytes pays for it; +5 % to +15 % for
//! incompressible data, which is tried and sent as it is), and far more
//! than that under TLS, where the hash is gone and the alternative is a
//! memcpy. It wins where the link, not the CPU, is the bottleneck: LZ4's
//! round trip runs at 0.65 – 1.6 GiB/s of payload, so a link below a few
//! Gbit/s carrying compressible payloads moves 2.8 – 3.9× more messages.
//! Which links and which payloads, only the application knows; a default
//! that makes the common case (loopback, a LAN, binary or already
//! compressed payloads) slower would be the wrong one. Off, the HELLO also
//! stays byte for byte what it was.

use std::fmt;

use bytes::Bytes;
use lz4_flex::block;

/// Length of the size prefix of a compressed payload: a big-endian `u32`,
/// the decompressed length.
pub const SIZE_PREFIX_LEN: usize = 4;

/// The most bytes an LZ4 block decodes to per byte of block: a match-length
/// extension byte adds at most 255 bytes of output, and every other byte of
/// the format adds fewer. A size prefix above `255 × block length` is a lie.
pub const MAX_EXPANSION: u64 = 255;

/// Default [`Compression::threshold`]: 1 KiB. Below it LZ4 rarely saves
/// much (JSON records of 256 bytes shrink by ~17 %, text by ~8 %), and the
/// frame header is 62 bytes anyway.
pub const DEFAULT_THRESHOLD: u32 = 1024;

/// A compression algorithm of the native dialect. The handshake offers and
/// agrees algorithms as bits of one byte (`docs/protocol.md` §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// LZ4 block format (bit `0x01`), as `lz4_flex` writes it.
    Lz4,
}

impl Algorithm {
    /// Every algorithm this release speaks, as handshake bits.
    pub(crate) const SUPPORTED: u8 = 0x01;

    /// Its bit in the handshake's algorithm byte.
    pub const fn bit(self) -> u8 {
        match self {
            Self::Lz4 => 0x01,
        }
    }

    /// The algorithm of exactly one bit; `None` for no bit, several, or one
    /// this release does not know.
    pub const fn from_bit(bit: u8) -> Option<Self> {
        match bit {
            0x01 => Some(Self::Lz4),
            _ => None,
        }
    }

    /// The algorithm a side picks among `offered` bits (by its own order of
    /// preference), or `None` when it knows none of them.
    pub(crate) fn pick(offered: u8) -> Option<Self> {
        let common = offered & Self::SUPPORTED;
        // The lowest common bit: the first in this release's preference.
        Self::from_bit(common & common.wrapping_neg())
    }
}

/// Compression settings of a connection
/// ([`ConnectionConfig::compression`](crate::ConnectionConfig::compression)).
///
/// ```
/// use veltix_core::ConnectionConfig;
/// use veltix_core::compression::Compression;
///
/// let mut config = ConnectionConfig::default();
/// let mut compression = Compression::default();
/// compression.threshold = 4096;
/// config.compression = Some(compression);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Compression {
    /// Payloads shorter than this many bytes are sent as they are; longer
    /// ones are compressed, and sent compressed only when that makes them
    /// shorter. Default [`DEFAULT_THRESHOLD`] (1 KiB).
    pub threshold: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// Compresses payloads into their wire form, reusing its working table
/// (8 – 16 KiB) from one payload to the next: no allocation per payload but
/// its output.
pub struct Compressor {
    table: block::CompressTable,
}

impl Compressor {
    /// A compressor for [`Algorithm::Lz4`].
    pub fn new() -> Self {
        Self {
            table: block::CompressTable::default(),
        }
    }

    /// The wire form of `payload` (`[u32 length][LZ4 block]`), or `None`
    /// when it would not be shorter than `payload` (or `payload` does not
    /// fit the 32-bit length).
    pub fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        let len = u32::try_from(payload.len()).ok()?;
        let mut out = vec![0; SIZE_PREFIX_LEN + block::get_maximum_output_size(payload.len())];
        out[..SIZE_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
        let written =
            block::compress_into_with_table(payload, &mut out[SIZE_PREFIX_LEN..], &mut self.table)
                .ok()?;
        let total = SIZE_PREFIX_LEN + written;
        if total >= payload.len() {
            return None;
        }
        out.truncate(total);
        // The buffer was sized for the worst case; a queued frame should
        // not hold on to the difference.
        if out.capacity() > 2 * total {
            out.shrink_to_fit();
        }
        Some(out.into())
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

/// Decompresses the wire form of a compressed payload, never reserving nor
/// producing more than `max_len` bytes (see the [module](self) for the
/// checks, in order).
///
/// ```
/// use veltix_core::compression::{Compressor, DecompressError, decompress};
///
/// let json = br#"{"user": "alice", "tags": ["a", "b"]} "#.repeat(100);
/// let wire = Compressor::new().compress(&json).expect("JSON shrinks");
/// assert!(wire.len() < json.len() / 4);
/// assert_eq!(decompress(&wire, 1 << 20)?, json[..]);
/// // The same bytes are refused by a receiver whose limit is smaller,
/// // before it reserves anything.
/// assert_eq!(
///     decompress(&wire, 1000),
///     Err(DecompressError::TooLarge { len: json.len() as u32, max: 1000 })
/// );
/// # Ok::<(), DecompressError>(())
/// ```
///
/// # Errors
/// [`DecompressError`].
pub fn decompress(compressed: &[u8], max_len: u32) -> Result<Bytes, DecompressError> {
    let Some((prefix, block)) = compressed.split_first_chunk::<SIZE_PREFIX_LEN>() else {
        return Err(DecompressError::Truncated);
    };
    let len = u32::from_be_bytes(*prefix);
    if len > max_len {
        return Err(DecompressError::TooLarge { len, max: max_len });
    }
    // u32 → u64 → usize: lossless on every platform this crate builds for.
    let block_len = block.len() as u64;
    if u64::from(len) > block_len * MAX_EXPANSION {
        return Err(DecompressError::Implausible {
            len,
            block_len: u32::try_from(block.len()).unwrap_or(u32::MAX),
        });
    }
    let mut out = vec![0; len as usize];
    match block::decompress_into(block, &mut out) {
        Ok(written) if written == out.len() => Ok(out.into()),
        Ok(written) => Err(DecompressError::SizeMismatch {
            declared: len,
            actual: u32::try_from(written).unwrap_or(u32::MAX),
        }),
        Err(block::DecompressError::OutputTooSmall { .. }) => {
            Err(DecompressError::ExpandsPast { declared: len })
        }
        Err(_) => Err(DecompressError::Malformed),
    }
}

/// Why a compressed payload could not be decompressed. Every one of these
/// closes the connection: the payload passed its integrity check, so the
/// peer sent it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// Shorter than its 4-byte size prefix.
    #[error("compressed payload shorter than its 4-byte size prefix")]
    Truncated,
    /// The size prefix is above the receiver's limit. Decided on the
    /// prefix, before anything is reserved.
    #[error("compressed payload declares {len} bytes, above the {max}-byte limit")]
    TooLarge {
        /// The declared decompressed length.
        len: u32,
        /// The receiver's limit.
        max: u32,
    },
    /// The size prefix is more than the block could expand to
    /// ([`MAX_EXPANSION`] bytes per byte). Decided on the prefix, before
    /// anything is reserved.
    #[error(
        "compressed payload declares {len} bytes, more than its {block_len}-byte block can hold"
    )]
    Implausible {
        /// The declared decompressed length.
        len: u32,
        /// The length of the block after the prefix.
        block_len: u32,
    },
    /// The block decodes to more than the declared size; decoding stopped
    /// there.
    #[error("compressed payload expands past its declared {declared} bytes")]
    ExpandsPast {
        /// The declared decompressed length.
        declared: u32,
    },
    /// The block decodes to less than the declared size.
    #[error("compressed payload decodes to {actual} bytes, not its declared {declared}")]
    SizeMismatch {
        /// The declared decompressed length.
        declared: u32,
        /// What the block decoded to.
        actual: u32,
    },
    /// The block is not valid LZ4 (truncated sequence, offset out of range…).
    #[error("compressed payload is not a valid LZ4 block")]
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_shrink() {
        let mut c = Compressor::new();
        let text = b"veltix veltix veltix veltix veltix veltix veltix veltix".repeat(50);
        let wire = c.compress(&text).expect("repetitive text shrinks");
        assert_eq!(&wire[..4], &(text.len() as u32).to_be_bytes());
        assert_eq!(decompress(&wire, u32::MAX).expect("valid"), text[..]);
        // The table is reused: the same input gives the same bytes.
        assert_eq!(c.compress(&text), Some(wire));
        // Incompressible or tiny payloads are not worth it.
        let mut x = 0x9e37_79b9_u32;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert_eq!(c.compress(&random), None);
        assert_eq!(c.compress(b""), None);
        assert_eq!(c.compress(b"abc"), None);
        // Large inputs switch the table to its large form and still round-trip.
        let big = vec![7u8; 200_000];
        let wire = c.compress(&big).expect("shrinks");
        assert_eq!(decompress(&wire, 200_000).expect("valid"), big[..]);
    }

    #[test]
    fn the_expansion_bound_holds_for_the_most_compressible_input() {
        for len in [1usize, 100, 65_535, 65_536, 1 << 20, 5 << 20] {
            let zeros = vec![0u8; len];
            if let Some(wire) = Compressor::new().compress(&zeros) {
                let block = (wire.len() - SIZE_PREFIX_LEN) as u64;
                assert!(len as u64 <= block * MAX_EXPANSION, "{len}: {block}");
                assert_eq!(decompress(&wire, len as u32).expect("valid").len(), len);
            }
        }
    }

    #[test]
    fn lies_are_refused_before_reserving() {
        let wire = Compressor::new().compress(&[0; 10_000]).expect("shrinks");
        assert_eq!(
            decompress(&wire, 9_999),
            Err(DecompressError::TooLarge {
                len: 10_000,
                max: 9_999
            })
        );
        let mut lie = wire.to_vec();
        lie[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decompress(&lie, u32::MAX),
            Err(DecompressError::Implausible { len: u32::MAX, .. })
        ));
        // Claims less than it holds: decoding stops at the declared size.
        lie[..4].copy_from_slice(&9_000u32.to_be_bytes());
        assert_eq!(
            decompress(&lie, u32::MAX),
            Err(DecompressError::ExpandsPast { declared: 9_000 })
        );
        // Claims more than it holds.
        lie[..4].copy_from_slice(&11_000u32.to_be_bytes());
        assert_eq!(
            decompress(&lie, u32::MAX),
            Err(DecompressError::SizeMismatch {
                declared: 11_000,
                actual: 10_000
            })
        );
        assert_eq!(decompress(&[0, 0, 1], 10), Err(DecompressError::Truncated));
        // A match reaching before the start of the output.
        assert_eq!(
            decompress(&[0, 0, 0, 8, 0x04, 0xff, 0xff], 100),
            Err(DecompressError::Malformed)
        );
    }

    #[test]
    fn algorithms_are_picked_by_bit() {
        assert_eq!(Algorithm::pick(0x01), Some(Algorithm::Lz4));
        assert_eq!(Algorithm::pick(0xff), Some(Algorithm::Lz4));
        assert_eq!(Algorithm::pick(0x02), None);
        assert_eq!(Algorithm::pick(0), None);
        assert_eq!(
            Algorithm::from_bit(Algorithm::Lz4.bit()),
            Some(Algorithm::Lz4)
        );
        assert_eq!(Algorithm::from_bit(0x03), None);
    }
}
