//! What the classic frame's SHA-256 costs next to what TLS already pays for
//! integrity: per message size, hashing the payload once (each end of a
//! Veltix connection does it once: the sender to fill the field, the
//! receiver to check it) against sealing and opening it in TLS 1.3 records
//! (AES-128-GCM and ChaCha20-Poly1305, one direction, both ends' work).
//!
//! `cargo bench -p veltix-tls --bench hash_vs_aead`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use veltix_tls::{Cipher, ServerTrust, TlsClientConfig, TlsSession};

const SIZES: [usize; 3] = [64, 4096, 1 << 20];

/// A connected client/server pair using `cipher`.
fn pair(cipher: Cipher) -> (TlsSession, TlsSession) {
    let made = veltix_tls::self_signed(vec!["bench.test".to_owned()]).expect("a certificate");
    let server_config = made.server_config().build().expect("server config");
    let client_config = TlsClientConfig::builder(ServerTrust::Pinned(vec![made.pin()]))
        .cipher_suites(&[cipher])
        .buffer_limit(4 << 20)
        .build()
        .expect("client config");
    let mut client = TlsSession::client(&client_config, "bench.test").expect("client");
    let mut server = TlsSession::server(&server_config).expect("server");
    while client.is_handshaking() || server.is_handshaking() {
        move_bytes(&mut client, &mut server, &mut Vec::new());
        move_bytes(&mut server, &mut client, &mut Vec::new());
    }
    (client, server)
}

fn move_bytes(from: &mut TlsSession, to: &mut TlsSession, wire: &mut Vec<u8>) -> usize {
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire).expect("in memory");
    }
    let mut got = 0;
    to.feed(wire, |plain| got += plain.len()).expect("decrypts");
    got
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("integrity");
    for size in SIZES {
        let payload = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sha256", size), &payload, |b, p| {
            b.iter(|| black_box(Sha256::digest(black_box(p))));
        });
        for (name, cipher) in [
            ("tls-aes128gcm", Cipher::Aes128Gcm),
            ("tls-chacha20", Cipher::ChaCha20Poly1305),
        ] {
            let (mut client, mut server) = pair(cipher);
            let mut wire = Vec::with_capacity(size + 1024);
            group.bench_with_input(BenchmarkId::new(name, size), &payload, |b, p| {
                b.iter(|| {
                    let mut sent = 0;
                    while sent < p.len() {
                        sent += client.write_plaintext(&p[sent..]).expect("room");
                        black_box(move_bytes(&mut client, &mut server, &mut wire));
                    }
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
