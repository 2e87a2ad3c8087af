//! Ping in both directions on the threaded mio API: the server pings each
//! client as it connects, and the client pings the server; every round-trip
//! time is printed.
//!
//! By default one process runs both ends (the server on `127.0.0.1:0` unless
//! `--addr` is given), prints both directions and exits:
//!
//! ```text
//! cargo run --release -p veltix-mio --example mio_ping
//! ```
//!
//! Or run the ends apart (`--addr` then defaults to `127.0.0.1:7000`):
//! `--server` serves until Ctrl-C (or SIGTERM), pinging each client that
//! connects; `--client` connects, pings `--count` times `--interval` ms apart,
//! and exits (`--no-handshake` for a legacy server such as Python Veltix
//! 1.x). A failed client ping ends the program with an error status.

use std::sync::mpsc;
use std::time::Duration;

use examples_support::{DEFAULT_ADDR, StopSignal, fail, parse};
use veltix_mio::{Client, ClientConfig, Error, Server, ServerConfig};

const USAGE: &str = "mio_ping [--server | --client] [--addr HOST:PORT] [--count N] [--interval MS] [--no-handshake]";
const TIMEOUT: Duration = Duration::from_secs(5);

// `pub(crate)`: tests/examples.rs runs its parts.
pub(crate) fn main() -> Result<(), Error> {
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

    if client_only {
        ping_server(addr, count, interval, legacy)?.close()?;
        return Ok(());
    }
    if server_only {
        let stop = StopSignal::register()?;
        let (server, _pinged) = serve(addr)?;
        println!("listening on {}", server.local_addr());
        stop.wait();
        return server.shutdown();
    }
    both_ends(addr, count, interval, legacy)
}

/// Both ends in this process: a server on `addr` and a client pinging it.
pub(crate) fn both_ends(
    addr: String,
    count: u32,
    interval: Duration,
    legacy: bool,
) -> Result<(), Error> {
    let (server, pinged) = serve(addr)?;
    println!("listening on {}", server.local_addr());
    let client = ping_server(server.local_addr().to_string(), count, interval, legacy)?;
    // Stay connected until the server's ping of this client has ended.
    let _ = pinged.recv_timeout(TIMEOUT);
    client.close()?;
    server.shutdown()
}

/// A server that pings every client once it has connected; the receiver
/// hears of each ping that has ended.
fn serve(addr: String) -> Result<(Server, mpsc::Receiver<()>), Error> {
    let server = Server::bind(ServerConfig::new(addr))?;
    let (done, pinged) = mpsc::channel();
    server.on_connect(move |peer, _| {
        // A callback may wait for a ping, but meanwhile the worker would
        // hold up every other peer's events: the ping gets its own thread.
        let (peer, done) = (peer.clone(), done.clone());
        std::thread::spawn(move || {
            match peer.ping(TIMEOUT) {
                Ok(rtt) => println!("server → client {}: {rtt:.1?}", peer.id()),
                Err(err) => println!("server → client {}: {err}", peer.id()),
            }
            let _ = done.send(());
        });
    });
    Ok((server, pinged))
}

/// Connects and pings the server `count` times, stopping at the first
/// failure; the client stays connected.
fn ping_server(
    addr: String,
    count: u32,
    interval: Duration,
    legacy: bool,
) -> Result<Client, Error> {
    let config = ClientConfig::new(addr);
    let client = Client::connect(if legacy { config.legacy() } else { config })?;
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(interval);
        }
        let rtt = client.ping(TIMEOUT)?;
        println!("client → server {}: {rtt:.1?}", client.server_addr());
    }
    Ok(client)
}
