//! Our handshake (the `Native` dialect): its payloads (HELLO, HELLO_ACK,
//! AUTH), the HMAC proofs, and the connection's transitions through it —
//! client awaiting HELLO_ACK, server awaiting the first frame (HELLO or a
//! legacy peer's message), server awaiting the AUTH proof. The byte layout is
//! documented in `docs/protocol.md`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::{
    AUTH, CloseReason, Connection, Dialect, HandshakeMode, PeerInfo, State, TranscriptKey,
};
use crate::{Message, MessageType, RequestId};

/// First bytes of every handshake payload of ours, so a HELLO from another
/// implementation (Python Veltix 1.4 sends `[u16 len][version]`) is told apart.
pub(crate) const MAGIC: &[u8; 4] = b"VLTX";
/// Layout version of these payloads.
pub(crate) const LAYOUT: u8 = 1;
pub(crate) const NONCE_LEN: usize = 32;
pub(crate) const PROOF_LEN: usize = 32;

/// Feature bits exchanged in HELLO and agreed in HELLO_ACK.
pub(crate) mod feature {
    /// The side sends HEARTBEAT frames on send-silence.
    pub(crate) const HEARTBEAT: u32 = 1 << 0;
    /// The side has a pre-shared key and wants mutual authentication.
    pub(crate) const AUTH: u32 = 1 << 1;
}

const HELLO_LEN: usize = 4 + 1 + 2 + 2 + 4 + NONCE_LEN + 4;
const ACK_LEN: usize = 4 + 1 + 2 + 4 + NONCE_LEN + 4;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) min_version: u16,
    pub(crate) max_version: u16,
    pub(crate) features: u32,
    pub(crate) nonce: [u8; NONCE_LEN],
    /// The sender's idle timeout in ms (0: none), so the receiver can keep
    /// it fed. Optional on the wire (absent reads as 0).
    pub(crate) idle_ms: u32,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelloAck {
    pub(crate) version: u16,
    pub(crate) features: u32,
    pub(crate) nonce: [u8; NONCE_LEN],
    /// Present iff `features` has [`feature::AUTH`].
    pub(crate) proof: Option<[u8; PROOF_LEN]>,
    /// As in [`Hello`].
    pub(crate) idle_ms: u32,
}

impl Hello {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HELLO_LEN);
        out.extend_from_slice(MAGIC);
        out.push(LAYOUT);
        out.extend_from_slice(&self.min_version.to_be_bytes());
        out.extend_from_slice(&self.max_version.to_be_bytes());
        out.extend_from_slice(&self.features.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.idle_ms.to_be_bytes());
        out
    }

    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let mut r = Reader::new(payload);
        r.header()?;
        let hello = Self {
            min_version: r.u16()?,
            max_version: r.u16()?,
            features: r.u32()?,
            nonce: r.array()?,
            idle_ms: r.u32().unwrap_or(0),
        };
        // Longer payloads are allowed: a later layout may append fields.
        Some(hello)
    }
}

impl HelloAck {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ACK_LEN + PROOF_LEN);
        out.extend_from_slice(MAGIC);
        out.push(LAYOUT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.features.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        if let Some(proof) = &self.proof {
            out.extend_from_slice(proof);
        }
        out.extend_from_slice(&self.idle_ms.to_be_bytes());
        out
    }

    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let mut r = Reader::new(payload);
        r.header()?;
        let version = r.u16()?;
        let features = r.u32()?;
        let nonce = r.array()?;
        let proof = if features & feature::AUTH != 0 {
            Some(r.array()?)
        } else {
            None
        };
        Some(Self {
            version,
            features,
            nonce,
            proof,
            idle_ms: r.u32().unwrap_or(0),
        })
    }
}

/// Whose proof: the two directions use different labels so one side's proof
/// can never be replayed as the other's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Prover {
    Server,
    Client,
}

/// The transcript both proofs cover: both nonces and what was agreed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transcript {
    pub(crate) client_nonce: [u8; NONCE_LEN],
    pub(crate) server_nonce: [u8; NONCE_LEN],
    pub(crate) version: u16,
    pub(crate) features: u32,
}

fn mac(key: &[u8], prover: Prover, t: &Transcript) -> hmac::Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"veltix auth v1 ");
    mac.update(match prover {
        Prover::Server => b"server",
        Prover::Client => b"client",
    });
    mac.update(&t.client_nonce);
    mac.update(&t.server_nonce);
    mac.update(&t.version.to_be_bytes());
    mac.update(&t.features.to_be_bytes());
    mac
}

pub(crate) fn proof(key: &[u8], prover: Prover, t: &Transcript) -> [u8; PROOF_LEN] {
    mac(key, prover, t).finalize().into_bytes().into()
}

/// Constant-time check of a proof.
pub(crate) fn verify(key: &[u8], prover: Prover, t: &Transcript, proof: &[u8]) -> bool {
    mac(key, prover, t).verify_slice(proof).is_ok()
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Self { rest }
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    fn header(&mut self) -> Option<()> {
        (self.array::<4>()? == *MAGIC && self.array::<1>()?[0] == LAYOUT).then_some(())
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
}

/// ERROR frame payload: `[u16 code][utf-8 reason]`.
pub(crate) fn encode_close(code: u16, reason: &str) -> Vec<u8> {
    let reason = truncate_utf8(reason, MAX_REASON_LEN);
    let mut out = Vec::with_capacity(2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

/// Reads an ERROR payload; the reason is lossy UTF-8, at most 256 bytes kept.
pub(crate) fn parse_close(payload: &[u8]) -> Option<(u16, String)> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    let reason = &reason[..reason.len().min(MAX_REASON_LEN)];
    Some((
        u16::from_be_bytes(*code),
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

const MAX_REASON_LEN: usize = 256;

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ----- transitions ------------------------------------------------------

impl Connection {
    pub(super) fn on_frame_awaiting_ack(&mut self, now: Instant, message: Message) {
        match message.message_type() {
            MessageType::HELLO_ACK => {}
            MessageType::ERROR => return self.on_peer_close(message.payload()),
            _ => return self.fail(now, CloseReason::ProtocolViolation("expected HELLO_ACK")),
        }
        let Some(ack) = HelloAck::parse(message.payload()) else {
            return self.fail(now, CloseReason::ProtocolViolation("malformed HELLO_ACK"));
        };
        self.peer_idle = (ack.idle_ms > 0).then(|| Duration::from_millis(ack.idle_ms.into()));
        if !self.config.protocol_versions.contains(&ack.version) {
            return self.fail(
                now,
                CloseReason::ProtocolViolation("server chose a version we do not speak"),
            );
        }
        let transcript = Transcript {
            client_nonce: self.nonce,
            server_nonce: ack.nonce,
            version: ack.version,
            features: ack.features,
        };
        let authenticated = match (&self.config.pre_shared_key, ack.proof) {
            (None, None) => false,
            (None, Some(_)) => {
                return self.fail(
                    now,
                    CloseReason::AuthFailed("the server requires a pre-shared key"),
                );
            }
            (Some(_), None) => {
                return self.fail(
                    now,
                    CloseReason::AuthFailed("the server did not prove the key"),
                );
            }
            (Some(key), Some(theirs)) => {
                let key = key.clone();
                if !verify(key.as_bytes(), Prover::Server, &transcript, &theirs) {
                    return self.fail(now, CloseReason::AuthFailed("the server's proof is wrong"));
                }
                let ours = proof(key.as_bytes(), Prover::Client, &transcript);
                self.queue_control(now, AUTH, RequestId::NIL, Bytes::copy_from_slice(&ours));
                true
            }
        };
        self.establish(
            now,
            Some(PeerInfo {
                protocol_version: Some(ack.version),
                authenticated,
                heartbeat: ack.features & feature::HEARTBEAT != 0,
                dialect: Dialect::Native,
            }),
        );
    }

    pub(super) fn on_first_frame(&mut self, now: Instant, message: Message) {
        if message.message_type() == MessageType::HELLO
            && self.config.handshake != HandshakeMode::Disabled
        {
            return self.on_hello(now, &message);
        }
        if self.config.handshake == HandshakeMode::Required {
            return self.fail(now, CloseReason::ProtocolViolation("expected HELLO"));
        }
        if self.config.pre_shared_key.is_some() {
            return self.fail(
                now,
                CloseReason::AuthFailed("a legacy peer cannot prove the pre-shared key"),
            );
        }
        self.establish(now, None);
        self.on_established_frame(now, message);
    }

    pub(super) fn on_hello(&mut self, now: Instant, message: &Message) {
        let Some(hello) = Hello::parse(message.payload()) else {
            return self.fail(
                now,
                CloseReason::ProtocolViolation("malformed or foreign HELLO"),
            );
        };
        self.peer_idle = (hello.idle_ms > 0).then(|| Duration::from_millis(hello.idle_ms.into()));
        let (ours_min, ours_max) = (
            *self.config.protocol_versions.start(),
            *self.config.protocol_versions.end(),
        );
        let version = ours_max.min(hello.max_version);
        if version < ours_min.max(hello.min_version) {
            return self.fail(
                now,
                CloseReason::VersionMismatch {
                    ours_min,
                    ours_max,
                    theirs_min: hello.min_version,
                    theirs_max: hello.max_version,
                },
            );
        }
        let wants_auth = self.config.pre_shared_key.is_some();
        if wants_auth && hello.features & feature::AUTH == 0 {
            return self.fail(
                now,
                CloseReason::AuthFailed("the peer has no pre-shared key"),
            );
        }
        let features = (self.our_features() & hello.features & feature::HEARTBEAT)
            | if wants_auth { feature::AUTH } else { 0 };
        let transcript = Transcript {
            client_nonce: hello.nonce,
            server_nonce: self.nonce,
            version,
            features,
        };
        let proof = self
            .config
            .pre_shared_key
            .as_ref()
            .map(|key| proof(key.as_bytes(), Prover::Server, &transcript));
        let ack = HelloAck {
            version,
            features,
            nonce: self.nonce,
            proof,
            idle_ms: self.idle_ms(),
        };
        self.queue_control(
            now,
            MessageType::HELLO_ACK,
            message.request_id(),
            ack.encode().into(),
        );
        if wants_auth {
            self.state = State::AwaitProof(TranscriptKey {
                client_nonce: hello.nonce,
                version,
                features,
            });
            self.handshake_deadline = now.checked_add(self.config.handshake_timeout);
        } else {
            self.establish(
                now,
                Some(PeerInfo {
                    protocol_version: Some(version),
                    authenticated: false,
                    heartbeat: features & feature::HEARTBEAT != 0,
                    dialect: Dialect::Native,
                }),
            );
        }
    }

    pub(super) fn on_frame_awaiting_proof(
        &mut self,
        now: Instant,
        message: Message,
        key: TranscriptKey,
    ) {
        match message.message_type() {
            AUTH => {}
            MessageType::ERROR => return self.on_peer_close(message.payload()),
            _ => {
                return self.fail(
                    now,
                    CloseReason::AuthFailed("a frame came before the proof"),
                );
            }
        }
        let transcript = Transcript {
            client_nonce: key.client_nonce,
            server_nonce: self.nonce,
            version: key.version,
            features: key.features,
        };
        let valid =
            self.config.pre_shared_key.as_ref().is_some_and(|k| {
                verify(k.as_bytes(), Prover::Client, &transcript, message.payload())
            });
        if !valid {
            return self.fail(now, CloseReason::AuthFailed("the client's proof is wrong"));
        }
        self.establish(
            now,
            Some(PeerInfo {
                protocol_version: Some(key.version),
                authenticated: true,
                heartbeat: key.features & feature::HEARTBEAT != 0,
                dialect: Dialect::Native,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_refuses_short_or_foreign_payloads() {
        let hello = Hello {
            min_version: 1,
            max_version: 3,
            features: feature::HEARTBEAT | feature::AUTH,
            nonce: [9; 32],
            idle_ms: 30_000,
        };
        let bytes = hello.encode();
        assert_eq!(bytes.len(), HELLO_LEN);
        assert_eq!(Hello::parse(&bytes), Some(hello));
        assert_eq!(Hello::parse(&bytes[..HELLO_LEN - 5]), None);
        // Without the optional idle timeout: still a HELLO.
        let short = Hello::parse(&bytes[..HELLO_LEN - 4]).expect("parses");
        assert_eq!(short.idle_ms, 0);
        // Python Veltix 1.4's HELLO: [u16 len]["1.4.0"].
        assert_eq!(Hello::parse(b"\x00\x051.4.0"), None);
    }

    #[test]
    fn ack_carries_a_proof_only_with_auth() {
        let ack = HelloAck {
            version: 1,
            features: feature::AUTH,
            nonce: [1; 32],
            proof: Some([2; 32]),
            idle_ms: 7,
        };
        assert_eq!(HelloAck::parse(&ack.encode()), Some(ack.clone()));
        let plain = HelloAck {
            features: 0,
            proof: None,
            ..ack
        };
        assert_eq!(plain.encode().len(), ACK_LEN);
        assert_eq!(HelloAck::parse(&plain.encode()), Some(plain));
    }

    #[test]
    fn proofs_bind_key_direction_and_transcript() {
        let t = Transcript {
            client_nonce: [1; 32],
            server_nonce: [2; 32],
            version: 1,
            features: feature::AUTH,
        };
        let p = proof(b"key", Prover::Server, &t);
        assert!(verify(b"key", Prover::Server, &t, &p));
        assert!(!verify(b"kez", Prover::Server, &t, &p));
        assert!(!verify(b"key", Prover::Client, &t, &p));
        assert!(!verify(
            b"key",
            Prover::Server,
            &Transcript { version: 2, ..t },
            &p
        ));
        assert!(!verify(b"key", Prover::Server, &t, &p[..31]));
    }

    #[test]
    fn close_payload_round_trips_and_truncates_on_char_boundaries() {
        assert_eq!(
            parse_close(&encode_close(3, "full")),
            Some((3, "full".into()))
        );
        assert_eq!(parse_close(b"\x00"), None);
        let long = "é".repeat(200);
        let (_, reason) = parse_close(&encode_close(0, &long)).expect("parses");
        assert!(reason.len() <= MAX_REASON_LEN && reason.chars().all(|c| c == 'é'));
    }
}
