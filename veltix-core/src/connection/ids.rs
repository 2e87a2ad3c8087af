//! Request ids: unique per connection, unguessable enough, and never read
//! from a clock or the OS (the seed is passed in).

use sha2::{Digest, Sha256};

use crate::RequestId;

/// Hands out request ids that are distinct for the first 2^62 calls.
///
/// The upper 64 bits are fixed per connection (from the seed, with the UUID v4
/// version nibble); the lower 62 bits are a counter passed through a bijection
/// (multiplication by an odd constant and an offset, modulo 2^62), so two
/// counters never give the same id. The variant bits make every id a valid
/// UUID v4 for peers that print them.
#[derive(Debug, Clone)]
pub(crate) struct IdGenerator {
    high: u64,
    offset: u64,
    counter: u64,
}

const LOW_MASK: u64 = (1 << 62) - 1;
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15; // odd, so a bijection modulo 2^62

impl IdGenerator {
    pub(crate) fn new(random: &[u8; 32]) -> Self {
        let digest = Sha256::new_with_prefix(b"veltix request ids")
            .chain_update(random)
            .finalize();
        let word = |i: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&digest[i * 8..i * 8 + 8]);
            u64::from_be_bytes(b)
        };
        // Version nibble 4 in byte 6 (bits 15..12 of the high word).
        let high = (word(0) & !0xf000) | 0x4000;
        Self {
            high,
            offset: word(1),
            counter: 0,
        }
    }

    pub(crate) fn next_id(&mut self) -> RequestId {
        let low = self
            .counter
            .wrapping_mul(MULTIPLIER)
            .wrapping_add(self.offset)
            & LOW_MASK;
        self.counter = self.counter.wrapping_add(1);
        // Variant bits 10 in the top of byte 8.
        let low = low | (0b10 << 62);
        RequestId::from_u128((u128::from(self.high) << 64) | u128::from(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_uuid_v4_shaped() {
        let mut ids = IdGenerator::new(&[7; 32]);
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next_id();
            let text = id.to_string();
            assert_eq!(&text[14..15], "4", "{text}");
            assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
            assert!(seen.insert(id), "duplicate {text}");
        }
    }

    #[test]
    fn same_seed_same_ids_other_seed_other_ids() {
        let a: Vec<_> = (0..4)
            .scan(IdGenerator::new(&[1; 32]), |g, _| Some(g.next_id()))
            .collect();
        let b: Vec<_> = (0..4)
            .scan(IdGenerator::new(&[1; 32]), |g, _| Some(g.next_id()))
            .collect();
        let c: Vec<_> = (0..4)
            .scan(IdGenerator::new(&[2; 32]), |g, _| Some(g.next_id()))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|id| !c.contains(id)));
    }
}
