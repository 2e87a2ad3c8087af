//! The hostile-peer suite: raw sockets that send what no well-behaved peer
//! would, against a server whose echo is an `on_message` callback with
//! `try_reply`. Each test checks what happens to the hostile peer (closed,
//! with which code, how soon) and that a well-behaved client next to it keeps
//! getting its replies.
//!
//! Like the conformance suite, every function is generic over the runtime
//! and listed in [`hostile_tests!`](crate::hostile_tests); the hostile
//! behaviours themselves are blocking functions on plain threads
//! (see [`crate::raw`]), so they are the same whatever runtime the server
//! runs on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_driver::{
    Client, ClientConfig, CloseReason, ConnectionConfig, PeerId, Runtime, Server, ServerConfig,
};

use crate::support::{ECHO, STEP, bind, connect, msg, on_thread, spawn, within};

mod frames;
mod load;
mod peers;

pub use frames::*;
pub use load::*;
pub use peers::*;

/// Expands `$callback! { name, name, … }` with the name of every hostile-peer
/// test, so each runtime's runner runs the same list.
#[macro_export]
macro_rules! hostile_tests {
    ($callback:ident) => {
        $callback! {
            oversized_length_is_refused_with_code_5,
            corrupt_frame_is_dropped_and_the_next_is_echoed,
            stats_count_corrupt_frames_from_a_hostile_peer,
            random_garbage_is_cut_off,
            half_frame_then_silence_is_closed_by_idle_timeout,
            trickling_peer_is_closed_by_idle_timeout,
            reset_mid_frame_is_noticed,
            two_hundred_concurrent_clients,
            ping_flood_from_a_peer_that_never_reads,
            hostile_mix_leaves_a_good_client_alone,
        }
    };
}

/// The idle timeout of the hostile suite's server: short, so stalling
/// peers are cut off within the test.
pub const IDLE: Duration = Duration::from_secs(1);

/// Longest a well-behaved client's request may take while hostile peers
/// are at work (generous: a loaded 2-core machine running a debug build).
pub const GOOD_LATENCY: Duration = Duration::from_secs(1);

/// Protocol settings of the hostile suite: 1 s idle timeout, 300 ms heartbeat.
pub fn hostile_connection() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.idle_timeout = Some(IDLE);
    c.heartbeat_interval = Some(Duration::from_millis(300));
    c.handshake_timeout = Duration::from_secs(1);
    c.legacy_wait = Duration::from_millis(300);
    c.max_outbound_bytes = 64 * 1024;
    c
}

/// An echo server, the peers it has seen come and go, and a well-behaved client.
pub struct Fixture<R: Runtime + Default> {
    /// The server under attack.
    pub server: Server<R>,
    /// Its address.
    pub addr: SocketAddr,
    /// A well-behaved client of it.
    pub good: Client<R>,
    connects: mpsc::UnboundedReceiver<(PeerId, SocketAddr)>,
    disconnects: mpsc::UnboundedReceiver<(PeerId, CloseReason)>,
}

impl<R: Runtime + Default> Fixture<R> {
    /// A server with [`hostile_connection`] settings and a connected good client.
    pub async fn new() -> Self {
        Self::with(hostile_connection()).await
    }

    /// The same with other protocol settings.
    pub async fn with(connection: ConnectionConfig) -> Self {
        let mut config = ServerConfig::new("127.0.0.1:0").connection(connection.clone());
        config.shutdown_timeout = Duration::from_secs(3);
        let server = bind::<R>(config).await;
        server.on_message(|peer, message| {
            let answer = msg(message.message_type(), message.payload().clone());
            // A peer that does not read may have a full queue: its loss.
            let _ = peer.try_reply(&message, answer);
        });
        let (connect_tx, connects) = mpsc::unbounded();
        server.on_connect(move |peer, _| {
            let _ = connect_tx.unbounded_send((peer.id(), peer.addr()));
        });
        let (disconnect_tx, disconnects) = mpsc::unbounded();
        server.on_disconnect(move |peer, reason| {
            let _ = disconnect_tx.unbounded_send((peer.id(), reason.clone()));
        });
        let addr = server.local_addr();
        let good = connect::<R>(good_config(addr, connection)).await;
        let mut fixture = Self {
            server,
            addr,
            good,
            connects,
            disconnects,
        };
        fixture.check_good().await;
        fixture.connects.next().await; // the good client's own connect
        fixture
    }

    /// Three requests from the good client, each answered within [`GOOD_LATENCY`].
    pub async fn check_good(&self) {
        for i in 0..3 {
            let text = format!("good {i}");
            let reply = within::<R, _>(
                GOOD_LATENCY,
                "the good client's request",
                self.good.request(msg(ECHO, text.clone()), STEP),
            )
            .await
            .expect("the good client is answered");
            assert_eq!(reply.payload().as_ref(), text.as_bytes());
        }
    }

    /// The id of the peer connected from `addr` (waits for its connect).
    pub async fn peer_at(&mut self, addr: SocketAddr) -> PeerId {
        loop {
            let (peer, at) = within::<R, _>(STEP, "a connect", self.connects.next())
                .await
                .expect("connect channel open");
            if at == addr {
                return peer;
            }
        }
    }

    /// Why `peer` was disconnected (waits for it).
    pub async fn disconnect_of(&mut self, peer: PeerId) -> CloseReason {
        loop {
            let (gone, reason) = within::<R, _>(STEP, "a disconnect", self.disconnects.next())
                .await
                .expect("disconnect channel open");
            if gone == peer {
                return reason;
            }
        }
    }

    /// Closes the good client and shuts the server down.
    pub async fn finish(self) {
        self.check_good().await;
        within::<R, _>(STEP, "good client close", self.good.close())
            .await
            .expect("good client close");
        within::<R, _>(STEP, "shutdown", self.server.shutdown())
            .await
            .expect("shutdown");
    }
}

fn good_config(addr: SocketAddr, connection: ConnectionConfig) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string()).connection(connection);
    c.connect_timeout = Duration::from_secs(3);
    c
}

/// Runs the good client's requests back to back until `stop` is set;
/// returns how many it made and the slowest one.
async fn keep_asking<R: Runtime + Default>(
    client: Client<R>,
    stop: Arc<AtomicBool>,
) -> (u32, Duration) {
    let mut count = 0;
    let mut slowest = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let text = format!("steady {count}");
        let reply = within::<R, _>(
            GOOD_LATENCY,
            "a steady request during the attack",
            client.request(msg(ECHO, text.clone()), STEP),
        )
        .await
        .expect("the good client is answered during the attack");
        assert_eq!(reply.payload().as_ref(), text.as_bytes());
        slowest = slowest.max(started.elapsed());
        count += 1;
    }
    (count, slowest)
}

/// Runs `attack` (blocking, on a thread) while the good client keeps asking;
/// returns the attack's result once both are done.
async fn during_attack<R: Runtime + Default, T: Send + 'static>(
    fixture: &Fixture<R>,
    limit: Duration,
    what: &str,
    attack: impl FnOnce() -> T + Send + 'static,
) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let asking = spawn::<R, _>(keep_asking(fixture.good.clone(), stop.clone()));
    let result = on_thread::<R, _>(limit, what, attack).await;
    stop.store(true, Ordering::SeqCst);
    let (count, slowest) = within::<R, _>(STEP, "the steady client", asking).await;
    assert!(count > 0, "the good client made no request during {what}");
    assert!(
        slowest < GOOD_LATENCY,
        "slowest reply {slowest:?} during {what}"
    );
    result
}
