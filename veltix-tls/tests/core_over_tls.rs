//! The layer as the driver will use it: two veltix-core Connections talking
//! through two TLS sessions, and a plaintext Veltix peer on a TLS port.

mod common;

use std::time::{Duration, Instant};

use common::{Alg, Ca, SERVER_NAME, drain};
use veltix_core::{Connection, ConnectionConfig, Event, Message, MessageType, Role};
use veltix_tls::{TlsClientConfig, TlsError, TlsSession, looks_like_tls_client_hello};

/// One side: the protocol connection over its TLS session.
struct Side {
    conn: Connection,
    tls: TlsSession,
}

impl Side {
    /// The write path: core output → encrypt (what fits) → ciphertext.
    fn output(&mut self) -> Vec<u8> {
        while let Some(mut transmit) = self.conn.poll_transmit() {
            if self.tls.write_plaintext_buf(&mut transmit).unwrap() == 0 {
                break; // full: the rest stays queued in the core
            }
        }
        drain(&mut self.tls)
    }

    /// The read path: ciphertext → decrypt → core input.
    fn input(&mut self, now: Instant, wire: &[u8]) {
        let conn = &mut self.conn;
        self.tls
            .feed(wire, |plain| conn.handle_input(now, plain))
            .unwrap();
    }
}

#[test]
fn a_request_and_its_reply_cross_two_tls_sessions() {
    let ca = Ca::new(Alg::EcdsaP256, "Test CA");
    let leaf = ca.issue(Alg::EcdsaP256, &[SERVER_NAME], "server");
    let server_tls = leaf.server().build().unwrap();
    let client_tls = TlsClientConfig::builder(ca.trust()).build().unwrap();
    let start = Instant::now();
    let config = ConnectionConfig::default();
    let mut client = Side {
        conn: Connection::new(Role::Client, config.clone(), start, 0, [1; 32]).unwrap(),
        tls: TlsSession::client(&client_tls, SERVER_NAME).unwrap(),
    };
    let mut server = Side {
        conn: Connection::new(Role::Server, config, start, 0, [2; 32]).unwrap(),
        tls: TlsSession::server(&server_tls).unwrap(),
    };
    let chat = MessageType::new(200).unwrap();
    let big = vec![0xab; 200_000]; // larger than the TLS buffer limit
    let id = client
        .conn
        .request(
            start,
            Message::new(chat, big.clone()),
            Duration::from_secs(5),
        )
        .unwrap();

    let mut now = start;
    let mut answer = None;
    for _ in 0..50 {
        now += Duration::from_millis(1);
        let wire = client.output();
        server.input(now, &wire);
        while let Some(event) = server.conn.poll_event() {
            if let Event::Message(msg) = event {
                assert_eq!(msg.payload().len(), big.len());
                server
                    .conn
                    .reply(now, &msg, Message::new(chat, "got it"))
                    .unwrap();
            }
        }
        let wire = server.output();
        client.input(now, &wire);
        while let Some(event) = client.conn.poll_event() {
            if let Event::Response {
                request_id,
                message,
            } = event
            {
                assert_eq!(request_id, id);
                answer = Some(message);
            }
        }
        if answer.is_some() {
            break;
        }
    }
    assert_eq!(&answer.expect("an answer").payload()[..], b"got it");
    assert!(client.conn.is_established() && server.conn.is_established());
}

#[test]
fn a_plaintext_veltix_client_on_a_tls_port_is_named_as_such() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let leaf = ca.issue(Alg::Ed25519, &[SERVER_NAME], "server");
    let server_tls = leaf.server().build().unwrap();
    let now = Instant::now();
    let mut plain =
        Connection::new(Role::Client, ConnectionConfig::default(), now, 0, [3; 32]).unwrap();
    let mut hello = Vec::new();
    while let Some(mut transmit) = plain.poll_transmit() {
        use bytes::Buf;
        let bytes = transmit.copy_to_bytes(transmit.remaining());
        hello.extend_from_slice(&bytes);
    }
    // The plaintext side's helper does not mistake a Veltix HELLO for TLS…
    assert!(!looks_like_tls_client_hello(&hello));
    // …and the TLS side names the problem.
    let mut session = TlsSession::server(&server_tls).unwrap();
    let error = session.feed(&hello, |_| panic!("plaintext")).unwrap_err();
    assert!(matches!(error, TlsError::NotTls { .. }), "{error:?}");
}

#[test]
fn a_tls_client_on_a_plaintext_port_is_recognised() {
    let ca = Ca::new(Alg::Ed25519, "Test CA");
    let client_tls = TlsClientConfig::builder(ca.trust()).build().unwrap();
    let mut session = TlsSession::client(&client_tls, SERVER_NAME).unwrap();
    let hello = drain(&mut session);
    assert!(looks_like_tls_client_hello(&hello));
    assert!(looks_like_tls_client_hello(&hello[..6]));
}
