//! The Veltix demo on smol: a server and four clients in one process. Shows
//! 10 000 request round trips, ping round-trip times in both directions and a
//! broadcast reaching three clients (the sender excluded).
//!
//! `cargo run --release -p veltix-smol --example smol_demo [-- --addr 127.0.0.1:0]`

use std::time::{Duration, Instant};

use examples_support::parse;
use smol::Timer;
use smol::future::FutureExt as _;
use veltix_smol::{
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
    parse("smol_demo [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    smol::block_on(demo(addr))
}

async fn demo(addr: String) -> Result<(), Error> {
    let server = Server::bind(ServerConfig::new(addr)).await?;
    let addr = server.local_addr().to_string();
    println!("server listening on {addr}");

    // The server echoes ECHO messages and relays CHAT to everyone but the sender.
    let relay = server.clone();
    server.on_message(move |peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            if let Err(err) = peer.try_reply(&message, answer) {
                eprintln!("echo to {} failed: {err}", peer.id());
            }
        } else if message.message_type() == CHAT {
            let relay = relay.clone();
            let from = peer.id();
            smol::spawn(async move { relay.broadcast(message, &[from]).await }).detach();
        }
    });

    let client = Client::connect(ClientConfig::new(addr.clone())).await?;
    let rounds = 10_000;
    let started = Instant::now();
    for i in 0..rounds {
        let payload = format!("request {i}");
        let reply = client
            .request(Message::new(ECHO, payload.clone()), Duration::from_secs(5))
            .await?;
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
        rtts.push(client.ping(Duration::from_secs(2)).await?);
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
        server.ping(peer, Duration::from_secs(2)).await?
    );

    // Broadcast: three listeners hear the chat line; its sender does not.
    let mut listeners = Vec::new();
    for _ in 0..3 {
        let listener = Client::connect(ClientConfig::new(addr.clone())).await?;
        let events = listener.events();
        listeners.push((listener, events));
    }
    client.send(Message::new(CHAT, "hello, everyone")).await?;
    for (i, (_, events)) in listeners.iter_mut().enumerate() {
        let heard = async {
            loop {
                match events.next().await {
                    Some(ClientEvent::Message(m)) => return Some(m),
                    Some(_) => continue,
                    None => return None,
                }
            }
        };
        let timeout = async {
            Timer::after(Duration::from_secs(5)).await;
            None
        };
        match heard.or(timeout).await {
            Some(m) => println!(
                "listener {i} got broadcast: {:?}",
                String::from_utf8_lossy(m.payload())
            ),
            None => println!("listener {i} got no broadcast"),
        }
    }

    for (listener, _) in &listeners {
        listener.close().await?;
    }
    client.close().await?;
    server.shutdown().await?;
    println!("shut down cleanly");
    Ok(())
}
