//! `veltix ping`: protocol pings, one line each, and a ping(8)-style summary.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::MissedTickBehavior;
use veltix_tokio::{Client, Error};

use crate::args::PingArgs;
use crate::exit::Failure;
use crate::signal::Interrupts;
use crate::stats::Summary;
use crate::{connect, duration, output};

/// Pings `--count` times (or until Ctrl-C), then prints the summary.
///
/// # Errors
/// Connecting failed; the connection was lost (after the summary); some
/// ping got no reply (1).
pub(crate) async fn run(args: PingArgs) -> Result<(), Failure> {
    let addr = args.target.addr.clone();
    let mut interrupts =
        Interrupts::install().map_err(|e| Failure::failed(format!("cannot catch Ctrl-C: {e}")))?;
    let client = tokio::select! {
        () = interrupts.recv() => return Err(Failure::failed(format!("ping {addr}: interrupted while connecting"))),
        client = connect::connect(&args.target) => client?,
    };
    if !args.json {
        output::line(&format!(
            "PING {addr} ({})",
            connect::describe(&args.target)
        ))?;
    }
    let mut tally = Tally::default();
    let lost_connection = tokio::select! {
        () = interrupts.recv() => None,
        lost = ping_loop(&client, &args, &mut tally) => lost,
    };
    // The summary stands whether or not the close was answered in time.
    let _ = client.close().await;
    print_summary(&addr, &tally, args.json)?;
    if let Some(failure) = lost_connection {
        return Err(failure);
    }
    let lost = tally.sent - tally.rtts.len() as u64;
    if lost > 0 {
        return Err(Failure::failed(format!(
            "{lost} of {} pings to {addr} got no reply",
            tally.sent
        )));
    }
    Ok(())
}

/// What the pings so far came to.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    rtts: Vec<Duration>,
    started: Option<Instant>,
}

/// Pings until `--count`; `Some` when the connection was lost on the way.
async fn ping_loop(client: &Client, args: &PingArgs, tally: &mut Tally) -> Option<Failure> {
    let addr = &args.target.addr;
    let mut ticks = tokio::time::interval(args.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tally.started = Some(Instant::now());
    for seq in 1.. {
        if args.count.is_some_and(|count| seq > count) {
            break;
        }
        ticks.tick().await;
        let outcome = client.ping(args.timeout).await;
        tally.sent += 1;
        let line = match outcome {
            Ok(rtt) => {
                tally.rtts.push(rtt);
                reply_line(addr, seq, rtt, args.json)
            }
            Err(Error::TimedOut) => timeout_line(addr, seq, args.timeout, args.json),
            Err(error) => {
                return Some(Failure::from_error(&format!("ping {addr}"), &error));
            }
        };
        if let Err(failure) = line {
            return Some(failure);
        }
    }
    None
}

fn reply_line(addr: &str, seq: u64, rtt: Duration, json: bool) -> Result<(), Failure> {
    if json {
        return output::json(&json!({
            "event": "reply",
            "seq": seq,
            "rtt_ms": duration::millis(rtt),
        }));
    }
    output::line(&format!(
        "reply from {addr}: seq={seq} time={:.3} ms",
        duration::millis(rtt)
    ))
}

fn timeout_line(addr: &str, seq: u64, timeout: Duration, json: bool) -> Result<(), Failure> {
    if json {
        return output::json(&json!({
            "event": "timeout",
            "seq": seq,
            "timeout_ms": duration::millis(timeout),
        }));
    }
    output::line(&format!(
        "no reply from {addr}: seq={seq} (timed out after {})",
        duration::display(timeout)
    ))
}

/// `--- ADDR ping statistics ---` and `N sent, M received, x% loss; rtt …`.
fn print_summary(addr: &str, tally: &Tally, json: bool) -> Result<(), Failure> {
    let received = tally.rtts.len() as u64;
    let loss = if tally.sent == 0 {
        0.0
    } else {
        (tally.sent - received) as f64 * 100.0 / tally.sent as f64
    };
    let elapsed = tally.started.map(|t| t.elapsed()).unwrap_or_default();
    let summary = Summary::of(&mut tally.rtts.clone());
    if json {
        return output::json(&json!({
            "event": "summary",
            "addr": addr,
            "sent": tally.sent,
            "received": received,
            "loss_percent": loss,
            "time_ms": duration::millis(elapsed),
            "rtt_ms": summary.as_ref().map(|s| json!({
                "min": duration::millis(s.min),
                "avg": duration::millis(s.mean),
                "max": duration::millis(s.max),
                "mdev": duration::millis(s.mdev),
            })),
        }));
    }
    output::line(&format!("--- {addr} ping statistics ---"))?;
    let mut line = format!("{} sent, {received} received, {loss:.0}% loss", tally.sent);
    if let Some(summary) = summary {
        line.push_str("; ");
        line.push_str(&summary.ping_line());
    }
    output::line(&line)
}
