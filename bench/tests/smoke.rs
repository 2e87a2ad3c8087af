//! The load tool's smoke mode end to end: every scenario against every
//! implementation, a few seconds in all. Proves the tool works; asserts no
//! timing (speed is judged by full runs, see BENCHMARKS.md).

use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 8] = [
    "ping",
    "request-64B",
    "burst-64B",
    "stress-100conn",
    "tick-100x60Hz",
    "large-1MiB",
    "idle-1k",
    "idle-10k",
];
const IMPLEMENTATIONS: [&str; 5] = ["tokio", "smol", "mio", "tokio+ld", "tokio+sha"];

#[test]
fn smoke_run_measures_every_scenario_on_every_implementation() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = Command::new(env!("CARGO_BIN_EXE_veltix-bench"))
        .args(["--smoke", "--out"])
        .arg(out.path())
        .status()
        .expect("veltix-bench starts");
    assert!(status.success(), "veltix-bench --smoke failed: {status}");

    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results.json")).expect("results.json written"),
    )
    .expect("results.json is JSON");
    let samples = json["samples"].as_array().expect("a samples array");
    for scenario in SCENARIOS {
        for implementation in IMPLEMENTATIONS {
            let sample = samples
                .iter()
                .find(|s| s["scenario"] == scenario && s["implementation"] == implementation)
                .unwrap_or_else(|| panic!("no sample for {scenario} on {implementation}"));
            let value = sample["value"].as_f64().expect("a value");
            assert!(
                value.is_finite() && value > 0.0,
                "{scenario} on {implementation}: value {value}"
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
                "{scenario} on {implementation}: latencies present = {has_latencies}"
            );
            if !scenario.starts_with("idle") {
                assert!(sample["messages"].as_u64().is_some_and(|m| m > 0));
                assert!(sample["cpu_client_s"].as_f64().is_some_and(|c| c >= 0.0));
                assert!(sample["cpu_server_s"].as_f64().is_some_and(|c| c >= 0.0));
            }
        }
    }
    let summaries = json["summaries"].as_array().expect("a summaries array");
    assert_eq!(summaries.len(), SCENARIOS.len() * IMPLEMENTATIONS.len());

    let table = std::fs::read_to_string(out.path().join("results.md")).expect("results.md");
    for scenario in SCENARIOS {
        assert!(table.contains(scenario), "results.md lacks {scenario}");
    }
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).expect("latency.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}
