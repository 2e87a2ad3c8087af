//! An echo server on smol: answers every application message with a message
//! of the same type and payload carrying the same request id, so a client's
//! `request` gets its own payload back. Peers with and without the Veltix
//! handshake (Python Veltix 1.x) are both served.
//!
//! Prints `listening on ADDR` once ready, and shuts down gracefully on
//! Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --release -p veltix-smol --example echo_server -- \
//!     [--addr 127.0.0.1:7000] [--idle-timeout SECS] [--max-payload BYTES] \
//!     [--log-level LEVEL] [--log-file PATH]
//! ```
//!
//! Logs through `veltix-log` at `--log-level` (off, crit, error, warn, ok,
//! info, debug, trace; default info) to standard error, or to `--log-file`,
//! rotated by size; at debug every dropped corrupt frame is logged.
//!
//! `--idle-timeout 0` disables the idle timeout; a value below the default
//! heartbeat interval (10 s) lowers that interval to a third of it.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_signal::{Signal, Signals};
use smol::stream::StreamExt as _;
use veltix_smol::{Error, Message, PeerId, SendError, Server, ServerConfig};

const USAGE: &str = "echo_server [--addr HOST:PORT] [--idle-timeout SECS] [--max-payload BYTES]
                   [--log-level LEVEL] [--log-file PATH]";

/// Replies waiting for room in one peer's queue before that peer, which is
/// not reading its replies, is disconnected rather than let grow our memory.
const MAX_BACKLOG: usize = 1024;

fn main() -> Result<(), Error> {
    let mut args = common::Args::from_env();
    let addr: String = args.value("--addr", "127.0.0.1:7000".to_owned());
    let idle_secs: Option<f64> = args.opt("--idle-timeout");
    let max_payload: Option<u32> = args.opt("--max-payload");
    let log = args.log_config();
    args.finish(USAGE);
    let _log = veltix_log::init(log).unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2)
    });

    let mut config = ServerConfig::new(addr);
    if let Some(secs) = idle_secs {
        let idle = Duration::try_from_secs_f64(secs).unwrap_or_else(|_| {
            eprintln!("--idle-timeout must be a number of seconds ≥ 0");
            std::process::exit(2)
        });
        let conn = &mut config.connection;
        conn.idle_timeout = (!idle.is_zero()).then_some(idle);
        if conn.heartbeat_interval.is_some_and(|beat| beat >= idle) && !idle.is_zero() {
            conn.heartbeat_interval = Some(idle / 3);
        }
    }
    if let Some(bytes) = max_payload {
        config.connection.max_payload = bytes;
    }
    smol::block_on(serve(config))
}

async fn serve(config: ServerConfig) -> Result<(), Error> {
    // Registered before the server starts, so an early signal is not missed
    // (and does not kill the process before it has shut down).
    let mut signals = shutdown_signals()?;
    let server = Server::bind(config).await?;
    // Replies per peer that wait (on spawned tasks) for room in its queue.
    let backlog: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    let waiting = backlog.clone();
    server.on_message(move |peer, message| {
        let answer = Message::new(message.message_type(), message.payload().clone());
        match peer.try_reply(&message, answer.clone()) {
            Ok(()) => {}
            Err(Error::Send(SendError::Full)) => {
                // The queue is full: wait for room on a task so that nothing is
                // lost. (An echo of a plain send may then overtake this one; a
                // request's reply is matched by its id, so order does not matter.)
                let mut counts = waiting.lock().unwrap_or_else(|e| e.into_inner());
                let count = counts.entry(peer.id()).or_default();
                if *count >= MAX_BACKLOG {
                    peer.close("not reading replies");
                    return;
                }
                *count += 1;
                drop(counts);
                let (peer, waiting) = (peer.clone(), waiting.clone());
                smol::spawn(async move {
                    if let Err(err) = peer.reply(&message, answer).await {
                        eprintln!("reply to {} failed: {err}", peer.id());
                    }
                    let mut counts = waiting.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(count) = counts.get_mut(&peer.id()) {
                        *count = count.saturating_sub(1);
                    }
                })
                .detach();
            }
            Err(err) => eprintln!("reply to {} failed: {err}", peer.id()),
        }
    });
    server.on_disconnect(move |peer, _| {
        backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&peer);
    });

    println!("listening on {}", server.local_addr());
    std::io::stdout().flush()?;

    signals.next().await.transpose()?;
    server.shutdown().await
}

/// Ctrl-C, and SIGTERM where there is one.
fn shutdown_signals() -> std::io::Result<Signals> {
    #[cfg(unix)]
    let wanted = [Signal::Int, Signal::Term];
    #[cfg(not(unix))]
    let wanted = [Signal::Int];
    Signals::new(wanted)
}
