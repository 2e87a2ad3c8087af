//! `veltix bench`: request, burst and latency scenarios against any server,
//! a progress bar, and a percentile table (or JSON).

mod progress;
mod report;
mod sampler;
mod scenario;

use std::time::{Duration, Instant};

use crate::args::{BenchArgs, Scenario};
use crate::exit::Failure;
use crate::{connect, output};

/// How long a scenario runs when neither --duration nor --count is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(5);

/// When a scenario stops.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// After this many messages.
    Count(u64),
    /// After this long.
    Duration(Duration),
}

impl Limit {
    /// Whether a scenario that made `done` messages since `started` is over.
    fn reached(self, done: u64, started: Instant) -> bool {
        match self {
            Self::Count(count) => done >= count,
            Self::Duration(duration) => started.elapsed() >= duration,
        }
    }
}

/// What one scenario measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    scenario: Scenario,
    /// Round trips completed, or (burst) echoes received.
    messages: u64,
    /// From the first message to the last round trip or echo.
    elapsed: Duration,
    /// Round-trip times, or (burst) send-to-echo times.
    latencies: Vec<Duration>,
    /// The burst's own figures.
    burst: Option<Burst>,
}

/// A burst's sends and echoes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Burst {
    sent: u64,
    /// Time spent sending.
    send_elapsed: Duration,
    echoed: u64,
}

/// Runs every scenario asked for, in order, then reports.
///
/// # Errors
/// Connecting failed, a request timed out or its connection closed, or
/// (after the report) a burst's echoes did not all come back (1).
pub(crate) async fn run(args: BenchArgs) -> Result<(), Failure> {
    let limit = match (args.count, args.duration) {
        (Some(count), _) => Limit::Count(count),
        (None, duration) => Limit::Duration(duration.unwrap_or(DEFAULT_DURATION)),
    };
    if !args.json {
        output::line(&report::header(
            &args,
            limit,
            &connect::describe(&args.target),
        ))?;
    }
    let mut outcomes = Vec::new();
    for &scenario in &args.scenario {
        let progress = progress::Progress::new(scenario.name(), limit, args.json);
        let outcome = match scenario {
            Scenario::Request => scenario::request(&args, limit, &progress).await,
            Scenario::Burst => scenario::burst(&args, limit, &progress).await,
            Scenario::Latency => scenario::latency(&args, limit, &progress).await,
        };
        progress.finish();
        outcomes.push(outcome?);
    }
    report::print(&args, &outcomes)?;
    match outcomes
        .iter()
        .find_map(|o| o.burst.filter(|b| b.echoed < b.sent))
    {
        Some(burst) => Err(Failure::failed(format!(
            "burst: {} of {} echoes did not come back within {} (is {} an echo server?)",
            burst.sent - burst.echoed,
            burst.sent,
            crate::duration::display(args.timeout),
            args.target.addr
        ))),
        None => Ok(()),
    }
}
