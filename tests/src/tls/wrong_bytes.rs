//! Wrong bytes on a TLS connection: plaintext against TLS both ways,
//! garbage, a trickled ClientHello, a byte flipped in a record.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use veltix_driver::tls::{ServerTrust, SpkiPin, TlsClientConfig, TlsError};
use veltix_driver::{Client, CloseCode, CloseReason, Error, Runtime};

use super::{NAME, refused, self_signed, still_serves, tls_client, tls_echo};
use crate::support::{
    ECHO, STEP, client_config, echo_server, msg, on_thread, server_config, within,
};

/// A plaintext client on a TLS port and a TLS client on a plaintext port
/// both fail with a clear error, and each server serves on.
pub async fn plaintext_and_tls_on_the_wrong_port_fail_clearly<R: Runtime + Default>() {
    let leaf = self_signed();
    let secure = tls_echo::<R>(&leaf).await;
    match within::<R, _>(
        STEP,
        "plaintext to TLS",
        Client::<R>::connect(client_config(secure.local_addr())),
    )
    .await
    {
        // Told, in plaintext, why.
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::TLS_REQUIRED);
            assert!(reason.contains("requires TLS"), "{reason}");
        }
        other => panic!("a plaintext client on a TLS port: {other:?}"),
    }
    still_serves::<R>(secure.local_addr(), ServerTrust::Pinned(vec![leaf.pin()])).await;

    let plain = echo_server::<R>(server_config()).await;
    let error = refused::<R>(
        tls_client(plain.local_addr(), ServerTrust::Pinned(vec![leaf.pin()])),
        "TLS to plaintext",
    )
    .await;
    assert!(
        matches!(error, TlsError::NotTls { .. } | TlsError::Truncated { .. }),
        "{error:?}"
    );
    let good = Client::<R>::connect(client_config(plain.local_addr()))
        .await
        .expect("the plaintext server serves on");
    within::<R, _>(STEP, "close", good.close())
        .await
        .expect("close");
    within::<R, _>(STEP, "shutdown", secure.shutdown())
        .await
        .expect("shutdown");
    within::<R, _>(STEP, "shutdown", plain.shutdown())
        .await
        .expect("shutdown");
}

/// Garbage instead of a ClientHello is refused at once; a ClientHello
/// trickled one byte at a time is closed by the handshake timeout.
pub async fn garbage_and_a_trickled_client_hello_are_closed<R: Runtime + Default>() {
    let leaf = self_signed();
    let mut config = server_config().tls(leaf.server());
    config.connection.handshake_timeout = Duration::from_secs(1);
    let server = echo_server::<R>(config).await;
    let addr = server.local_addr();
    on_thread::<R, _>(STEP, "garbage", move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        assert!(
            closed_within(&mut stream, Duration::from_secs(3)),
            "garbage was not refused"
        );
    })
    .await;
    let hello = client_hello(leaf.pin());
    let took = on_thread::<R, _>(Duration::from_secs(10), "trickle", move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let started = Instant::now();
        for byte in &hello {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        assert!(
            closed_within(&mut stream, Duration::from_secs(3)),
            "the trickler was not closed"
        );
        started.elapsed()
    })
    .await;
    assert!(
        took < Duration::from_secs(4),
        "closed after {took:?}, not by the 1 s timeout"
    );
    still_serves::<R>(addr, ServerTrust::Pinned(vec![leaf.pin()])).await;
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Whether the server closed `stream` (end of stream or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // an alert
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The bytes of a real ClientHello.
fn client_hello(pin: SpkiPin) -> Vec<u8> {
    let config = TlsClientConfig::builder(ServerTrust::Pinned(vec![pin]))
        .build()
        .expect("a client configuration");
    let mut session = veltix_driver::tls::TlsSession::client(&config, NAME).expect("a session");
    let mut hello = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut hello).expect("in memory");
    }
    hello
}

/// A proxy that flips one byte of the client's records once armed: the
/// record fails its authentication, the connection closes with a TLS
/// error, and no corrupted message reaches the application.
pub async fn a_flipped_byte_in_a_record_closes_and_delivers_nothing_corrupt<
    R: Runtime + Default,
>() {
    let leaf = self_signed();
    let server = echo_server::<R>(server_config().tls(leaf.server())).await;
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let seen = delivered.clone();
    server.on_message(move |peer, m| {
        seen.lock().expect("lock").push(m.payload().clone());
        let _ = peer.try_reply(&m, msg(m.message_type(), m.payload().clone()));
    });
    let proxy = FlipProxy::start(server.local_addr());
    let client = Client::<R>::connect(tls_client(
        proxy.addr,
        ServerTrust::Pinned(vec![leaf.pin()]),
    ))
    .await
    .expect("connects through the proxy");
    let before = within::<R, _>(
        STEP,
        "a request",
        client.request(msg(ECHO, vec![0xab; 100]), STEP),
    )
    .await
    .expect("answered before the flip");
    assert_eq!(before.payload().len(), 100);
    proxy.arm();
    let after = within::<R, _>(
        STEP,
        "the corrupted request",
        client.request(msg(ECHO, vec![0xab; 32 * 1024]), Duration::from_secs(2)),
    )
    .await;
    assert!(after.is_err(), "a corrupted record was answered: {after:?}");
    assert!(proxy.flipped(), "the proxy flipped a byte");
    for payload in delivered.lock().expect("lock").iter() {
        assert!(
            payload.iter().all(|b| *b == 0xab),
            "a corrupted payload reached the application"
        );
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Forwards one TCP connection both ways; once armed, flips the 1000th
/// byte the client sends after that.
struct FlipProxy {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    flipped: Arc<AtomicUsize>,
}

impl FlipProxy {
    fn start(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let armed = Arc::new(AtomicBool::new(false));
        let flipped = Arc::new(AtomicUsize::new(0));
        let (armed2, flipped2) = (armed.clone(), flipped.clone());
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(to) else {
                return;
            };
            let timeout = Some(Duration::from_secs(15));
            for s in [&client, &server] {
                let _ = s.set_read_timeout(timeout);
            }
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let upstream = std::thread::spawn(move || {
                let mut buf = [0; 16 * 1024];
                let mut counted = 0usize;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if armed2.load(Ordering::SeqCst) && flipped2.load(Ordering::SeqCst) == 0 {
                        if counted + n > 1000 {
                            buf[1000 - counted] ^= 0x01;
                            flipped2.store(1, Ordering::SeqCst);
                        }
                        counted += n;
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            let mut buf = [0; 16 * 1024];
            while let Ok(n) = s_read.read(&mut buf) {
                if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = c_write.shutdown(std::net::Shutdown::Write);
            let _ = upstream.join();
        });
        Self {
            addr,
            armed,
            flipped,
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn flipped(&self) -> bool {
        self.flipped.load(Ordering::SeqCst) > 0
    }
}
