//! The load tool's smoke mode end to end: every scenario against every
//! implementation (the TLS rows and the rustls baseline included), the
//! Veltix rows in every dialect and with compression, then `--server`
//! against running servers, a few seconds each. Proves the tool works; asserts no timing (speed is
//! judged by full runs, see BENCHMARKS.md). A python row runs when its
//! interop tests' virtualenv (or `$VELTIX_PYTHON`, `$VELTIX_PYTHON_3_3_0`)
//! is there, and must then work; without it the run must say why it
//! skipped the row.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const SCENARIOS: [&str; 14] = [
    "ping",
    "request-64B",
    "burst-64B",
    "echo-pipelined-64B",
    "stress-100conn",
    "tick-100x60Hz",
    "large-1MiB",
    "large-1MiB-text",
    "idle-1k",
    "idle-10k",
    "idle-100k",
    "broadcast-100k",
    "tls-handshakes",
    "tls-handshakes-16x",
];
const IMPLEMENTATIONS: [&str; 11] = [
    "tokio",
    "smol",
    "mio",
    "mio-threaded",
    "tokio+ld",
    "tokio+sha",
    "tokio+tls",
    "smol+tls",
    "mio+tls",
    "mio-threaded+tls",
    "tokio+rustls+sha",
];
/// The TLS rows, each divided by its plaintext self and the TLS baseline.
const TLS_ROWS: [(&str, &str); 4] = [
    ("tokio+tls", "tokio"),
    ("smol+tls", "smol"),
    ("mio+tls", "mio"),
    ("mio-threaded+tls", "mio-threaded"),
];
/// Rows whose connect does not wait for the server (no TLS, no Veltix
/// handshake): the handshake scenarios do not run on them.
const NO_HANDSHAKE: [&str; 3] = ["tokio+ld", "tokio+sha", "python"];
/// The scenarios whose clients are the fleet (bare native plaintext core
/// clients).
const FLEET_SCENARIOS: [&str; 2] = ["idle-100k", "broadcast-100k"];
/// The rows the fleet can reach: our own plaintext servers.
const FLEET_ROWS: [&str; 4] = ["tokio", "smol", "mio", "mio-threaded"];
/// The python rows (Python Veltix 1.3.0's server, and 3.3.0's).
const PYTHON_ROWS: [&str; 2] = ["python", "python3"];
/// Echoes in a smoke run of echo-pipelined-64B (the warm-up is not counted).
const SMOKE_ECHOES: u64 = 20_000;
/// Messages in a smoke run of the 1 MiB scenarios.
const SMOKE_LARGE: u64 = 8;
const MIB: u64 = 1 << 20;

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
    let skipped = |row: &str| {
        let said = format!("{row}: skipped");
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.starts_with(&said)))
    };
    let python_skipped = skipped("python");
    let mut implementations = IMPLEMENTATIONS.to_vec();
    for row in PYTHON_ROWS {
        if !skipped(row) {
            implementations.push(row);
        }
    }
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("negotiated: TLS 1.3, X25519MlKem768"))),
        "the TLS rows say what they negotiated: {notes:?}"
    );
    let samples = json["samples"].as_array().expect("a samples array");
    let mut expected = 0;
    for scenario in SCENARIOS {
        for &implementation in &implementations {
            if FLEET_SCENARIOS.contains(&scenario) && !FLEET_ROWS.contains(&implementation) {
                let ran = samples
                    .iter()
                    .any(|s| s["scenario"] == scenario && s["implementation"] == implementation);
                assert!(!ran, "{scenario} ran on {implementation}, out of its reach");
                continue;
            }
            if scenario.starts_with("tls-handshakes") && NO_HANDSHAKE.contains(&implementation) {
                let ran = samples
                    .iter()
                    .any(|s| s["scenario"] == scenario && s["implementation"] == implementation);
                assert!(
                    !ran,
                    "{scenario} ran on {implementation}, which has no handshake"
                );
                continue;
            }
            check_sample(samples, scenario, implementation, true);
            expected += 1;
        }
    }
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.starts_with("tls-handshakes*: not run on"))),
        "the run says which rows the handshake scenarios skip"
    );
    let summaries = json["summaries"].as_array().expect("a summaries array");
    assert_eq!(summaries.len(), expected);

    let table = std::fs::read_to_string(out.path().join("results.md")).expect("results.md");
    for scenario in SCENARIOS {
        assert!(table.contains(scenario), "results.md lacks {scenario}");
    }
    assert_eq!(
        table.contains("× python (tokio)"),
        !python_skipped,
        "the × python table is there exactly when the python row ran"
    );
    // Every TLS row is divided by its plaintext self and by the TLS
    // baseline, in every scenario they run (the fleet scenarios' clients speak
    // plaintext only).
    let summaries = json["summaries"].as_array().expect("a summaries array");
    for scenario in SCENARIOS
        .into_iter()
        .filter(|s| !FLEET_SCENARIOS.contains(s))
    {
        for (tls, plain) in TLS_ROWS {
            let summary = summaries
                .iter()
                .find(|s| s["scenario"] == scenario && s["implementation"] == tls)
                .unwrap_or_else(|| panic!("no summary of {scenario} on {tls}"));
            assert_eq!(summary["counterpart"], plain, "{scenario} {tls}");
            assert!(summary["ratio_counterpart"].as_f64().is_some());
            assert!(summary["ratio_tls"].as_f64().is_some(), "{scenario} {tls}");
        }
    }
    assert!(table.contains("Variants:"));
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).expect("latency.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn veltix_rows_run_in_every_dialect_side_by_side() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut impls = vec![
        "tokio",
        "smol",
        "mio",
        "mio-threaded",
        "tokio+tls",
        "tokio+sha",
    ];
    let python3 = python_venv("python-veltix-3.3.0", "VELTIX_PYTHON_3_3_0").is_some();
    if python3 {
        impls.push("python3");
    }
    let scenarios = ["request-64B", "burst-64B", "echo-pipelined-64B"];
    let status = Command::new(env!("CARGO_BIN_EXE_veltix-bench"))
        .args(["--smoke", "--dialect", "native,python3,python14,legacy"])
        .args(["--impls", &impls.join(","), "--only", &scenarios.join(",")])
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("veltix-bench starts");
    assert!(status.success(), "veltix-bench --dialect failed: {status}");

    let json = results(out.path());
    let samples = json["samples"].as_array().expect("a samples array");
    let summaries = json["summaries"].as_array().expect("a summaries array");
    let mut rows = Vec::new();
    for veltix in ["tokio", "smol", "mio", "mio-threaded", "tokio+tls"] {
        rows.push(veltix.to_owned());
        for dialect in ["python3", "python14", "legacy"] {
            rows.push(format!("{veltix}/{dialect}"));
        }
    }
    // The baseline has one wire: one row, whatever the dialects.
    rows.push("tokio+sha".to_owned());
    if python3 {
        rows.push("python3".to_owned());
    }
    for scenario in scenarios {
        for row in &rows {
            check_sample(samples, scenario, row, true);
        }
        // A row in another dialect is divided by its native self.
        let compact = summaries
            .iter()
            .find(|s| s["scenario"] == scenario && s["implementation"] == "mio/python3")
            .expect("a summary of mio/python3");
        assert_eq!(compact["counterpart"], "mio");
        // (Its CPU ratio may be missing: smoke runs are shorter than a tick.)
        assert!(compact["ratio_counterpart"].as_f64().is_some());
    }
    assert_eq!(samples.len(), scenarios.len() * rows.len());
}

#[test]
fn compression_runs_side_by_side_and_the_wire_bytes_show_it() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let impls = [
        "tokio",
        "smol",
        "mio",
        "mio-threaded",
        "tokio+tls",
        "tokio+ld",
        "tokio+sha",
    ];
    let scenarios = ["large-1MiB", "large-1MiB-text"];
    let status = Command::new(env!("CARGO_BIN_EXE_veltix-bench"))
        .args(["--smoke", "--compress", "--dialect", "native,python3"])
        .args(["--impls", &impls.join(","), "--only", &scenarios.join(",")])
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("veltix-bench starts");
    assert!(status.success(), "veltix-bench --compress failed: {status}");

    let json = results(out.path());
    let notes = json["info"]["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.starts_with("--compression off,lz4:"))),
        "the run says what +lz4 means: {notes:?}"
    );
    let samples = json["samples"].as_array().expect("a samples array");
    let summaries = json["summaries"].as_array().expect("a summaries array");
    let veltix = ["tokio", "smol", "mio", "mio-threaded", "tokio+tls"];
    let mut rows = Vec::new();
    for row in veltix {
        rows.push(row.to_owned());
        rows.push(format!("{row}+lz4"));
        // Only the native dialect compresses: no IMPL+lz4/python3 row.
        rows.push(format!("{row}/python3"));
    }
    rows.extend(["tokio+ld".to_owned(), "tokio+sha".to_owned()]);
    let sample = |scenario: &str, row: &str| {
        samples
            .iter()
            .find(|s| s["scenario"] == scenario && s["implementation"] == row)
            .unwrap_or_else(|| panic!("no sample for {scenario} on {row}"))
    };
    let summary = |scenario: &str, row: &str| {
        summaries
            .iter()
            .find(|s| s["scenario"] == scenario && s["implementation"] == row)
            .unwrap_or_else(|| panic!("no summary of {scenario} on {row}"))
    };
    for scenario in scenarios {
        for row in &rows {
            check_sample(samples, scenario, row, true);
            let sample = sample(scenario, row);
            assert_eq!(sample["unit"], "MiB/s");
            assert_eq!(sample["payload_bytes"].as_u64(), Some(SMOKE_LARGE * MIB));
            // The threaded client runs on its own loop: its socket is not counted.
            let counted = !row.starts_with("mio-threaded");
            assert_eq!(
                sample["wire_sent_bytes"].is_u64(),
                counted,
                "{scenario} {row}"
            );
            assert_eq!(sample["wire_received_bytes"].is_u64(), counted);
        }
        assert_eq!(
            samples.iter().filter(|s| s["scenario"] == scenario).count(),
            rows.len(),
            "{scenario}: one sample per row, no IMPL+lz4/python3"
        );
        // A compressed row is divided by its uncompressed self.
        for row in veltix {
            let lz4 = summary(scenario, &format!("{row}+lz4"));
            assert_eq!(lz4["counterpart"], row);
            assert!(lz4["ratio_counterpart"].as_f64().is_some());
            if row != "mio-threaded" {
                assert!(lz4["wire_ratio_counterpart"].as_f64().is_some());
            }
        }
    }
    // Random bytes do not shrink: they go as they are, to the byte. On
    // plain TCP, the client sent 8 frames (62-byte header + 1 MiB) and one
    // request (62 + 8), and read its answer (62 + 8); LengthDelimited frames
    // have a 4-byte length and a kind byte.
    let veltix_frames = SMOKE_LARGE * (62 + MIB) + 70;
    for (row, sent, received) in [
        ("tokio", veltix_frames, 70),
        ("tokio+lz4", veltix_frames, 70),
        ("smol+lz4", veltix_frames, 70),
        ("mio+lz4", veltix_frames, 70),
        ("tokio+sha", veltix_frames, 70),
        ("tokio+ld", SMOKE_LARGE * (5 + MIB) + 13, 13),
    ] {
        let random = sample("large-1MiB", row);
        assert_eq!(random["wire_sent_bytes"].as_u64(), Some(sent), "{row}");
        assert_eq!(
            random["wire_received_bytes"].as_u64(),
            Some(received),
            "{row}"
        );
    }
    // JSON does: LZ4 sends it in well under half its size, in every
    // runtime and under TLS; without compression it goes whole.
    for row in ["tokio", "smol", "mio", "tokio+tls"] {
        let plain = summary("large-1MiB-text", row)["wire_per_payload"]
            .as_f64()
            .expect("plain wire ÷ payload");
        let lz4 = summary("large-1MiB-text", &format!("{row}+lz4"));
        let compressed = lz4["wire_per_payload"]
            .as_f64()
            .expect("lz4 wire ÷ payload");
        assert!((1.0..1.01).contains(&plain), "{row}: {plain}");
        assert!(compressed < 0.4, "{row}+lz4: {compressed}");
        assert!(lz4["wire_ratio_counterpart"].as_f64().expect("a ratio") < 0.4);
        // The python3 dialect has no compression: its JSON goes whole.
        let compact = summary("large-1MiB-text", &format!("{row}/python3"));
        assert!(compact["wire_per_payload"].as_f64().expect("compact") > 1.0);
    }
    let table = std::fs::read_to_string(out.path().join("results.md")).expect("results.md");
    assert!(table.contains("| wire MiB | wire ÷ payload |"));
    assert!(table.contains("| large-1MiB-text | tokio+lz4 |"));
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
fn server_mode_speaks_the_chosen_dialect_with_a_running_server() {
    let server = Server::start(Command::new(env!("CARGO_BIN_EXE_veltix-bench")).args([
        "serve",
        "--impl",
        "mio",
        "--addr",
        "127.0.0.1:0",
        "--dialect",
        "python3",
    ]));
    let out = tempfile::tempdir().expect("a temporary directory");
    let scenarios = ["request-64B", "echo-pipelined-64B"];
    run_against(
        &format!("compact={}", server.addr),
        &["tokio", "smol"],
        &["--dialect", "python3", "--only", &scenarios.join(",")],
        out.path(),
    );
    let json = results(out.path());
    let samples = json["samples"].as_array().expect("a samples array");
    for scenario in scenarios {
        for client in ["tokio/python3@compact", "smol/python3@compact"] {
            check_sample(samples, scenario, client, true);
        }
    }
    assert_eq!(samples.len(), 4);
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
        "ping"
            | "request-64B"
            | "stress-100conn"
            | "tick-100x60Hz"
            | "tls-handshakes"
            | "tls-handshakes-16x"
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
    python_venv("python-veltix-1.3.0", "VELTIX_PYTHON")
}

/// The interpreter named by `var`, or the interop tests' virtualenv `venv`
/// in the target directory once it is ready.
fn python_venv(venv: &str, var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(path.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(venv);
    let python = venv.join("bin/python");
    (venv.join(".veltix-ready").exists() && python.exists()).then_some(python)
}
