//! An echo server on smol: answers every application message with a message
//! of the same type and payload carrying the same request id, so a client's
//! `request` gets its own payload back. `--dialect` (native, python1.4,
//! python3, legacy) picks the protocol; native also serves Python 1.2/1.3.
//!
//! Prints `listening on ADDR` once ready, shuts down gracefully on Ctrl-C
//! or SIGTERM, then prints one line of what it served (`served N frames
//! in …`).
//!
//! ```text
//! cargo run --release -p veltix-smol --example smol_echo_server -- \
//!     [--addr 127.0.0.1:7000] [--idle-timeout SECS] [--max-payload BYTES] \
//!     [--dialect DIALECT] [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]] [--log-level LEVEL] [--log-file PATH]
//! ```
//!
//! Logs through `veltix-log` at `--log-level` (off, crit, error, warn, ok,
//! info, debug, trace; default info) to standard error, or to `--log-file`,
//! rotated by size; at debug every dropped corrupt frame is logged.
//!
//! `--idle-timeout 0` disables the idle timeout; a value below the default
//! heartbeat interval (10 s) lowers that interval to a third of it.
//!
//! Answers go out with `try_reply` straight from the callback: the server
//! stops reading a peer whose answers pile up (flow control), so a peer that
//! reads its answers always has room for them, in order.

use std::io::Write as _;

use async_signal::{Signal, Signals};
use examples_support::{LogArgs, ServerArgs, parse, summary};
use smol::stream::StreamExt as _;
use veltix_smol::{Error, Message, Server, ServerConfig};

const USAGE: &str = "smol_echo_server [--addr HOST:PORT] [--idle-timeout SECS] [--max-payload BYTES]
                        [--dialect DIALECT] [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]] [--log-level LEVEL] [--log-file PATH]";

fn main() -> Result<(), Error> {
    let (mut server_args, mut log_args) = (ServerArgs::default(), LogArgs::default());
    parse(USAGE, |arg| server_args.take(arg) || log_args.take(arg));
    let config = server_args.config();
    let _log = log_args.init();
    smol::block_on(serve(config))
}

async fn serve(config: ServerConfig) -> Result<(), Error> {
    // Registered before the server starts, so an early signal is not missed
    // (and does not kill the process before it has shut down).
    let mut signals = shutdown_signals()?;
    let pin = config.tls.as_ref().map(|tls| tls.pin());
    let server = Server::bind(config).await?;
    server.on_message(|peer, message| {
        let answer = Message::new(message.message_type(), message.payload().clone());
        if let Err(err) = peer.try_reply(&message, answer) {
            veltix_log::warn!(peer = %peer.id(), "reply failed: {err}");
        }
    });

    println!("listening on {}", server.local_addr());
    if let Some(pin) = &pin {
        println!("tls pin {pin}");
    }
    std::io::stdout().flush()?;

    signals.next().await.transpose()?;
    let result = server.shutdown().await;
    println!("{}", summary(&server.stats()));
    result
}

/// Ctrl-C, and SIGTERM where there is one.
fn shutdown_signals() -> std::io::Result<Signals> {
    #[cfg(unix)]
    let wanted = [Signal::Int, Signal::Term];
    #[cfg(not(unix))]
    let wanted = [Signal::Int];
    Signals::new(wanted)
}
