//! The established stream: tampering, truncation, clean close, bounded
//! buffers, and the ways ciphertext leaves a session.

mod common;

use bytes::{Buf, Bytes};
use common::{Alg, Pair, SERVER_NAME, drain, self_signed};
use veltix_tls::{ServerTrust, TlsClientConfig, TlsError, TlsServerConfig};

/// An established pair (pinned trust), with `limit` as both buffer limits.
fn established(limit: usize) -> Pair {
    let leaf = self_signed(Alg::Ed25519, &[SERVER_NAME], |_| {});
    let server: TlsServerConfig = leaf.server().buffer_limit(limit).build().unwrap();
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![server.pin()]))
        .buffer_limit(limit)
        .build()
        .unwrap();
    let mut pair = Pair::new(&client, &server);
    pair.handshake();
    pair
}

/// The byte ranges of each TLS record in `wire`.
fn records(wire: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 5 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at + 3], wire[at + 4]]));
        out.push(at..at + 5 + len);
        at += 5 + len;
    }
    assert_eq!(at, wire.len(), "whole records");
    out
}

#[test]
fn a_flipped_byte_fails_that_record_and_delivers_only_what_came_before() {
    for (what, offset_in_record) in [("payload", 10), ("tag", usize::MAX)] {
        let mut pair = established(64 * 1024);
        pair.client.write_plaintext(b"first record").unwrap();
        let mut wire = drain(&mut pair.client);
        pair.client.write_plaintext(b"second record").unwrap();
        pair.client.write_plaintext(b"third record").unwrap();
        let start = wire.len();
        wire.extend(drain(&mut pair.client));
        let second = records(&wire[start..])[0].clone();
        let at = start
            + if offset_in_record == usize::MAX {
                second.end - 1 // the last byte of the AEAD tag
            } else {
                second.start + offset_in_record
            };
        wire[at] ^= 0x01;

        let mut got = Vec::new();
        let error = pair
            .server
            .feed(&wire, |p| got.extend_from_slice(p))
            .unwrap_err();
        assert!(matches!(error, TlsError::Decrypt), "{what}: {error:?}");
        assert_eq!(got, b"first record", "{what}");
        // Final, and the server tells the client why.
        assert!(
            pair.server
                .feed(&wire[..1], |_| panic!("after failure"))
                .is_err()
        );
        let alert = drain(&mut pair.server);
        assert!(!alert.is_empty());
        let client_error = pair.client.feed(&alert, |_| {}).unwrap_err();
        assert!(
            matches!(
                client_error,
                TlsError::PeerAlert(rustls::AlertDescription::BadRecordMac)
            ),
            "{client_error:?}"
        );
    }
}

#[test]
fn a_flipped_byte_in_a_record_header_is_a_bad_record() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(b"hello").unwrap();
    let mut wire = drain(&mut pair.client);
    // Content type 0x37: not one TLS knows. (A flip to another known type
    // is not noticed by rustls, which authenticates the record as type 23
    // whatever the header says: the plaintext is intact either way.)
    wire[0] = 0x37;
    let error = pair
        .server
        .feed(&wire, |_| panic!("plaintext"))
        .unwrap_err();
    assert!(matches!(error, TlsError::BadRecord(_)), "{error:?}");
}

#[test]
fn a_shortened_record_length_fails_to_decrypt() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(b"hello, world").unwrap();
    let mut wire = drain(&mut pair.client);
    wire[4] -= 1; // the length's low byte: the tag is now misplaced
    let error = pair
        .server
        .feed(&wire, |_| panic!("plaintext"))
        .unwrap_err();
    assert!(matches!(error, TlsError::Decrypt), "{error:?}");
}

#[test]
fn end_of_stream_without_close_notify_is_truncation() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(b"all of it").unwrap();
    pair.run();
    assert_eq!(pair.at_server, b"all of it");
    let error = pair.server.handle_eof().unwrap_err();
    assert!(
        matches!(
            error,
            TlsError::Truncated {
                during_handshake: false
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        std::io::Error::from(error).kind(),
        std::io::ErrorKind::UnexpectedEof
    );
    assert!(!pair.server.wants_read());
}

#[test]
fn end_of_stream_in_the_middle_of_a_record_is_truncation() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(b"cut short").unwrap();
    let wire = drain(&mut pair.client);
    pair.server
        .feed(&wire[..wire.len() - 3], |_| panic!("a partial record"))
        .unwrap();
    assert!(matches!(
        pair.server.handle_eof(),
        Err(TlsError::Truncated {
            during_handshake: false
        })
    ));
}

#[test]
fn close_notify_then_end_of_stream_is_a_clean_close() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(b"bye").unwrap();
    pair.client.send_close_notify();
    assert!(matches!(
        pair.client.write_plaintext(b"more"),
        Err(TlsError::Closed)
    ));
    pair.run();
    assert_eq!(pair.at_server, b"bye");
    assert!(pair.server.peer_has_closed());
    assert!(!pair.server.wants_read());
    // Anything after close_notify is taken and ignored, as TLS requires.
    assert_eq!(
        pair.server.read_tls(b"\x17\x03\x03\x00\x05trash").unwrap(),
        10
    );
    assert_eq!(pair.server.plaintext(), b"");
    assert!(pair.server.handle_eof().is_ok());
    // The server may still answer, then close its own side.
    pair.server.write_plaintext(b"ok").unwrap();
    pair.server.send_close_notify();
    pair.run();
    assert_eq!(pair.at_client, b"ok");
    assert!(pair.client.handle_eof().is_ok());
}

#[test]
fn a_peer_that_never_reads_stops_write_plaintext_at_the_limit() {
    let limit = 16 * 1024;
    let mut pair = established(limit);
    let chunk = [0x5a; 1000];
    let mut accepted = 0;
    // The peer never reads: nothing is drained from the client.
    for _ in 0..100 {
        accepted += pair.client.write_plaintext(&chunk).unwrap();
    }
    assert!(
        accepted >= limit - 1000 && accepted <= limit,
        "accepted {accepted}"
    );
    assert_eq!(pair.client.write_plaintext(&chunk).unwrap(), 0, "full");
    let pending = pair.client.pending_tls_bytes();
    // Ciphertext: the plaintext plus 22 bytes of record overhead per record.
    assert!(
        pending > accepted && pending <= limit + 22 * 100,
        "pending {pending}"
    );

    // The driver writes some out: room again, and the count follows.
    let mut buf = [0; 4096];
    let moved = pair.client.write_tls_into(&mut buf);
    assert_eq!(moved, 4096);
    assert_eq!(pair.client.pending_tls_bytes(), pending - 4096);
    assert!(pair.client.write_plaintext(&chunk).unwrap() > 0);

    // Everything arrives, in order, once the peer reads.
    let mut wire = buf.to_vec();
    wire.extend(drain(&mut pair.client));
    assert_eq!(pair.client.pending_tls_bytes(), 0);
    let mut got = Vec::new();
    pair.server
        .feed(&wire, |p| got.extend_from_slice(p))
        .unwrap();
    assert!(got.len() > accepted && got.iter().all(|&b| b == 0x5a));
}

#[test]
fn write_plaintext_buf_takes_what_fits_and_leaves_the_rest_in_the_buf() {
    let limit = 8 * 1024;
    let mut pair = established(limit);
    // Three chunks, as a core Transmit with several frames would hand out.
    let parts = [vec![1u8; 3000], vec![2u8; 3000], vec![3u8; 9000]];
    let mut buf = Bytes::from(parts[0].clone())
        .chain(Bytes::from(parts[1].clone()))
        .chain(Bytes::from(parts[2].clone()));
    let total = buf.remaining();
    let first = pair.client.write_plaintext_buf(&mut buf).unwrap();
    assert!(first > 6000 && first <= limit, "took {first}");
    assert_eq!(buf.remaining(), total - first);
    assert_eq!(pair.client.write_plaintext_buf(&mut buf).unwrap(), 0);
    // Drain, and the rest goes through.
    let mut got = Vec::new();
    while buf.has_remaining() {
        let wire = drain(&mut pair.client);
        pair.server
            .feed(&wire, |p| got.extend_from_slice(p))
            .unwrap();
        pair.client.write_plaintext_buf(&mut buf).unwrap();
    }
    let wire = drain(&mut pair.client);
    pair.server
        .feed(&wire, |p| got.extend_from_slice(p))
        .unwrap();
    assert_eq!(got, parts.concat());
}

#[test]
fn small_chunks_share_records() {
    let mut pair = established(64 * 1024);
    let frames: Vec<Bytes> = (0..50u8).map(|i| Bytes::from(vec![i; 20])).collect();
    let mut buf = frames
        .iter()
        .cloned()
        .fold(Box::new(Bytes::new()) as Box<dyn Buf>, |acc, b| {
            Box::new(acc.chain(b))
        });
    assert_eq!(pair.client.write_plaintext_buf(&mut buf).unwrap(), 1000);
    let wire = drain(&mut pair.client);
    assert_eq!(records(&wire).len(), 1, "one record for 50 small frames");
    let mut got = Vec::new();
    pair.server
        .feed(&wire, |p| got.extend_from_slice(p))
        .unwrap();
    assert_eq!(got, frames.concat());
}

#[test]
fn read_tls_and_plaintext_pair_deliver_without_a_callback() {
    let mut pair = established(64 * 1024);
    let data = vec![9u8; 100_000];
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < data.len() {
        if sent < data.len() {
            sent += pair.client.write_plaintext(&data[sent..]).unwrap();
        }
        let wire = drain(&mut pair.client);
        let mut input = &wire[..];
        while !input.is_empty() {
            let taken = pair.server.read_tls(input).unwrap();
            input = &input[taken..];
            loop {
                let chunk = pair.server.plaintext();
                if chunk.is_empty() {
                    break;
                }
                let len = chunk.len();
                got.extend_from_slice(chunk);
                pair.server.consume_plaintext(len);
            }
        }
    }
    assert_eq!(got, data);
}

#[test]
fn write_tls_into_a_small_buffer_moves_everything_in_order() {
    let mut pair = established(64 * 1024);
    pair.client.write_plaintext(&[7; 5000]).unwrap();
    let pending = pair.client.pending_tls_bytes();
    let mut wire = Vec::new();
    let mut buf = [0; 100];
    loop {
        let n = pair.client.write_tls_into(&mut buf);
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&buf[..n]);
    }
    assert_eq!(wire.len(), pending);
    assert!(!pair.client.wants_write());
    let mut got = Vec::new();
    pair.server
        .feed(&wire, |p| got.extend_from_slice(p))
        .unwrap();
    assert_eq!(got, [7; 5000]);
}

#[test]
fn a_failed_session_counts_and_writes_its_alert() {
    let mut pair = established(64 * 1024);
    let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    forged.extend([0x41; 0x20]);
    let error = pair.server.feed(&forged, |_| {});
    assert!(matches!(error, Err(TlsError::Decrypt)), "{error:?}");
    let pending = pair.server.pending_tls_bytes();
    assert!(pending > 0 && pair.server.wants_write());
    let alert = drain(&mut pair.server);
    assert_eq!(alert.len(), pending);
    assert_eq!(pair.server.pending_tls_bytes(), 0);
    assert!(matches!(pair.server.error(), Some(TlsError::Decrypt)));
    assert!(matches!(
        pair.server.write_plaintext(b"x"),
        Err(TlsError::Decrypt)
    ));
}
