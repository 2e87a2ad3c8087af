//! Our handshake (the `Native` dialect): its payloads (HELLO, HELLO_ACK,
//! AUTH), the HMAC proofs, and the connection's transitions through it —
//! client awaiting HELLO_ACK, server awaiting the first frame (HELLO or a
//! legacy peer's message), server awaiting the AUTH proof. The byte layout is
//! documented in `docs/protocol.md`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::config::MAX_CLIENT_ID_LEN;
use super::{
    AUTH, CloseReason, Connection, Dialect, HandshakeMode, PeerInfo, PreSharedKey, State,
    TranscriptKey, code,
};
use crate::compression::Algorithm;
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
    /// In HELLO: the client names itself (the client id field follows the
    /// idle timeout). In HELLO_ACK: the server picked the key by that id and
    /// bound the id into both proofs.
    pub(crate) const CLIENT_ID: u32 = 1 << 2;
    /// The side compresses payloads (in HELLO the algorithm byte, in
    /// HELLO_ACK the chosen algorithm, follows the idle timeout and client
    /// id). Agreed when both offer an algorithm in common.
    pub(crate) const COMPRESSION: u32 = 1 << 3;
    /// The side's transport is authenticated (TLS): payload hashes may be
    /// left out. Agreed when both offer it.
    pub(crate) const UNHASHED: u32 = 1 << 4;
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
    /// it fed. Optional on the wire (absent reads as 0) unless a client id
    /// follows.
    pub(crate) idle_ms: u32,
    /// The client's id: present iff `features` has [`feature::CLIENT_ID`]
    /// (`[u8 len][len bytes of UTF-8]`, len 1..=255, after `idle_ms`).
    pub(crate) client_id: Option<String>,
    /// The compression algorithms offered, as bits (never 0): present iff
    /// `features` has [`feature::COMPRESSION`] (one byte, after the client
    /// id or, without one, after `idle_ms`).
    pub(crate) compression: Option<u8>,
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
    /// The chosen compression algorithm's bit: present iff `features` has
    /// [`feature::COMPRESSION`] (one byte, after `idle_ms`).
    pub(crate) compression: Option<u8>,
}

impl Hello {
    /// The payload. `features` must have [`feature::CLIENT_ID`] exactly
    /// when `client_id` is set, and the id must be 1..=255 bytes (the
    /// configuration is validated before); likewise
    /// [`feature::COMPRESSION`] and `compression`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        debug_assert_eq!(
            self.features & feature::CLIENT_ID != 0,
            self.client_id.is_some()
        );
        debug_assert_eq!(
            self.features & feature::COMPRESSION != 0,
            self.compression.is_some()
        );
        let id = self.client_id.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(HELLO_LEN + if id.is_empty() { 0 } else { 1 + id.len() });
        out.extend_from_slice(MAGIC);
        out.push(LAYOUT);
        out.extend_from_slice(&self.min_version.to_be_bytes());
        out.extend_from_slice(&self.max_version.to_be_bytes());
        out.extend_from_slice(&self.features.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.idle_ms.to_be_bytes());
        if self.features & feature::CLIENT_ID != 0 {
            debug_assert!((1..=MAX_CLIENT_ID_LEN).contains(&id.len()));
            out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(id.as_bytes());
        }
        if let Some(algorithms) = self.compression {
            out.push(algorithms);
        }
        out
    }

    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let mut r = Reader::new(payload);
        r.header()?;
        let min_version = r.u16()?;
        let max_version = r.u16()?;
        let features = r.u32()?;
        let nonce = r.array()?;
        // The id and the algorithms follow the idle timeout, which must
        // then be there.
        let idle_ms = if features & (feature::CLIENT_ID | feature::COMPRESSION) != 0 {
            r.u32()?
        } else {
            r.u32().unwrap_or(0)
        };
        let client_id = if features & feature::CLIENT_ID != 0 {
            let len = usize::from(r.array::<1>()?[0]);
            if len == 0 {
                return None;
            }
            let id = std::str::from_utf8(r.bytes(len)?).ok()?;
            Some(id.to_owned())
        } else {
            None
        };
        let compression = if features & feature::COMPRESSION != 0 {
            let algorithms = r.array::<1>()?[0];
            // Offering compression with no algorithm is malformed.
            if algorithms == 0 {
                return None;
            }
            Some(algorithms)
        } else {
            None
        };
        // Longer payloads are allowed: a later layout may append fields.
        Some(Self {
            min_version,
            max_version,
            features,
            nonce,
            idle_ms,
            client_id,
            compression,
        })
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
        if let Some(algorithm) = self.compression {
            out.push(algorithm);
        }
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
        let (idle_ms, compression) = if features & feature::COMPRESSION != 0 {
            // The chosen algorithm follows the idle timeout.
            (r.u32()?, Some(r.array::<1>()?[0]))
        } else {
            (r.u32().unwrap_or(0), None)
        };
        Some(Self {
            version,
            features,
            nonce,
            proof,
            idle_ms,
            compression,
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

/// The transcript both proofs cover: both nonces, what was agreed and, when
/// the agreed features have [`feature::CLIENT_ID`], the client's id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transcript<'a> {
    pub(crate) client_nonce: [u8; NONCE_LEN],
    pub(crate) server_nonce: [u8; NONCE_LEN],
    pub(crate) version: u16,
    pub(crate) features: u32,
    /// Bound after the features as `[u8 len][id]`; `Some` exactly when
    /// `features` has [`feature::CLIENT_ID`] (without it the transcript is
    /// the one of releases that knew no client id, byte for byte).
    pub(crate) client_id: Option<&'a str>,
    /// The agreed compression algorithm's bit, bound last as one byte;
    /// `Some` exactly when `features` has [`feature::COMPRESSION`] (without
    /// it the transcript is the one of releases that knew no compression).
    pub(crate) compression: Option<u8>,
}

fn mac(key: &[u8], prover: Prover, t: &Transcript<'_>) -> hmac::Hmac<Sha256> {
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
    if let Some(id) = t.client_id {
        // Ids are at most 255 bytes (checked by the config and the parser).
        mac.update(&[u8::try_from(id.len()).unwrap_or(u8::MAX)]);
        mac.update(id.as_bytes());
    }
    if let Some(algorithm) = t.compression {
        mac.update(&[algorithm]);
    }
    mac
}

pub(crate) fn proof(key: &[u8], prover: Prover, t: &Transcript<'_>) -> [u8; PROOF_LEN] {
    mac(key, prover, t).finalize().into_bytes().into()
}

/// Constant-time check of a proof.
pub(crate) fn verify(key: &[u8], prover: Prover, t: &Transcript<'_>, proof: &[u8]) -> bool {
    mac(key, prover, t).verify_slice(proof).is_ok()
}

/// A key derived from the connection's secret random bytes for `purpose`
/// (one-way: the derived values reveal nothing of the seed or of each other).
pub(crate) fn derive(random: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::new_with_prefix(purpose)
        .chain_update(random)
        .finalize()
        .into()
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

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
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

/// Server: the key a peer must prove, settled by its HELLO and kept until its
/// AUTH proof.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    key: PreSharedKey,
    /// False when the store does not know the id: `key` is then the decoy,
    /// the handshake runs on as for a wrong key, and the proof is refused
    /// whatever it is.
    known: bool,
    /// The id the key was looked up by, bound into the transcript; `None`
    /// for the shared key.
    client_id: Option<String>,
}

impl Connection {
    pub(super) fn on_frame_awaiting_ack(&mut self, now: Instant, message: Message) {
        match message.message_type().code() {
            code::HELLO_ACK => {}
            code::ERROR => return self.on_peer_close(message.payload()),
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
        // A server that picked our key by our id says so, and binds the id;
        // one that did not (no key store, or older than client ids) proves
        // the transcript without it.
        let id_bound = ack.features & feature::CLIENT_ID != 0;
        if id_bound && (self.config.client_id.is_none() || ack.features & feature::AUTH == 0) {
            return self.fail(
                now,
                CloseReason::ProtocolViolation("the server bound a client id we did not send"),
            );
        }
        // Frame options change what both sides write: agreed only if offered.
        if ack.features & (feature::COMPRESSION | feature::UNHASHED) & !self.our_features() != 0 {
            return self.fail(
                now,
                CloseReason::ProtocolViolation("the server agreed to a feature we did not offer"),
            );
        }
        let algorithm = match ack.compression {
            None => None,
            Some(bit) => match Algorithm::from_bit(bit) {
                Some(algorithm) => Some(algorithm),
                None => {
                    return self.fail(
                        now,
                        CloseReason::ProtocolViolation(
                            "the server chose a compression algorithm we did not offer",
                        ),
                    );
                }
            },
        };
        let transcript = Transcript {
            client_nonce: self.nonce,
            server_nonce: ack.nonce,
            version: ack.version,
            features: ack.features,
            client_id: self.config.client_id.as_deref().filter(|_| id_bound),
            compression: ack.compression,
        };
        let ours = match (&self.config.pre_shared_key, ack.proof) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err("the server requires a pre-shared key"),
            (Some(_), None) => Err("the server did not prove the key"),
            (Some(key), Some(theirs)) => {
                if verify(key.as_bytes(), Prover::Server, &transcript, &theirs) {
                    Ok(Some(proof(key.as_bytes(), Prover::Client, &transcript)))
                } else {
                    Err("the server's proof is wrong")
                }
            }
        };
        let ours = match ours {
            Err(why) => return self.fail(now, CloseReason::AuthFailed(why)),
            Ok(ours) => ours,
        };
        // From here on both sides write with what was agreed (the server
        // since its HELLO_ACK), the AUTH proof included.
        self.set_frame_options(ack.features, algorithm);
        let authenticated = match ours {
            None => false,
            Some(ours) => {
                self.queue_control(now, AUTH, RequestId::NIL, Bytes::copy_from_slice(&ours));
                true
            }
        };
        self.establish(
            now,
            Some(native_peer(
                ack.version,
                authenticated,
                ack.features,
                ack.compression,
            )),
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
        if self.config.requires_auth() {
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
        let wants_auth = self.config.requires_auth();
        if wants_auth && hello.features & feature::AUTH == 0 {
            return self.fail(
                now,
                CloseReason::AuthFailed("the peer has no pre-shared key"),
            );
        }
        let claim = if wants_auth {
            match self.claim_for(hello.client_id) {
                Some(claim) => Some(claim),
                None => {
                    return self.fail(now, CloseReason::AuthFailed("the peer sent no client id"));
                }
            }
        } else {
            None
        };
        let client_id = claim.as_ref().and_then(|c| c.client_id.as_deref());
        let ours = self.our_features();
        let algorithm = if ours & feature::COMPRESSION != 0 {
            hello.compression.and_then(Algorithm::pick)
        } else {
            None
        };
        let compression = algorithm.map(Algorithm::bit);
        let features = (ours & hello.features & (feature::HEARTBEAT | feature::UNHASHED))
            | if wants_auth { feature::AUTH } else { 0 }
            | if client_id.is_some() {
                feature::CLIENT_ID
            } else {
                0
            }
            | if algorithm.is_some() {
                feature::COMPRESSION
            } else {
                0
            };
        let transcript = Transcript {
            client_nonce: hello.nonce,
            server_nonce: self.nonce,
            version,
            features,
            client_id,
            compression,
        };
        let proof = claim
            .as_ref()
            .map(|claim| proof(claim.key.as_bytes(), Prover::Server, &transcript));
        let ack = HelloAck {
            version,
            features,
            nonce: self.nonce,
            proof,
            idle_ms: self.idle_ms(),
            compression,
        };
        self.queue_control(
            now,
            MessageType::HELLO_ACK,
            message.request_id(),
            ack.encode().into(),
        );
        // The HELLO_ACK went out plain (the client reads it before it knows
        // what was agreed); every frame after it, both ways, is written
        // with what was agreed.
        self.set_frame_options(features, algorithm);
        if wants_auth {
            let handshake = self.handshake_mut();
            handshake.claim = claim;
            handshake.transcript = Some(TranscriptKey {
                client_nonce: hello.nonce,
                version,
                features,
                compression,
            });
            self.state = State::AwaitProof;
            self.handshake_deadline = now.checked_add(self.config.handshake_timeout);
        } else {
            self.establish(
                now,
                Some(native_peer(version, false, features, compression)),
            );
        }
    }

    /// Server requiring authentication: the key the peer must prove, from
    /// the id its HELLO carries. `None`: it sent no id, and only a key store
    /// is configured.
    ///
    /// With a key store, an id is looked up there and nowhere else; an
    /// unknown one gets the decoy key, so the handshake goes on exactly as
    /// for a wrong key. Without a key store an id is ignored (neither bound
    /// nor reported), as by a server that predates client ids.
    fn claim_for(&self, client_id: Option<String>) -> Option<Claim> {
        match (&self.config.key_store, client_id) {
            (Some(store), Some(id)) => {
                let (key, known) = match store.lookup(&id) {
                    Some(key) => (key, true),
                    None => (self.handshake.as_ref()?.decoy_key.clone()?, false),
                };
                Some(Claim {
                    key,
                    known,
                    client_id: Some(id),
                })
            }
            _ => self.config.pre_shared_key.clone().map(|key| Claim {
                key,
                known: true,
                client_id: None,
            }),
        }
    }

    pub(super) fn on_frame_awaiting_proof(
        &mut self,
        now: Instant,
        message: Message,
        key: TranscriptKey,
    ) {
        match message.message_type().code() {
            code::AUTH => {}
            code::ERROR => return self.on_peer_close(message.payload()),
            _ => {
                return self.fail(
                    now,
                    CloseReason::AuthFailed("a frame came before the proof"),
                );
            }
        }
        let claim = self.handshake.as_mut().and_then(|h| h.claim.take());
        let valid = claim.as_ref().is_some_and(|claim| {
            let transcript = Transcript {
                client_nonce: key.client_nonce,
                server_nonce: self.nonce,
                version: key.version,
                features: key.features,
                client_id: claim.client_id.as_deref(),
                compression: key.compression,
            };
            // Checked in full even for an unknown id (not `&&`): the same work
            // as for a wrong key.
            verify(
                claim.key.as_bytes(),
                Prover::Client,
                &transcript,
                message.payload(),
            ) & claim.known
        });
        let Some(claim) = claim.filter(|_| valid) else {
            return self.fail(now, CloseReason::AuthFailed("the client's proof is wrong"));
        };
        // Only now, proven, is the id reported.
        self.peer_client_id = claim.client_id.map(String::into_boxed_str);
        self.establish(
            now,
            Some(native_peer(
                key.version,
                true,
                key.features,
                key.compression,
            )),
        );
    }
}

/// What a native handshake settled.
fn native_peer(
    version: u16,
    authenticated: bool,
    features: u32,
    compression: Option<u8>,
) -> PeerInfo {
    PeerInfo {
        protocol_version: Some(version),
        authenticated,
        heartbeat: features & feature::HEARTBEAT != 0,
        dialect: Dialect::Native,
        compression: compression.and_then(Algorithm::from_bit),
        hash_skipped: features & feature::UNHASHED != 0,
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
            client_id: None,
            compression: None,
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

    fn hello_with_id(id: &str) -> Hello {
        Hello {
            min_version: 1,
            max_version: 1,
            features: feature::AUTH | feature::CLIENT_ID,
            nonce: [9; 32],
            idle_ms: 30_000,
            client_id: Some(id.to_owned()),
            compression: None,
        }
    }

    #[test]
    fn a_client_id_follows_the_idle_timeout_and_is_flagged() {
        let hello = hello_with_id("sensor-17");
        let bytes = hello.encode();
        assert_eq!(bytes.len(), HELLO_LEN + 1 + 9);
        assert_eq!(
            &bytes[9..13],
            &(feature::AUTH | feature::CLIENT_ID).to_be_bytes()
        );
        assert_eq!(bytes[HELLO_LEN], 9);
        assert_eq!(&bytes[HELLO_LEN + 1..], b"sensor-17");
        assert_eq!(Hello::parse(&bytes), Some(hello.clone()));
        // Fields a later layout appends are still ignored.
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"later");
        assert_eq!(Hello::parse(&longer), Some(hello));
        // A parser that predates the id (reads up to the idle timeout) sees
        // the same 49 bytes as before, then bytes it ignores.
        assert_eq!(Hello::parse(&bytes[..HELLO_LEN]), None, "flag without id");
        let max = "é".repeat(127) + "x";
        assert_eq!(max.len(), MAX_CLIENT_ID_LEN);
        let bytes = hello_with_id(&max).encode();
        assert_eq!(Hello::parse(&bytes).and_then(|h| h.client_id), Some(max));
    }

    #[test]
    fn a_flagged_but_malformed_client_id_is_refused() {
        let bytes = hello_with_id("abc").encode();
        // Truncated id, missing id, empty id, id without the idle timeout.
        assert_eq!(Hello::parse(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Hello::parse(&bytes[..HELLO_LEN]), None);
        let mut empty = bytes[..HELLO_LEN].to_vec();
        empty.push(0);
        assert_eq!(Hello::parse(&empty), None);
        assert_eq!(Hello::parse(&bytes[..HELLO_LEN - 4]), None);
        // Not UTF-8.
        let mut bad = bytes.clone();
        bad[HELLO_LEN + 1] = 0xff;
        assert_eq!(Hello::parse(&bad), None);
        // Without the flag the trailing bytes are not read as an id.
        let mut unflagged = bytes.clone();
        unflagged[12] &= !(feature::CLIENT_ID as u8);
        let plain = Hello::parse(&unflagged).expect("parses");
        assert_eq!(plain.client_id, None);
    }

    #[test]
    fn ack_carries_a_proof_only_with_auth() {
        let ack = HelloAck {
            version: 1,
            features: feature::AUTH,
            nonce: [1; 32],
            proof: Some([2; 32]),
            idle_ms: 7,
            compression: None,
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
            client_id: None,
            compression: None,
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

    /// HMAC-SHA256 written out from `docs/protocol.md` §3.3, independent of
    /// `mac`.
    fn spec_proof(key: &[u8], label: &[u8], t: &Transcript<'_>) -> [u8; 32] {
        let mut m = Vec::new();
        m.extend_from_slice(b"veltix auth v1 ");
        m.extend_from_slice(label);
        m.extend_from_slice(&t.client_nonce);
        m.extend_from_slice(&t.server_nonce);
        m.extend_from_slice(&t.version.to_be_bytes());
        m.extend_from_slice(&t.features.to_be_bytes());
        if let Some(id) = t.client_id {
            m.push(id.len() as u8);
            m.extend_from_slice(id.as_bytes());
        }
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any length");
        mac.update(&m);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn the_transcript_without_an_id_is_unchanged_and_with_one_binds_it() {
        let old = Transcript {
            client_nonce: [1; 32],
            server_nonce: [2; 32],
            version: 1,
            features: feature::AUTH | feature::HEARTBEAT,
            client_id: None,
            compression: None,
        };
        // What a release without client ids computes, byte for byte.
        assert_eq!(
            proof(b"key", Prover::Client, &old),
            spec_proof(b"key", b"client", &old)
        );
        let t = Transcript {
            features: old.features | feature::CLIENT_ID,
            client_id: Some("alice"),
            ..old
        };
        let p = proof(b"key", Prover::Server, &t);
        assert_eq!(p, spec_proof(b"key", b"server", &t));
        assert!(verify(b"key", Prover::Server, &t, &p));
        for other in ["alicf", "alic", "alice\0", "bob"] {
            let swapped = Transcript {
                client_id: Some(other),
                ..t
            };
            assert!(!verify(b"key", Prover::Server, &swapped, &p), "{other}");
        }
        let dropped = Transcript {
            features: old.features,
            client_id: None,
            ..t
        };
        assert!(!verify(b"key", Prover::Server, &dropped, &p));
    }

    #[test]
    fn derived_values_differ_by_purpose_and_seed() {
        let a = derive(&[1; 32], b"veltix server nonce");
        assert_ne!(a, derive(&[1; 32], b"veltix decoy key"));
        assert_ne!(a, derive(&[2; 32], b"veltix server nonce"));
        assert_ne!(a, [1; 32]);
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
