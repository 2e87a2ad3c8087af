//! Per-client pre-shared keys (`ConnectionConfig::{client_id, key_store}`)
//! in the two-peer harness with virtual time: who is accepted, who is
//! refused and with which words, what an on-path attacker can change, and
//! compatibility with peers that know no client id.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Pair, Side, classic_frames, closed_reasons, is_connected};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use veltix_core::frame::EncodedFrame;
use veltix_core::{
    CloseCode, CloseReason, ConfigError, Connection, ConnectionConfig, Dialect, Event,
    HandshakeMode, KeyStore, MAX_CLIENT_ID_LEN, Message, MessageType, PreSharedKey, RequestId,
    Role,
};

const ALICE_KEY: &[u8] = b"alice's 32 random bytes........";
const BOB_KEY: &[u8] = b"bob's 32 random bytes, not hers";
const SHARED_KEY: &[u8] = b"the key every old client shares";

const HELLO: u16 = 10;
const HELLO_ACK: u16 = 11;
const AUTH: u16 = 12;
const ERROR: u16 = 20;
const FEATURE_AUTH: u32 = 0x2;
const FEATURE_CLIENT_ID: u32 = 0x4;
/// The HELLO payload of a client without an id (`docs/protocol.md` §3.1).
const HELLO_LEN: usize = 49;

fn store() -> KeyStore {
    KeyStore::from(HashMap::from([
        ("alice".to_owned(), PreSharedKey::new(ALICE_KEY)),
        ("bob".to_owned(), PreSharedKey::new(BOB_KEY)),
    ]))
}

fn server_with(store: KeyStore) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.key_store = Some(store);
    c
}

fn client(id: Option<&str>, key: Option<&[u8]>) -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.client_id = id.map(str::to_owned);
    c.pre_shared_key = key.map(PreSharedKey::new);
    c
}

fn app(payload: &'static [u8]) -> Message {
    Message::new(MessageType::new(200).expect("user type"), payload)
}

fn messages(events: &[Event]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload().clone()),
            _ => None,
        })
        .collect()
}

fn frame(ty: u16, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(MessageType::from_code(ty), payload.to_vec());
    EncodedFrame::new(&m).expect("fits").to_bytes().to_vec()
}

/// Runs a pair in which the client queues one message before the handshake,
/// and returns it settled.
fn run(client: ConnectionConfig, server: ConnectionConfig) -> Pair {
    let mut p = Pair::new(client, server);
    let now = p.now;
    p.client.send(now, app(b"hello")).expect("queued");
    p.settle();
    p
}

/// The outcome a refused handshake must show: nothing connected on the
/// server, nothing delivered, no client id, both sides closed — and the
/// reasons each side reports.
fn refused(p: &mut Pair) -> (Vec<CloseReason>, Vec<CloseReason>) {
    let client = p.take_events(Side::Client);
    let server = p.take_events(Side::Server);
    assert!(!server.iter().any(is_connected), "{server:?}");
    assert!(messages(&server).is_empty(), "{server:?}");
    assert_eq!(p.server.peer_client_id(), None);
    assert!(p.client.is_closed() && p.server.is_closed());
    (closed_reasons(&client), closed_reasons(&server))
}

/// What a client sees when the server's proof does not check, and what the
/// server then hears: the same for a wrong key and an unknown id.
fn wrong_key_reasons() -> (Vec<CloseReason>, Vec<CloseReason>) {
    (
        vec![CloseReason::AuthFailed("the server's proof is wrong")],
        vec![CloseReason::Peer {
            code: CloseCode::AUTH_FAILED,
            reason: "authentication failed: the server's proof is wrong".into(),
        }],
    )
}

#[test]
fn a_client_with_its_id_and_key_is_accepted_and_the_server_sees_the_id() {
    let mut p = run(client(Some("alice"), Some(ALICE_KEY)), server_with(store()));
    let server = p.take_events(Side::Server);
    let client = p.take_events(Side::Client);
    for events in [&server, &client] {
        assert!(
            matches!(events.first(), Some(Event::Connected(info)) if info.authenticated),
            "{events:?}"
        );
    }
    assert_eq!(messages(&server), vec!["hello"]);
    assert_eq!(p.server.peer_client_id(), Some("alice"));
    assert_eq!(p.client.peer_client_id(), None, "a client reports no id");
    // The HELLO names the client after the 49 bytes of before; the ACK says
    // the id was bound; the keys never cross the wire.
    // `docs/protocol.md` §3.1's example, byte for byte but the nonce.
    let hello = &classic_frames(&p.wire_to_server)[0];
    assert_eq!(hello.0, HELLO);
    assert_eq!(hex::encode(&hello.2[..13]), "564c5458010001000100000007");
    assert_eq!(
        hex::encode(&hello.2[45..]),
        "00007530_05_616c696365".replace('_', "")
    );
    let ack = &classic_frames(&p.wire_to_client)[0];
    assert_eq!(ack.0, HELLO_ACK);
    let agreed = u32::from_be_bytes(ack.2[7..11].try_into().expect("4 bytes"));
    assert_eq!(agreed & (FEATURE_AUTH | FEATURE_CLIENT_ID), 0x6);
    for wire in [&p.wire_to_server, &p.wire_to_client] {
        for key in [ALICE_KEY, BOB_KEY] {
            assert!(!wire.windows(key.len()).any(|w| w == key));
        }
    }
    // The id outlives the connection, for the driver's last log line.
    let now = p.now;
    p.server.close(now, CloseCode::NORMAL, "bye");
    assert_eq!(p.server.peer_client_id(), Some("alice"));
}

#[test]
fn every_client_of_a_store_gets_its_own_id() {
    for (id, key) in [("alice", ALICE_KEY), ("bob", BOB_KEY)] {
        let mut p = run(client(Some(id), Some(key)), server_with(store()));
        assert!(p.take_events(Side::Server).iter().any(is_connected));
        assert_eq!(p.server.peer_client_id(), Some(id));
    }
}

#[test]
fn the_right_id_with_a_wrong_key_is_refused() {
    let mut p = run(
        client(Some("alice"), Some(b"a guess at alice's key")),
        server_with(store()),
    );
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

#[test]
fn another_clients_id_with_ones_own_key_is_refused() {
    // Bob, holding his own key, claims to be Alice.
    let mut p = run(client(Some("alice"), Some(BOB_KEY)), server_with(store()));
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

#[test]
fn an_unknown_id_is_refused_exactly_as_a_wrong_key_is() {
    let mut unknown = run(client(Some("mallory"), Some(BOB_KEY)), server_with(store()));
    let mut wrong = run(client(Some("alice"), Some(BOB_KEY)), server_with(store()));
    let reasons = refused(&mut unknown);
    assert_eq!(reasons, refused(&mut wrong));
    assert_eq!(reasons, wrong_key_reasons());
    // Same frames, same sizes: the unknown id gets a HELLO_ACK with a proof
    // too (under a decoy key), and the client closes just the same.
    let shape = |wire: &[u8]| -> Vec<(u16, usize)> {
        classic_frames(wire)
            .into_iter()
            .map(|(ty, _, payload)| (ty, payload.len()))
            .collect()
    };
    assert_eq!(shape(&unknown.wire_to_client), shape(&wrong.wire_to_client));
    assert_eq!(shape(&unknown.wire_to_client), vec![(HELLO_ACK, 79)]);
    // The client ids differ in length: compare the frames after the HELLO.
    let after_hello = |wire: &[u8]| shape(wire)[1..].to_vec();
    assert_eq!(
        after_hello(&unknown.wire_to_server),
        after_hello(&wrong.wire_to_server)
    );
}

#[test]
fn a_store_that_returns_an_empty_key_refuses_that_id() {
    let store = KeyStore::new(|id| (id == "ghost").then(|| PreSharedKey::new(b"")));
    let mut p = run(client(Some("ghost"), Some(b"k")), server_with(store));
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

/// A client played by hand against a store server: its HELLO (nonce
/// `[7; 32]`, id `id`), then — without checking the server's proof — an AUTH
/// made by `auth` from the HELLO_ACK payload, then a message.
fn hand_played(
    store: KeyStore,
    id: &str,
    auth: impl FnOnce(&[u8]) -> Vec<u8>,
) -> (Pair, Vec<Event>) {
    let mut p = Pair::new(ConnectionConfig::default(), server_with(store));
    let mut hello = b"VLTX\x01\x00\x01\x00\x01".to_vec();
    hello.extend_from_slice(&(FEATURE_AUTH | FEATURE_CLIENT_ID).to_be_bytes());
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&0u32.to_be_bytes());
    hello.push(u8::try_from(id.len()).expect("short id"));
    hello.extend_from_slice(id.as_bytes());
    p.inject(Side::Server, &frame(HELLO, &hello));
    let ack = classic_frames(&p.wire_to_client)
        .into_iter()
        .next()
        .expect("a HELLO_ACK");
    assert_eq!(ack.0, HELLO_ACK);
    let proof = auth(&ack.2);
    p.inject(Side::Server, &frame(AUTH, &proof));
    p.inject(Side::Server, &frame(200, b"sneaky"));
    let events = p.take_events(Side::Server);
    (p, events)
}

/// The client's proof of `docs/protocol.md` §3.3, written out by hand from
/// a HELLO_ACK payload (as [`hand_played`] sends it: nonce `[7; 32]`).
fn client_proof(key: &[u8], ack: &[u8], id: &str) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any length");
    mac.update(b"veltix auth v1 client");
    mac.update(&[7; 32]);
    mac.update(&ack[11..43]); // server nonce
    mac.update(&ack[5..7]); // version
    mac.update(&ack[7..11]); // agreed features
    mac.update(&[u8::try_from(id.len()).expect("short id")]);
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn a_hand_made_proof_for_a_known_id_is_accepted() {
    // The control for the next test: the proof written out from the spec
    // is the one the server checks.
    let (p, events) = hand_played(store(), "alice", |ack| {
        client_proof(ALICE_KEY, ack, "alice")
    });
    assert!(events.iter().any(is_connected), "{events:?}");
    assert_eq!(messages(&events), vec!["sneaky"]);
    assert_eq!(p.server.peer_client_id(), Some("alice"));
}

#[test]
fn an_unknown_id_is_refused_even_with_a_proof_under_the_decoy_key() {
    // The harness gives the server the random bytes [0x5e; 32]; a real
    // attacker never sees them (the nonce sent is derived from them).
    let decoy: [u8; 32] = Sha256::new_with_prefix(b"veltix decoy key")
        .chain_update([0x5e; 32])
        .finalize()
        .into();
    let (p, events) = hand_played(store(), "mallory", |ack| {
        assert_ne!(&ack[11..43], &[0x5e; 32], "the nonce is not the secret");
        client_proof(&decoy, ack, "mallory")
    });
    assert_eq!(
        closed_reasons(&events),
        vec![CloseReason::AuthFailed("the client's proof is wrong")]
    );
    assert!(messages(&events).is_empty() && !events.iter().any(is_connected));
    assert_eq!(p.server.peer_client_id(), None);
}

#[test]
fn a_client_that_ignores_the_servers_proof_hears_the_same_words_for_an_unknown_id() {
    let garbage = |_: &[u8]| vec![0; 32];
    let (_, unknown) = hand_played(store(), "mallory", garbage);
    let (_, wrong) = hand_played(store(), "alice", garbage);
    assert_eq!(closed_reasons(&unknown), closed_reasons(&wrong));
    assert_eq!(
        closed_reasons(&unknown),
        vec![CloseReason::AuthFailed("the client's proof is wrong")]
    );
}

#[test]
fn a_client_without_an_id_is_refused_by_a_store_server() {
    // An old-style client: the shared key, no id.
    let mut p = run(client(None, Some(SHARED_KEY)), server_with(store()));
    let (client, server) = refused(&mut p);
    assert_eq!(
        server,
        vec![CloseReason::AuthFailed("the peer sent no client id")]
    );
    assert!(
        matches!(&client[..], [CloseReason::Peer { code, .. }] if *code == CloseCode::AUTH_FAILED),
        "{client:?}"
    );
    // It got an ERROR frame and no HELLO_ACK.
    let types: Vec<u16> = classic_frames(&p.wire_to_client)
        .iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(types, vec![ERROR]);
}

#[test]
fn a_client_without_any_key_is_refused_by_a_store_server() {
    let mut p = run(ConnectionConfig::default(), server_with(store()));
    let (_, server) = refused(&mut p);
    assert_eq!(
        server,
        vec![CloseReason::AuthFailed("the peer has no pre-shared key")]
    );
}

#[test]
fn a_store_and_a_shared_key_serve_old_clients_with_the_shared_key() {
    let mut both = server_with(store());
    both.pre_shared_key = Some(PreSharedKey::new(SHARED_KEY));
    // An old client proves the shared key and reports no id.
    let mut p = run(client(None, Some(SHARED_KEY)), both.clone());
    let server = p.take_events(Side::Server);
    assert!(
        matches!(server.first(), Some(Event::Connected(info)) if info.authenticated),
        "{server:?}"
    );
    assert_eq!(messages(&server), vec!["hello"]);
    assert_eq!(p.server.peer_client_id(), None);
    // A client with an id proves its own key, never the shared one.
    let mut p = run(client(Some("alice"), Some(ALICE_KEY)), both.clone());
    assert!(p.take_events(Side::Server).iter().any(is_connected));
    assert_eq!(p.server.peer_client_id(), Some("alice"));
    let mut p = run(client(Some("alice"), Some(SHARED_KEY)), both.clone());
    assert_eq!(refused(&mut p), wrong_key_reasons());
    // An unknown id does not fall back to the shared key.
    let mut p = run(client(Some("mallory"), Some(SHARED_KEY)), both);
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

#[test]
fn legacy_peers_are_refused_by_a_store_server() {
    let mut legacy = ConnectionConfig::default();
    legacy.handshake = HandshakeMode::Disabled;
    let mut p = run(legacy, server_with(store()));
    let server = p.take_events(Side::Server);
    assert!(messages(&server).is_empty() && !server.iter().any(is_connected));
    assert!(p.server.is_closed());
    assert_eq!(
        closed_reasons(&server),
        vec![CloseReason::AuthFailed(
            "a legacy peer cannot prove the pre-shared key"
        )]
    );
    // A silent one is not taken for a legacy peer either.
    let mut p = Pair::new(ConnectionConfig::default(), server_with(store()));
    p.deaf = Some(Side::Server);
    p.run_for(Duration::from_secs(11));
    assert_eq!(
        closed_reasons(&p.take_events(Side::Server)),
        vec![CloseReason::HandshakeTimeout]
    );
}

#[test]
fn a_server_with_one_shared_key_accepts_a_client_with_an_id_and_that_key() {
    // A server without a store does what a server that predates client ids
    // does: it reads the 49 bytes it knows, ignores the id, and proves the
    // transcript without it.
    let mut p = run(
        client(Some("alice"), Some(SHARED_KEY)),
        client(None, Some(SHARED_KEY)),
    );
    let server = p.take_events(Side::Server);
    assert!(
        matches!(server.first(), Some(Event::Connected(info)) if info.authenticated),
        "{server:?}"
    );
    assert!(p.take_events(Side::Client).iter().any(is_connected));
    assert_eq!(messages(&server), vec!["hello"]);
    assert_eq!(
        p.server.peer_client_id(),
        None,
        "an unchecked id is not reported"
    );
    let ack = &classic_frames(&p.wire_to_client)[0];
    let agreed = u32::from_be_bytes(ack.2[7..11].try_into().expect("4 bytes"));
    assert_eq!(agreed & FEATURE_CLIENT_ID, 0, "the id was not bound");
    // With another key: refused as ever.
    let mut p = run(
        client(Some("alice"), Some(ALICE_KEY)),
        client(None, Some(SHARED_KEY)),
    );
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

#[test]
fn a_client_without_an_id_sends_the_hello_of_before() {
    let mut p = run(
        client(None, Some(SHARED_KEY)),
        client(None, Some(SHARED_KEY)),
    );
    assert!(p.take_events(Side::Server).iter().any(is_connected));
    let hello = &classic_frames(&p.wire_to_server)[0];
    assert_eq!(hello.2.len(), HELLO_LEN);
    let features = u32::from_be_bytes(hello.2[9..13].try_into().expect("4 bytes"));
    assert_eq!(features & FEATURE_CLIENT_ID, 0);
}

/// Runs a pair in which the bytes one way are held, so the test can play
/// an on-path attacker: `tamper` rewrites the first frame that way (whose
/// hash is then made right again), and the rest flows untouched.
fn on_path(
    client: ConnectionConfig,
    server: ConnectionConfig,
    towards: Side,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> Pair {
    let mut p = Pair::new(client, server);
    p.deaf = Some(towards);
    // Towards the server: the HELLO is lost. Towards the client: the HELLO
    // goes through, the HELLO_ACK is lost.
    p.settle();
    let wire = match towards {
        Side::Server => &p.wire_to_server,
        Side::Client => &p.wire_to_client,
    };
    let (ty, id, mut payload) = classic_frames(wire).into_iter().next().expect("a frame");
    tamper(&mut payload);
    let m = Message::new(MessageType::from_code(ty), payload)
        .with_request_id(RequestId::from_bytes(id));
    let bytes = EncodedFrame::new(&m).expect("fits").to_bytes();
    p.deaf = None;
    p.inject(towards, &bytes);
    p.settle();
    p
}

#[test]
fn a_client_id_swapped_on_the_wire_is_refused() {
    // Two ids with one key: without the id in the transcript, the swap
    // would be accepted as "alicf".
    let store = KeyStore::from_iter([
        ("alice".to_owned(), PreSharedKey::new(ALICE_KEY)),
        ("alicf".to_owned(), PreSharedKey::new(ALICE_KEY)),
    ]);
    let mut p = on_path(
        client(Some("alice"), Some(ALICE_KEY)),
        server_with(store.clone()),
        Side::Server,
        |hello| {
            assert_eq!(&hello[HELLO_LEN..], b"\x05alice");
            *hello.last_mut().expect("id") ^= 0x03; // 'e' → 'f'
        },
    );
    assert_eq!(refused(&mut p), wrong_key_reasons());
    // The control: the same pair untouched connects.
    let mut p = on_path(
        client(Some("alice"), Some(ALICE_KEY)),
        server_with(store),
        Side::Server,
        |_| {},
    );
    assert!(p.take_events(Side::Server).iter().any(is_connected));
    assert_eq!(p.server.peer_client_id(), Some("alice"));
}

#[test]
fn a_client_id_flipped_without_fixing_the_hash_is_dropped_and_times_out() {
    let mut p = Pair::new(client(Some("alice"), Some(ALICE_KEY)), server_with(store()));
    p.deaf = Some(Side::Server);
    p.settle();
    let mut hello = p.wire_to_server.clone();
    *hello.last_mut().expect("id") ^= 0x01;
    p.deaf = None;
    p.inject(Side::Server, &hello);
    p.run_for(Duration::from_secs(11));
    let server = p.take_events(Side::Server);
    assert!(
        matches!(server.first(), Some(Event::FrameDropped(_))),
        "{server:?}"
    );
    assert_eq!(closed_reasons(&server), vec![CloseReason::HandshakeTimeout]);
    assert_eq!(p.server.peer_client_id(), None);
}

#[test]
fn stripping_the_id_or_its_acknowledgement_on_the_wire_is_refused() {
    // HELLO: the flag cleared and the id cut off — a store server without
    // a shared key refuses the now anonymous client.
    let mut p = on_path(
        client(Some("alice"), Some(ALICE_KEY)),
        server_with(store()),
        Side::Server,
        |hello| {
            hello.truncate(HELLO_LEN);
            hello[12] &= !(FEATURE_CLIENT_ID as u8);
        },
    );
    let (_, server) = refused(&mut p);
    assert_eq!(
        server,
        vec![CloseReason::AuthFailed("the peer sent no client id")]
    );
    // HELLO_ACK: the "id bound" flag cleared — the client checks the proof
    // over the agreed features and refuses it.
    let mut p = on_path(
        client(Some("alice"), Some(ALICE_KEY)),
        server_with(store()),
        Side::Client,
        |ack| ack[10] &= !(FEATURE_CLIENT_ID as u8),
    );
    assert_eq!(refused(&mut p), wrong_key_reasons());
}

#[test]
fn a_server_binding_an_id_the_client_never_sent_is_refused() {
    let mut p = on_path(
        client(None, Some(SHARED_KEY)),
        client(None, Some(SHARED_KEY)),
        Side::Client,
        |ack| ack[10] |= FEATURE_CLIENT_ID as u8,
    );
    let (client, _) = refused(&mut p);
    assert_eq!(
        client,
        vec![CloseReason::ProtocolViolation(
            "the server bound a client id we did not send"
        )]
    );
}

#[test]
fn a_malformed_client_id_is_a_protocol_violation() {
    let mut p = on_path(
        client(Some("alice"), Some(ALICE_KEY)),
        server_with(store()),
        Side::Server,
        |hello| hello[HELLO_LEN + 1] = 0xff, // not UTF-8
    );
    let (_, server) = refused(&mut p);
    assert_eq!(
        server,
        vec![CloseReason::ProtocolViolation("malformed or foreign HELLO")]
    );
}

#[test]
fn the_store_is_asked_once_per_handshake_and_shared_by_clones() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let store = KeyStore::new(move |id| {
        counted.fetch_add(1, Ordering::Relaxed);
        (id == "alice").then(|| PreSharedKey::new(ALICE_KEY))
    });
    for id in ["alice", "mallory"] {
        let mut p = run(
            client(Some(id), Some(ALICE_KEY)),
            server_with(store.clone()),
        );
        p.run_for(Duration::from_secs(1));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(format!("{store:?}"), "KeyStore(<lookup>)");
}

#[test]
fn client_id_and_key_store_settings_are_checked() {
    let check = |role: Role, config: ConnectionConfig| {
        Connection::new(role, config, Instant::now(), 0, [0; 32]).map(|_| ())
    };
    let max = "é".repeat(127) + "x";
    assert_eq!(max.len(), MAX_CLIENT_ID_LEN);
    assert_eq!(check(Role::Client, client(Some(&max), Some(b"k"))), Ok(()));
    let too_long = max + "x";
    for (id, len) in [("", 0), (too_long.as_str(), 256)] {
        assert_eq!(
            check(Role::Client, client(Some(id), Some(b"k"))),
            Err(ConfigError::InvalidClientId { len })
        );
    }
    assert_eq!(
        check(Role::Client, client(Some("alice"), None)),
        Err(ConfigError::ClientIdWithoutKey)
    );
    assert_eq!(
        check(Role::Server, client(Some("alice"), Some(b"k"))),
        Err(ConfigError::NotForRole {
            setting: "client_id",
            role: Role::Server
        })
    );
    assert_eq!(
        check(Role::Client, server_with(store())),
        Err(ConfigError::NotForRole {
            setting: "key_store",
            role: Role::Client
        })
    );
    // Role-free validation accepts both (the role is not known there).
    assert_eq!(server_with(store()).validate(), Ok(()));
    assert_eq!(server_with(store()).validate_for(Role::Server), Ok(()));
    // Like a key, a store needs the native handshake.
    let mut no_handshake = server_with(store());
    no_handshake.handshake = HandshakeMode::Disabled;
    assert_eq!(
        check(Role::Server, no_handshake),
        Err(ConfigError::KeyWithoutHandshake)
    );
    for dialect in [Dialect::Python14, Dialect::Python3, Dialect::Legacy] {
        let mut python = server_with(store());
        python.dialect = dialect;
        assert_eq!(
            check(Role::Server, python),
            Err(ConfigError::KeyNeedsNativeDialect { dialect })
        );
        let mut python = client(Some("alice"), Some(b"k"));
        python.dialect = dialect;
        assert_eq!(
            check(Role::Client, python),
            Err(ConfigError::KeyNeedsNativeDialect { dialect })
        );
    }
    assert_eq!(
        ConfigError::InvalidClientId { len: 256 }.to_string(),
        "the client id must be 1 to 255 bytes long, not 256"
    );
}

#[test]
fn the_same_inputs_give_the_same_bytes_with_a_store() {
    let bytes = || {
        let mut p = run(client(Some("alice"), Some(ALICE_KEY)), server_with(store()));
        p.run_for(Duration::from_secs(1));
        (p.wire_to_server, p.wire_to_client)
    };
    assert_eq!(bytes(), bytes());
}
