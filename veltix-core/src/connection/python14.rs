//! Python Veltix 1.4.0 – 1.6.1's handshake on the classic wire (`docs/protocol.md`
//! §9): the server sends HELLO with `[u16 len][version, UTF-8]` and a fresh
//! request id, the client answers HELLO_ACK with the same request id and its
//! version; `major.minor` must be equal. Nothing else is negotiated.

use bytes::Bytes;
use std::time::Instant;

use super::{CloseReason, Connection, Dialect, HandshakeError, PeerInfo, Role, State};
use crate::{Message, MessageType, RequestId};

/// HELLO and HELLO_ACK payload: `[u16 len][version, UTF-8]`.
pub(crate) fn encode_version(version: &str) -> Vec<u8> {
    // Versions are announced from configuration (≤ 256 bytes, checked) or
    // built from two parsed integers, so they always fit the u16 prefix.
    let len = u16::try_from(version.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + version.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&version.as_bytes()[..usize::from(len)]);
    out
}

/// Reads a HELLO / HELLO_ACK payload. Bytes after the announced length are
/// ignored, as Python does; fewer bytes than announced are refused (Python
/// would read a truncated version).
pub(crate) fn parse_version_payload(payload: &[u8]) -> Result<&str, HandshakeError> {
    let (len, rest) = payload
        .split_first_chunk::<2>()
        .ok_or(HandshakeError::Truncated)?;
    let version = rest
        .get(..usize::from(u16::from_be_bytes(*len)))
        .ok_or(HandshakeError::Truncated)?;
    std::str::from_utf8(version).map_err(|_| HandshakeError::VersionNotUtf8)
}

/// `MAJOR.MINOR.PATCH` as Python Veltix 1.6's `split_version` reads it:
/// exactly three dot-separated integers. Python's `int()` accepts a little
/// more (signs, `_` separators, non-ASCII digits); no release announces
/// such a version, and a peer that does is closed either way.
pub(crate) fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(py_int);
    let parsed = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(parsed)
}

/// A non-negative integer with optional surrounding ASCII whitespace.
fn py_int(text: &str) -> Option<u64> {
    let digits = text.trim_ascii();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// At most this much of a peer's version string is kept (in events and
/// [`Connection::peer_version`]).
pub(crate) const MAX_KEPT_VERSION: usize = 64;

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncated(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl Connection {
    /// The server speaks first: HELLO with our version and a fresh id.
    pub(super) fn start_python14(&mut self, now: Instant) {
        self.handshake_deadline = now.checked_add(self.config.handshake_timeout);
        match self.role {
            Role::Client => self.state = State::AwaitPyHello,
            Role::Server => {
                let id = self.next_request_id().unwrap_or(RequestId::NIL);
                let hello = encode_version(self.config.announced_version());
                self.queue_control(now, MessageType::HELLO, id, hello.into());
                self.state = State::AwaitPyHelloAck(id);
            }
        }
    }

    /// Client: the server's HELLO; answer with its `major.minor`.
    pub(super) fn on_python14_hello(&mut self, now: Instant, message: Message) {
        let got = message.message_type();
        if got == MessageType::ERROR {
            // Our own server refusing us (server full) sends ERROR instead.
            return self.on_peer_close(message.payload());
        }
        if got != MessageType::HELLO {
            let expected = MessageType::HELLO;
            return self.fail(
                now,
                CloseReason::Handshake(HandshakeError::UnexpectedFrame { expected, got }),
            );
        }
        let theirs = match parse_version_payload(message.payload()) {
            Ok(version) => version,
            Err(err) => return self.fail(now, CloseReason::Handshake(err)),
        };
        let Some((major, minor, _)) = parse_version(theirs) else {
            let kept = truncated(theirs, MAX_KEPT_VERSION);
            return self.fail(
                now,
                CloseReason::Handshake(HandshakeError::MalformedVersion(kept)),
            );
        };
        self.peer_version = Some(truncated(theirs, MAX_KEPT_VERSION).into());
        let ours = format!("{major}.{minor}.0");
        self.queue_control(
            now,
            MessageType::HELLO_ACK,
            message.request_id(),
            Bytes::from(encode_version(&ours)),
        );
        self.establish(now, Some(python_peer(Dialect::Python14)));
    }

    /// Server: the client's HELLO_ACK to our HELLO `hello_id`.
    pub(super) fn on_python14_ack(&mut self, now: Instant, message: Message, hello_id: RequestId) {
        let got = message.message_type();
        if got == MessageType::ERROR {
            return self.on_peer_close(message.payload());
        }
        if got != MessageType::HELLO_ACK {
            let expected = MessageType::HELLO_ACK;
            return self.fail(
                now,
                CloseReason::Handshake(HandshakeError::UnexpectedFrame { expected, got }),
            );
        }
        if message.request_id() != hello_id {
            let err = HandshakeError::WrongRequestId {
                expected: hello_id,
                got: message.request_id(),
            };
            return self.fail(now, CloseReason::Handshake(err));
        }
        let theirs = match parse_version_payload(message.payload()) {
            Ok(version) => truncated(version, MAX_KEPT_VERSION),
            Err(err) => return self.fail(now, CloseReason::Handshake(err)),
        };
        let ours = self.config.announced_version();
        let same_minor = match (parse_version(ours), parse_version(&theirs)) {
            (Some((a, b, _)), Some((c, d, _))) => (a, b) == (c, d),
            _ => false,
        };
        if !same_minor {
            let ours = ours.to_owned();
            return self.fail(now, CloseReason::PeerVersionMismatch { ours, theirs });
        }
        self.peer_version = Some(theirs.into());
        self.establish(now, Some(python_peer(Dialect::Python14)));
    }
}

/// What a Python handshake settles: no native version, no key, PING keep-alive.
pub(super) fn python_peer(dialect: Dialect) -> PeerInfo {
    PeerInfo {
        protocol_version: None,
        authenticated: false,
        heartbeat: false,
        dialect,
        compression: None,
        hash_skipped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_payload_round_trips_like_python() {
        // Python 1.6: len(b"1.6.0").to_bytes(2, "big") + b"1.6.0"
        assert_eq!(encode_version("1.6.0"), b"\x00\x051.6.0");
        assert_eq!(parse_version_payload(b"\x00\x051.6.0"), Ok("1.6.0"));
        // Trailing bytes are ignored, as payload[2 : 2 + length] does.
        assert_eq!(parse_version_payload(b"\x00\x031.4.0"), Ok("1.4"));
        assert_eq!(
            parse_version_payload(b"\x00"),
            Err(HandshakeError::Truncated)
        );
        assert_eq!(
            parse_version_payload(b"\x00\x09short"),
            Err(HandshakeError::Truncated)
        );
        assert_eq!(
            parse_version_payload(b"\x00\x02\xff\xfe"),
            Err(HandshakeError::VersionNotUtf8)
        );
    }

    #[test]
    fn versions_parse_as_three_integers() {
        assert_eq!(parse_version("1.6.0"), Some((1, 6, 0)));
        assert_eq!(parse_version("01. 4 .10"), Some((1, 4, 10)));
        for bad in [
            "1.6",
            "1.6.0.1",
            "1..0",
            "a.b.c",
            "1.6.-1",
            "",
            "1.6.99999999999999999999",
        ] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncated("ééé", 3), "é");
        assert_eq!(truncated("abc", 64), "abc");
    }
}
