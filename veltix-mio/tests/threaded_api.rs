//! The threaded API's share of the application surface: `broadcast_to`,
//! what `on_disconnect` is told, pings with a timeout, `stats()`.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{CHAT, ECHO, recv, within};
use veltix_mio::{Client, ClientConfig, Message, Server, ServerConfig};

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(5);

fn server() -> Server {
    let server = Server::bind(ServerConfig::new("127.0.0.1:0")).expect("bind");
    server.on_message(|peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            peer.reply(&message, answer).expect("echo queued");
        }
    });
    server
}

/// A client whose CHAT messages arrive on the returned channel.
fn chat_client(server: &Server) -> (Client, mpsc::Receiver<String>) {
    let client =
        Client::connect(ClientConfig::new(server.local_addr().to_string())).expect("connect");
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_, message| {
        if message.message_type() == CHAT {
            let _ = tx.send(String::from_utf8_lossy(message.payload()).into_owned());
        }
    });
    (client, rx)
}

#[test]
fn broadcast_to_reaches_the_listed_and_on_disconnect_is_told_the_addresses() {
    within(LIMIT, || {
        let server = server();
        let (gone_tx, gone) = mpsc::channel();
        server.on_disconnect(move |peer, reason| {
            let _ = gone_tx.send((peer.id(), peer.addr(), reason.code()));
        });
        let clients: Vec<_> = (0..3).map(|_| chat_client(&server)).collect();
        // Connected one after the other: listed in that order.
        let peers = server.peers();
        assert_eq!(peers.len(), 3);
        let ids: Vec<_> = peers.iter().map(|p| p.id()).collect();

        let count = server
            .broadcast_to(Message::new(CHAT, "chosen"), &[ids[0], ids[2], ids[0]])
            .expect("broadcast_to");
        assert_eq!(count, 2, "once per listed peer");
        server
            .send(ids[1], Message::new(CHAT, "marker"))
            .expect("send");
        assert_eq!(recv(&clients[0].1, WAIT, "broadcast"), "chosen");
        assert_eq!(recv(&clients[2].1, WAIT, "broadcast"), "chosen");
        assert_eq!(
            recv(&clients[1].1, WAIT, "marker"),
            "marker",
            "the unlisted peer got nothing before its marker"
        );

        let (left_tx, left) = mpsc::channel();
        clients[0].0.on_disconnect(move |server, reason| {
            let _ = left_tx.send((server, reason.code()));
        });
        server.close_peer(ids[0], "bye").expect("close_peer");
        let (id, addr, _) = recv(&gone, WAIT, "server on_disconnect");
        assert_eq!((id, addr), (ids[0], peers[0].addr()));
        let (server_addr, _) = recv(&left, WAIT, "client on_disconnect");
        assert_eq!(server_addr, server.local_addr());

        // Pings take their timeout (answered here, well within it).
        let rtt = clients[1].0.ping(WAIT).expect("client ping");
        assert!(rtt < WAIT);
        let rtt = server.ping(ids[2], WAIT).expect("server ping");
        assert!(rtt < WAIT);
        for (client, _) in &clients[1..] {
            client.close().expect("close");
        }
        server.shutdown().expect("shutdown");
    });
}

#[test]
fn stats_count_what_passed_on_the_threaded_api() {
    within(LIMIT, || {
        let server = server();
        let (client, _) = chat_client(&server);
        let before = client.stats();
        for i in 0..5 {
            let payload = format!("stats {i}");
            let reply = client
                .request(Message::new(ECHO, payload.clone()), WAIT)
                .expect("reply");
            assert_eq!(reply.payload(), payload.as_bytes());
        }
        let after = client.stats();
        assert!(after.frames_out >= before.frames_out + 5, "{after:?}");
        assert!(after.bytes_in > before.bytes_in, "{after:?}");
        assert!(after.last_rtt.is_some() && after.smoothed_rtt.is_some());
        assert_eq!(after.corrupt_frames, 0);
        let peer = server.peers().into_iter().next().expect("listed");
        // The peer's task may publish a moment after the reply left.
        let deadline = std::time::Instant::now() + WAIT;
        while peer.stats().frames_in < 5 + 1 {
            assert!(std::time::Instant::now() < deadline, "{:?}", peer.stats());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(server.stats().frames_in >= peer.stats().frames_in);
        client.close().expect("close");
        server.shutdown().expect("shutdown");
    });
}
