//! The scenarios, each written once against [`BenchClient`] and run for every
//! implementation. Sizes have a full setting (the table) and a smoke setting
//! (seconds, for CI: proves the tool works, asserts no timing).

use std::io;
use std::time::Instant;

use crate::client::{BenchClient, Target};
use crate::counted::WireBytes;
use crate::procfs;
use crate::rt::BenchRuntime;
use crate::wire::{json_records, payload};

mod broadcast;
mod fleet;
mod handshake;
mod latency;
mod memory;
mod pipelined;
mod stress;
mod throughput;

pub(crate) use memory::fleet_room;

/// A scenario and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Sequential pings on one connection: ping RTT.
    Ping,
    /// Sequential 64-byte echo requests on one connection: request RTT and rate.
    Request,
    /// 64-byte one-way messages pipelined on one connection.
    Burst,
    /// 64-byte echo requests pipelined on one connection, echoes read concurrently.
    EchoPipelined,
    /// 100 connections each doing sequential 64-byte requests.
    Stress,
    /// 100 clients each sending a 64-byte request at 60 Hz.
    Tick,
    /// 1 MiB one-way messages pipelined on one connection (random bytes).
    Large,
    /// The same with a compressible payload: JSON records.
    LargeText,
    /// Server memory per idle connection, 1 000 connections.
    Memory1k,
    /// Server memory per idle connection, 10 000 connections.
    Memory10k,
    /// Server memory per idle connection, 100 000 connections (C100k), and
    /// the time to accept them all.
    Memory100k,
    /// One 64-byte broadcast to 100 000 idle connections (idle-100k's
    /// fleet): the time until the last has it.
    Broadcast100k,
    /// Connections opened (TLS and Veltix handshakes) and closed, one at a time.
    Handshakes,
    /// The same, 16 at a time.
    Handshakes16,
}

impl Scenario {
    /// Every scenario, in table order.
    pub(crate) const ALL: [Self; 14] = [
        Self::Ping,
        Self::Request,
        Self::Burst,
        Self::EchoPipelined,
        Self::Stress,
        Self::Tick,
        Self::Large,
        Self::LargeText,
        Self::Memory1k,
        Self::Memory10k,
        Self::Memory100k,
        Self::Broadcast100k,
        Self::Handshakes,
        Self::Handshakes16,
    ];

    /// The name in tables, JSON and `--only`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Request => "request-64B",
            Self::Burst => "burst-64B",
            Self::EchoPipelined => "echo-pipelined-64B",
            Self::Stress => "stress-100conn",
            Self::Tick => "tick-100x60Hz",
            Self::Large => "large-1MiB",
            Self::LargeText => "large-1MiB-text",
            Self::Memory1k => "idle-1k",
            Self::Memory10k => "idle-10k",
            Self::Memory100k => "idle-100k",
            Self::Broadcast100k => "broadcast-100k",
            Self::Handshakes => "tls-handshakes",
            Self::Handshakes16 => "tls-handshakes-16x",
        }
    }

    /// Whether this is one of the 1 MiB scenarios (MiB/s, compared with
    /// single-thread SHA-256).
    pub(crate) fn large(self) -> bool {
        matches!(self, Self::Large | Self::LargeText)
    }

    /// Whether this scenario's clients are the [`fleet`] (bare core
    /// connections, native dialect, plaintext), run only on rows whose
    /// server such a client can reach.
    pub(crate) fn fleet(self) -> bool {
        matches!(self, Self::Memory100k | Self::Broadcast100k)
    }

    /// Whether this is a handshake scenario, run only on rows whose
    /// connect waits for the server (a TLS or a Veltix handshake).
    pub(crate) fn handshakes(self) -> bool {
        matches!(self, Self::Handshakes | Self::Handshakes16)
    }
}

/// Where the server is and how big the run is.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The server, and whether Veltix clients run the handshake with it.
    pub(crate) target: Target,
    /// The server's process id (for its CPU time and memory); unknown for
    /// a server the bench did not start and could not find.
    pub(crate) server_pid: Option<u32>,
    /// Seconds-long sizes instead of the full ones.
    pub(crate) smoke: bool,
    /// Most echoes in flight in `echo-pipelined-64B` (`--window`); `None`:
    /// the sender never waits for echoes.
    pub(crate) window: Option<u64>,
}

impl Ctx {
    /// `full` normally, `smoke` in smoke mode.
    pub(crate) fn size<T>(&self, full: T, smoke: T) -> T {
        if self.smoke { smoke } else { full }
    }
}

/// What one run measured (the implementation and run number are added by the caller).
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) higher_is_better: bool,
    pub(crate) messages: u64,
    pub(crate) wall_s: f64,
    pub(crate) cpu_client_s: f64,
    pub(crate) cpu_server_s: f64,
    pub(crate) latencies_us: Vec<f64>,
    /// Payload bytes of the measured part's messages (throughput scenarios).
    pub(crate) payload_bytes: Option<u64>,
    /// Bytes the client's socket sent and received in the measured part
    /// ([`crate::counted`]), when the client counts them.
    pub(crate) wire: Option<WireBytes>,
}

/// CPU and wall clock at the start of a measured part.
pub(crate) struct Mark {
    at: Instant,
    client: f64,
    /// The server's pid and CPU time, when its pid is known.
    server: Option<(u32, f64)>,
}

impl Mark {
    /// Reads both processes' CPU time now.
    pub(crate) fn start(ctx: &Ctx) -> io::Result<Self> {
        let server = match ctx.server_pid {
            Some(pid) => Some((pid, procfs::cpu_seconds(pid)?)),
            None => None,
        };
        Ok(Self {
            client: procfs::cpu_seconds(std::process::id())?,
            server,
            at: Instant::now(),
        })
    }

    /// What was used since [`start`](Self::start), for `messages` messages.
    pub(crate) fn finish(self, messages: u64) -> io::Result<Measured> {
        self.finish_at(Instant::now(), messages)
    }

    /// As [`finish`](Self::finish), for a measured part that ended at `end`
    /// (CPU time is read now: a process that has been idle since adds nothing).
    /// The server's CPU time is NaN when its pid is unknown.
    pub(crate) fn finish_at(self, end: Instant, messages: u64) -> io::Result<Measured> {
        let wall_s = end.saturating_duration_since(self.at).as_secs_f64();
        let cpu_server_s = match self.server {
            Some((pid, before)) => procfs::cpu_seconds(pid)? - before,
            None => f64::NAN,
        };
        Ok(Measured {
            messages,
            wall_s,
            cpu_client_s: procfs::cpu_seconds(std::process::id())? - self.client,
            cpu_server_s,
            ..Measured::default()
        })
    }
}

/// Runs `scenario` with client `C` on runtime `R`.
pub(crate) fn run<C, R>(scenario: Scenario, ctx: Ctx) -> io::Result<Measured>
where
    C: BenchClient,
    R: BenchRuntime,
{
    let pipelined = ctx.size(1_000_000, 20_000);
    let large = ctx.size(400, 8);
    let mib = 1 << 20;
    let (idle_1k, idle_10k) = (ctx.size(1_000, 100), ctx.size(10_000, 300));
    let idle_100k = ctx.size(100_000, 300);
    let (sequential, per_task) = (ctx.size(2_000, 20), ctx.size(250, 4));
    R::block_on(async move {
        match scenario {
            Scenario::Ping => latency::ping::<C>(ctx).await,
            Scenario::Request => latency::request::<C>(ctx).await,
            Scenario::Burst => throughput::one_way::<C>(ctx, payload(7, 64), pipelined).await,
            Scenario::EchoPipelined => pipelined::echo::<C, R>(ctx, pipelined).await,
            Scenario::Large => throughput::one_way::<C>(ctx, payload(7, mib), large).await,
            Scenario::LargeText => throughput::one_way::<C>(ctx, json_records(mib), large).await,
            Scenario::Stress => stress::stress::<C, R>(ctx).await,
            Scenario::Tick => stress::tick::<C, R>(ctx).await,
            Scenario::Memory1k => memory::idle::<C, R>(ctx, idle_1k).await,
            Scenario::Memory10k => memory::idle::<C, R>(ctx, idle_10k).await,
            Scenario::Memory100k => memory::idle_fleet::<R>(ctx, idle_100k).await,
            Scenario::Broadcast100k => {
                let rounds = ctx.size(5, 2);
                broadcast::fleet::<R>(ctx, idle_100k, rounds).await
            }
            Scenario::Handshakes => handshake::handshakes::<C, R>(ctx, 1, sequential).await,
            Scenario::Handshakes16 => handshake::handshakes::<C, R>(ctx, 16, per_task).await,
        }
    })
}

/// Microseconds since `since`.
pub(crate) fn micros_since(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

/// Median of unsorted values (0 for none).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
