//! The async `veltix_driver::Server<Mio>` and `Client<Mio>`: the same driver
//! as tokio and smol, on our event loop.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use veltix_driver::{ClientConfig, Message, MessageType, ServerConfig};
use veltix_mio::{AsyncClient, AsyncServer};

const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("200 is a user type"),
};

/// Runs `body` on a thread and fails the test if it has not finished in `limit`.
fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => worker.join().expect("test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("body ended without reporting"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish within {limit:?}"),
    }
}

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
            let rtt = client.ping().await.expect("pong");
            assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
            let peer = server.peers().first().map(|p| p.id()).expect("one peer");
            let rtt = server.ping(peer).await.expect("pong from client");
            assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
            client.close().await;
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
            matches!(result, Err(veltix_driver::Error::Io(_))),
            "{result:?}"
        );
    });
}
