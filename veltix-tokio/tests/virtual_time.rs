//! The driver's timers on tokio's paused clock: `Runtime::now` follows
//! `tokio::time`, so idle timeouts and the write-stall timeout run in
//! virtual time — minutes of protocol time in milliseconds, measured exactly.

use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;
use veltix_tokio::{CloseReason, Server, ServerConfig};

/// A server whose disconnects come out of the returned channel.
async fn server(config: ServerConfig) -> (Server, mpsc::UnboundedReceiver<CloseReason>) {
    let server = Server::bind(config).await.expect("bind");
    let (tx, rx) = mpsc::unbounded();
    server.on_disconnect(move |_, reason| {
        let _ = tx.unbounded_send(reason.clone());
    });
    server.on_message(|peer, message| {
        let _ = peer.try_reply(&message, message.clone());
    });
    (server, rx)
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_closed_at_the_idle_timeout_in_virtual_time() {
    let mut config = ServerConfig::new("127.0.0.1:0");
    config.connection.idle_timeout = Some(Duration::from_secs(30));
    let (server, mut gone) = server(config).await;
    let started = Instant::now();
    let _silent = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let reason = tokio::time::timeout(Duration::from_secs(300), gone.next())
        .await
        .expect("closed within 5 virtual minutes")
        .expect("a disconnect");
    assert_eq!(reason, CloseReason::IdleTimeout);
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(30)..Duration::from_secs(31)).contains(&elapsed),
        "closed after {elapsed:?} of virtual time, not at the 30 s idle timeout"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_is_closed_at_the_write_stall_timeout_in_virtual_time() {
    let stall = Duration::from_secs(45);
    let mut config = ServerConfig::new("127.0.0.1:0");
    config.flow = config.flow.write_stall_timeout(Some(stall));
    let (server, mut gone) = server(config).await;
    let started = Instant::now();
    let mut flooder = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    // Echo requests until the server stops taking them (it stops reading
    // once its echoes to a peer that never reads pile up).
    let request = veltix_core_frame(64 * 1024);
    let flood = async {
        loop {
            if flooder.write_all(&request).await.is_err() {
                break;
            }
        }
    };
    let reason = tokio::select! {
        () = flood => panic!("the flooder was cut off before the stall"),
        reason = gone.next() => reason.expect("a disconnect"),
    };
    assert_eq!(reason, CloseReason::WriteStalled);
    assert!(
        started.elapsed() >= stall,
        "closed after {:?} of virtual time, before the {stall:?} stall timeout",
        started.elapsed()
    );
    server.shutdown().await.expect("shutdown");
}

/// A classic frame of `len` payload bytes (an echo request, type 200).
fn veltix_core_frame(len: usize) -> Vec<u8> {
    let message = veltix_tokio::Message::new(
        veltix_tokio::MessageType::new(200).expect("a user type"),
        vec![7; len],
    );
    veltix_core::frame::EncodedFrame::new(&message)
        .expect("a small frame")
        .to_bytes()
        .to_vec()
}
