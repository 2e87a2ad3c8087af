//! Threaded: the blocking [`Server`] and [`Client`], on the in-house runtime
//! (`rt`).
//!
//! Each is its async counterpart on the mio event loop
//! ([`AsyncServer`](crate::AsyncServer), [`AsyncClient`](crate::AsyncClient))
//! with blocking methods, plus Veltix worker threads that run the
//! application's callbacks:
//!
//! - `server.rs`, `client.rs`: the blocking methods (each a [`block_on`] of
//!   the async one), and the side's [`Dispatch`](worker::Dispatch), which
//!   turns its events into callback jobs.
//! - `worker.rs`: the worker threads; they take events in order and run
//!   each one's callback, or hand the event to the iterator.
//! - `callbacks.rs`: the callback registry, one generic type for both
//!   sides: [`Callbacks<C, M, D>`](callbacks::Callbacks), one replaceable
//!   callback per event kind (connected, message, disconnected). A server's
//!   and a client's differ only in the callbacks' signatures, which are the
//!   type's parameters.
//! - `events.rs`: [`Events`], the blocking iterator of the events that have
//!   no callback, and the slot it waits in until `events()` takes it.
//! - `peer.rs`: [`Peer`].
//!
//! # One peer type
//!
//! A [`Peer`] is the driver's peer ([`AsyncPeer`](crate::AsyncPeer), what
//! [`AsyncServer`](crate::AsyncServer) hands out) with blocking methods —
//! the relation [`Server`] has to `AsyncServer` — and [`Peer::as_async`]
//! returns the driver's. Its identity (id, address, TLS identity, client id)
//! is the driver peer's; it keeps no state of its own. The only thing it adds
//! is the case the driver never sees: callbacks run on a worker, after the
//! event, so a peer may have left the server before the worker reaches its
//! `on_connect`. That peer has no driver handle any more; its `Peer` keeps
//! the id and address from the event, and every method reports
//! [`Error::UnknownPeer`](crate::Error::UnknownPeer). We wrap rather than
//! hand callbacks the driver's peer itself because its methods are `async`:
//! in blocking code, `peer.reply(..)` would build a future and drop it, and
//! nothing would be sent.

mod callbacks;
mod client;
mod events;
mod peer;
mod server;
mod worker;

use std::future::Future;

pub use client::{Client, ClientEvents};
pub use events::Events;
pub use peer::Peer;
pub use server::{Server, ServerEvents};

use crate::rt::on_loop_thread;

/// Runs `future` to completion on the calling thread.
///
/// # Panics
/// On the event-loop thread, which would wait for itself for ever.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    assert!(
        !on_loop_thread(),
        "a blocking veltix-mio call on the event-loop thread would deadlock: \
         use AsyncServer/AsyncClient there (blocking calls are fine in the \
         callbacks of veltix_mio::Server and Client, which run on a worker thread)"
    );
    futures::executor::block_on(future)
}
