//! Two `Connection`s — a client and a server — wired back to back in memory:
//! the handshake, 10 000 request round trips and a ping, with no sockets.
//! This is the whole driver contract in one file: feed input, drain
//! `poll_transmit`, drain `poll_event`, wake at `poll_timeout`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf;
use veltix_core::{Connection, ConnectionConfig, Event, Message, MessageType, Role};

/// Moves every queued byte from `from` to `to`.
fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
    while let Some(mut transmit) = from.poll_transmit() {
        while transmit.has_remaining() {
            let chunk = transmit.chunk();
            let n = chunk.len();
            to.handle_input(now, chunk);
            transmit.advance(n);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wall_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let start = Instant::now();
    // A real driver takes these bytes from the OS's secure random source.
    let mut client = Connection::new(
        Role::Client,
        ConnectionConfig::default(),
        start,
        wall_ms,
        [1; 32],
    )?;
    let mut server = Connection::new(
        Role::Server,
        ConnectionConfig::default(),
        start,
        wall_ms,
        [2; 32],
    )?;
    let echo = MessageType::new(200)?;

    let rounds = 10_000;
    let started = Instant::now();
    let mut answered = 0;
    for i in 0..rounds {
        let now = Instant::now();
        client.request(
            now,
            Message::new(echo, format!("request {i}")),
            Duration::from_secs(5),
        )?;
        pump(&mut client, &mut server, now);
        while let Some(event) = server.poll_event() {
            if let Event::Message(msg) = event {
                let reply = Message::new(echo, msg.payload().clone());
                server.reply(now, &msg, reply)?;
            }
        }
        pump(&mut server, &mut client, now);
        while let Some(event) = client.poll_event() {
            match event {
                Event::Response { .. } => answered += 1,
                Event::Connected(info) if i == 0 => println!("connected: {info:?}"),
                other => println!("client event: {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{answered}/{rounds} request round trips in {elapsed:.2?}: {:.0} round trips/s",
        f64::from(answered) / elapsed.as_secs_f64()
    );

    let now = Instant::now();
    client.ping(now, Duration::from_secs(1))?;
    pump(&mut client, &mut server, now);
    pump(&mut server, &mut client, Instant::now());
    while let Some(event) = client.poll_event() {
        if let Event::Pong { rtt, .. } = event {
            println!("ping round trip (in memory): {rtt:?}");
        }
    }
    Ok(())
}
