//! An echo server on the threaded mio API: answers every application message
//! with a message of the same type and payload carrying the same request id,
//! so a client's `request` gets its own payload back. Peers with and without
//! the Veltix handshake (Python Veltix 1.x) are both served.
//!
//! Prints `listening on ADDR` once ready, and shuts down gracefully on
//! Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --release -p veltix-mio --example echo_server -- \
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
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use veltix_mio::{Error, Message, Peer, PeerId, SendError, Server, ServerConfig};

const USAGE: &str = "echo_server [--addr HOST:PORT] [--idle-timeout SECS] [--max-payload BYTES]
                   [--log-level LEVEL] [--log-file PATH]";

/// Replies waiting for room in one peer's queue before that peer, which is
/// not reading its replies, is disconnected rather than let grow our memory.
const MAX_BACKLOG: usize = 1024;

/// A reply waiting for room in its peer's queue: the request and its answer.
type Waiting = (Message, Message);

/// The peers whose queue was full, each with the replies waiting for room
/// (sent by a thread of that peer's own while there are any).
type Backlogs = Arc<Mutex<HashMap<PeerId, SyncSender<Waiting>>>>;

// `pub(crate)`: tests/examples.rs runs its parts.
pub(crate) fn main() -> Result<(), Error> {
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

    // Caught from before the announcement on, so a signal never kills us.
    let stop = common::StopSignal::register()?;
    let server = serve(config)?;
    println!("listening on {}", server.local_addr());
    std::io::stdout().flush()?;

    stop.wait();
    server.shutdown()
}

/// Binds and echoes until shut down.
pub(crate) fn serve(config: ServerConfig) -> Result<Server, Error> {
    let server = Server::bind(config)?;
    let backlogs = Backlogs::default();
    let waiting = backlogs.clone();
    server.on_message(move |peer, message| echo(&waiting, peer, message));
    server.on_disconnect(move |peer, _| {
        // Its backlog thread, if any, stops at its next reply, which fails.
        lock(&backlogs).remove(&peer);
    });
    Ok(server)
}

/// Answers `message` without ever making the worker wait for one peer's
/// queue (which would hold up every other peer's messages): a reply that
/// finds the queue full waits on a thread of that peer's, and so do the
/// peer's later replies until that thread has sent them all, which keeps
/// them in order.
fn echo(backlogs: &Backlogs, peer: &Peer, message: Message) {
    let answer = Message::new(message.message_type(), message.payload().clone());
    let mut backlogs_now = lock(backlogs);
    if let Some(backlog) = backlogs_now.get(&peer.id()) {
        match backlog.try_send((message, answer)) {
            // (Disconnected only if its thread died: it forgets the backlog before it ends.)
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => peer.close("not reading replies"),
        }
        return;
    }
    match peer.try_reply(&message, answer.clone()) {
        Ok(()) => {}
        Err(Error::Send(SendError::Full)) => {
            let (backlog, replies) = mpsc::sync_channel(MAX_BACKLOG);
            let _ = backlog.try_send((message, answer)); // an empty channel has room
            backlogs_now.insert(peer.id(), backlog);
            let (backlogs, peer) = (backlogs.clone(), peer.clone());
            std::thread::spawn(move || send_backlog(&backlogs, &peer, &replies));
        }
        Err(err) => eprintln!("reply to {} failed: {err}", peer.id()),
    }
}

/// Sends `peer`'s waiting replies, each as soon as its queue has room, until
/// there are none left (then forgets the backlog) or the peer has gone.
fn send_backlog(backlogs: &Backlogs, peer: &Peer, replies: &Receiver<Waiting>) {
    loop {
        let next = replies.try_recv().or_else(|_| {
            // Replies are added under this lock: empty now means done.
            let mut backlogs_now = lock(backlogs);
            let next = replies.try_recv();
            if next.is_err() {
                backlogs_now.remove(&peer.id());
            }
            next
        });
        let Ok((message, answer)) = next else {
            return;
        };
        if let Err(err) = peer.reply(&message, answer) {
            eprintln!("reply to {} failed: {err}", peer.id());
            lock(backlogs).remove(&peer.id());
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
