//! The load tool's smoke mode end to end: every scenario against every
//! implementation, then `--server` against running servers, a few seconds
//! in all. Proves the tool works; asserts no timing (speed is judged by
//! full runs, see BENCHMARKS.md). The python row runs when the interop
//! tests' virtualenv (or `$VELTIX_PYTHON`) is there, and must then work;
//! without it the run must say why it skipped the row.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const SCENARIOS: [&str; 9] = [
    "ping",
    "request-64B",
    "burst-64B",
    "echo-pipelined-64B",
    "stress-100conn",
    "tick-100x60Hz",
    "large-1MiB",
    "idle-1k",
    "idle-10k",
];
const IMPLEMENTATIONS: [&str; 6] = [
    "tokio",
    "smol",
    "mio",
    "mio-threaded",
    "tokio+ld",
    "tokio+sha",
];
/// Echoes in a smoke run of echo-pipelined-64B (the warm-up is not counted).
const SMOKE_ECHOES: u64 = 20_000;

#[test]
fn smoke_run_measures_every_scenario_on_every_implementation() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = Command::new(env!("CARGO_BIN_EXE_veltix-bench"))
        .args(["--smoke", "--out"])
        .arg(out.path())
        .status()
        .expect("veltix-bench starts");
    assert!(status.success(), "veltix-bench --smoke failed: {status}");

    let json = results(out.path());
    let notes = json["info"]["notes"].as_array().expect("notes");
    let python_skipped = notes
        .iter()
        .any(|n| n.as_str().is_some_and(|n| n.starts_with("python: skipped")));
    let mut implementations = IMPLEMENTATIONS.to_vec();
    if !python_skipped {
        implementations.push("python");
    }
    let samples = json["samples"].as_array().expect("a samples array");
    for scenario in SCENARIOS {
        for &implementation in &implementations {
            check_sample(samples, scenario, implementation, true);
        }
    }
    let summaries = json["summaries"].as_array().expect("a summaries array");
    assert_eq!(summaries.len(), SCENARIOS.len() * implementations.len());

    let table = std::fs::read_to_string(out.path().join("results.md")).expect("results.md");
    for scenario in SCENARIOS {
        assert!(table.contains(scenario), "results.md lacks {scenario}");
    }
    assert_eq!(
        table.contains("× python (tokio)"),
        !python_skipped,
        "the × python table is there exactly when the python row ran"
    );
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).expect("latency.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn server_mode_drives_a_running_server_with_each_client() {
    let server = Server::start(Command::new(env!("CARGO_BIN_EXE_veltix-bench")).args([
        "serve",
        "--impl",
        "tokio",
        "--addr",
        "127.0.0.1:0",
    ]));
    let out = tempfile::tempdir().expect("a temporary directory");
    let clients = ["tokio", "mio-threaded", "tokio+sha"];
    run_against(&format!("ours={}", server.addr), &clients, &[], out.path());
    let json = results(out.path());
    let samples = json["samples"].as_array().expect("a samples array");
    for scenario in ["ping", "request-64B", "echo-pipelined-64B"] {
        for client in clients {
            // The bench found the server's process, so its CPU is measured.
            check_sample(samples, scenario, &format!("{client}@ours"), true);
        }
    }
    assert_eq!(
        samples.len(),
        9,
        "the three default scenarios, nothing else"
    );
}

#[test]
fn server_mode_reaches_python_veltix_without_the_handshake() {
    let Some(python) = python() else {
        eprintln!("no Python with veltix 1.3.0: skipped");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/echo_server.py");
    let server = Server::start(Command::new(python).arg("-u").arg(script).args([
        "--port",
        "0",
        "--until-stdin-closes",
    ]));
    let out = tempfile::tempdir().expect("a temporary directory");
    run_against(
        &server.addr,
        &["tokio", "tokio+sha"],
        &["--legacy"],
        out.path(),
    );
    let json = results(out.path());
    let samples = json["samples"].as_array().expect("a samples array");
    for scenario in ["ping", "request-64B", "echo-pipelined-64B"] {
        for client in ["tokio", "tokio+sha"] {
            check_sample(
                samples,
                scenario,
                &format!("{client}@{}", server.addr),
                true,
            );
        }
    }
}

/// `veltix-bench --smoke --server SERVER --impls CLIENTS EXTRA…`, which must succeed.
fn run_against(server: &str, clients: &[&str], extra: &[&str], out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_veltix-bench"))
        .args(["--smoke", "--server", server, "--impls", &clients.join(",")])
        .args(extra)
        .arg("--out")
        .arg(out)
        .status()
        .expect("veltix-bench starts");
    assert!(status.success(), "veltix-bench --server failed: {status}");
}

/// `results.json` in `out`.
fn results(out: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json written"),
    )
    .expect("results.json is JSON")
}

/// The sample of `scenario` on row `row` exists and is sane: a positive
/// figure, latencies where the scenario measures them, CPU time of the
/// client (and of the server when `server_cpu`), every echo counted.
fn check_sample(samples: &[Value], scenario: &str, row: &str, server_cpu: bool) {
    let sample = samples
        .iter()
        .find(|s| s["scenario"] == scenario && s["implementation"] == row)
        .unwrap_or_else(|| panic!("no sample for {scenario} on {row}"));
    let value = sample["value"].as_f64().expect("a value");
    assert!(
        value.is_finite() && value > 0.0,
        "{scenario} on {row}: value {value}"
    );
    let latency = sample.get("latency_us");
    let has_latencies = latency.is_some_and(|l| {
        let (p50, max) = (l["p50"].as_f64(), l["max"].as_f64());
        l["count"].as_u64().is_some_and(|n| n > 0)
            && p50.is_some_and(|p50| p50 > 0.0 && max.is_some_and(|max| max >= p50))
    });
    let expects_latencies = matches!(
        scenario,
        "ping" | "request-64B" | "stress-100conn" | "tick-100x60Hz"
    );
    assert_eq!(
        has_latencies, expects_latencies,
        "{scenario} on {row}: latencies present = {has_latencies}"
    );
    if scenario == "echo-pipelined-64B" {
        // A run with an echo missing, altered or out of order fails; one
        // that succeeded counted every echo.
        assert_eq!(sample["messages"].as_u64(), Some(SMOKE_ECHOES), "{row}");
    }
    if !scenario.starts_with("idle") {
        assert!(sample["messages"].as_u64().is_some_and(|m| m > 0));
        assert!(sample["cpu_client_s"].as_f64().is_some_and(|c| c >= 0.0));
        if server_cpu {
            assert!(
                sample["cpu_server_s"].as_f64().is_some_and(|c| c >= 0.0),
                "{scenario} on {row}: server CPU"
            );
        }
    }
}

/// A server in a child process that prints `listening on ADDR` first and
/// exits when its stdin closes; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the server's first line");
        let addr = match line.trim().strip_prefix("listening on ") {
            Some(addr) => addr.to_owned(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line {line:?}");
            }
        };
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The interpreter the bench would use for its python row, if there is one
/// (`$VELTIX_PYTHON`, or the interop tests' virtualenv once it is ready).
fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VELTIX_PYTHON") {
        return Some(path.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-veltix-1.3.0");
    let python = venv.join("bin/python");
    (venv.join(".veltix-ready").exists() && python.exists()).then_some(python)
}
