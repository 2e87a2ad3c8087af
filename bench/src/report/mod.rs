//! Results: what one run measured, and the summaries written from many runs
//! (a markdown table, a JSON file to compare commits, an SVG latency plot).

use serde::Serialize;

mod json;
mod markdown;
mod plot;
mod stats;

pub(crate) use json::write_json;
pub(crate) use markdown::markdown;
pub(crate) use plot::latency_svg;
pub(crate) use stats::{Summary, percentile, summarize};

/// Hand-written tokio with `LengthDelimitedCodec`, no hashing: a baseline.
pub(crate) const BASELINE_LD: &str = "tokio+ld";
/// Hand-written tokio with our 62-byte header and SHA-256: a baseline.
pub(crate) const BASELINE_SHA: &str = "tokio+sha";
/// Hand-written tokio-rustls with our 62-byte header and SHA-256: the TLS baseline.
pub(crate) const BASELINE_TLS: &str = "tokio+rustls+sha";
/// Python Veltix 1.3.0's server: the reference the `× python` table divides by.
pub(crate) const PYTHON: &str = "python";
/// Python Veltix 3.3.0's server (compact wire): a reference row.
pub(crate) const PYTHON3: &str = "python3";

/// What one run of one scenario on one implementation measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    /// Scenario name, e.g. `burst-64B`.
    pub(crate) scenario: String,
    /// Row name: the implementation (`tokio`, `smol`, `mio`, `mio-threaded`,
    /// [`PYTHON`], [`BASELINE_LD`], [`BASELINE_SHA`]), or with `--server`
    /// the server's name (`CLIENT@SERVER` when several clients run).
    pub(crate) implementation: String,
    /// Run number, from 1.
    pub(crate) run: usize,
    /// The headline figure of the scenario (see `unit`).
    pub(crate) value: f64,
    /// Unit of `value`, e.g. `msg/s`, `MiB/s`, `µs`, `KiB/conn`.
    pub(crate) unit: String,
    /// Whether a bigger `value` is better (throughput) or worse (latency, memory).
    pub(crate) higher_is_better: bool,
    /// Messages carried in the measured part (requests count once; 0 for memory).
    pub(crate) messages: u64,
    /// Wall time of the measured part, seconds.
    pub(crate) wall_s: f64,
    /// CPU time (user + system) the client process used in the measured part, seconds.
    pub(crate) cpu_client_s: f64,
    /// CPU time (user + system) the server process used in the measured part, seconds.
    pub(crate) cpu_server_s: f64,
    /// Round-trip times in microseconds, for scenarios that measure latency.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) latencies_us: Vec<f64>,
    /// Payload bytes of the messages of the measured part (the throughput
    /// scenarios: `messages` × payload size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_bytes: Option<u64>,
    /// Bytes the client's TCP socket sent in the measured part (counted at
    /// its write calls, see `counted.rs`): frames as they are on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wire_sent_bytes: Option<u64>,
    /// Bytes the client's TCP socket received in the measured part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wire_received_bytes: Option<u64>,
}

impl Sample {
    /// Bytes on the wire in the measured part, both directions (None when
    /// the client does not count them).
    pub(crate) fn wire_bytes(&self) -> Option<u64> {
        Some(self.wire_sent_bytes? + self.wire_received_bytes?)
    }

    /// Client + server CPU per MiB of payload, microseconds (None without a
    /// payload count).
    pub(crate) fn cpu_us_per_mib(&self) -> Option<f64> {
        let mib = self.payload_bytes? as f64 / f64::from(1 << 20);
        (mib > 0.0).then(|| (self.cpu_client_s + self.cpu_server_s) * 1e6 / mib)
    }

    /// Client + server CPU per message, microseconds (None without messages).
    pub(crate) fn cpu_us_per_message(&self) -> Option<f64> {
        (self.messages > 0)
            .then(|| (self.cpu_client_s + self.cpu_server_s) * 1e6 / self.messages as f64)
    }
}

/// Facts about the machine and the run, printed above the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunInfo {
    /// UTC date and time the run started, `YYYY-MM-DD HH:MM`.
    pub(crate) date: String,
    /// `git rev-parse --short HEAD`, when available.
    pub(crate) commit: String,
    /// CPU model from /proc/cpuinfo.
    pub(crate) cpu: String,
    /// Logical CPUs.
    pub(crate) cores: usize,
    /// Runs per scenario and implementation.
    pub(crate) runs: usize,
    /// Whether this was the seconds-long smoke mode.
    pub(crate) smoke: bool,
    /// Single-thread SHA-256 rate over 1 MiB buffers measured in this run, MiB/s.
    pub(crate) sha256_mib_s: f64,
    /// What else a reader of the table must know: rows skipped and why,
    /// the servers and clients of a `--server` run.
    pub(crate) notes: Vec<String>,
}
