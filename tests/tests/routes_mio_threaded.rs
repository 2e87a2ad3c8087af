//! Routes on veltix-mio's threaded, blocking `Server` and `Client`: plain
//! closures on the worker threads, whose returned values are the replies
//! (the async handlers of `conformance::routes` are for tokio and smol).

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use veltix_mio::{Client, Error, Message, MessageType, Server};
use veltix_tests::support::{DATA, ECHO, STEP, client_config, msg, server_config};

const OTHER: MessageType = match MessageType::new(202) {
    Ok(t) => t,
    Err(_) => panic!("not a user type code"),
};

fn upper(message: &Message) -> Message {
    msg(
        message.message_type(),
        message.payload().to_ascii_uppercase(),
    )
}

fn text(message: &Message) -> String {
    String::from_utf8_lossy(message.payload()).into_owned()
}

#[test]
fn a_route_answers_a_request_both_ways() {
    let server = Server::bind(server_config()).expect("bind");
    server.route(ECHO, |_, message| upper(&message));
    let (peer_tx, peers) = mpsc::channel();
    server.on_connect(move |peer, _| drop(peer_tx.send(peer.clone())));
    let client = Client::connect(client_config(server.local_addr())).expect("connect");
    // A route may block: this one asks the server something first.
    client.route(ECHO, |client, message| {
        let asked = client.request(msg(ECHO, "inner"), STEP)?;
        Ok::<_, Error>(msg(
            ECHO,
            format!("{} then {}", text(&asked), text(&message)),
        ))
    });
    let reply = client.request(msg(ECHO, "up"), STEP).expect("answered");
    assert_eq!(text(&reply), "UP");
    let peer = peers.recv_timeout(STEP).expect("connected");
    let reply = peer.request(msg(ECHO, "down"), STEP).expect("answered");
    assert_eq!(text(&reply), "INNER then down");
    client.close().expect("close");
    server.shutdown().expect("shutdown");
}

#[test]
fn routes_on_message_and_unrouted_messages() {
    let server = Server::bind(server_config()).expect("bind");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let routed = seen.clone();
    server.route(ECHO, move |_, message| {
        routed
            .lock()
            .unwrap()
            .push(format!("route: {}", text(&message)));
        upper(&message)
    });
    let client = Client::connect(client_config(server.local_addr())).expect("connect");
    // No on_message and no iterator: counted as unrouted.
    for i in 0..3 {
        client.send(msg(DATA, format!("nobody {i}"))).expect("send");
    }
    let reply = client.request(msg(ECHO, "e1"), STEP).expect("answered");
    assert_eq!(text(&reply), "E1");
    assert_eq!(server.stats().unrouted, 3);
    // With on_message, the other types go there.
    let rest = seen.clone();
    server.on_message(move |peer, message| {
        rest.lock()
            .unwrap()
            .push(format!("on_message: {}", text(&message)));
        let _ = peer.try_reply(&message, upper(&message));
    });
    let reply = client.request(msg(OTHER, "o1"), STEP).expect("answered");
    assert_eq!(text(&reply), "O1");
    assert_eq!(*seen.lock().unwrap(), ["route: e1", "on_message: o1"]);
    assert_eq!(server.stats().unrouted, 3);
    client.close().expect("close");
    server.shutdown().expect("shutdown");
}

#[test]
fn a_route_error_or_panic_is_counted_and_the_peer_served_on() {
    let server = Server::bind(server_config()).expect("bind");
    server.route(ECHO, |_, message| match message.payload().as_ref() {
        b"bad" => Err("bad input"),
        b"panic" => panic!("a route panicked on purpose"),
        _ => Ok(upper(&message)),
    });
    let client = Client::connect(client_config(server.local_addr())).expect("connect");
    for bad in ["bad", "panic"] {
        let failed = client.request(msg(ECHO, bad), Duration::from_millis(300));
        assert!(matches!(failed, Err(Error::TimedOut)), "{failed:?}");
    }
    let reply = client.request(msg(ECHO, "good"), STEP).expect("served on");
    assert_eq!(text(&reply), "GOOD");
    assert_eq!(server.stats().handler_errors, 2);
    client.close().expect("close");
    server.shutdown().expect("shutdown");
}
