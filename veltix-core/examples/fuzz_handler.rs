//! Fuzzing your own message handler with Veltix messages (feature `arbitrary`).
//!
//! A handler is the code that turns a received [`Message`] into the
//! application's state changes and replies. Every payload, type code and
//! request id in it comes from a peer, so it should never panic, whatever
//! arrives. With `veltix-core`'s `arbitrary` feature, [`Message`],
//! [`MessageType`] and `RequestId` implement [`arbitrary::Arbitrary`], so a
//! fuzzer can feed the handler sequences of messages directly:
//!
//! ```toml
//! # fuzz/Cargo.toml (made by `cargo fuzz init`)
//! [dependencies]
//! libfuzzer-sys = "0.4"
//! veltix-core = { version = "0.1", features = ["arbitrary"] }
//! my-app = { path = ".." }
//! ```
//!
//! ```ignore
//! // fuzz/fuzz_targets/handler.rs; run with `cargo +nightly fuzz run handler`
//! #![no_main]
//! use libfuzzer_sys::fuzz_target;
//! use veltix_core::Message;
//!
//! fuzz_target!(|messages: Vec<Message>| {
//!     let mut room = my_app::Room::default();
//!     for message in &messages {
//!         let _ = room.handle(message); // errors are fine; panics are bugs
//!     }
//!     room.check_invariants();
//! });
//! ```
//!
//! This example is that target's body with its own handler, driven by
//! pseudo-random bytes instead of libFuzzer so that it runs on stable:
//! `cargo run -p veltix-core --example fuzz_handler --features arbitrary`.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use veltix_core::{Message, MessageType, RequestId};

const JOIN: MessageType = user_type(200);
const SAY: MessageType = user_type(201);
const WHO: MessageType = user_type(202);
const SAID: MessageType = user_type(203);
const MAX_NAME: usize = 32;

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user code"),
    }
}

/// Gives the room's types their names for logs (once, at start).
fn name_types() {
    for (kind, name) in [(JOIN, "join"), (SAY, "say"), (WHO, "who"), (SAID, "said")] {
        MessageType::named(kind.code(), name).expect("user codes");
    }
}

/// The handler under test: a chat room keyed by request id.
#[derive(Default)]
struct Room {
    members: BTreeMap<RequestId, String>,
    said: usize,
}

/// Why a message was refused; the peer's fault, never a panic.
#[derive(Debug)]
enum Refused {
    NotText,
    BadName,
    NotJoined,
    BadJson,
    Unknown(MessageType),
}

#[derive(serde::Deserialize)]
struct Say {
    text: String,
}

impl Room {
    /// Handles one received message; the reply to send, if any.
    fn handle(&mut self, message: &Message) -> Result<Option<Message>, Refused> {
        let who = message.request_id();
        match message.message_type() {
            t if t == JOIN => {
                let name = message.as_text().map_err(|_| Refused::NotText)?;
                if name.is_empty() || name.len() > MAX_NAME {
                    return Err(Refused::BadName);
                }
                self.members.insert(who, name.to_owned());
                Ok(None)
            }
            t if t == SAY => {
                let name = self.members.get(&who).ok_or(Refused::NotJoined)?;
                let say: Say = message.parse_json().map_err(|_| Refused::BadJson)?;
                self.said += 1;
                let line = serde_json::json!({ "from": name, "text": say.text });
                let reply = Message::json(SAID, &line).map_err(|_| Refused::BadJson)?;
                Ok(Some(reply.with_request_id(who)))
            }
            t if t == WHO => {
                let names: Vec<&str> = self.members.values().map(String::as_str).collect();
                Ok(Some(
                    Message::text(WHO, names.join(",")).with_request_id(who),
                ))
            }
            other => Err(Refused::Unknown(other)),
        }
    }

    fn check_invariants(&self) {
        assert!(
            self.members
                .values()
                .all(|n| !n.is_empty() && n.len() <= MAX_NAME)
        );
    }
}

/// One fuzz input: what `fuzz_target!(|messages: Vec<Message>| …)` receives.
fn run_one(data: &[u8]) {
    let Ok(messages) = Vec::<Message>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut room = Room::default();
    for message in &messages {
        if let Ok(Some(reply)) = room.handle(message) {
            // A reply always answers the message's request id.
            assert_eq!(reply.request_id(), message.request_id());
        }
    }
    room.check_invariants();
}

fn main() {
    name_types();
    // A fixed xorshift stream stands in for libFuzzer's inputs; some inputs
    // are nudged towards our type codes so the handler's paths are reached.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let runs = 2_000;
    for run in 0..runs {
        let len = (next() % 512) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if run % 2 == 0 && data.len() >= 2 {
            data[..2].copy_from_slice(&(200 + (next() % 4) as u16).to_le_bytes());
        }
        run_one(&data);
    }
    println!("{runs} inputs handled without a panic");
    // What a refusal looks like in a log: the type by its declared name.
    for kind in [
        SAY,
        MessageType::from_code(201),
        MessageType::from_code(299),
    ] {
        let message = Message::text(kind, "{}");
        match Room::default().handle(&message) {
            Err(Refused::Unknown(t)) => println!("refused: unknown type {t}"),
            Err(why) => println!("refused {}: {why:?}", message.message_type()),
            Ok(_) => println!("handled {}", message.message_type()),
        }
    }
}
