//! Fuzzes two `Connection`s wired together — both roles, every dialect
//! (native with or without a key or the handshake, a client id, a server key
//! store with or without a shared key, compression and hash skipping on
//! either side; Python 1.4 – 1.6, Python 3.x, legacy), matched or
//! mismatched — under arbitrary operations,
//! arbitrary chunking of the bytes between them, and arbitrary hostile bytes
//! injected into either side (raw, as well-formed frames of either wire, or
//! as length-prefixed JSON handshake messages).
//!
//! Invariants checked:
//! - nothing panics;
//! - every request and ping gets exactly one outcome (response/pong, timeout,
//!   or connection closed) unless cancelled, and none gets two;
//! - `Closed` is reported at most once and nothing follows it;
//! - a server holding a key or a key store never delivers an application
//!   message from a peer that did not authenticate;
//! - a server reports a client id only with a key store, only once the peer
//!   authenticated, and only the client's own id, whose key in the store is
//!   the client's key (so neither an injected HELLO nor another id sharing
//!   the key gets an id reported); a client never reports one;
//! - queued outbound bytes stay within the bound (plus one frame);
//! - after `handle_timeout(now)`, `poll_timeout()` is never at or before `now`
//!   (a driver sleeping on it cannot spin);
//! - an id handed out for a request, ping or send is never one still awaiting
//!   an outcome, and on the compact wire it lies in the role's half
//!   (client `[0, 32768)`, server `[32768, 62768)`).
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Buf;
use libfuzzer_sys::fuzz_target;
use veltix_core::compression::Compression;
use veltix_core::frame::{EncodedFrame, TIMESTAMP_COMPRESSED};
use veltix_core::wire::Wire;
use veltix_core::{
    CloseCode, Connection, ConnectionConfig, Dialect, Event, HandshakeMode, KeyStore, Message,
    MessageType, PreSharedKey, RequestId, Role,
};

/// The client ids the fuzzer picks from; two differ by one bit.
const IDS: [&str; 3] = ["alice", "alicf", "bob"];

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Mode {
    Required,
    AcceptLegacy,
    Disabled,
    Python14,
    Python3,
    Legacy,
}

#[derive(Debug, Clone, Copy, Arbitrary, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Send {
        side: Side,
        code: u16,
        len: u8,
    },
    Request {
        side: Side,
        timeout_ms: u16,
    },
    Ping {
        side: Side,
        timeout_ms: u16,
    },
    Cancel {
        side: Side,
        nth: u8,
    },
    ReplyLast {
        side: Side,
    },
    Advance {
        ms: u16,
    },
    Deliver {
        to: Side,
        max: u16,
    },
    /// Delivers everything both ways, `rounds` times (at most 8), as a
    /// driver would: makes whole handshakes common.
    Pump {
        rounds: u8,
    },
    Inject {
        to: Side,
        bytes: Vec<u8>,
    },
    /// A well-formed frame of either wire (checksums right); a classic
    /// one `flagged` compressed (bit 63 of its timestamp), so a side that
    /// agreed on compression decompresses its payload.
    InjectFrame {
        to: Side,
        compact: bool,
        flagged: bool,
        code: u16,
        id: u16,
        payload: Vec<u8>,
    },
    /// A well-formed native HELLO, optionally naming a client id (or
    /// setting the id flag with garbage after it).
    InjectHello {
        to: Side,
        features: u8,
        nonce: u8,
        id: Option<u8>,
        tail: Vec<u8>,
    },
    /// An AUTH frame (type 12) with an arbitrary proof: reaches the server's
    /// proof check for injected HELLOs (unknown ids, decoy keys included).
    InjectAuth {
        to: Side,
        proof: Vec<u8>,
    },
    /// A JSON handshake message: `u16` length, then the bytes.
    InjectJson {
        to: Side,
        body: Vec<u8>,
    },
    Close {
        side: Side,
        code: u16,
    },
    TransportClosed {
        side: Side,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    client_key: Option<[u8; 3]>,
    server_key: Option<[u8; 3]>,
    client_mode: Mode,
    server_mode: Mode,
    /// Index into [`IDS`] (used when the client has a key).
    client_id: Option<u8>,
    /// The server's key store: a key per entry of [`IDS`], or none.
    store: Option<[Entry; 3]>,
    max_outbound: u16,
    max_pending: u8,
    /// Frame options: bit 0 client compression, bit 1 client authenticated
    /// transport, bit 2 server compression, bit 3 server authenticated
    /// transport (compression from 16 bytes on, so it is used).
    frame_options: u8,
    ops: Vec<Op>,
}

/// One id's key in the server's store.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Entry {
    Unknown,
    /// The client's own key (if it has one), so matching keys are common.
    ClientKey,
    Key([u8; 3]),
}

fn id_of(index: u8) -> &'static str {
    IDS[usize::from(index) % IDS.len()]
}

fn config(mode: Mode, key: Option<[u8; 3]>, input: &Input) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    (c.dialect, c.handshake) = match mode {
        Mode::Required => (Dialect::Native, HandshakeMode::Required),
        Mode::AcceptLegacy => (Dialect::Native, HandshakeMode::AcceptLegacy),
        Mode::Disabled => (Dialect::Native, HandshakeMode::Disabled),
        Mode::Python14 => (Dialect::Python14, HandshakeMode::AcceptLegacy),
        Mode::Python3 => (Dialect::Python3, HandshakeMode::AcceptLegacy),
        Mode::Legacy => (Dialect::Legacy, HandshakeMode::AcceptLegacy),
    };
    // Keys exist only in the native dialect (elsewhere: a ConfigError,
    // which would only end the run early).
    if c.dialect == Dialect::Native {
        c.pre_shared_key = key.map(PreSharedKey::new);
    }
    c.max_outbound_bytes = usize::from(input.max_outbound).max(1);
    c.max_pending_requests = usize::from(input.max_pending).max(1);
    c.max_payload = 4096;
    c.handshake_timeout = Duration::from_millis(500);
    c.legacy_wait = Duration::from_millis(200);
    c.idle_timeout = Some(Duration::from_secs(3));
    c.heartbeat_interval = Some(Duration::from_secs(1));
    c
}

/// Everything the fuzzer learns about one side.
#[derive(Default)]
struct Ledger {
    /// Issued request/ping ids → outcomes seen.
    issued: BTreeMap<RequestId, u32>,
    cancelled: Vec<RequestId>,
    order: Vec<RequestId>,
    closed: u32,
    authenticated: bool,
    last_message: Option<Message>,
}

struct World {
    now: Instant,
    client: Connection,
    server: Connection,
    to_client: Vec<u8>,
    to_server: Vec<u8>,
    ledgers: [Ledger; 2],
    server_has_key: bool,
    max_outbound: usize,
    /// The client's id and key, and the server's store, as configured.
    client_id: Option<&'static str>,
    client_key: Option<[u8; 3]>,
    store: Option<[Option<[u8; 3]>; 3]>,
}

impl World {
    /// Checks a freshly issued id and records it as awaiting one outcome.
    fn issue(&mut self, side: Side, id: RequestId, awaits: bool) {
        let wire = self.conn(side).wire();
        let ledger = self.ledger(side);
        if let Some(&seen) = ledger.issued.get(&id) {
            assert!(
                seen > 0 || ledger.cancelled.contains(&id),
                "{side:?} handed out {id}, still awaiting an outcome"
            );
        }
        if wire == Wire::Compact {
            let id = id.to_compact().expect("compact ids are 16-bit");
            let half = match side {
                Side::Client => 0..32_768,
                Side::Server => 32_768..62_768,
            };
            assert!(half.contains(&id), "{side:?} id {id} outside its half");
        }
        if awaits {
            // A reused id starts a new life.
            ledger.cancelled.retain(|c| *c != id);
            ledger.issued.insert(id, 0);
            ledger.order.push(id);
        }
    }

    fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn ledger(&mut self, side: Side) -> &mut Ledger {
        &mut self.ledgers[side as usize]
    }

    /// Drains outputs of both sides and checks the event invariants.
    fn drain(&mut self) {
        for side in [Side::Client, Side::Server] {
            let bound = self.max_outbound + 62 + 4096;
            assert!(
                self.conn(side).queued_bytes() <= bound.max(64 * 1024),
                "outbound unbounded"
            );
            let mut out = Vec::new();
            while let Some(mut t) = self.conn(side).poll_transmit() {
                let b = t.copy_to_bytes(t.remaining());
                out.extend_from_slice(&b);
            }
            match side {
                Side::Client => self.to_server.extend_from_slice(&out),
                Side::Server => self.to_client.extend_from_slice(&out),
            }
            while let Some(event) = self.conn(side).poll_event() {
                let mut connected = false;
                let server_has_key = self.server_has_key;
                let ledger = self.ledger(side);
                assert_eq!(ledger.closed, 0, "an event after Closed: {event:?}");
                match event {
                    Event::Connected(info) => {
                        ledger.authenticated = info.authenticated;
                        connected = true;
                    }
                    Event::Message(m) => {
                        if side == Side::Server && server_has_key {
                            assert!(ledger.authenticated, "message from an unauthenticated peer");
                        }
                        ledger.last_message = Some(m);
                    }
                    Event::Response { request_id, .. }
                    | Event::Pong { request_id, .. }
                    | Event::RequestFailed { request_id, .. } => {
                        let seen = ledger
                            .issued
                            .get_mut(&request_id)
                            .expect("outcome for an id never issued");
                        *seen += 1;
                        assert_eq!(*seen, 1, "two outcomes for one request");
                        assert!(
                            !ledger.cancelled.contains(&request_id),
                            "outcome after cancel"
                        );
                    }
                    Event::Closed(_) => ledger.closed += 1,
                    _ => {}
                }
                if connected {
                    self.check_client_id(side);
                }
            }
        }
    }

    /// The client id a side reports is the client's own, proven with the
    /// key the store holds for it.
    fn check_client_id(&self, side: Side) {
        let conn = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        let Some(id) = conn.peer_client_id() else {
            return;
        };
        assert_eq!(side, Side::Server, "a client reported a client id");
        let store = self.store.expect("an id reported without a key store");
        assert!(
            conn.peer_info().is_some_and(|i| i.authenticated),
            "id {id:?} from an unauthenticated peer"
        );
        assert_eq!(Some(id), self.client_id, "another client's id reported");
        let index = IDS.iter().position(|i| *i == id).expect("an id of ours");
        assert_eq!(
            store[index], self.client_key,
            "id {id:?} proven with another key"
        );
    }

    fn deliver(&mut self, to: Side, max: usize) {
        let queue = match to {
            Side::Client => &mut self.to_client,
            Side::Server => &mut self.to_server,
        };
        let n = max.min(queue.len());
        let chunk: Vec<u8> = queue.drain(..n).collect();
        let now = self.now;
        self.conn(to).handle_input(now, &chunk);
    }

    fn tick(&mut self) {
        let now = self.now;
        for side in [Side::Client, Side::Server] {
            if self.conn(side).poll_timeout().is_some_and(|t| t <= now) {
                self.conn(side).handle_timeout(now);
                if let Some(t) = self.conn(side).poll_timeout() {
                    assert!(t > now, "poll_timeout not after handle_timeout's now");
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let start = Instant::now();
    let mut client_config = config(input.client_mode, input.client_key, &input);
    let mut server_config = config(input.server_mode, input.server_key, &input);
    // A client id needs a key, a store the native handshake (elsewhere: a
    // ConfigError, which would only end the run early).
    if client_config.pre_shared_key.is_some() {
        client_config.client_id = input.client_id.map(|i| id_of(i).to_owned());
    }
    let mut compression = Compression::default();
    compression.threshold = 16;
    let bit = |n: u8| input.frame_options & (1 << n) != 0;
    client_config.compression = bit(0).then_some(compression);
    client_config.transport_authenticated = bit(1);
    server_config.compression = bit(2).then_some(compression);
    server_config.transport_authenticated = bit(3);
    let store = input
        .store
        .filter(|_| {
            server_config.dialect == Dialect::Native
                && server_config.handshake != HandshakeMode::Disabled
        })
        .map(|entries| {
            entries.map(|entry| match entry {
                Entry::Unknown => None,
                Entry::ClientKey => input.client_key,
                Entry::Key(key) => Some(key),
            })
        });
    server_config.key_store = store.map(|keys| {
        KeyStore::new(move |id| {
            let index = IDS.iter().position(|i| *i == id)?;
            keys[index].map(PreSharedKey::new)
        })
    });
    let server_has_key =
        server_config.pre_shared_key.is_some() || server_config.key_store.is_some();
    let client_id = client_config
        .client_id
        .as_deref()
        .and_then(|id| IDS.iter().copied().find(|i| *i == id));
    let client_key = input
        .client_key
        .filter(|_| client_config.pre_shared_key.is_some());
    let max_outbound = client_config.max_outbound_bytes;
    // Contradictory settings (a key with the handshake disabled) are refused here.
    let (Ok(client), Ok(server)) = (
        Connection::new(Role::Client, client_config, start, 1, [1; 32]),
        Connection::new(Role::Server, server_config, start, 1, [2; 32]),
    ) else {
        return;
    };
    let mut w = World {
        now: start,
        client,
        server,
        to_client: Vec::new(),
        to_server: Vec::new(),
        ledgers: Default::default(),
        server_has_key,
        max_outbound,
        client_id,
        client_key,
        store,
    };
    for op in input.ops.iter().take(256) {
        let now = w.now;
        match *op {
            Op::Send { side, code, len } => {
                let m = Message::new(MessageType::from_code(code), vec![0xab; usize::from(len)]);
                if let Ok(id) = w.conn(side).send(now, m) {
                    w.issue(side, id, false);
                }
            }
            Op::Request { side, timeout_ms } => {
                let m = Message::new(MessageType::from_code(300), &b"q"[..]);
                if let Ok(id) =
                    w.conn(side)
                        .request(now, m, Duration::from_millis(timeout_ms.into()))
                {
                    w.issue(side, id, true);
                }
            }
            Op::Ping { side, timeout_ms } => {
                if let Ok(id) = w
                    .conn(side)
                    .ping(now, Duration::from_millis(timeout_ms.into()))
                {
                    w.issue(side, id, true);
                }
            }
            Op::Cancel { side, nth } => {
                let order = &w.ledger(side).order;
                if !order.is_empty() {
                    let id = order[usize::from(nth) % order.len()];
                    if w.conn(side).cancel(id) {
                        w.ledger(side).cancelled.push(id);
                    }
                }
            }
            Op::ReplyLast { side } => {
                if let Some(m) = w.ledger(side).last_message.clone() {
                    let r = Message::new(MessageType::from_code(301), &b"a"[..]);
                    let _ = w.conn(side).reply(now, &m, r);
                }
            }
            Op::Advance { ms } => w.now += Duration::from_millis(ms.into()),
            Op::Deliver { to, max } => w.deliver(to, usize::from(max).max(1)),
            Op::Pump { rounds } => {
                for _ in 0..rounds.min(8) {
                    for to in [Side::Server, Side::Client] {
                        w.deliver(to, usize::MAX);
                        w.tick();
                        w.drain();
                    }
                }
            }
            Op::Inject { to, ref bytes } => w.conn(to).handle_input(now, bytes),
            Op::InjectFrame {
                to,
                compact,
                flagged,
                code,
                id,
                ref payload,
            } => {
                let m = Message::new(MessageType::from_code(code), payload.clone())
                    .with_request_id(RequestId::from_compact(id))
                    .with_timestamp_ms(if flagged { TIMESTAMP_COMPRESSED } else { 0 });
                let frame = if compact {
                    EncodedFrame::new_compact(&m)
                } else {
                    Ok(EncodedFrame::new(&m).expect("small payload"))
                };
                let bytes = frame.expect("16-bit id").to_bytes();
                w.conn(to).handle_input(now, &bytes);
            }
            Op::InjectHello {
                to,
                features,
                nonce,
                id,
                ref tail,
            } => {
                let mut hello = b"VLTX\x01\x00\x01\x00\x01".to_vec();
                // HEARTBEAT, AUTH, CLIENT_ID, COMPRESSION, UNHASHED (the
                // algorithm byte, if any, comes from `tail`).
                hello.extend_from_slice(&u32::from(features & 0x1f).to_be_bytes());
                hello.extend_from_slice(&[nonce; 32]);
                hello.extend_from_slice(&3000u32.to_be_bytes());
                if let Some(id) = id {
                    let id = id_of(id);
                    hello.push(id.len() as u8);
                    hello.extend_from_slice(id.as_bytes());
                }
                hello.extend_from_slice(tail);
                let m = Message::new(MessageType::HELLO, hello);
                let bytes = EncodedFrame::new(&m).expect("small payload").to_bytes();
                w.conn(to).handle_input(now, &bytes);
            }
            Op::InjectAuth { to, ref proof } => {
                let m = Message::new(MessageType::from_code(12), proof.clone());
                let bytes = EncodedFrame::new(&m).expect("small payload").to_bytes();
                w.conn(to).handle_input(now, &bytes);
            }
            Op::InjectJson { to, ref body } => {
                let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
                let mut bytes = len.to_be_bytes().to_vec();
                bytes.extend_from_slice(&body[..usize::from(len)]);
                w.conn(to).handle_input(now, &bytes);
            }
            Op::Close { side, code } => w.conn(side).close(now, CloseCode(code), "fuzz"),
            Op::TransportClosed { side } => w.conn(side).handle_transport_closed(),
        }
        w.tick();
        w.drain();
    }
    // End: both sides close; every request not cancelled has exactly one outcome.
    let now = w.now;
    w.client.close(now, CloseCode::NORMAL, "end");
    w.server.handle_transport_closed();
    w.drain();
    w.check_client_id(Side::Server);
    w.check_client_id(Side::Client);
    for side in [Side::Client, Side::Server] {
        let ledger = w.ledger(side);
        assert_eq!(ledger.closed, 1, "{side:?} closed {} times", ledger.closed);
        for (id, seen) in &ledger.issued {
            let want = u32::from(!ledger.cancelled.contains(id));
            assert_eq!(*seen, want, "{side:?} request {id} had {seen} outcomes");
        }
    }
});
