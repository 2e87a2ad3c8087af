//! An echo client: sends `--count` requests of `--size` bytes one after the
//! other (each with different content), checks that every reply carries the
//! same type and payload, then pings the server. Prints the round trips per
//! second and the ping round-trip time; exits with status 1 unless every reply
//! matched.
//!
//! ```text
//! cargo run --release -p veltix-tokio --example echo_client -- \
//!     [--addr 127.0.0.1:7000] [--count 10000] [--size 64] \
//!     [--dialect native|python1.4|python3|legacy] [--no-handshake]
//! ```
//!
//! `--dialect` picks the protocol (see the README's "Python Veltix
//! interoperability"): `native` (the default) for our own servers, `python3`
//! for Python Veltix 2.0.3–3.3.0 (`tests/python/echo_server_3_3.py`),
//! `python1.4` for 1.4.0–1.6.1 (`tests/python/echo_server_1_6.py`), `legacy`
//! (also `--no-handshake`) for 1.2/1.3 (`tests/python/echo_server.py`) or for
//! our servers, which accept peers without a handshake. Pair it with the
//! `echo_server` example run with the same `--dialect`.

use std::time::{Duration, Instant};

use examples_support::{ClientDialectArgs, ClientTlsArgs, DEFAULT_ADDR, describe, parse};
use veltix_tokio::{Client, ClientConfig, Error, Message, MessageType};

/// How long each ping waits for its pong (Python Veltix waits 2 s).
const PING_TIMEOUT: Duration = Duration::from_secs(2);

const USAGE: &str = "echo_client [--addr HOST:PORT] [--count N] [--size BYTES] [--pings N] [--dialect D] \
     [--no-handshake] [--tls-ca PEM | --tls-pin HEX] [--tls-cert PEM --tls-key PEM] [--tls-server-name NAME]";

const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("200 is a user type"),
};

/// Request `i`'s payload: `size` bytes that differ from one request to the next.
fn payload(i: u64, size: usize) -> Vec<u8> {
    let seed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..size as u64)
        .map(|j| (seed.wrapping_add(j).wrapping_mul(31) >> 3) as u8)
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut addr = DEFAULT_ADDR.to_owned();
    let (mut count, mut size, mut pings): (u64, usize, usize) = (10_000, 64, 10);
    let (mut dialect_args, mut tls_args) = (ClientDialectArgs::default(), ClientTlsArgs::default());
    parse(USAGE, |arg| match arg.name() {
        "addr" => arg.set(&mut addr),
        "count" => arg.set(&mut count),
        "size" => arg.set(&mut size),
        "pings" => arg.set(&mut pings),
        _ => dialect_args.take(arg) || tls_args.take(arg),
    });
    let pings = pings.max(1);
    let (dialect, tls) = (dialect_args.dialect(), tls_args.config());

    let mut config = ClientConfig::new(addr).dialect(dialect);
    config.tls = tls;
    let client = Client::connect(config).await?;
    let mode = describe(dialect);
    println!("connected to {} ({mode})", client.server_addr());

    let mut failures = 0u64;
    let started = Instant::now();
    for i in 0..count {
        let sent = payload(i, size);
        match client
            .request(Message::new(ECHO, sent.clone()), Duration::from_secs(5))
            .await
        {
            Ok(reply) if reply.message_type() == ECHO && reply.payload() == &sent[..] => {}
            Ok(reply) => {
                failures += 1;
                eprintln!(
                    "request {i}: reply of type {} with {} bytes differs from what was sent",
                    reply.message_type().code(),
                    reply.payload().len()
                );
            }
            Err(err @ (Error::Closed(_) | Error::NotConnected)) => {
                eprintln!("request {i}: {err}");
                std::process::exit(1);
            }
            Err(err) => {
                failures += 1;
                eprintln!("request {i}: {err}");
            }
        }
    }
    let elapsed = started.elapsed();
    #[allow(clippy::cast_precision_loss)] // a count far below 2^52
    let per_second = count as f64 / elapsed.as_secs_f64();
    println!("{count} round trips of {size} bytes in {elapsed:.2?}: {per_second:.0} round trips/s");

    let mut rtts = Vec::with_capacity(pings);
    for _ in 0..pings {
        match client.ping(PING_TIMEOUT).await {
            Ok(rtt) => rtts.push(rtt),
            Err(err) => {
                failures += 1;
                eprintln!("ping: {err}");
            }
        }
    }
    rtts.sort();
    if let (Some(min), Some(max)) = (rtts.first(), rtts.last()) {
        let median = rtts[rtts.len() / 2];
        println!("ping RTT: median {median:.1?}, min {min:.1?}, max {max:.1?} ({pings} pings)");
    }
    if let Err(err) = client.close().await {
        eprintln!("close: {err}");
    }

    if failures > 0 {
        eprintln!("{failures} of {count} requests and {pings} pings failed");
        std::process::exit(1);
    }
    println!("all {count} replies matched");
    Ok(())
}
