//! A chat client on the threaded mio API: sends each line typed on stdin to
//! the chat server and prints the lines the others send. Ends at end of input
//! or when the server goes.
//!
//! `cargo run -p veltix-mio --example mio_chat_client -- [--addr 127.0.0.1:7000]`

use examples_support::{DEFAULT_ADDR, parse};
use veltix_mio::{Client, ClientConfig, ClientEvent, CloseReason, Error, Message, MessageType};

fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    parse("mio_chat_client [--addr HOST:PORT]", |arg| {
        arg.name() == "addr" && arg.set(&mut addr)
    });
    let chat = MessageType::new(200).expect("200 is a user type");

    let client = Client::connect(ClientConfig::new(addr))?;
    let events = client.events();
    // A plain thread reads stdin and sends: a blocking read cannot be
    // cancelled, and this one must not keep the process alive once the server
    // has gone. At end of input it closes the connection, which ends the loop.
    let sender = client.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if let Err(err) = sender.send(Message::new(chat, line)) {
                eprintln!("cannot send: {err}");
                break;
            }
        }
        if let Err(err) = sender.close() {
            eprintln!("close: {err}");
        }
    });
    for event in events {
        match event {
            ClientEvent::Message(m) => println!("{}", String::from_utf8_lossy(m.payload())),
            ClientEvent::Disconnected(CloseReason::Local { .. }) => break,
            ClientEvent::Disconnected(reason) => {
                println!("disconnected: {reason}");
                break;
            }
            _ => {}
        }
    }
    client.close()?;
    Ok(())
}
