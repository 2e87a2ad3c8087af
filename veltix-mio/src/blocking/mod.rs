//! Threaded: the blocking server and client on the in-house runtime.

mod client;
mod peer;
mod server;
mod worker;

pub use client::{Client, ClientEvents};
pub use peer::Peer;
pub use server::{Server, ServerEvents};
pub use worker::Events;
