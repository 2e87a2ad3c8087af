//! Ping in both directions on smol: the server pings each client as it
//! connects, and the client pings the server; every round-trip time is printed.
//!
//! By default one process runs both ends (the server on `127.0.0.1:0` unless
//! `--addr` is given), prints both directions and exits:
//!
//! ```text
//! cargo run --release -p veltix-smol --example smol_ping
//! ```
//!
//! Or run the ends apart (`--addr` then defaults to `127.0.0.1:7000`):
//! `--server` serves until Ctrl-C, pinging each client that connects;
//! `--client` connects, pings `--count` times `--interval` ms apart, and exits
//! (`--no-handshake` for a legacy server such as Python Veltix 1.x). A failed
//! client ping ends the program with an error status.

use std::time::Duration;

use async_signal::{Signal, Signals};
use examples_support::{DEFAULT_ADDR, fail, parse};
use smol::Timer;
use smol::channel::{self, Receiver};
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use veltix_smol::{Client, ClientConfig, Error, Server, ServerConfig};

const USAGE: &str = "smol_ping [--server | --client] [--addr HOST:PORT] [--count N] [--interval MS] [--no-handshake]";
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> Result<(), Error> {
    let (mut server_only, mut client_only, mut legacy) = (false, false, false);
    let (mut addr, mut count, mut interval_ms) = (None::<String>, 5u32, 200u64);
    parse(USAGE, |arg| match arg.name() {
        "server" => arg.switch(&mut server_only),
        "client" => arg.switch(&mut client_only),
        "addr" => arg.set_some(&mut addr),
        "count" => arg.set(&mut count),
        "interval" => arg.set(&mut interval_ms),
        "no-handshake" => arg.switch(&mut legacy),
        _ => false,
    });
    if server_only && client_only {
        fail(format!(
            "--server and --client exclude each other\nusage: {USAGE}"
        ));
    }
    // Both ends in one process by default: any free port will do.
    let default_addr = if server_only || client_only {
        DEFAULT_ADDR
    } else {
        "127.0.0.1:0"
    };
    let addr = addr.unwrap_or_else(|| default_addr.to_owned());
    let interval = Duration::from_millis(interval_ms);

    smol::block_on(async {
        if client_only {
            ping_server(addr, count, interval, legacy)
                .await?
                .close()
                .await?;
            return Ok(());
        }
        let (server, pinged) = serve(addr).await?;
        println!("listening on {}", server.local_addr());
        if server_only {
            Signals::new([Signal::Int])?.next().await;
        } else {
            let client =
                ping_server(server.local_addr().to_string(), count, interval, legacy).await?;
            // Stay connected until the server's ping of this client has ended.
            let ended = async {
                let _ = pinged.recv().await;
            };
            let timeout = async {
                Timer::after(TIMEOUT).await;
            };
            ended.or(timeout).await;
            client.close().await?;
        }
        server.shutdown().await
    })
}

/// A server that pings every client once it has connected; the receiver
/// hears of each ping that has ended.
async fn serve(addr: String) -> Result<(Server, Receiver<()>), Error> {
    let server = Server::bind(ServerConfig::new(addr)).await?;
    let (done, pinged) = channel::unbounded();
    server.on_connect(move |peer, _| {
        // Callbacks must not wait: the ping runs on its own task.
        let (peer, done) = (peer.clone(), done.clone());
        smol::spawn(async move {
            match peer.ping(TIMEOUT).await {
                Ok(rtt) => println!("server → client {}: {rtt:.1?}", peer.id()),
                Err(err) => println!("server → client {}: {err}", peer.id()),
            }
            let _ = done.try_send(());
        })
        .detach();
    });
    Ok((server, pinged))
}

/// Connects and pings the server `count` times, stopping at the first
/// failure; the client stays connected.
async fn ping_server(
    addr: String,
    count: u32,
    interval: Duration,
    legacy: bool,
) -> Result<Client, Error> {
    let config = ClientConfig::new(addr);
    let client = Client::connect(if legacy { config.legacy() } else { config }).await?;
    for i in 0..count {
        if i > 0 {
            Timer::after(interval).await;
        }
        let rtt = client.ping(TIMEOUT).await?;
        println!("client → server {}: {rtt:.1?}", client.server_addr());
    }
    Ok(client)
}
