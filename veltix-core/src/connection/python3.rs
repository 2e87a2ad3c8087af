//! Python Veltix 2.0.3 – 3.3's JSON handshake (`docs/protocol.md` §10), spoken before
//! any compact frame, server first. Each message is a `u16` big-endian length
//! and that many bytes of UTF-8 JSON, written with Python's `json.dumps`
//! defaults (separators `", "` and `": "`, non-ASCII kept as is):
//!
//! 1. server → `{"v": "3.3.0", "pv": "1.0", "meta": {}}`
//!    (or `{"error": "server_full"}`, then it closes);
//! 2. client → the same keys with its own version;
//! 3. server → `{"result": "ok"}`.
//!
//! The peers are compatible iff the `pv` majors are equal; on a mismatch the
//! side that notices just closes. A message announcing more than 30 KiB, or
//! one that is not a JSON object, closes the connection.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use serde_json::{Map, Value};

use super::python14::{MAX_KEPT_VERSION, python_peer, truncated};
use super::{CloseCode, CloseReason, Connection, Dialect, HandshakeError, Role, State};

/// Largest handshake message Python Veltix reads (`_MAX_HANDSHAKE_SIZE`).
pub(crate) const MAX_MESSAGE: usize = 30 * 1024;
/// The protocol version we announce as `"pv"`; peers must share its major.
pub(crate) const PROTOCOL_VERSION: &str = "1.0";
const PROTOCOL_MAJOR: u64 = 1;

/// What a server says when it has no room: the exact bytes Python sends.
pub(crate) const SERVER_FULL: &str = r#"{"error": "server_full"}"#;
/// The server's acknowledgement, step 3.
pub(crate) const RESULT_OK: &str = r#"{"result": "ok"}"#;

/// Step 1 or 2: `{"v": <version>, "pv": "1.0", "meta": {}}`.
pub(crate) fn hello_json(version: &str) -> String {
    format!(
        r#"{{"v": {}, "pv": "{PROTOCOL_VERSION}", "meta": {{}}}}"#,
        json_string(version)
    )
}

/// One handshake message on the wire: the `u16` length, then the JSON.
pub(crate) fn framed(json: &str) -> Vec<u8> {
    // Every message we send is a fixed text or holds a version of at most
    // 256 bytes (checked with the configuration), far below 64 KiB.
    let len = u16::try_from(json.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json.as_bytes()[..usize::from(len)]);
    out
}

/// A JSON string literal as Python's `json.dumps(s, ensure_ascii=False)`
/// writes it: `"` `\` and control characters escaped (short forms where
/// Python has them, else `\u00XX` in lowercase hex), everything else as is.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads one handshake message from the front of `rx`: `Ok(None)` until it
/// is whole. The length is checked as soon as its two bytes are in, so a
/// peer announcing too much is refused before its bytes are buffered.
pub(crate) fn read_message(
    rx: &mut BytesMut,
) -> Result<Option<Map<String, Value>>, HandshakeError> {
    let Some(prefix) = rx.first_chunk::<2>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes(*prefix));
    if len > MAX_MESSAGE {
        return Err(HandshakeError::TooLarge {
            len,
            max: MAX_MESSAGE,
        });
    }
    if rx.len() < 2 + len {
        return Ok(None);
    }
    rx.advance(2);
    let body = rx.split_to(len);
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(HandshakeError::NotAnObject),
        Err(_) => Err(HandshakeError::InvalidJson),
    }
}

/// Whether a `"pv"` is compatible with ours: `MAJOR.MINOR` with our major
/// (Python's `protocol_is_compatible`; `None` when it does not parse).
fn pv_compatible(pv: &str) -> Option<bool> {
    let (major, minor) = pv.split_once('.')?;
    let int = |s: &str| {
        let s = s.trim_ascii();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    int(minor)?;
    Some(int(major)? == PROTOCOL_MAJOR)
}

/// A JSON value as text for a close reason: strings as they are, anything
/// else as JSON; at most 256 bytes kept.
fn value_text(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    truncated(&text, 256)
}

impl Connection {
    /// The server speaks first; the client waits.
    pub(super) fn start_python3(&mut self, now: Instant) {
        self.handshake_deadline = now.checked_add(self.config.handshake_timeout);
        match self.role {
            Role::Client => self.state = State::AwaitJsonGreeting,
            Role::Server => {
                let greeting = framed(&hello_json(self.config.announced_version()));
                self.last_tx = now;
                self.outbound.push_raw(&greeting);
                self.state = State::AwaitJsonReply;
            }
        }
    }

    /// Reads handshake messages from `rx` while the handshake lasts; what
    /// follows it in `rx` is left for the frame decoder.
    pub(super) fn read_json_handshake(&mut self, now: Instant) {
        while self.state.reads_json() {
            match read_message(&mut self.rx) {
                Ok(None) => return,
                Ok(Some(message)) => {
                    self.last_rx = now;
                    self.on_json(now, &message);
                }
                Err(err) => return self.fail(now, CloseReason::Handshake(err)),
            }
        }
    }

    fn on_json(&mut self, now: Instant, message: &Map<String, Value>) {
        if self.role == Role::Client
            && let Some(error) = message.get("error")
        {
            // Python raises ServerFullError for any "error"; keep its text.
            let reason = value_text(error);
            let code = if reason == "server_full" {
                CloseCode::SERVER_FULL
            } else {
                CloseCode::REFUSED
            };
            return self.close_with(CloseReason::Peer { code, reason });
        }
        match self.state {
            State::AwaitJsonGreeting | State::AwaitJsonReply => {
                if !self.accept_pv(now, message) {
                    return;
                }
                self.peer_version = message
                    .get("v")
                    .and_then(Value::as_str)
                    .map(|v| truncated(v, MAX_KEPT_VERSION).into());
                if self.state == State::AwaitJsonGreeting {
                    let ours = framed(&hello_json(self.config.announced_version()));
                    self.last_tx = now;
                    self.outbound.push_raw(&ours);
                    self.state = State::AwaitJsonResult;
                } else {
                    self.last_tx = now;
                    self.outbound.push_raw(&framed(RESULT_OK));
                    self.establish(now, Some(python_peer(Dialect::Python3)));
                }
            }
            State::AwaitJsonResult => {
                if message.get("result").and_then(Value::as_str) == Some("ok") {
                    self.establish(now, Some(python_peer(Dialect::Python3)));
                } else {
                    self.fail(now, CloseReason::Handshake(HandshakeError::NotAcknowledged));
                }
            }
            _ => {}
        }
    }

    /// Checks the peer's `"pv"`; closes (without a word, as Python does) and
    /// returns false when it is missing, malformed or of another major.
    fn accept_pv(&mut self, now: Instant, message: &Map<String, Value>) -> bool {
        let Some(pv) = message.get("pv").and_then(Value::as_str) else {
            self.fail(
                now,
                CloseReason::Handshake(HandshakeError::MissingField("pv")),
            );
            return false;
        };
        match pv_compatible(pv) {
            Some(true) => true,
            Some(false) => {
                let reason = CloseReason::PeerVersionMismatch {
                    ours: PROTOCOL_VERSION.to_owned(),
                    theirs: truncated(pv, MAX_KEPT_VERSION),
                };
                self.fail(now, reason);
                false
            }
            None => {
                let err = HandshakeError::MalformedVersion(truncated(pv, MAX_KEPT_VERSION));
                self.fail(now, CloseReason::Handshake(err));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_byte_for_byte_what_python_sends() {
        // `docs/protocol.md` §10: `00 27` then the JSON, for version 3.3.0.
        let hello = framed(&hello_json("3.3.0"));
        assert_eq!(&hello[..2], &[0x00, 0x27]);
        assert_eq!(&hello[2..], br#"{"v": "3.3.0", "pv": "1.0", "meta": {}}"#);
        assert_eq!(framed(RESULT_OK)[..2], [0x00, 0x10]);
        assert_eq!(framed(SERVER_FULL)[..2], [0x00, 0x18]);
    }

    #[test]
    fn strings_are_escaped_like_json_dumps_without_ensure_ascii() {
        // json.dumps('a"b\\c\n\x01\x7fé🦀', ensure_ascii=False)
        assert_eq!(
            json_string("a\"b\\c\n\u{1}\u{7f}é🦀"),
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}é🦀\""
        );
        assert_eq!(json_string("\u{8}\u{c}\t\r\u{1f}"), r#""\b\f\t\r\u001f""#);
    }

    #[test]
    fn read_message_waits_refuses_and_parses() {
        let mut rx = BytesMut::from(&b"\x00"[..]);
        assert_eq!(read_message(&mut rx), Ok(None));
        rx.extend_from_slice(b"\x10{\"result\": \"ok");
        assert_eq!(read_message(&mut rx), Ok(None));
        rx.extend_from_slice(b"\"}VX");
        let message = read_message(&mut rx).expect("valid").expect("whole");
        assert_eq!(message.get("result"), Some(&Value::from("ok")));
        assert_eq!(&rx[..], b"VX", "what follows is left for the frames");

        let mut big = BytesMut::from(&b"\x78\x01"[..]); // 30 721
        assert_eq!(
            read_message(&mut big),
            Err(HandshakeError::TooLarge {
                len: 30_721,
                max: MAX_MESSAGE
            })
        );
        for (bytes, err) in [
            (&b"\x00\x02[]"[..], HandshakeError::NotAnObject),
            (b"\x00\x01{", HandshakeError::InvalidJson),
            (b"\x00\x00", HandshakeError::InvalidJson),
            (b"\x00\x04\"\xff\xfe\"", HandshakeError::InvalidJson),
        ] {
            assert_eq!(
                read_message(&mut BytesMut::from(bytes)),
                Err(err),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn pv_compatibility_is_the_major() {
        assert_eq!(pv_compatible("1.0"), Some(true));
        assert_eq!(pv_compatible("1.7"), Some(true));
        assert_eq!(pv_compatible(" 01 .0"), Some(true));
        assert_eq!(pv_compatible("2.0"), Some(false));
        for bad in ["1", "1.0.0", "x.0", "1.", ""] {
            assert_eq!(pv_compatible(bad), None, "{bad:?}");
        }
    }
}
