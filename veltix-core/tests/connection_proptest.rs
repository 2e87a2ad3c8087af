//! Random operations on both sides of a pair, with the bytes between them cut
//! into random chunks: every message arrives exactly once and in order, and
//! every request and ping gets exactly one outcome.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::{Pair, Side};
use proptest::prelude::*;
use veltix_core::compression::Compression;
use veltix_core::{
    CloseCode, ConnectionConfig, Dialect, Event, HandshakeMode, KeyStore, Message, MessageType,
    PreSharedKey, RequestId,
};

#[derive(Debug, Clone)]
enum Op {
    Send(Side, usize),
    Request(Side, u16),
    Ping(Side, u16),
    Advance(u16),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (side(), 0usize..600).prop_map(|(s, n)| Op::Send(s, n)),
        2 => (side(), 1u16..200).prop_map(|(s, t)| Op::Request(s, t)),
        1 => (side(), 1u16..200).prop_map(|(s, t)| Op::Ping(s, t)),
        2 => (0u16..300).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Setup {
    Plain,
    Keyed,
    /// A client with an id and its own key; a server with a key store.
    ClientKeys,
    /// A client without an id, proving the shared key to a server that has
    /// a key store too.
    StoreAndShared,
    LegacyClient,
    /// Both sides in one dialect.
    Both(Dialect),
    /// Native peers with frame options: (compression, authenticated
    /// transport) on the client, then on the server. Compression starts at
    /// 16 bytes, so most payloads here are compressed when both agree.
    Options(bool, bool, bool, bool),
}

fn setup() -> impl Strategy<Value = Setup> {
    prop_oneof![
        Just(Setup::Plain),
        Just(Setup::Keyed),
        Just(Setup::ClientKeys),
        Just(Setup::StoreAndShared),
        Just(Setup::LegacyClient),
        Just(Setup::Both(Dialect::Python14)),
        Just(Setup::Both(Dialect::Python3)),
        Just(Setup::Both(Dialect::Legacy)),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(a, b, c, d)| Setup::Options(a, b, c, d)),
    ]
}

fn configs(setup: Setup) -> (ConnectionConfig, ConnectionConfig) {
    let mut client = ConnectionConfig::default();
    let mut server = ConnectionConfig::default();
    match setup {
        Setup::Plain => {}
        Setup::Keyed => {
            client.pre_shared_key = Some(PreSharedKey::new(b"k3y"));
            server.pre_shared_key = Some(PreSharedKey::new(b"k3y"));
        }
        Setup::ClientKeys => {
            client.client_id = Some("sensor-17".into());
            client.pre_shared_key = Some(PreSharedKey::new(b"s3nsor"));
            server.key_store = Some(store());
        }
        Setup::StoreAndShared => {
            client.pre_shared_key = Some(PreSharedKey::new(b"k3y"));
            server.pre_shared_key = Some(PreSharedKey::new(b"k3y"));
            server.key_store = Some(store());
        }
        Setup::LegacyClient => client.handshake = HandshakeMode::Disabled,
        Setup::Both(dialect) => {
            client.dialect = dialect;
            server.dialect = dialect;
        }
        Setup::Options(client_compress, client_tls, server_compress, server_tls) => {
            let mut compression = Compression::default();
            compression.threshold = 16;
            client.compression = client_compress.then_some(compression);
            client.transport_authenticated = client_tls;
            server.compression = server_compress.then_some(compression);
            server.transport_authenticated = server_tls;
        }
    }
    (client, server)
}

fn store() -> KeyStore {
    KeyStore::from_iter([
        ("sensor-17".to_owned(), PreSharedKey::new(b"s3nsor")),
        ("other".to_owned(), PreSharedKey::new(b"k3y")),
    ])
}

/// What one side sent and what it must see.
#[derive(Default)]
struct Ledger {
    /// Payloads of every application frame sent, in order (sends and requests).
    sent: Vec<Bytes>,
    /// Requests and pings awaiting exactly one outcome.
    outstanding: BTreeMap<RequestId, &'static str>,
    /// Outcomes seen per id.
    outcomes: BTreeMap<RequestId, usize>,
    counter: u32,
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

fn tag(side: Side, kind: u8, n: u32, len: usize) -> Bytes {
    let mut payload = vec![kind, if side == Side::Client { b'c' } else { b's' }];
    payload.extend_from_slice(&n.to_be_bytes());
    payload.resize(payload.len() + len, 0x5a);
    payload.into()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_promise(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..60),
        chunks in prop::collection::vec(1usize..200, 1..16),
        latency_ms in 0u64..20,
    ) {
        let (client, server) = configs(setup);
        let mut p = Pair::new(client, server);
        p.latency = Duration::from_millis(latency_ms);
        let mut i = 0;
        p.chunker = Some(Box::new(move |_| { i += 1; chunks[i % chunks.len()] }));
        let mut ledgers: BTreeMap<bool, Ledger> = BTreeMap::new();
        let key = |s: Side| s == Side::Client;
        let mut received: BTreeMap<bool, Vec<Bytes>> = BTreeMap::new();

        let run_ops = |p: &mut Pair, ops: &[Op], ledgers: &mut BTreeMap<bool, Ledger>| {
            for op in ops {
                let now = p.now;
                match *op {
                    Op::Send(s, len) => {
                        let ledger = ledgers.entry(key(s)).or_default();
                        ledger.counter += 1;
                        let payload = tag(s, b'M', ledger.counter, len);
                        let msg = Message::new(MessageType::from_code(200), payload.clone());
                        if p.conn(s).send(now, msg).is_ok() {
                            ledger.sent.push(payload);
                        }
                    }
                    Op::Request(s, ms) => {
                        let ledger = ledgers.entry(key(s)).or_default();
                        ledger.counter += 1;
                        let payload = tag(s, b'Q', ledger.counter, 3);
                        let msg = Message::new(MessageType::from_code(201), payload.clone());
                        if let Ok(id) = p.conn(s).request(now, msg, Duration::from_millis(ms.into())) {
                            ledger.sent.push(payload);
                            ledger.outstanding.insert(id, "request");
                        }
                    }
                    Op::Ping(s, ms) => {
                        if let Ok(id) = p.conn(s).ping(now, Duration::from_millis(ms.into())) {
                            ledgers.entry(key(s)).or_default().outstanding.insert(id, "ping");
                        }
                    }
                    Op::Advance(ms) => p.run_for(Duration::from_millis(ms.into())),
                }
                // Answer every request promptly; replies are not application sends.
                for s in [Side::Client, Side::Server] {
                    let events = p.take_events(s);
                    for e in &events {
                        if let Event::Message(m) = e
                            && m.payload().first() == Some(&b'Q')
                        {
                            let reply = Message::new(MessageType::from_code(202), tag(s, b'R', 0, 0));
                            let now = p.now;
                            let _ = p.conn(s).reply(now, m, reply);
                        }
                    }
                    p.events(s).extend(events);
                }
            }
        };
        run_ops(&mut p, &ops, &mut ledgers);
        // Let every deadline pass and every byte land.
        p.run_for(Duration::from_secs(3));
        let now = p.now;
        p.client.close(now, CloseCode::NORMAL, "end of test");
        p.run_for(Duration::from_secs(1));
        // The client's driver then closes the socket; the server's driver sees
        // end of stream (a legacy peer is not sent a close frame).
        p.server.handle_transport_closed();

        for s in [Side::Client, Side::Server] {
            let events = p.take_events(s);
            let ledger = ledgers.entry(key(s)).or_default();
            let mut closed = 0;
            for e in &events {
                match e {
                    Event::Message(m) if m.payload().first() != Some(&b'R') => {
                        received.entry(key(s)).or_default().push(m.payload().clone());
                    }
                    Event::Response { request_id, .. }
                    | Event::Pong { request_id, .. }
                    | Event::RequestFailed { request_id, .. } => {
                        *ledger.outcomes.entry(*request_id).or_default() += 1;
                    }
                    Event::Closed(_) => closed += 1,
                    Event::FrameDropped(err) => prop_assert!(false, "{s:?} dropped a frame: {err}"),
                    _ => {}
                }
            }
            prop_assert_eq!(closed, 1, "{:?} closed {} times", s, closed);
            prop_assert!(p.conn(s).is_closed());
            prop_assert_eq!(p.conn(s).pending_requests(), 0);
            for (id, what) in &ledger.outstanding {
                prop_assert_eq!(ledger.outcomes.get(id).copied(), Some(1), "{:?} {} {} outcomes", s, what, id);
            }
            prop_assert_eq!(ledger.outcomes.len(), ledger.outstanding.len());
        }
        // The server reports the id whose key was proven, and only then.
        let want_id = matches!(setup, Setup::ClientKeys).then_some("sensor-17");
        prop_assert_eq!(p.server.peer_client_id(), want_id);
        prop_assert_eq!(p.client.peer_client_id(), None);
        if matches!(setup, Setup::ClientKeys | Setup::StoreAndShared | Setup::Keyed) {
            prop_assert!(p.server.peer_info().is_some_and(|i| i.authenticated));
        }
        for s in [Side::Client, Side::Server] {
            let sent = &ledgers.entry(key(s)).or_default().sent;
            let got = received.remove(&key(other(s))).unwrap_or_default();
            prop_assert_eq!(&got, sent, "{:?} → {:?}", s, other(s));
        }
    }
}
