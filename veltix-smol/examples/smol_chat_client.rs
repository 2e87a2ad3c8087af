//! A chat client on smol: sends each line typed on stdin to the chat server
//! and prints the lines the others send. Ends at end of input or when the
//! server goes.
//!
//! `cargo run -p veltix-smol --example smol_chat_client -- [--addr 127.0.0.1:7000]`

use examples_support::{DEFAULT_ADDR, parse};
use smol::io::{AsyncBufReadExt as _, BufReader};
use smol::{Unblock, future::FutureExt as _, stream::StreamExt as _};
use veltix_smol::{Client, ClientConfig, ClientEvent, Error, Message, MessageType};

/// What the loop woke up for.
enum Input {
    Line(Option<String>),
    Event(Option<ClientEvent>),
}

fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    parse("smol_chat_client [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    let chat = MessageType::new(200).expect("200 is a user type");
    smol::block_on(async {
        let client = Client::connect(ClientConfig::new(addr)).await?;
        let mut events = client.events();
        // stdin is read on smol's blocking pool; a read left waiting there does
        // not keep the process alive once main returns. A read error ends input.
        let mut lines = BufReader::new(Unblock::new(std::io::stdin())).lines();
        loop {
            let line = async { Input::Line(lines.next().await.and_then(Result::ok)) };
            match line.or(async { Input::Event(events.next().await) }).await {
                Input::Line(Some(line)) => client.send(Message::new(chat, line)).await?,
                Input::Event(Some(ClientEvent::Message(m))) => {
                    println!("{}", String::from_utf8_lossy(m.payload()));
                }
                Input::Event(Some(ClientEvent::Disconnected(reason))) => {
                    println!("disconnected: {reason}");
                    break;
                }
                Input::Event(Some(_)) => {}
                Input::Line(None) | Input::Event(None) => break,
            }
        }
        client.close().await?;
        Ok(())
    })
}
