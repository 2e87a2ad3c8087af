//! The async `veltix_driver::Server<Mio>` and `Client<Mio>`: the same driver
//! as tokio and smol, on our event loop.

mod common;

use std::time::Duration;

use common::{ECHO, within};
use futures::executor::block_on;
use veltix_mio::{AsyncClient, AsyncServer};
use veltix_mio::{ClientConfig, Message, ServerConfig};

#[test]
fn async_server_and_client_on_mio_talk() {
    within(Duration::from_secs(20), || {
        block_on(async {
            let server = AsyncServer::bind(ServerConfig::new("127.0.0.1:0"))
                .await
                .expect("bind");
            server.on_message(|peer, message| {
                let answer = Message::new(ECHO, message.payload().clone());
                peer.try_reply(&message, answer).expect("reply queued");
            });
            let client = AsyncClient::connect(ClientConfig::new(server.local_addr().to_string()))
                .await
                .expect("connect");
            for i in 0..100 {
                let payload = format!("hello {i}");
                let reply = client
                    .request(Message::new(ECHO, payload.clone()), Duration::from_secs(5))
                    .await
                    .expect("reply");
                assert_eq!(reply.payload(), payload.as_bytes());
            }
            let rtt = client.ping(Duration::from_secs(5)).await.expect("pong");
            assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
            let peer = server.peers().first().map(|p| p.id()).expect("one peer");
            let rtt = server
                .ping(peer, Duration::from_secs(5))
                .await
                .expect("pong from client");
            assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
            client.close().await.expect("close");
            server.shutdown().await.expect("clean shutdown");
            assert!(server.peers().is_empty());
        });
    });
}

#[test]
fn connect_to_a_closed_port_fails_fast() {
    within(Duration::from_secs(20), || {
        // Bind then drop a listener: its port is (almost surely) closed now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind");
        let result = block_on(AsyncClient::connect(ClientConfig::new(addr.to_string())));
        assert!(
            matches!(result, Err(veltix_mio::Error::Io(_))),
            "{result:?}"
        );
    });
}

#[test]
fn request_deadlines_fire_on_the_loop_timers() {
    within(Duration::from_secs(20), || {
        block_on(async {
            // No message callback and nobody reading events: requests go unanswered.
            let server = AsyncServer::bind(ServerConfig::new("127.0.0.1:0"))
                .await
                .expect("bind");
            let client = AsyncClient::connect(ClientConfig::new(server.local_addr().to_string()))
                .await
                .expect("connect");
            for timeout in [Duration::from_millis(150), Duration::from_millis(50)] {
                let started = std::time::Instant::now();
                let result = client
                    .request(Message::new(common::SILENT, "anyone?"), timeout)
                    .await;
                let waited = started.elapsed();
                assert!(
                    matches!(result, Err(veltix_mio::Error::TimedOut)),
                    "{result:?}"
                );
                assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
                assert!(
                    waited < timeout + Duration::from_secs(3),
                    "late: {waited:?}"
                );
            }
            client.close().await.expect("close");
            server.shutdown().await.expect("clean shutdown");
        });
    });
}

#[test]
fn blocking_on_the_event_loop_panics_instead_of_deadlocking() {
    use veltix_mio::Runtime as _;
    within(Duration::from_secs(20), || {
        let server = veltix_mio::Server::bind(ServerConfig::new("127.0.0.1:0")).expect("bind");
        let client =
            veltix_mio::Client::connect(ClientConfig::new(server.local_addr().to_string()))
                .expect("connect");
        let (tx, rx) = std::sync::mpsc::channel();
        let on_loop = client.clone();
        veltix_mio::Mio::default().spawn(async move {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                on_loop.ping(Duration::from_secs(2))
            }));
            let _ = tx.send(outcome.is_err());
        });
        let panicked = common::recv(&rx, Duration::from_secs(5), "outcome");
        assert!(panicked, "a blocking call on the loop thread must panic");
        // The loop survived: the client still works.
        assert!(client.ping(Duration::from_secs(5)).is_ok());
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

/// Waits on a Mio timer that is moved before it fires; returns when it fired.
fn fire_after_reset(first: Duration, then: Duration) -> Duration {
    use veltix_mio::{Runtime as _, Timer as _};
    let started = std::time::Instant::now();
    let mut timer = veltix_mio::Mio::default().timer(started + first);
    block_on(async {
        // Poll once so the first deadline is filed with the loop, then move it.
        let pending = std::future::poll_fn(|cx| std::task::Poll::Ready(timer.poll_expired(cx)));
        assert!(pending.await.is_pending());
        timer.reset(started + then);
        std::future::poll_fn(|cx| timer.poll_expired(cx)).await;
    });
    started.elapsed()
}

#[test]
fn a_timer_moved_later_fires_at_the_new_deadline() {
    within(Duration::from_secs(20), || {
        let waited = fire_after_reset(Duration::from_millis(30), Duration::from_millis(150));
        assert!(
            waited >= Duration::from_millis(150),
            "fired early: {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "fired late: {waited:?}");
    });
}

#[test]
fn a_timer_moved_earlier_fires_at_the_new_deadline() {
    within(Duration::from_secs(20), || {
        let waited = fire_after_reset(Duration::from_secs(10), Duration::from_millis(50));
        assert!(
            waited >= Duration::from_millis(50),
            "fired early: {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "fired late: {waited:?}");
    });
}

/// A peer that writes a frame and shuts its side at once: the data and the
/// end of stream often arrive in one readiness event. The frame must be
/// delivered and the end of stream seen at once — a short read is not proof
/// that nothing more is to come when the peer has already closed.
#[test]
fn data_and_end_of_stream_in_one_event_are_both_seen() {
    use std::io::Write as _;
    use std::sync::mpsc;

    within(Duration::from_secs(30), || {
        block_on(async {
            let server = AsyncServer::bind(ServerConfig::new("127.0.0.1:0"))
                .await
                .expect("bind");
            let (messages, got_message) = mpsc::channel();
            let (gone, got_gone) = mpsc::channel();
            server.on_message(move |_, message| {
                let _ = messages.send(message.payload().clone());
            });
            server.on_disconnect(move |_, _| {
                let _ = gone.send(());
            });
            let frame = veltix_core::frame::EncodedFrame::new(&Message::new(ECHO, "last words"))
                .expect("encodable");
            for round in 0..20 {
                let mut raw = std::net::TcpStream::connect(server.local_addr()).expect("connect");
                let mut wire = Vec::new();
                frame.write_to(&mut wire);
                // A first frame, so the server has read and is waiting idle…
                raw.write_all(&wire).expect("write");
                got_message
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_else(|_| panic!("round {round}: the first frame was not delivered"));
                // …then a frame and the end of stream back to back.
                raw.write_all(&wire).expect("write");
                raw.shutdown(std::net::Shutdown::Write).expect("shutdown");
                let payload = got_message
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_else(|_| panic!("round {round}: the frame was not delivered"));
                assert_eq!(&payload[..], b"last words");
                got_gone
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_else(|_| {
                        panic!("round {round}: the end of stream was not seen within 2 s")
                    });
            }
        });
    });
}
