//! `veltix bench`: a short run against an echo server.

use crate::support::{InProcess, local, veltix};

#[test]
fn a_short_bench_prints_a_percentile_table() {
    let server = InProcess::echo(local());
    let run = veltix(&[
        "bench",
        &server.addr,
        "--count",
        "200",
        "--size",
        "32",
        "--rate",
        "5000",
    ]);
    let out = run.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("bench {} (native): 32-byte payloads", server.addr)));
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "scenario", "messages", "elapsed", "rate", "p50", "p90", "p99", "p99.9", "max"
        ]
    );
    for (line, name) in lines[2..5].iter().zip(["request", "burst", "latency"]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), 9, "{line}");
        assert_eq!(cells[0], name);
        assert_eq!(cells[1], "200", "{line}");
        for cell in &cells[4..] {
            assert!(cell.parse::<f64>().is_ok(), "{line}");
        }
    }
    assert!(
        out.contains("burst: 200 sent in ") && out.contains(", 200 echoed, 0 lost"),
        "{out}"
    );
}

#[test]
fn bench_json_parses_with_every_scenario() {
    let server = InProcess::echo(local());
    let run = veltix(&[
        "bench",
        &server.addr,
        "--scenario",
        "burst,request",
        "--count",
        "100",
        "--json",
    ]);
    run.ok();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "one object: {run:?}");
    let report = &lines[0];
    assert_eq!(report["dialect"], "native");
    assert_eq!(report["size"], 64);
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 2);
    assert_eq!(scenarios[0]["scenario"], "burst");
    assert_eq!(scenarios[0]["sent"], 100);
    assert_eq!(scenarios[0]["echoed"], 100);
    assert_eq!(scenarios[0]["lost"], 0);
    assert_eq!(scenarios[1]["scenario"], "request");
    assert_eq!(scenarios[1]["messages"], 100);
    for scenario in scenarios {
        for key in ["p50", "p90", "p99", "p99.9", "max"] {
            assert!(scenario["latency_ms"][key].as_f64().is_some(), "{scenario}");
        }
    }
}

#[test]
fn a_burst_against_a_server_that_does_not_echo_reports_lost_echoes_and_exits_1() {
    let server = InProcess::silent(local());
    let run = veltix(&[
        "bench",
        &server.addr,
        "--scenario",
        "burst",
        "--count",
        "50",
        "--timeout",
        "200ms",
    ]);
    let line = run.fails(1);
    assert!(line.contains("50 of 50 echoes did not come back"), "{line}");
    assert!(run.stdout.contains("burst: 50 sent in "), "{run:?}");
}
