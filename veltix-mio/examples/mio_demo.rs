//! The Veltix demo on the threaded mio API: a server and four clients in one
//! process. Shows 10 000 request round trips, ping round-trip times in both
//! directions and a broadcast reaching three clients (the sender excluded).
//!
//! `cargo run --release -p veltix-mio --example mio_demo [-- --addr 127.0.0.1:0]`

use std::time::{Duration, Instant};

use examples_support::parse;
use veltix_mio::{
    Client, ClientConfig, ClientEvent, Error, Message, MessageType, Server, ServerConfig,
};

const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("200 is a user type"),
};
const CHAT: MessageType = match MessageType::new(201) {
    Ok(t) => t,
    Err(_) => panic!("201 is a user type"),
};

fn main() -> Result<(), Error> {
    let mut addr = "127.0.0.1:0".to_owned();
    parse("mio_demo [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    run(addr)
}

// `pub(crate)`: tests/examples.rs runs it.
pub(crate) fn run(addr: String) -> Result<(), Error> {
    let server = Server::bind(ServerConfig::new(addr))?;
    let addr = server.local_addr().to_string();
    println!("server listening on {addr}");

    // The server echoes ECHO messages and relays CHAT to everyone but the
    // sender. Callbacks run on the Veltix worker thread, so they may block.
    let relay = server.clone();
    server.on_message(move |peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            if let Err(err) = peer.reply(&message, answer) {
                eprintln!("echo to {} failed: {err}", peer.id());
            }
        } else if message.message_type() == CHAT
            && let Err(err) = relay.broadcast(message, &[peer.id()])
        {
            eprintln!("broadcast failed: {err}");
        }
    });

    let client = Client::connect(ClientConfig::new(addr.clone()))?;
    let rounds = 10_000;
    let started = Instant::now();
    for i in 0..rounds {
        let payload = format!("request {i}");
        let reply = client.request(Message::new(ECHO, payload.clone()), Duration::from_secs(5))?;
        assert_eq!(reply.payload(), payload.as_bytes(), "echo mismatch");
    }
    let elapsed = started.elapsed();
    println!(
        "{rounds} request round trips in {elapsed:.2?}: {:.0} round trips/s, {:.1} µs each",
        f64::from(rounds) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(rounds)
    );

    let mut rtts = Vec::new();
    for _ in 0..100 {
        rtts.push(client.ping(Duration::from_secs(2))?);
    }
    rtts.sort();
    println!(
        "client → server ping: median {:?}, min {:?}, max {:?}",
        rtts[50], rtts[0], rtts[99]
    );
    let peer = server
        .peers()
        .first()
        .map(|p| p.id())
        .expect("one peer connected");
    println!(
        "server → client ping: {:?}",
        server.ping(peer, Duration::from_secs(2))?
    );

    // Broadcast: three listeners hear the chat line; its sender does not.
    let mut listeners = Vec::new();
    for _ in 0..3 {
        let listener = Client::connect(ClientConfig::new(addr.clone()))?;
        let events = listener.events();
        listeners.push((listener, events));
    }
    client.send(Message::new(CHAT, "hello, everyone"))?;
    for (i, (_, events)) in listeners.iter_mut().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut heard = None;
        while let Some(event) =
            events.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let ClientEvent::Message(m) = event {
                heard = Some(m);
                break;
            }
        }
        match heard {
            Some(m) => println!(
                "listener {i} got broadcast: {:?}",
                String::from_utf8_lossy(m.payload())
            ),
            None => println!("listener {i} got no broadcast"),
        }
    }

    for (listener, _) in &listeners {
        listener.close()?;
    }
    client.close()?;
    server.shutdown()?;
    println!("shut down cleanly");
    Ok(())
}
