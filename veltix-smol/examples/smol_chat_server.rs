//! A chat server on smol: relays every line a client sends to all the other
//! clients (a broadcast that excludes the sender), prefixed with the sender's
//! id. Relaying from one loop keeps lines in the order they arrived; the price
//! is that a client whose queue is full holds up the relay until it has room.
//!
//! `cargo run -p veltix-smol --example smol_chat_server -- [--addr 127.0.0.1:7000]`
//! — then start a few `smol_chat_client`s. Ctrl-C shuts it down.

use async_signal::{Signal, Signals};
use examples_support::{DEFAULT_ADDR, parse};
use smol::{future::FutureExt as _, stream::StreamExt as _};
use veltix_smol::{Error, Message, MessageType, Server, ServerConfig, ServerEvent};

fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    parse("smol_chat_server [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    let chat = MessageType::new(200).expect("200 is a user type");
    smol::block_on(async {
        let mut ctrl_c = Signals::new([Signal::Int])?;
        let server = Server::bind(ServerConfig::new(addr)).await?;
        println!("listening on {}", server.local_addr());
        let mut events = server.events();
        loop {
            // Ctrl-C ends the loop as the end of the event stream would.
            let stop = async {
                ctrl_c.next().await;
                None
            };
            match events.next().or(stop).await {
                Some(ServerEvent::Connected { peer, addr, .. }) => {
                    println!("{peer} joined from {addr}")
                }
                Some(ServerEvent::Message { peer, message }) => {
                    let line = format!("{peer}: {}", String::from_utf8_lossy(message.payload()));
                    if let Err(err) = server.broadcast(Message::new(chat, line), &[peer]).await {
                        eprintln!("cannot relay {peer}'s line: {err}");
                    }
                }
                Some(ServerEvent::Disconnected { peer, addr, reason }) => {
                    println!("{peer} left from {addr} ({reason})")
                }
                Some(_) => {}
                None => break,
            }
        }
        server.shutdown().await
    })
}
