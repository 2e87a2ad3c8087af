//! What every dialect offers, side by side on the two-peer harness (requests,
//! ping, keep-alive, the dialect reported), how dialects relate to
//! `HandshakeMode`, and the configurations that cannot work.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Pair, Side, dialect_config};
use veltix_core::wire::Wire;
use veltix_core::{
    ConfigError, Connection, ConnectionConfig, Dialect, Event, HandshakeMode, Message, MessageType,
    PreSharedKey, Role,
};

const ALL: [Dialect; 4] = [
    Dialect::Native,
    Dialect::Python14,
    Dialect::Python3,
    Dialect::Legacy,
];

fn app(code: u16, payload: &'static [u8]) -> Message {
    Message::new(
        MessageType::new(code).expect("user type"),
        Bytes::from_static(payload),
    )
}

/// Type codes of the frames in a stream of whole frames of `wire`.
fn frame_types(wire: Wire, mut bytes: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while !bytes.is_empty() {
        let (code_at, len_at) = match wire {
            Wire::Classic => (0, 2),
            _ => (3, 5),
        };
        let code = u16::from_be_bytes([bytes[code_at], bytes[code_at + 1]]);
        let len = u32::from_be_bytes(bytes[len_at..len_at + 4].try_into().expect("4")) as usize;
        types.push(code);
        bytes = &bytes[wire.header_len() + len..];
    }
    types
}

fn established(dialect: Dialect) -> Pair {
    let mut p = Pair::new(dialect_config(dialect), dialect_config(dialect));
    p.settle();
    for side in [Side::Client, Side::Server] {
        let events = p.take_events(side);
        assert!(
            matches!(&events[..], [Event::Connected(info)] if info.dialect == dialect),
            "{dialect:?} {side:?}: {events:?}"
        );
    }
    p
}

#[test]
fn every_dialect_answers_requests_and_pings_in_both_directions() {
    for dialect in ALL {
        let mut p = established(dialect);
        for (asker, answerer) in [(Side::Client, Side::Server), (Side::Server, Side::Client)] {
            let now = p.now;
            let id = p
                .conn(asker)
                .request(now, app(300, b"q"), Duration::from_secs(5))
                .expect("queued");
            let ping = p
                .conn(asker)
                .ping(now, Duration::from_secs(5))
                .expect("queued");
            p.settle();
            let got = p.take_events(answerer);
            let [Event::Message(q)] = &got[..] else {
                panic!("{dialect:?}: {got:?}")
            };
            let q = q.clone();
            let now = p.now;
            p.conn(answerer)
                .reply(now, &q, app(301, b"a"))
                .expect("queued");
            p.settle();
            let events = p.take_events(asker);
            assert!(
                events.contains(&Event::Pong {
                    request_id: ping,
                    rtt: Duration::from_millis(10)
                }),
                "{dialect:?}: {events:?}"
            );
            assert!(
                events.iter().any(|e| matches!(e, Event::Response { request_id, message } if *request_id == id && message.payload() == "a")),
                "{dialect:?}: {events:?}"
            );
        }
    }
}

#[test]
fn keep_alive_is_a_heartbeat_only_where_the_dialect_has_one() {
    for dialect in ALL {
        let mut p = established(dialect);
        let (to_server, to_client) = (p.wire_to_server.len(), p.wire_to_client.len());
        p.run_for(Duration::from_secs(60));
        assert!(
            p.client.is_established() && p.server.is_established(),
            "{dialect:?}"
        );
        let wire = dialect.wire();
        let mut types = frame_types(wire, &p.wire_to_server[to_server..]);
        types.extend(frame_types(wire, &p.wire_to_client[to_client..]));
        let want: &[u16] = if dialect == Dialect::Native {
            &[2]
        } else {
            &[0, 1]
        };
        assert!(types.len() >= 6, "{dialect:?}: {types:?}");
        assert!(
            types.iter().all(|t| want.contains(t)),
            "{dialect:?}: {types:?}"
        );
        assert!(p.take_events(Side::Client).is_empty(), "{dialect:?}");
        assert!(p.take_events(Side::Server).is_empty(), "{dialect:?}");
    }
}

#[test]
fn the_legacy_dialect_is_the_native_handshake_disabled() {
    let run = |config: ConnectionConfig| {
        assert_eq!(config.effective_dialect(), Dialect::Legacy);
        let mut p = Pair::new(config.clone(), config);
        let now = p.now;
        p.client
            .request(now, app(300, b"q"), Duration::from_secs(1))
            .expect("queued");
        p.client.ping(now, Duration::from_secs(1)).expect("queued");
        p.run_for(Duration::from_secs(25));
        let info = p.server.peer_info().expect("established");
        assert_eq!(info.dialect, Dialect::Legacy);
        (p.wire_to_server, p.wire_to_client)
    };
    let mut disabled = ConnectionConfig::default();
    disabled.handshake = HandshakeMode::Disabled;
    assert_eq!(run(dialect_config(Dialect::Legacy)), run(disabled));
}

#[test]
fn a_native_server_reports_a_legacy_peer_as_legacy() {
    let mut p = Pair::new(dialect_config(Dialect::Legacy), ConnectionConfig::default());
    let now = p.now;
    p.client.send(now, app(200, b"hi")).expect("queued");
    p.settle();
    let events = p.take_events(Side::Server);
    assert!(matches!(&events[0], Event::Connected(info) if info.dialect == Dialect::Legacy));
    assert_eq!(p.server.dialect(), Dialect::Native);
}

#[test]
fn mismatched_dialects_never_deliver() {
    for (client, server) in [
        (Dialect::Python3, Dialect::Python14),
        (Dialect::Python14, Dialect::Python3),
        (Dialect::Native, Dialect::Python3),
        (Dialect::Python3, Dialect::Native),
        (Dialect::Native, Dialect::Python14),
        (Dialect::Python14, Dialect::Native),
    ] {
        let mut p = Pair::new(dialect_config(client), dialect_config(server));
        let now = p.now;
        p.client.send(now, app(200, b"lost")).expect("queued");
        p.server.send(now, app(200, b"lost")).expect("queued");
        p.run_for(Duration::from_secs(15));
        for side in [Side::Client, Side::Server] {
            let events = p.take_events(side);
            assert!(
                events.iter().all(|e| match e {
                    Event::Message(_) | Event::Response { .. } => false,
                    // Only a native server's guess: a silent peer is legacy.
                    Event::Connected(info) => info.dialect == Dialect::Legacy,
                    _ => true,
                }),
                "{client:?}/{server:?} {side:?}: {events:?}"
            );
        }
        // At least one end gives up on its own (a driver then closes the
        // socket, and the other end sees the transport close).
        assert!(
            p.client.is_closed() || p.server.is_closed(),
            "{client:?}/{server:?}: both still open"
        );
    }
}

fn refused(config: ConnectionConfig) -> ConfigError {
    assert_eq!(
        config.validate().as_ref().err(),
        Connection::new(Role::Client, config.clone(), Instant::now(), 0, [0; 32])
            .err()
            .as_ref()
    );
    config.validate().expect_err("refused")
}

#[test]
fn a_pre_shared_key_exists_only_in_the_native_dialect() {
    for dialect in [Dialect::Python14, Dialect::Python3, Dialect::Legacy] {
        let mut config = dialect_config(dialect);
        config.pre_shared_key = Some(PreSharedKey::new(b"secret"));
        assert_eq!(
            refused(config),
            ConfigError::KeyNeedsNativeDialect { dialect }
        );
    }
    let mut native = ConnectionConfig::default();
    native.pre_shared_key = Some(PreSharedKey::new(b"secret"));
    assert_eq!(native.validate(), Ok(()));
    native.handshake = HandshakeMode::Disabled;
    assert_eq!(refused(native), ConfigError::KeyWithoutHandshake);
}

#[test]
fn python_handshakes_cannot_be_disabled() {
    for dialect in [Dialect::Python14, Dialect::Python3] {
        let mut config = dialect_config(dialect);
        config.handshake = HandshakeMode::Disabled;
        assert_eq!(
            refused(config),
            ConfigError::HandshakeDisabledInDialect { dialect }
        );
        let mut required = dialect_config(dialect);
        required.handshake = HandshakeMode::Required;
        assert_eq!(
            required.validate(),
            Ok(()),
            "their handshake is required anyway"
        );
    }
}

#[test]
fn announced_versions_must_suit_the_dialect() {
    for (dialect, version, ok) in [
        (Dialect::Python14, "1.6.1", true),
        (Dialect::Python14, "1.6", false),
        (Dialect::Python14, "1.6.1-rust", false),
        (Dialect::Python3, "3.3.0-rust", true),
        (Dialect::Python3, "", false),
    ] {
        let mut config = dialect_config(dialect);
        config.announce_version = Some(version.into());
        let result = config.validate();
        assert_eq!(result.is_ok(), ok, "{dialect:?} {version:?}: {result:?}");
        if !ok {
            assert!(
                matches!(result, Err(ConfigError::InvalidAnnounceVersion { version: v, .. }) if v == version)
            );
        }
    }
    let mut long = dialect_config(Dialect::Python3);
    long.announce_version = Some("v".repeat(257));
    assert!(matches!(
        refused(long),
        ConfigError::InvalidAnnounceVersion { .. }
    ));
    // Dialects that announce nothing ignore it.
    let mut native = ConnectionConfig::default();
    native.announce_version = Some(String::new());
    assert_eq!(native.validate(), Ok(()));
}

#[test]
fn compact_ids_bound_the_pending_requests() {
    let mut config = dialect_config(Dialect::Python3);
    config.max_pending_requests = 30_000;
    assert_eq!(
        refused(config.clone()),
        ConfigError::PendingAboveIdWindow {
            max_pending: 30_000,
            window: 30_000
        }
    );
    config.max_pending_requests = 29_999;
    assert_eq!(config.validate(), Ok(()));
    // The classic wire's 16-byte ids have no such bound.
    let mut classic = dialect_config(Dialect::Python14);
    classic.max_pending_requests = 1_000_000;
    assert_eq!(classic.validate(), Ok(()));
}

#[test]
fn each_dialect_names_its_wire() {
    for (dialect, wire) in [
        (Dialect::Native, Wire::Classic),
        (Dialect::Python14, Wire::Classic),
        (Dialect::Python3, Wire::Compact),
        (Dialect::Legacy, Wire::Classic),
    ] {
        assert_eq!(dialect.wire(), wire);
        assert_eq!(dialect_config(dialect).wire(), wire);
    }
    assert_eq!(ConnectionConfig::default().dialect, Dialect::Native);
}
