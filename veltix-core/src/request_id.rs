//! The request id that correlates requests, replies and pings: 16 bytes on
//! the classic wire, 16 bits on the compact wire, one type for both.

use std::fmt;
use std::str::FromStr;

/// A 16-byte request id, shown as a lowercase hyphenated UUID.
///
/// Python Veltix peers fill it with a random UUID v4; this crate's
/// [`Connection`](crate::Connection) hands out ids that are unique per
/// connection and also carry the UUID v4 version and variant bits.
///
/// On the compact wire (Python Veltix 3.x) a request id is a `u16`. Such an
/// id is the `RequestId` whose 128-bit value is that number
/// ([`from_compact`](Self::from_compact), [`to_compact`](Self::to_compact)),
/// so the same type flows through requests, replies and events whatever the
/// wire; a connection on the compact wire hands out only such ids. The
/// compact id 0 is [`RequestId::NIL`], as Python's "no id" is 0 there.
///
/// ```
/// use veltix_core::RequestId;
///
/// let id = RequestId::from_compact(0x8000);
/// assert_eq!(id.to_compact(), Some(0x8000));
/// assert_eq!(id.to_u128(), 0x8000);
/// assert_eq!(id.to_string(), "00000000-0000-0000-0000-000000008000");
/// assert_eq!(RequestId::from_compact(0), RequestId::NIL);
/// // A 16-byte id does not fit the compact wire.
/// assert_eq!(RequestId::from_u128(1 << 16).to_compact(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RequestId([u8; 16]);

/// A string was not a UUID (32 hex digits, optionally hyphenated 8-4-4-4-12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request id {input:?}: expected 32 hex digits, optionally hyphenated 8-4-4-4-12")]
pub struct ParseRequestIdError {
    input: String,
}

impl RequestId {
    /// The all-zero id.
    pub const NIL: Self = Self([0; 16]);

    /// An id from its 16 raw bytes, as they appear on the wire.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 raw bytes, as they appear on the wire.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// An id from a big-endian 128-bit integer.
    pub const fn from_u128(value: u128) -> Self {
        Self(value.to_be_bytes())
    }

    /// The id as a big-endian 128-bit integer.
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Whether this is the all-zero id.
    pub const fn is_nil(&self) -> bool {
        self.to_u128() == 0
    }

    /// The id a compact frame carries as the 16-bit number `id`.
    pub const fn from_compact(id: u16) -> Self {
        Self::from_u128(id as u128)
    }

    /// The 16-bit id this is on the compact wire, if it fits: `Some` exactly
    /// when the 128-bit value is below 65 536.
    pub const fn to_compact(self) -> Option<u16> {
        let value = self.to_u128();
        if value <= u16::MAX as u128 {
            Some(value as u16)
        } else {
            None
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut pos = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[pos] = b'-';
                pos += 1;
            }
            out[pos] = HEX[usize::from(byte >> 4)];
            out[pos + 1] = HEX[usize::from(byte & 0x0f)];
            pos += 2;
        }
        // Every byte written above is ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({self})")
    }
}

impl FromStr for RequestId {
    type Err = ParseRequestIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRequestIdError {
            input: s.chars().take(64).collect(),
        };
        let bytes = s.as_bytes();
        let hyphenated = match bytes.len() {
            32 => false,
            36 => true,
            _ => return Err(err()),
        };
        if hyphenated && [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
            return Err(err());
        }
        let mut digits = bytes
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| (!hyphenated || !matches!(i, 8 | 13 | 18 | 23)).then_some(c));
        let mut out = [0u8; 16];
        for byte in &mut out {
            let (Some(hi), Some(lo)) = (digits.next(), digits.next()) else {
                return Err(err());
            };
            *byte = (hex_value(hi).ok_or_else(err)? << 4) | hex_value(lo).ok_or_else(err)?;
        }
        Ok(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl From<[u8; 16]> for RequestId {
    fn from(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

impl From<RequestId> for [u8; 16] {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for RequestId {
    /// Any 16 bytes, as on the classic wire.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        <[u8; 16]>::arbitrary(u).map(Self)
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        <[u8; 16] as arbitrary::Arbitrary<'a>>::size_hint(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_hyphenated_uuid() {
        let id = RequestId::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        assert_eq!(id.to_string(), "12345678-9abc-def0-1234-56789abcdef0");
        assert_eq!(
            RequestId::NIL.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            format!("{id:?}"),
            "RequestId(12345678-9abc-def0-1234-56789abcdef0)"
        );
    }

    #[test]
    fn parses_with_or_without_hyphens_in_either_case() {
        let want = RequestId::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        for s in [
            "01234567-89ab-cdef-0123-456789abcdef",
            "01234567-89AB-CDEF-0123-456789ABCDEF",
            "0123456789abcdef0123456789abcdef",
            "0123456789ABCDEF0123456789abcDEF",
        ] {
            assert_eq!(s.parse::<RequestId>(), Ok(want), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_strings() {
        for s in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "01234567-89ab-cdef-0123_456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            "01234567-89ab-cdef-0123-456789abcde-",
            "-1234567-89ab-cdef-0123-456789abcdef",
            "0123456789abcdef0123456789abcd\u{e9}",
        ] {
            assert!(s.parse::<RequestId>().is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn compact_ids_embed_as_small_values() {
        for n in [0u16, 1, 0x7fff, 0x8000, u16::MAX] {
            let id = RequestId::from_compact(n);
            assert_eq!(id.to_compact(), Some(n));
            assert_eq!(id, RequestId::from_u128(n.into()));
            assert_eq!(id.to_string().parse::<RequestId>(), Ok(id));
        }
        assert_eq!(RequestId::from_u128(0x1_0000).to_compact(), None);
        assert_eq!(RequestId::from_u128(u128::MAX).to_compact(), None);
    }

    #[test]
    fn display_parse_round_trip() {
        for v in [0u128, 1, u128::MAX, 0xdead_beef << 64] {
            let id = RequestId::from_u128(v);
            assert_eq!(id.to_string().parse::<RequestId>(), Ok(id));
        }
    }
}
