//! A chat client: sends each line typed on stdin to the chat server and prints
//! the lines the others send. Ends at end of input or when the server goes.
//!
//! `cargo run -p veltix-tokio --example chat_client -- [--addr 127.0.0.1:7000]`

use examples_support::{DEFAULT_ADDR, parse};
use futures::{SinkExt as _, StreamExt as _, channel::mpsc, executor::block_on};
use veltix_tokio::{Client, ClientConfig, ClientEvent, Error, Message, MessageType};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    parse("chat_client [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    let chat = MessageType::new(200).expect("200 is a user type");

    let client = Client::connect(ClientConfig::new(addr)).await?;
    let mut events = client.events();
    // A plain thread reads stdin: a blocking read cannot be cancelled, and this
    // one must not keep the process alive once the server has gone.
    let (mut tx, mut lines) = mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lines().map_while(Result::ok);
        stdin.try_for_each(|line| block_on(tx.send(line)))
    });
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(line) => client.send(Message::new(chat, line)).await?,
                None => break,
            },
            event = events.next() => match event {
                Some(ClientEvent::Message(m)) => {
                    println!("{}", String::from_utf8_lossy(m.payload()));
                }
                Some(ClientEvent::Disconnected(reason)) => {
                    println!("disconnected: {reason}");
                    break;
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    client.close().await?;
    Ok(())
}
