//! The examples run to completion (and say what they should); of those that
//! serve until a signal or read stdin, the parts that do the work.

mod common;

use std::time::{Duration, Instant};

use common::within;
use veltix_mio::{
    Client, ClientConfig, ClientEvent, ClientEvents, Message, MessageType, ServerConfig,
};

#[path = "../examples/embed.rs"]
mod embed;

// These read their command line in `main`, which the tests leave alone: they
// run the parts that do the work. (mio_chat_client only reads stdin: not run.)

#[allow(dead_code)]
#[path = "../examples/mio_demo.rs"]
mod demo;

#[allow(dead_code)]
#[path = "../examples/mio_echo_server.rs"]
mod echo_server;

#[allow(dead_code)]
#[path = "../examples/mio_echo_client.rs"]
mod echo_client;

#[allow(dead_code)]
#[path = "../examples/mio_chat_server.rs"]
mod chat_server;

#[allow(dead_code)]
#[path = "../examples/mio_ping.rs"]
mod ping;

#[test]
fn embed_example_finishes_by_itself() {
    within(Duration::from_secs(30), || {
        embed::main().expect("the embed example succeeds");
    });
}

#[test]
fn demo_example_finishes_cleanly() {
    within(Duration::from_secs(120), || {
        demo::run("127.0.0.1:0".to_owned()).expect("the demo succeeds");
    });
}

#[test]
fn echo_client_example_gets_every_reply_from_the_echo_server_example() {
    within(Duration::from_secs(60), || {
        let server = echo_server::serve(ServerConfig::new("127.0.0.1:0")).expect("binds");
        let addr = server.local_addr().to_string();
        for config in [
            ClientConfig::new(addr.clone()),
            ClientConfig::new(addr.clone()).legacy(),
        ] {
            let client = Client::connect(config).expect("connects");
            let failures = echo_client::exchange(&client, 500, 64, 3).expect("stays connected");
            assert_eq!(
                failures, 0,
                "every reply matches and every ping is answered"
            );
            client.close().expect("close");
        }
        server.shutdown().expect("shuts down in time");
    });
}

#[test]
fn chat_server_example_relays_to_everyone_but_the_sender() {
    within(Duration::from_secs(30), || {
        let server = chat_server::serve(ServerConfig::new("127.0.0.1:0")).expect("binds");
        let addr = server.local_addr().to_string();
        let mut clients: Vec<_> = (0..3)
            .map(|_| {
                let client = Client::connect(ClientConfig::new(addr.clone())).expect("connects");
                let events = client.events();
                (client, events)
            })
            .collect();
        let chat = MessageType::new(200).expect("a user type");
        clients[0]
            .0
            .send(Message::new(chat, "hello"))
            .expect("sends");
        for (_, events) in &mut clients[1..] {
            let line = next_message(events, Duration::from_secs(5)).expect("the line is relayed");
            let line = String::from_utf8_lossy(line.payload()).into_owned();
            assert!(
                line.ends_with(": hello"),
                "prefixed with the sender: {line:?}"
            );
        }
        let echo = next_message(&mut clients[0].1, Duration::from_millis(300));
        assert!(echo.is_none(), "the sender does not hear its own line");
        for (client, _) in &clients {
            client.close().expect("close");
        }
        server.shutdown().expect("shuts down in time");
    });
}

#[test]
fn ping_example_pings_both_ways() {
    within(Duration::from_secs(30), || {
        ping::both_ends(
            "127.0.0.1:0".to_owned(),
            3,
            Duration::from_millis(10),
            false,
        )
        .expect("every ping is answered");
    });
}

/// The next application message within `limit`, skipping other events.
fn next_message(events: &mut ClientEvents, limit: Duration) -> Option<Message> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        if let ClientEvent::Message(message) = events.recv_timeout(left)? {
            return Some(message);
        }
    }
}
