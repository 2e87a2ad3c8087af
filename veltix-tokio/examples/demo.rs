//! The Veltix demo: a server and four clients in one process. Shows 10 000
//! request round trips, ping round-trip times in both directions and a
//! broadcast reaching three clients (the sender excluded).
//!
//! With `--tls`, everything runs over TLS 1.3: the server gets a
//! self-signed certificate made in memory, and the clients trust exactly
//! its key (pinned), as `echo_client --tls-pin` would.
//!
//! `cargo run --release -p veltix-tokio --example demo [-- --addr 127.0.0.1:0] [--tls]`

use std::time::{Duration, Instant};

use examples_support::parse;
use veltix_tokio::tls::{ServerTrust, TlsClientConfig};
use veltix_tokio::{
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

/// For `--tls`: the server's settings, and the client's that pin its key.
fn self_signed_tls() -> Result<(veltix_tokio::tls::TlsServerConfig, TlsClientConfig), Error> {
    let made = veltix_tokio::tls::self_signed(vec!["localhost".to_owned()]).map_err(Error::Tls)?;
    let server = made.server_config().build().map_err(Error::Tls)?;
    let client = TlsClientConfig::builder(ServerTrust::Pinned(vec![made.pin()]))
        .build()
        .map_err(Error::Tls)?;
    println!(
        "tls: a self-signed certificate made in memory, key pinned: {}",
        made.pin()
    );
    Ok((server, client))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (mut addr, mut tls) = ("127.0.0.1:0".to_owned(), false);
    parse("demo [--addr HOST:PORT] [--tls]", |arg| match arg.name() {
        "addr" => arg.set(&mut addr),
        "tls" => arg.switch(&mut tls),
        _ => false,
    });
    let tls = if tls { Some(self_signed_tls()?) } else { None };
    let mut config = ServerConfig::new(addr);
    config.tls = tls.as_ref().map(|(server, _)| server.clone());
    let server = Server::bind(config).await?;
    let addr = server.local_addr().to_string();
    println!("server listening on {addr}");
    let client_config = || {
        let config = ClientConfig::new(addr.clone());
        match &tls {
            Some((_, client)) => config.tls(client.clone()).tls_server_name("localhost"),
            None => config,
        }
    };

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
            tokio::spawn(async move { relay.broadcast(message, &[from]).await });
        }
    });

    let client = Client::connect(client_config()).await?;
    if let Some(identity) = client.tls_identity() {
        println!("connected over TLS 1.3 to {}", identity.subject());
    }
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
        let listener = Client::connect(client_config()).await?;
        let events = listener.events();
        listeners.push((listener, events));
    }
    client.send(Message::new(CHAT, "hello, everyone")).await?;
    for (i, (_, events)) in listeners.iter_mut().enumerate() {
        let event = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.next().await {
                    Some(ClientEvent::Message(m)) => return Some(m),
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await;
        match event {
            Ok(Some(m)) => println!(
                "listener {i} got broadcast: {:?}",
                String::from_utf8_lossy(m.payload())
            ),
            _ => println!("listener {i} got no broadcast"),
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
