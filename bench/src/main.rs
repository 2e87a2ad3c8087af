//! `veltix-bench`: Veltix on tokio, smol and mio (async and threaded APIs),
//! in plaintext and over TLS 1.3, next to three hand-written tokio baselines
//! (one over tokio-rustls) and Python Veltix 1.3.0's and 3.3.0's servers,
//! scenario by scenario, in one run.
//!
//! ```text
//! cargo run --release -p veltix-bench -- [--runs 5] [--smoke] [--out DIR]
//!     [--only ping,request-64B,…] [--impls tokio,smol,mio,mio-threaded,python,python3,
//!      tokio+ld,tokio+sha,tokio+tls,smol+tls,mio+tls,mio-threaded+tls,tokio+rustls+sha]
//!     [--dialect native,python3,python14,legacy] [--compress | --compression off,lz4]
//! cargo run --release -p veltix-bench -- --server [NAME=]HOST:PORT[,…]
//!     [--impls tokio,…] [--legacy]
//! ```
//!
//! Every (scenario, implementation, run) gets a fresh server process
//! (`veltix-bench serve --impl NAME`, or the Python echo server, so its CPU
//! time and memory are its own) and a fresh client runtime in this process.
//! Runs are interleaved — run 1 of everything, then run 2 — so a noisy
//! minute on the shared machine does not land on one implementation only.
//! With `--server` the bench runs only the client side, against servers
//! already running (an example's `echo_server`, Python's). Writes
//! `results.md`, `results.json` and `latency.svg` to `--out` (default
//! `target/veltix-bench`) and prints the table. See BENCHMARKS.md for the
//! method.

mod baseline;
mod client;
mod counted;
mod implementation;
mod mio_threaded;
mod options;
mod procfs;
mod python;
mod report;
mod rt;
mod scenario;
mod tls;
mod veltix;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use veltix_core::Dialect;
use veltix_core::compression::Compression;

use crate::client::Target;
use crate::implementation::Implementation;
use crate::options::{
    Options, compression_name, dialect_name, parse_compression, parse_dialect, usage_error,
};
use crate::report::{RunInfo, Sample};
use crate::scenario::{Ctx, Scenario};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1..])
    } else {
        options::parse(&args).and_then(|options| bench(&options))
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("veltix-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &[String]) -> io::Result<ExitCode> {
    let mut implementation = None;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut dialect = Dialect::Native;
    let mut compression = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| usage_error(format!("{arg} needs a value")))?;
        match arg.as_str() {
            "--impl" => {
                implementation = Some(
                    Implementation::from_name(value)
                        .ok_or_else(|| usage_error(format!("unknown implementation {value}")))?,
                );
            }
            "--addr" => {
                addr = value
                    .parse()
                    .map_err(|_| usage_error(format!("bad address {value}")))?;
            }
            "--dialect" => {
                dialect = parse_dialect(value)
                    .ok_or_else(|| usage_error(format!("unknown dialect {value}")))?;
            }
            "--compression" => {
                compression = parse_compression(value)
                    .ok_or_else(|| usage_error(format!("unknown compression {value}")))?;
            }
            _ => return Err(usage_error(format!("unknown option {arg}"))),
        }
    }
    let implementation = implementation.ok_or_else(|| usage_error("serve needs --impl"))?;
    implementation.serve(addr, dialect, compression)?;
    Ok(ExitCode::SUCCESS)
}

/// One row of the table: a client, and the server it runs against.
struct Row {
    /// The row's name in tables and JSON.
    label: String,
    /// The client (and, for [`ServerSide::Own`], the server).
    implementation: Implementation,
    /// What the client (and its own server) speaks.
    dialect: Dialect,
    /// What the client (and its own server) offers in the handshake.
    compression: Option<Compression>,
    server: ServerSide,
    /// The interpreter of a python row's server.
    python: Option<PathBuf>,
}

impl Row {
    /// Whether connecting waits for the server to take part: a TLS
    /// handshake, or a Veltix handshake (not in the legacy dialect, nor with
    /// `--legacy`, nor with the plaintext baselines or Python Veltix 1.x,
    /// which have none). Only such rows run the handshake scenarios.
    fn waits_for_server(&self, options: &Options) -> bool {
        let implementation = self.implementation;
        let veltix_handshake = implementation.handshake()
            && !options.legacy
            && self.dialect != Dialect::Legacy
            && !matches!(
                implementation,
                Implementation::BaselineLd | Implementation::BaselineSha
            );
        implementation.tls() || veltix_handshake
    }

    /// Whether the fleet (bare native plaintext core clients, see
    /// `scenario/fleet.rs`) can reach this row's server: a Veltix server of
    /// our own, plaintext, native dialect, no compression.
    fn fleet_can_reach(&self, options: &Options) -> bool {
        self.implementation.veltix()
            && !self.implementation.tls()
            && self.dialect == Dialect::Native
            && self.compression.is_none()
            && !options.legacy
            && matches!(self.server, ServerSide::Own)
    }
}

/// A row's name: the implementation's, with `+lz4` when it compresses and
/// `/DIALECT` unless native.
fn row_label(
    implementation: Implementation,
    dialect: Dialect,
    compression: Option<Compression>,
) -> String {
    let mut label = implementation.name().to_owned();
    if !implementation.veltix() {
        return label;
    }
    if compression.is_some() {
        label = format!("{label}+{}", compression_name(compression));
    }
    if dialect != Dialect::Native {
        label = format!("{label}/{}", dialect_name(dialect));
    }
    label
}

/// The (dialect, compression) pairs a Veltix row runs in: every dialect
/// without compression, and the native dialect (with the handshake, which
/// agrees on it) with each compression asked for. The other dialects have
/// no compression.
fn variants(options: &Options) -> Vec<(Dialect, Option<Compression>)> {
    let mut variants = Vec::new();
    for &dialect in &options.dialects {
        for &compression in &options.compressions {
            let agreed = dialect == Dialect::Native && !options.legacy;
            if compression.is_none() || agreed {
                variants.push((dialect, compression));
            }
        }
    }
    variants
}

/// Where a row's server comes from.
enum ServerSide {
    /// A fresh process of the row's own implementation for every run.
    Own,
    /// A server already running (`--server`), and its process when found
    /// on this machine (for its CPU time and memory).
    External { addr: SocketAddr, pid: Option<u32> },
}

/// The rows to run. What a reader must know about them goes to `notes`.
fn rows(options: &Options, notes: &mut Vec<String>) -> io::Result<Vec<Row>> {
    if options.legacy {
        notes.push("Veltix clients skip the handshake (--legacy)".to_owned());
    }
    if let Some(window) = options.window {
        notes.push(format!(
            "echo-pipelined-64B: at most {window} echoes in flight (--window)"
        ));
    }
    if options.dialects != [Dialect::Native] {
        let names: Vec<&str> = options.dialects.iter().map(|d| dialect_name(*d)).collect();
        notes.push(format!(
            "--dialect {}: each Veltix row (client and server) in each, interleaved; \
             a row in dialect D is named IMPL/D (IMPL alone for native)",
            names.join(",")
        ));
    }
    if options.compressions != [None] {
        let names: Vec<&str> = options
            .compressions
            .iter()
            .map(|c| compression_name(*c))
            .collect();
        notes.push(format!(
            "--compression {}: each Veltix row (client and server) with each, interleaved; \
             lz4 is ConnectionConfig::compression = Some(Compression::default()) on both ends \
             (LZ4, payloads of 1 KiB and more, sent compressed when that makes them shorter), \
             a row with it is named IMPL+lz4, in the native dialect only (the others have no \
             compression){}",
            names.join(","),
            if options.legacy {
                "; none with --legacy (no handshake, nothing agreed)"
            } else {
                ""
            }
        ));
    }
    if !options.servers.is_empty() {
        return Ok(external_rows(options, notes));
    }
    if options.implementations.iter().any(|i| i.tls()) {
        notes.push(format!(
            "+tls rows and {}: TLS 1.3 on both ends, a self-signed certificate made in memory \
             by each server, its key pinned by the clients; negotiated: {}",
            report::BASELINE_TLS,
            tls::negotiated()?
        ));
    }
    let mut rows = Vec::new();
    for &implementation in &options.implementations {
        let mut interpreter = None;
        if let Some(release) = implementation.python_release() {
            let name = implementation.name();
            match python::interpreter(release) {
                Ok(path) => {
                    notes.push(format!(
                        "{name}: Python Veltix {}'s server (bench/python/ under {}), driven by \
                         the tokio client in the {} dialect",
                        release.version(),
                        path.display(),
                        if implementation.handshake() {
                            dialect_name(implementation.dialect(Dialect::Native))
                        } else {
                            "legacy (no handshake)"
                        }
                    ));
                    interpreter = Some(path);
                }
                Err(reason) if options.impls_chosen => {
                    return Err(io::Error::new(io::ErrorKind::NotFound, reason));
                }
                Err(reason) => {
                    eprintln!("note: {name} row skipped: {reason}");
                    notes.push(format!("{name}: skipped, {reason}"));
                    continue;
                }
            }
        }
        let variants = if implementation.veltix() {
            variants(options)
        } else {
            vec![(implementation.dialect(Dialect::Native), None)]
        };
        for (dialect, compression) in variants {
            rows.push(Row {
                label: row_label(implementation, dialect, compression),
                implementation,
                dialect,
                compression,
                server: ServerSide::Own,
                python: interpreter.clone(),
            });
        }
    }
    Ok(rows)
}

/// A row per client and `--server` server: named after the server, or
/// `CLIENT@SERVER` when several clients run.
fn external_rows(options: &Options, notes: &mut Vec<String>) -> Vec<Row> {
    let clients: Vec<&str> = options.implementations.iter().map(|i| i.name()).collect();
    notes.push(format!(
        "--server: the client side only; client(s) {}",
        clients.join(", ")
    ));
    let mut rows = Vec::new();
    for server in &options.servers {
        let pid = procfs::listener_pid(server.addr);
        notes.push(match pid {
            Some(pid) => format!("server {} at {}: process {pid}", server.name, server.addr),
            None => format!(
                "server {} at {}: its process is not visible here, so its CPU time \
                 (and memory) is not measured",
                server.name, server.addr
            ),
        });
        for &implementation in &options.implementations {
            // The baseline has one wire: one row, whatever the dialects.
            let variants = if implementation.veltix() {
                variants(options)
            } else {
                vec![(Dialect::Native, None)]
            };
            let alone = options.implementations.len() == 1 && variants.len() == 1;
            for (dialect, compression) in variants.iter().copied() {
                let client = row_label(implementation, dialect, compression);
                let label = if alone {
                    server.name.clone()
                } else {
                    format!("{client}@{}", server.name)
                };
                rows.push(Row {
                    label,
                    implementation,
                    dialect,
                    compression,
                    server: ServerSide::External {
                        addr: server.addr,
                        pid,
                    },
                    python: None,
                });
            }
        }
    }
    rows
}

fn bench(options: &Options) -> io::Result<ExitCode> {
    // idle-100k needs 100 000 descriptors on each side, past the usual hard
    // limit: raise it where we may (root, up to fs.nr_open), else the soft
    // limit to the hard one. The server process inherits the limit.
    const WANTED: u64 = 262_144;
    if rlimit::Resource::NOFILE.set(WANTED, WANTED).is_err() {
        let _ = rlimit::increase_nofile_limit(u64::MAX);
    }
    let limit = rlimit::Resource::NOFILE.get_soft().unwrap_or(0);
    if limit < 20_500 {
        eprintln!("note: open-file limit is {limit}; idle-10k and idle-100k may fail");
    }
    let mut notes = Vec::new();
    let fleets: Vec<&str> = options
        .scenarios
        .iter()
        .filter(|s| s.fleet())
        .map(|s| s.name())
        .collect();
    if limit < 100_500 && !fleets.is_empty() && !options.smoke {
        notes.push(format!(
            "{}: the open-file limit here is {limit} (hard, and no privilege to raise \
             it), so the fleet held {} connections, not 100 000",
            fleets.join(", "),
            scenario::fleet_room()
        ));
    }
    let rows = rows(options, &mut notes)?;
    let skipped: Vec<&str> = rows
        .iter()
        .filter(|row| !row.waits_for_server(options))
        .map(|row| row.label.as_str())
        .collect();
    if !skipped.is_empty() && options.scenarios.iter().any(|s| s.handshakes()) {
        notes.push(format!(
            "tls-handshakes*: not run on {}: without a handshake a connect returns before the \
             server has accepted, so a connect-and-close loop outruns the server's accept loop \
             and overflows its listen queue (each dropped SYN is a 1 s retransmission)",
            skipped.join(", ")
        ));
    }
    let info = RunInfo {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: command_output("git", &["rev-parse", "--short", "HEAD"]),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        runs: options.runs,
        smoke: options.smoke,
        sha256_mib_s: sha256_rate(if options.smoke { 0.05 } else { 1.0 }),
        notes,
    };
    let runs_on = |scenario: Scenario, row: &Row| {
        (!scenario.handshakes() || row.waits_for_server(options))
            && (!scenario.fleet() || row.fleet_can_reach(options))
    };
    let pairs = options
        .scenarios
        .iter()
        .map(|&scenario| rows.iter().filter(|row| runs_on(scenario, row)).count())
        .sum::<usize>();
    let total = options.runs * pairs;
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut samples = Vec::new();
    let mut failures = 0;
    for run in 1..=options.runs {
        for &scenario in &options.scenarios {
            for row in rows.iter().filter(|row| runs_on(scenario, row)) {
                bar.set_message(format!("{} {} run {run}", scenario.name(), row.label));
                let result = run_one(scenario, row, options);
                let line = match result {
                    Ok(measured) => {
                        let sample = Sample {
                            scenario: scenario.name().to_owned(),
                            implementation: row.label.clone(),
                            run,
                            value: measured.value,
                            unit: measured.unit.to_owned(),
                            higher_is_better: measured.higher_is_better,
                            messages: measured.messages,
                            wall_s: measured.wall_s,
                            cpu_client_s: measured.cpu_client_s,
                            cpu_server_s: measured.cpu_server_s,
                            latencies_us: measured.latencies_us,
                            payload_bytes: measured.payload_bytes,
                            wire_sent_bytes: measured.wire.map(|w| w.sent),
                            wire_received_bytes: measured.wire.map(|w| w.received),
                        };
                        let line = format!(
                            "{:<18} {:<12} run {run}: {:>12.1} {}{}",
                            sample.scenario,
                            sample.implementation,
                            sample.value,
                            sample.unit,
                            sample
                                .cpu_us_per_message()
                                .filter(|c| c.is_finite())
                                .map(|c| format!(", {c:.2} µs CPU/msg"))
                                .unwrap_or_default()
                        );
                        samples.push(sample);
                        line
                    }
                    Err(err) => {
                        failures += 1;
                        format!("{} {} run {run} FAILED: {err}", scenario.name(), row.label)
                    }
                };
                bar.suspend(|| eprintln!("{line}"));
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();

    let summaries = report::summarize(&samples);
    let mut table = report::markdown(&info, &summaries);
    table.push_str(&large_vs_sha(&info, &summaries));
    std::fs::create_dir_all(&options.out)?;
    std::fs::write(options.out.join("results.md"), &table)?;
    report::write_json(
        &options.out.join("results.json"),
        &info,
        &samples,
        &summaries,
    )?;
    if let Some(svg) = report::latency_svg(&samples) {
        std::fs::write(options.out.join("latency.svg"), svg)?;
    }
    println!("{table}");
    println!(
        "written: {}/results.{{md,json}}, latency.svg",
        options.out.display()
    );
    if failures > 0 {
        eprintln!("{failures} run(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One scenario, one row, one run: against a fresh server of the row's
/// own kind, or the `--server` one.
fn run_one(scenario: Scenario, row: &Row, options: &Options) -> io::Result<scenario::Measured> {
    let implementation = row.implementation;
    let handshake = !options.legacy && implementation.handshake();
    let (server, addr, server_pid, pin) = match row.server {
        ServerSide::Own => {
            let server =
                implementation.start_server(row.dialect, row.compression, row.python.as_deref())?;
            let (addr, pid, pin) = (server.addr, server.pid(), server.pin);
            (Some(server), addr, Some(pid), pin)
        }
        ServerSide::External { addr, pid } => (None, addr, pid, None),
    };
    let tls = match pin {
        Some(pin) => Some(tls::client_config(pin)?),
        None if implementation.tls() => {
            return Err(io::Error::other(format!(
                "the {} server announced no TLS pin",
                row.label
            )));
        }
        None => None,
    };
    let ctx = Ctx {
        target: Target {
            addr,
            handshake,
            dialect: row.dialect,
            tls,
            compression: row.compression,
        },
        server_pid,
        smoke: options.smoke,
        window: options.window,
    };
    let measured = implementation.run(scenario, ctx);
    drop(server);
    measured
}

/// The 1 MiB scenarios against the single-thread SHA-256 rate of this machine.
fn large_vs_sha(info: &RunInfo, summaries: &[report::Summary]) -> String {
    let mut out = String::new();
    for scenario in Scenario::ALL.into_iter().filter(|s| s.large()) {
        let rows: Vec<String> = summaries
            .iter()
            .filter(|s| s.scenario == scenario.name())
            .map(|s| format!("{} {:.2}×", s.implementation, s.median / info.sha256_mib_s))
            .collect();
        if !rows.is_empty() {
            out.push_str(&format!(
                "\n{} median against single-thread SHA-256 of the same bytes ({:.0} MiB/s): {}\n",
                scenario.name(),
                info.sha256_mib_s,
                rows.join(", ")
            ));
        }
    }
    out
}

/// Single-thread SHA-256 over 1 MiB buffers for about `seconds`, MiB/s.
fn sha256_rate(seconds: f64) -> f64 {
    let buffer = wire::payload(3, 1 << 20);
    let started = Instant::now();
    let mut hashed = 0u64;
    let mut sink = 0u8;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        sink ^= Sha256::digest(&buffer)[0];
        hashed += 1;
    }
    std::hint::black_box(sink);
    hashed as f64 / started.elapsed().as_secs_f64()
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
