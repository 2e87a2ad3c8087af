//! A chat server on the threaded mio API: relays every line a client sends to
//! all the other clients (a broadcast that excludes the sender), prefixed with
//! the sender's id. Callbacks run one at a time on the Veltix worker, so lines
//! are relayed in the order they arrived; the price is that a client whose
//! queue is full holds up the relay until it has room.
//!
//! `cargo run -p veltix-mio --example mio_chat_server -- [--addr 127.0.0.1:7000]`
//! — then start a few `mio_chat_client`s. Ctrl-C (or SIGTERM) shuts it down.

use examples_support::{DEFAULT_ADDR, StopSignal, parse};
use veltix_mio::{Error, Message, MessageType, Server, ServerConfig};

// `pub(crate)`: tests/examples.rs runs its parts.
pub(crate) fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    parse("mio_chat_server [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });

    let stop = StopSignal::register()?;
    let server = serve(ServerConfig::new(addr))?;
    println!("listening on {}", server.local_addr());
    stop.wait();
    server.shutdown()
}

/// Binds and relays until shut down.
pub(crate) fn serve(config: ServerConfig) -> Result<Server, Error> {
    let chat = MessageType::new(200).expect("200 is a user type");
    let server = Server::bind(config)?;
    server.on_connect(|peer, _| println!("{} joined from {}", peer.id(), peer.addr()));
    let relay = server.clone();
    server.on_message(move |peer, message| {
        let line = format!(
            "{}: {}",
            peer.id(),
            String::from_utf8_lossy(message.payload())
        );
        // Blocks while a recipient's queue is full: fine on the worker.
        if let Err(err) = relay.broadcast(Message::new(chat, line), &[peer.id()]) {
            eprintln!("cannot relay {}'s line: {err}", peer.id());
        }
    });
    server.on_disconnect(|peer, reason| {
        println!("{} left from {} ({reason})", peer.id(), peer.addr())
    });
    Ok(server)
}
