//! The bench's header, percentile table and JSON.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Limit, Outcome};
use crate::args::BenchArgs;
use crate::duration::{self, millis};
use crate::exit::Failure;
use crate::output;
use crate::stats::{PERCENTILES, Summary};

/// `bench ADDR (native): 64-byte payloads, 5s per scenario`.
pub(crate) fn header(args: &BenchArgs, limit: Limit, how: &str) -> String {
    let per = match limit {
        Limit::Count(count) => format!("{count} messages"),
        Limit::Duration(duration) => duration::display(duration),
    };
    format!(
        "bench {} ({how}): {}-byte payloads, {per} per scenario",
        args.target.addr, args.size
    )
}

/// The table (and the burst's counts), or one JSON object.
///
/// # Errors
/// Standard output failed.
pub(crate) fn print(args: &BenchArgs, outcomes: &[Outcome]) -> Result<(), Failure> {
    if args.json {
        return output::json(&json!({
            "addr": args.target.addr,
            "dialect": args.target.protocol.dialect.name(),
            "tls": args.target.tls.tls_ca.is_some() || args.target.tls.tls_pin.is_some(),
            "size": args.size,
            "scenarios": outcomes.iter().map(scenario_json).collect::<Vec<_>>(),
        }));
    }
    let mut header = format!(
        "{:<9} {:>10} {:>9} {:>12}",
        "scenario", "messages", "elapsed", "rate"
    );
    for (name, _) in PERCENTILES {
        header.push_str(&format!(" {name:>9}"));
    }
    header.push_str(&format!(" {:>9}", "max"));
    output::line(&header)?;
    for outcome in outcomes {
        output::line(&row(outcome))?;
    }
    output::line("(latencies in ms: round trips; for burst, send to echo)")?;
    for outcome in outcomes {
        if let Some(burst) = outcome.burst {
            output::line(&format!(
                "burst: {} sent in {} ({:.0}/s), {} echoed, {} lost",
                burst.sent,
                duration::display(burst.send_elapsed),
                rate(burst.sent, burst.send_elapsed),
                burst.echoed,
                burst.sent - burst.echoed.min(burst.sent)
            ))?;
        }
    }
    Ok(())
}

fn row(outcome: &Outcome) -> String {
    let mut line = format!(
        "{:<9} {:>10} {:>9} {:>10.0}/s",
        outcome.scenario.name(),
        outcome.messages,
        duration::display(outcome.elapsed),
        rate(outcome.messages, outcome.elapsed)
    );
    match Summary::of(&mut outcome.latencies.clone()) {
        Some(summary) => {
            for value in summary.percentiles.into_iter().chain([summary.max]) {
                line.push_str(&format!(" {:>9.3}", millis(value)));
            }
        }
        None => {
            for _ in 0..=PERCENTILES.len() {
                line.push_str(&format!(" {:>9}", "-"));
            }
        }
    }
    line
}

fn scenario_json(outcome: &Outcome) -> Value {
    let summary = Summary::of(&mut outcome.latencies.clone());
    let mut object = json!({
        "scenario": outcome.scenario.name(),
        "messages": outcome.messages,
        "elapsed_s": outcome.elapsed.as_secs_f64(),
        "rate_per_s": rate(outcome.messages, outcome.elapsed),
        "latency_ms": summary.as_ref().map(Summary::json_ms),
    });
    if let Some(burst) = outcome.burst {
        object["sent"] = json!(burst.sent);
        object["send_elapsed_s"] = json!(burst.send_elapsed.as_secs_f64());
        object["echoed"] = json!(burst.echoed);
        object["lost"] = json!(burst.sent - burst.echoed.min(burst.sent));
    }
    object
}

/// Messages per second.
fn rate(messages: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        messages as f64 / secs
    } else {
        0.0
    }
}
