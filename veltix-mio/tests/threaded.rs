//! The threaded, blocking `Server` and `Client`: callbacks on the worker
//! thread, blocking calls from any thread (callbacks included), broadcast,
//! shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{ASK, CHAT, ECHO, NOTIFY, QUESTION, SILENT, recv, within};
use veltix_mio::{
    Client, ClientConfig, ClientEvent, CloseCode, CloseReason, Error, Message, PeerId, Server,
    ServerConfig, ServerEvent,
};

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(5);

fn server() -> Server {
    Server::bind(ServerConfig::new("127.0.0.1:0")).expect("bind")
}

fn connect(server: &Server) -> Client {
    Client::connect(ClientConfig::new(server.local_addr().to_string())).expect("connect")
}

fn echo(server: &Server) {
    server.on_message(|peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            peer.reply(&message, answer).expect("echo queued");
        }
    });
}

#[test]
fn connect_and_request_response() {
    within(LIMIT, || {
        let server = server();
        let (connected_tx, connected) = mpsc::channel();
        server.on_connect(move |peer, info| {
            let _ = connected_tx.send((peer.id(), info));
        });
        echo(&server);
        let client = connect(&server);
        assert!(client.is_connected());
        let (id, info) = recv(&connected, WAIT, "on_connect");
        assert_eq!(info.protocol_version, Some(veltix_core::PROTOCOL_VERSION));
        assert_eq!(
            server.peers().iter().map(|p| p.id()).collect::<Vec<_>>(),
            [id]
        );
        for i in 0..200 {
            let payload = format!("request {i}");
            let reply = client
                .request(Message::new(ECHO, payload.clone()), WAIT)
                .expect("reply");
            assert_eq!(reply.payload(), payload.as_bytes());
        }
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn requests_from_many_threads_at_once() {
    within(LIMIT, || {
        let server = server();
        echo(&server);
        let client = connect(&server);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let client = client.clone();
                thread::spawn(move || {
                    for i in 0..100 {
                        let payload = format!("thread {t} request {i}");
                        let reply = client
                            .request(Message::new(ECHO, payload.clone()), WAIT)
                            .expect("reply");
                        assert_eq!(reply.payload(), payload.as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("requester panicked");
        }
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn ping_both_directions() {
    within(LIMIT, || {
        let server = server();
        let (connected_tx, connected) = mpsc::channel();
        server.on_connect(move |peer, _| {
            let _ = connected_tx.send(peer.clone());
        });
        let client = connect(&server);
        let peer = recv(&connected, WAIT, "on_connect");
        let rtt = client.ping(WAIT).expect("client → server ping");
        assert!(rtt > Duration::ZERO && rtt < WAIT, "{rtt:?}");
        let rtt = server.ping(peer.id(), WAIT).expect("server → client ping");
        assert!(rtt > Duration::ZERO && rtt < WAIT, "{rtt:?}");
        let rtt = peer.ping(WAIT).expect("ping through the peer handle");
        assert!(rtt > Duration::ZERO && rtt < WAIT, "{rtt:?}");
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn unanswered_request_times_out() {
    within(LIMIT, || {
        let server = server();
        echo(&server); // ignores SILENT
        let client = connect(&server);
        let started = Instant::now();
        let result = client.request(Message::new(SILENT, "?"), Duration::from_millis(100));
        assert!(matches!(result, Err(Error::TimedOut)), "{result:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        // The connection lives on.
        let reply = client
            .request(Message::new(ECHO, "still here"), WAIT)
            .expect("reply");
        assert_eq!(&reply.payload()[..], b"still here");
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn broadcast_skips_the_excluded_peer() {
    within(LIMIT, || {
        let server = server();
        let (connected_tx, connected) = mpsc::channel();
        server.on_connect(move |peer, _| {
            let _ = connected_tx.send(peer.id());
        });
        // Connect one at a time, so the n-th on_connect is the n-th client.
        let mut clients: Vec<(PeerId, Client, veltix_mio::ClientEvents)> = Vec::new();
        for _ in 0..3 {
            let client = connect(&server);
            let id = recv(&connected, WAIT, "on_connect");
            let events = client.events();
            clients.push((id, client, events));
        }
        let excluded = clients[0].0;
        let reached = server
            .broadcast(Message::new(CHAT, "to all but one"), &[excluded])
            .expect("broadcast");
        assert_eq!(reached, 2);
        // Queued after the broadcast on the same connection: if the excluded
        // client had been sent the broadcast, it would see it first.
        server
            .send(excluded, Message::new(CHAT, "just for you"))
            .expect("send");
        for (id, _, events) in &mut clients {
            let message = next_message(events);
            let expected: &[u8] = if *id == excluded {
                b"just for you"
            } else {
                b"to all but one"
            };
            assert_eq!(&message.payload()[..], expected, "peer {id}");
        }
        for (_, client, _) in &clients {
            client.close().expect("close");
        }
        server.shutdown().expect("clean shutdown");
    });
}

fn next_message(events: &mut veltix_mio::ClientEvents) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(ClientEvent::Message(message)) => return message,
            Some(_) => {}
            None => panic!("no message within {WAIT:?}"),
        }
    }
}

#[test]
fn callbacks_may_make_blocking_calls() {
    within(LIMIT, || {
        let server = server();
        // Server side: asked something, it asks the client back and pings it,
        // from inside the callback, on the only worker.
        server.on_message(|peer, message| {
            if message.message_type() == ASK {
                let answer = peer
                    .request(Message::new(QUESTION, "what is your name?"), WAIT)
                    .expect("the client answers while this callback waits");
                let rtt = peer.ping(WAIT).expect("pong while this callback waits");
                assert!(rtt < WAIT);
                let reply = Message::new(ASK, answer.payload().clone());
                peer.reply(&message, reply).expect("reply queued");
            } else if message.message_type() == ECHO {
                peer.reply(&message, Message::new(ECHO, message.payload().clone()))
                    .expect("echo queued");
            }
        });
        let client = connect(&server);
        // Client side: answers questions, and on NOTIFY makes a request of
        // its own from inside the callback.
        let (heard_tx, heard) = mpsc::channel();
        client.on_message(move |client, message| {
            if message.message_type() == QUESTION {
                client
                    .reply(&message, Message::new(QUESTION, "veltix"))
                    .expect("answer queued");
            } else if message.message_type() == NOTIFY {
                let echoed = client.request(Message::new(ECHO, "from a callback"), WAIT);
                let _ = heard_tx.send(echoed.map(|m| m.payload().clone()));
            }
        });

        let reply = client
            .request(Message::new(ASK, "ask me back"), WAIT)
            .expect("the server's callback completed");
        assert_eq!(&reply.payload()[..], b"veltix");

        let peer = server.peers()[0].id();
        server
            .send(peer, Message::new(NOTIFY, "go"))
            .expect("notify");
        let echoed = recv(&heard, WAIT, "the client callback's request").expect("echo");
        assert_eq!(&echoed[..], b"from a callback");

        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn a_panicking_callback_does_not_stop_the_worker() {
    within(LIMIT, || {
        let server = server();
        server.on_message(|peer, message| {
            assert!(
                &message.payload()[..] != b"boom",
                "callback panics on purpose"
            );
            peer.reply(&message, Message::new(ECHO, message.payload().clone()))
                .expect("echo queued");
        });
        let client = connect(&server);
        client.send(Message::new(ECHO, "boom")).expect("send");
        let reply = client
            .request(Message::new(ECHO, "after the panic"), WAIT)
            .expect("the worker goes on");
        assert_eq!(&reply.payload()[..], b"after the panic");
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn events_without_callbacks_reach_the_iterator() {
    within(LIMIT, || {
        let server = server();
        let mut events = server.events();
        let client = connect(&server);
        client.send(Message::new(CHAT, "hello")).expect("send");
        let peer = match events.recv_timeout(WAIT) {
            Some(ServerEvent::Connected { peer, .. }) => peer,
            other => panic!("expected Connected, got {other:?}"),
        };
        match events.recv_timeout(WAIT) {
            Some(ServerEvent::Message {
                peer: from,
                message,
            }) => {
                assert_eq!(from, peer);
                assert_eq!(&message.payload()[..], b"hello");
            }
            other => panic!("expected Message, got {other:?}"),
        }
        client.close().expect("close");
        match events.recv_timeout(WAIT) {
            Some(ServerEvent::Disconnected { peer: gone, .. }) => assert_eq!(gone, peer),
            other => panic!("expected Disconnected, got {other:?}"),
        }
        server.shutdown().expect("clean shutdown");
        // The worker has ended: the iterator ends too.
        assert!(events.next().is_none());
        // A second iterator ends at once.
        assert!(server.events().next().is_none());
    });
}

#[test]
fn graceful_shutdown_tells_peers_and_runs_the_last_callbacks() {
    within(LIMIT, || {
        let server = server();
        echo(&server);
        let disconnects = Arc::new(AtomicUsize::new(0));
        let counted = disconnects.clone();
        server.on_disconnect(move |_, _| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let mut clients = Vec::new();
        let (reason_tx, reasons) = mpsc::channel();
        for _ in 0..2 {
            let client = connect(&server);
            let reason_tx = reason_tx.clone();
            client.on_disconnect(move |_, reason| {
                let _ = reason_tx.send(reason.clone());
            });
            let reply = client
                .request(Message::new(ECHO, "hi"), WAIT)
                .expect("reply");
            assert_eq!(&reply.payload()[..], b"hi");
            clients.push(client);
        }
        server.shutdown().expect("clean shutdown");
        // shutdown waited for the worker: every on_disconnect has run.
        assert_eq!(disconnects.load(Ordering::SeqCst), 2);
        assert!(server.peers().is_empty());
        for _ in 0..2 {
            let reason = recv(&reasons, WAIT, "client on_disconnect");
            assert!(
                matches!(reason, CloseReason::Peer { code, .. } if code == CloseCode::SHUTDOWN),
                "{reason:?}"
            );
        }
        for client in &clients {
            assert!(!client.is_connected());
            assert!(client.request(Message::new(ECHO, "late"), WAIT).is_err());
        }
        // Nobody listens any more.
        assert!(std::net::TcpStream::connect(server.local_addr()).is_err());
        // Later calls return at once.
        server.shutdown().expect("second shutdown");
    });
}

#[test]
fn client_close_from_a_callback_and_drop_close() {
    within(LIMIT, || {
        let server = server();
        let (gone_tx, gone) = mpsc::channel();
        server.on_disconnect(move |peer, reason| {
            let _ = gone_tx.send((peer.id(), reason.clone()));
        });
        let client = connect(&server);
        client.on_message(|client, message| {
            if message.message_type() == NOTIFY {
                client.close().expect("close"); // from the worker: must not wait for itself
            }
        });
        let peer = server.peers()[0].id();
        server
            .send(peer, Message::new(NOTIFY, "bye"))
            .expect("send");
        let (who, reason) = recv(&gone, WAIT, "server on_disconnect");
        assert_eq!(who, peer);
        assert!(
            matches!(reason, CloseReason::Peer { code, .. } if code == CloseCode::NORMAL),
            "{reason:?}"
        );

        // Dropping the last handle closes the connection too.
        let second = connect(&server);
        drop(second);
        let (_, reason) = recv(&gone, WAIT, "on_disconnect after drop");
        assert!(matches!(reason, CloseReason::Peer { .. }), "{reason:?}");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn zero_workers_is_refused() {
    let result = Server::bind_with_workers(ServerConfig::new("127.0.0.1:0"), 0);
    assert!(matches!(result, Err(Error::InvalidConfig("workers"))));
}

#[test]
fn several_workers_serve_callbacks_concurrently() {
    within(LIMIT, || {
        let server = Server::bind_with_workers(ServerConfig::new("127.0.0.1:0"), 4).expect("bind");
        // Each callback waits until four are running at once: with callbacks
        // run one by one, the first would wait in vain.
        let running = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let meeting = running.clone();
        server.on_message(move |peer, message| {
            let (count, changed) = &*meeting;
            let mut count = count.lock().expect("lock");
            *count += 1;
            changed.notify_all();
            let (count, timeout) = changed
                .wait_timeout_while(count, WAIT, |count| *count < 4)
                .expect("lock");
            let answer = if timeout.timed_out() {
                "alone"
            } else {
                "together"
            };
            drop(count);
            peer.reply(&message, Message::new(ECHO, answer))
                .expect("reply queued");
        });
        let client = connect(&server);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let client = client.clone();
                thread::spawn(move || {
                    client
                        .request(Message::new(ECHO, format!("{i}")), 2 * WAIT)
                        .expect("reply")
                })
            })
            .collect();
        for thread in threads {
            let reply = thread.join().expect("requester panicked");
            assert_eq!(&reply.payload()[..], b"together");
        }
        client.close().expect("close");
        server.shutdown().expect("clean shutdown");
    });
}

#[test]
fn events_nobody_takes_do_not_stall_the_callbacks() {
    within(LIMIT, || {
        let mut config = ServerConfig::new("127.0.0.1:0");
        config.event_capacity = 2;
        let server = Server::bind(config).expect("bind");
        echo(&server); // connects and disconnects have no callback, and nobody iterates
        for i in 0..8 {
            let client = connect(&server);
            let text = format!("client {i}");
            let reply = client
                .request(Message::new(ECHO, text.clone()), WAIT)
                .expect("answered although the iterator is full");
            assert_eq!(reply.payload(), text.as_bytes());
            client.close().expect("close");
        }
        server.shutdown().expect("clean shutdown");
        // Kept up to its capacity for a late reader, the rest dropped.
        let kept: Vec<ServerEvent> = server.events().collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(matches!(kept[0], ServerEvent::Connected { .. }));
    });
}
