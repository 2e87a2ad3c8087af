//! A two-peer harness: two `Connection`s wired together in memory with virtual
//! time. Time only moves to the next thing that happens (a delivery or a
//! timer), so tests never sleep and always give the same result.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use veltix_core::{Connection, ConnectionConfig, Event, Role};

/// Which side of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Splits a delivery into chunk lengths (each ≥ 1); `None` delivers it whole.
pub type Chunker = Box<dyn FnMut(usize) -> usize>;

pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub start: Instant,
    pub now: Instant,
    /// One-way delay of the in-memory link.
    pub latency: Duration,
    /// Bytes in flight towards the server / the client, with arrival times.
    to_server: VecDeque<(Instant, Bytes)>,
    to_client: VecDeque<(Instant, Bytes)>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub chunker: Option<Chunker>,
    /// A side whose incoming bytes are lost (a peer that stopped reading).
    pub deaf: Option<Side>,
    /// Bytes each side wrote, in order.
    pub wire_to_server: Vec<u8>,
    pub wire_to_client: Vec<u8>,
}

pub const WALL_START_MS: u64 = 1_764_000_000_000;

impl Pair {
    pub fn new(client: ConnectionConfig, server: ConnectionConfig) -> Self {
        let start = Instant::now();
        Self {
            client: Connection::new(Role::Client, client, start, WALL_START_MS, [0xc1; 32])
                .expect("valid client config"),
            server: Connection::new(Role::Server, server, start, WALL_START_MS, [0x5e; 32])
                .expect("valid server config"),
            start,
            now: start,
            latency: Duration::from_millis(5),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            chunker: None,
            deaf: None,
            wire_to_server: Vec::new(),
            wire_to_client: Vec::new(),
        }
    }

    pub fn default_configs() -> Self {
        Self::new(ConnectionConfig::default(), ConnectionConfig::default())
    }

    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    pub fn events(&mut self, side: Side) -> &mut Vec<Event> {
        match side {
            Side::Client => &mut self.client_events,
            Side::Server => &mut self.server_events,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Takes what each side queued and puts it on the link.
    fn collect_transmits(&mut self) {
        let arrival = self.now + self.latency;
        while let Some(mut t) = self.client.poll_transmit() {
            let bytes = t.copy_to_bytes(t.remaining());
            self.wire_to_server.extend_from_slice(&bytes);
            self.to_server.push_back((arrival, bytes));
        }
        while let Some(mut t) = self.server.poll_transmit() {
            let bytes = t.copy_to_bytes(t.remaining());
            self.wire_to_client.extend_from_slice(&bytes);
            self.to_client.push_back((arrival, bytes));
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn deliver(&mut self, side: Side, bytes: &[u8]) {
        if self.deaf == Some(side) {
            return;
        }
        let now = self.now;
        match self.chunker.as_mut() {
            None => self.conn(side).handle_input(now, bytes),
            Some(chunker) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = chunker(rest.len()).clamp(1, rest.len());
                    let (head, tail) = rest.split_at(n);
                    match side {
                        Side::Client => self.client.handle_input(now, head),
                        Side::Server => self.server.handle_input(now, head),
                    }
                    rest = tail;
                }
            }
        }
    }

    /// The next instant something happens: a delivery or a timer.
    pub fn next_instant(&self) -> Option<Instant> {
        [
            self.to_server.front().map(|&(t, _)| t),
            self.to_client.front().map(|&(t, _)| t),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves time to the next thing that happens, if it is at or before
    /// `limit`, and processes it. Returns whether anything happened.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.collect_transmits();
        self.drain_events();
        let Some(next) = self.next_instant() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        while self.to_server.front().is_some_and(|&(t, _)| t <= self.now) {
            let (_, bytes) = self.to_server.pop_front().expect("checked");
            self.deliver(Side::Server, &bytes);
        }
        while self.to_client.front().is_some_and(|&(t, _)| t <= self.now) {
            let (_, bytes) = self.to_client.pop_front().expect("checked");
            self.deliver(Side::Client, &bytes);
        }
        let now = self.now;
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        self.collect_transmits();
        self.drain_events();
        true
    }

    /// Runs everything that happens within `d` from now, then sets the clock to now + d.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        let mut steps = 0;
        while self.step(limit) {
            steps += 1;
            assert!(steps < 1_000_000, "the pair never settles");
        }
        self.now = limit;
    }

    /// Runs until nothing is in flight (timers that are not yet due are left alone).
    pub fn settle(&mut self) {
        let mut steps = 0;
        loop {
            self.collect_transmits();
            self.drain_events();
            let Some(limit) = [self.to_server.front(), self.to_client.front()]
                .into_iter()
                .flatten()
                .map(|&(t, _)| t)
                .max()
            else {
                return;
            };
            while self.step(limit) {
                steps += 1;
                assert!(steps < 1_000_000, "the pair never settles");
            }
        }
    }

    /// Feeds raw bytes to one side as if the peer had sent them.
    pub fn inject(&mut self, side: Side, bytes: &[u8]) {
        self.deliver(side, bytes);
        self.collect_transmits();
        self.drain_events();
    }

    pub fn take_events(&mut self, side: Side) -> Vec<Event> {
        self.drain_events();
        std::mem::take(self.events(side))
    }
}

pub fn is_connected(e: &Event) -> bool {
    matches!(e, Event::Connected(_))
}

pub fn closed_reasons(events: &[Event]) -> Vec<veltix_core::CloseReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Closed(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// A default configuration speaking `dialect`.
pub fn dialect_config(dialect: veltix_core::Dialect) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.dialect = dialect;
    c
}

/// One connection on its own, for feeding it hand-made bytes.
pub fn solo(role: Role, config: ConnectionConfig) -> (Connection, Instant) {
    let now = Instant::now();
    let conn = Connection::new(role, config, now, WALL_START_MS, [0x42; 32]).expect("valid config");
    (conn, now)
}

/// Every event the connection has queued.
pub fn events_of(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Every byte the connection has queued for the transport.
pub fn wire_of(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(mut t) = conn.poll_transmit() {
        let bytes = t.copy_to_bytes(t.remaining());
        out.extend_from_slice(&bytes);
    }
    out
}

/// A compact frame read back by hand (PROTOCOL.md §5 offsets), independent
/// of the crate's decoder: (type code, request id, payload).
pub type CompactFrame = (u16, u16, Vec<u8>);

/// Splits a byte stream of whole compact frames; panics on anything else.
pub fn compact_frames(mut wire: &[u8]) -> Vec<CompactFrame> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        assert!(
            wire.len() >= 15 && &wire[..2] == b"VX",
            "not a compact frame: {wire:02x?}"
        );
        let code = u16::from_be_bytes([wire[3], wire[4]]);
        let len = u32::from_be_bytes([wire[5], wire[6], wire[7], wire[8]]) as usize;
        let id = u16::from_be_bytes([wire[13], wire[14]]);
        out.push((code, id, wire[15..15 + len].to_vec()));
        wire = &wire[15 + len..];
    }
    out
}

/// A classic frame read back by hand (PROTOCOL.md §1 offsets):
/// (type code, 16-byte request id, payload).
pub type ClassicFrame = (u16, [u8; 16], Vec<u8>);

/// Splits a byte stream of whole classic frames; panics on anything else.
pub fn classic_frames(mut wire: &[u8]) -> Vec<ClassicFrame> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        assert!(wire.len() >= 62, "not a classic frame: {wire:02x?}");
        let code = u16::from_be_bytes([wire[0], wire[1]]);
        let len = u32::from_be_bytes([wire[2], wire[3], wire[4], wire[5]]) as usize;
        let id: [u8; 16] = wire[46..62].try_into().expect("16 bytes");
        out.push((code, id, wire[62..62 + len].to_vec()));
        wire = &wire[62 + len..];
    }
    out
}

/// `tests/data/python_vectors.json`: bytes produced by the real Python
/// Veltix 3.3.0 and 1.6.1 packages.
pub fn python_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../data/python_vectors.json")).expect("valid JSON")
}

/// A hex field of `python_vectors()`, by its path of keys.
pub fn python_hex(path: &[&str]) -> Vec<u8> {
    let all = python_vectors();
    let value = path.iter().fold(&all, |v, key| &v[*key]);
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}
