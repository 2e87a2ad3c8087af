//! Telling TLS from plaintext by the first bytes of a stream.
//!
//! A TLS stream starts with a record header: content type (22, handshake —
//! or 21, alert, from a server refusing us), version major 3, minor 0–4, a
//! two-byte length. A Veltix frame, an HTTP request or an SSH banner does not.

use crate::TlsError;
use crate::session::Side;

const HANDSHAKE: u8 = 0x16;
const ALERT: u8 = 0x15;
const CLIENT_HELLO: u8 = 0x01;
/// The largest record a TLS 1.3 peer may send (2^14 plus expansion).
const MAX_RECORD: u16 = 16384 + 256;

/// Whether `first_bytes`, the start of what a peer sent, is a TLS
/// ClientHello: a TLS client talking to a plaintext port.
///
/// Needs at least the first 6 bytes (record header and handshake type) and
/// says `false` on fewer, so a plaintext server can call it on its first
/// read to log "a TLS client on a plaintext port" rather than a confusing
/// frame error.
///
/// ```
/// assert!(veltix_tls::looks_like_tls_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]));
/// assert!(!veltix_tls::looks_like_tls_client_hello(b"GET / HTTP/1.1\r\n"));
/// ```
pub fn looks_like_tls_client_hello(first_bytes: &[u8]) -> bool {
    match first_bytes {
        [HANDSHAKE, 0x03, minor, len_hi, len_lo, CLIENT_HELLO, ..] => {
            let len = u16::from_be_bytes([*len_hi, *len_lo]);
            *minor <= 0x04 && len > 0 && len <= MAX_RECORD
        }
        _ => false,
    }
}

/// Checks the first three bytes of the peer's stream as they arrive (they
/// may come one at a time), before rustls sees them: rustls would report a
/// plaintext peer as a bare "invalid content type", we say what it likely is.
#[derive(Debug, Default)]
pub(crate) struct FirstBytes {
    seen: Vec<u8>,
    done: bool,
}

/// How many bytes the check looks at, and how many it shows in its error.
const CHECKED: usize = 3;
const SHOWN: usize = 8;

impl FirstBytes {
    pub(crate) fn check(&mut self, side: Side, input: &[u8]) -> Result<(), TlsError> {
        if self.done {
            return Ok(());
        }
        let take = (SHOWN - self.seen.len()).min(input.len());
        self.seen.extend_from_slice(&input[..take]);
        let ok = match self.seen.as_slice() {
            [] => true,
            [first, rest @ ..] => {
                let first_ok = *first == HANDSHAKE || (side == Side::Client && *first == ALERT);
                let rest_ok = match rest {
                    [] => true,
                    [major] => *major == 0x03,
                    [major, minor, ..] => *major == 0x03 && *minor <= 0x04,
                };
                first_ok && rest_ok
            }
        };
        if !ok {
            return Err(TlsError::NotTls {
                first_bytes: std::mem::take(&mut self.seen),
            });
        }
        if self.seen.len() >= CHECKED {
            self.done = true;
            self.seen = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_prefix_is_recognised_only_with_six_bytes() {
        let hello = [0x16, 0x03, 0x01, 0x00, 0xc8, 0x01];
        assert!(looks_like_tls_client_hello(&hello));
        assert!(!looks_like_tls_client_hello(&hello[..5]));
        assert!(!looks_like_tls_client_hello(&[
            0x16, 0x03, 0x01, 0x00, 0xc8, 0x02
        ]));
        assert!(!looks_like_tls_client_hello(&[
            0x16, 0x03, 0x01, 0xff, 0xff, 0x01
        ]));
        assert!(!looks_like_tls_client_hello(&[
            0x17, 0x03, 0x03, 0x00, 0x10, 0x01
        ]));
    }

    #[test]
    fn first_bytes_one_at_a_time() {
        let mut check = FirstBytes::default();
        for byte in [0x16, 0x03, 0x01, 0xff, 0x00] {
            check.check(Side::Server, &[byte]).unwrap();
        }
    }

    #[test]
    fn first_bytes_report_what_was_seen() {
        let mut check = FirstBytes::default();
        check.check(Side::Server, &[0x16]).unwrap();
        let err = check.check(Side::Server, b"HELLO WORLD").unwrap_err();
        let TlsError::NotTls { first_bytes } = err else {
            panic!("{err:?}")
        };
        assert_eq!(first_bytes, b"\x16HELLO W");
    }

    #[test]
    fn an_alert_may_open_a_server_stream_only() {
        assert!(
            FirstBytes::default()
                .check(Side::Client, &[0x15, 0x03, 0x03])
                .is_ok()
        );
        assert!(
            FirstBytes::default()
                .check(Side::Server, &[0x15, 0x03, 0x03])
                .is_err()
        );
    }
}
