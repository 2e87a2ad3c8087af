//! Request ids: unique per connection, never read from a clock or the OS
//! (the seed is passed in). 16-byte ids on the classic wire; on the compact
//! wire, 16-bit ids from this side's half of the space, as Python Veltix 3.x
//! allocates them.

use sha2::{Digest, Sha256};

use super::Role;
use crate::RequestId;

/// The first compact id a client hands out; clients use `[0, 32768)`.
pub(crate) const COMPACT_CLIENT_FIRST: u16 = 0;
/// How many compact ids a client hands out.
pub(crate) const COMPACT_CLIENT_WINDOW: u16 = 32_768;
/// The first compact id a server hands out; servers use `[32768, 62768)`.
pub(crate) const COMPACT_SERVER_FIRST: u16 = 32_768;
/// How many compact ids a server hands out (Python's `id_window`).
pub(crate) const COMPACT_SERVER_WINDOW: u16 = 30_000;

/// The ids one connection hands out, for its wire.
#[derive(Debug, Clone)]
pub(crate) enum RequestIds {
    Classic(IdGenerator),
    Compact(CompactIds),
}

impl RequestIds {
    /// The next id; `in_use` says which ids must not be handed out (the
    /// compact wire reuses ids, so those still pending are skipped). `None`
    /// only when every compact id of the window is in use.
    #[inline]
    pub(crate) fn next_id(&mut self, in_use: impl Fn(RequestId) -> bool) -> Option<RequestId> {
        match self {
            Self::Classic(ids) => Some(ids.next_id()),
            Self::Compact(ids) => ids.next_id(in_use),
        }
    }
}

/// Compact ids: a counter over this side's window, wrapping, skipping ids
/// still in use — Python Veltix 3.x's `IDAllocator`. Clients and servers use
/// disjoint halves, so an id one side hands out is never taken for an
/// answer to the other side's request.
#[derive(Debug, Clone)]
pub(crate) struct CompactIds {
    first: u16,
    window: u16,
    /// Offset in the window of the next id to try.
    next: u16,
}

impl CompactIds {
    pub(crate) fn new(role: Role) -> Self {
        let (first, window) = match role {
            Role::Client => (COMPACT_CLIENT_FIRST, COMPACT_CLIENT_WINDOW),
            Role::Server => (COMPACT_SERVER_FIRST, COMPACT_SERVER_WINDOW),
        };
        Self {
            first,
            window,
            next: 0,
        }
    }

    #[inline]
    pub(crate) fn next_id(&mut self, in_use: impl Fn(RequestId) -> bool) -> Option<RequestId> {
        for _ in 0..self.window {
            let id = RequestId::from_compact(self.first + self.next);
            self.next = (self.next + 1) % self.window;
            if !in_use(id) {
                return Some(id);
            }
        }
        None
    }
}

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

    #[inline]
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
    fn compact_ids_cover_each_half_in_order_then_wrap() {
        let mut client = CompactIds::new(Role::Client);
        let ids: Vec<u16> = (0..32_769)
            .map(|_| {
                client
                    .next_id(|_| false)
                    .and_then(RequestId::to_compact)
                    .expect("free")
            })
            .collect();
        assert_eq!(ids[..3], [0, 1, 2]);
        assert_eq!(ids[32_767], 32_767);
        assert_eq!(ids[32_768], 0, "wraps to the start of the window");

        let mut server = CompactIds::new(Role::Server);
        let first = server.next_id(|_| false).and_then(RequestId::to_compact);
        assert_eq!(first, Some(32_768));
        for _ in 1..30_000 {
            let id = server.next_id(|_| false).and_then(RequestId::to_compact);
            assert!(
                id.is_some_and(|id| (32_768..62_768).contains(&id)),
                "{id:?}"
            );
        }
        assert_eq!(
            server.next_id(|_| false).and_then(RequestId::to_compact),
            Some(32_768)
        );
    }

    #[test]
    fn compact_ids_skip_those_in_use_and_give_up_when_all_are() {
        let mut ids = CompactIds::new(Role::Server);
        let busy = |id: RequestId| matches!(id.to_compact(), Some(32_768 | 32_769 | 32_771));
        let got: Vec<_> = (0..3).filter_map(|_| ids.next_id(busy)).collect();
        assert_eq!(
            got,
            [32_770, 32_772, 32_773]
                .map(RequestId::from_compact)
                .to_vec()
        );
        assert_eq!(ids.next_id(|_| true), None);
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
