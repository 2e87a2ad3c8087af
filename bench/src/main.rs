//! `veltix-bench`: Veltix on tokio, smol and mio next to two hand-written
//! tokio baselines, scenario by scenario, in one run.
//!
//! ```text
//! cargo run --release -p veltix-bench -- [--runs 5] [--smoke] [--out DIR]
//!     [--only ping,request-64B,…] [--impls tokio,smol,mio,tokio+ld,tokio+sha]
//! ```
//!
//! Every (scenario, implementation, run) gets a fresh server process
//! (`veltix-bench serve --impl NAME`, so its CPU time and memory are its own)
//! and a fresh client runtime in this process. Runs are interleaved — run 1
//! of everything, then run 2 — so a noisy minute on the shared machine does
//! not land on one implementation only. Writes `results.md`, `results.json`
//! and `latency.svg` to `--out` (default `target/veltix-bench`) and prints
//! the table. See BENCHMARKS.md for the method.

mod baseline;
mod client;
mod implementation;
mod procfs;
mod report;
mod rt;
mod scenario;
mod veltix;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::implementation::Implementation;
use crate::procfs::ServerProcess;
use crate::report::{RunInfo, Sample};
use crate::scenario::{Ctx, Scenario};

const USAGE: &str = "usage:
  veltix-bench [--runs N] [--smoke] [--out DIR] [--only SCENARIO,…] [--impls IMPL,…]
  veltix-bench serve --impl IMPL [--addr HOST:PORT]
scenarios: ping request-64B burst-64B stress-100conn tick-100x60Hz large-1MiB idle-1k idle-10k
impls: tokio smol mio tokio+ld tokio+sha";

/// What the command line asked for.
struct Options {
    runs: usize,
    smoke: bool,
    out: PathBuf,
    scenarios: Vec<Scenario>,
    implementations: Vec<Implementation>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1..])
    } else {
        parse(&args).and_then(|options| bench(&options))
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("veltix-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}\n{USAGE}"))
}

fn serve(args: &[String]) -> io::Result<ExitCode> {
    let mut implementation = None;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
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
            _ => return Err(usage_error(format!("unknown option {arg}"))),
        }
    }
    let implementation = implementation.ok_or_else(|| usage_error("serve needs --impl"))?;
    implementation.serve(addr)?;
    Ok(ExitCode::SUCCESS)
}

fn parse(args: &[String]) -> io::Result<Options> {
    let mut options = Options {
        runs: 5,
        smoke: false,
        out: PathBuf::from("target/veltix-bench"),
        scenarios: Scenario::ALL.to_vec(),
        implementations: Implementation::ALL.to_vec(),
    };
    let mut runs = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| usage_error(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--runs" => {
                let v = value()?;
                runs = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| usage_error(format!("bad run count {v}")))?,
                );
            }
            "--out" => options.out = PathBuf::from(value()?),
            "--only" => {
                options.scenarios = list(value()?, |name| {
                    Scenario::ALL.into_iter().find(|s| s.name() == name)
                })?;
            }
            "--impls" => options.implementations = list(value()?, Implementation::from_name)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(usage_error(format!("unknown option {arg}"))),
        }
    }
    options.runs = runs.unwrap_or(if options.smoke { 1 } else { 5 });
    Ok(options)
}

fn list<T>(value: &str, find: impl Fn(&str) -> Option<T>) -> io::Result<Vec<T>> {
    value
        .split(',')
        .map(|name| find(name.trim()).ok_or_else(|| usage_error(format!("unknown name {name}"))))
        .collect()
}

fn bench(options: &Options) -> io::Result<ExitCode> {
    // 10 000 connections need 10 000 descriptors on each side; the server
    // process inherits the raised limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    if limit < 20_500 {
        eprintln!("note: open-file limit is {limit}; idle-10k may fail");
    }
    let info = RunInfo {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: command_output("git", &["rev-parse", "--short", "HEAD"]),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        runs: options.runs,
        smoke: options.smoke,
        sha256_mib_s: sha256_rate(if options.smoke { 0.05 } else { 1.0 }),
    };
    let total = options.runs * options.scenarios.len() * options.implementations.len();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut samples = Vec::new();
    let mut failures = 0;
    for run in 1..=options.runs {
        for &scenario in &options.scenarios {
            for &implementation in &options.implementations {
                bar.set_message(format!(
                    "{} {} run {run}",
                    scenario.name(),
                    implementation.name()
                ));
                let line = match run_one(scenario, implementation, run, options.smoke) {
                    Ok(sample) => {
                        let line = format!(
                            "{:<15} {:<10} run {run}: {:>12.1} {}{}",
                            sample.scenario,
                            sample.implementation,
                            sample.value,
                            sample.unit,
                            sample
                                .cpu_us_per_message()
                                .map(|c| format!(", {c:.2} µs CPU/msg"))
                                .unwrap_or_default()
                        );
                        samples.push(sample);
                        line
                    }
                    Err(err) => {
                        failures += 1;
                        format!(
                            "{} {} run {run} FAILED: {err}",
                            scenario.name(),
                            implementation.name()
                        )
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

/// One scenario, one implementation, one run, against a fresh server.
fn run_one(
    scenario: Scenario,
    implementation: Implementation,
    run: usize,
    smoke: bool,
) -> io::Result<Sample> {
    let server = ServerProcess::start(implementation.name())?;
    let ctx = Ctx {
        addr: server.addr,
        server_pid: server.pid(),
        smoke,
    };
    let measured = implementation.run(scenario, ctx)?;
    drop(server);
    Ok(Sample {
        scenario: scenario.name().to_owned(),
        implementation: implementation.name().to_owned(),
        run,
        value: measured.value,
        unit: measured.unit.to_owned(),
        higher_is_better: measured.higher_is_better,
        messages: measured.messages,
        wall_s: measured.wall_s,
        cpu_client_s: measured.cpu_client_s,
        cpu_server_s: measured.cpu_server_s,
        latencies_us: measured.latencies_us,
    })
}

/// The 1 MiB scenario against the single-thread SHA-256 rate of this machine.
fn large_vs_sha(info: &RunInfo, summaries: &[report::Summary]) -> String {
    let rows: Vec<String> = summaries
        .iter()
        .filter(|s| s.scenario == Scenario::Large.name())
        .map(|s| format!("{} {:.2}×", s.implementation, s.median / info.sha256_mib_s))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n{} median against single-thread SHA-256 of the same bytes ({:.0} MiB/s): {}\n",
        Scenario::Large.name(),
        info.sha256_mib_s,
        rows.join(", ")
    )
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
