//! The JSON file: run facts, summaries and every run's figures, to compare commits.
//!
//! Shape: `{ "info": RunInfo, "summaries": [Summary], "samples": [Sample] }`,
//! field names as in the Rust structs, except that a sample's raw round-trip
//! times (tens of thousands per run: a full run would write over 100 MB) are
//! replaced by their percentiles, `latency_us: { p50, p90, p95, p99, p999,
//! max, count }` (left out when the scenario measures no latency). Figures
//! that are not finite (NaN, infinity) are written as `null`, as JSON has no
//! such numbers.

use std::path::Path;

use serde_json::{Value, json};

use super::{RunInfo, Sample, Summary, percentile};

/// One run's figures, with its latencies as percentiles.
fn sample_json(sample: &Sample) -> Value {
    let mut value = serde_json::to_value(sample).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.remove("latencies_us");
        if !sample.latencies_us.is_empty() {
            let mut sorted = sample.latencies_us.clone();
            sorted.sort_by(f64::total_cmp);
            let at = |p: f64| percentile(&sorted, p);
            fields.insert(
                "latency_us".to_owned(),
                json!({
                    "count": sorted.len(),
                    "p50": at(50.0),
                    "p90": at(90.0),
                    "p95": at(95.0),
                    "p99": at(99.0),
                    "p999": at(99.9),
                    "max": at(100.0),
                }),
            );
        }
    }
    value
}

/// Writes `{ "info", "summaries", "samples" }` as pretty JSON to `path`,
/// replacing any file there.
pub(crate) fn write_json(
    path: &Path,
    info: &RunInfo,
    samples: &[Sample],
    summaries: &[Summary],
) -> std::io::Result<()> {
    let samples: Vec<Value> = samples.iter().map(sample_json).collect();
    let json = json!({
        "info": info,
        "summaries": summaries,
        "samples": samples,
    });
    let mut text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::tests::sample;
    use crate::report::summarize;

    /// A path in the temporary directory, removed when dropped.
    struct TempPath(std::path::PathBuf);

    impl TempPath {
        fn new(name: &str) -> Self {
            Self(std::env::temp_dir().join(format!(
                "veltix-bench-report-{}-{name}.json",
                std::process::id()
            )))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn info() -> RunInfo {
        RunInfo {
            date: "2026-11-24 05:00 UTC".to_owned(),
            commit: "abc1234".to_owned(),
            cpu: "cpu".to_owned(),
            cores: 4,
            runs: 2,
            smoke: true,
            sha256_mib_s: 1500.0,
            notes: vec!["a note".to_owned()],
        }
    }

    #[test]
    fn round_trips_info_summaries_and_samples_with_latency_percentiles() {
        let mut idle = sample("idle-1k", "tokio", 1, f64::NAN);
        idle.latencies_us.clear();
        let samples = vec![
            sample("ping", "tokio", 1, 2.0),
            sample("ping", "tokio", 2, 4.0),
            sample("ping", "tokio+ld", 1, 2.0),
            idle,
        ];
        let summaries = summarize(&samples);
        let path = TempPath::new("round-trip");
        write_json(&path.0, &info(), &samples, &summaries).unwrap();
        let text = std::fs::read_to_string(&path.0).unwrap();
        assert!(
            text.starts_with("{\n") && text.ends_with("}\n"),
            "pretty JSON"
        );
        let json: Value = serde_json::from_str(&text).unwrap();

        assert_eq!(json["info"]["commit"], "abc1234");
        assert_eq!(json["info"]["cores"], 4);
        assert_eq!(json["info"]["smoke"], true);
        assert_eq!(json["info"]["sha256_mib_s"], 1500.0);
        assert_eq!(json["info"]["notes"][0], "a note");

        let summary_rows = json["summaries"].as_array().unwrap();
        assert_eq!(summary_rows.len(), 3);
        let tokio = &summary_rows[0];
        assert_eq!(tokio["scenario"], "ping");
        assert_eq!(tokio["implementation"], "tokio");
        assert_eq!(tokio["runs"], 2);
        assert_eq!(tokio["median"], 3.0);
        assert_eq!(tokio["ratio_ld"], 1.5);
        assert_eq!(tokio["ratio_sha"], Value::Null);
        assert_eq!(tokio["p50"], 150.0);
        assert_eq!(tokio["max_latency"], 300.0);
        assert_eq!(tokio["higher_is_better"], true);
        // NaN medians become null rather than failing the write.
        assert_eq!(summary_rows[2]["median"], Value::Null);
        assert_eq!(summary_rows[2]["p50"], Value::Null);

        let sample_rows = json["samples"].as_array().unwrap();
        assert_eq!(sample_rows.len(), 4);
        assert_eq!(sample_rows[1]["run"], 2);
        assert_eq!(sample_rows[1]["messages"], 1000);
        assert!(
            sample_rows[1].get("latencies_us").is_none(),
            "no raw samples"
        );
        let latency = &sample_rows[1]["latency_us"];
        assert_eq!(latency["count"], 100);
        assert_eq!(latency["max"], 400.0);
        assert_eq!(latency["p50"], 200.0);
        assert!(sample_rows[3].get("latency_us").is_none());
        assert_eq!(sample_rows[3]["value"], Value::Null);
    }

    #[test]
    fn replaces_an_old_file_and_reports_unwritable_paths() {
        let path = TempPath::new("replace");
        std::fs::write(
            &path.0,
            "old contents that are much longer than the new JSON ..........",
        )
        .unwrap();
        write_json(&path.0, &info(), &[], &[]).unwrap();
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path.0).unwrap()).unwrap();
        assert_eq!(json["summaries"], Value::Array(Vec::new()));
        assert_eq!(json["samples"], Value::Array(Vec::new()));

        let missing = std::env::temp_dir().join("veltix-bench-no-such-dir/x/results.json");
        assert!(write_json(&missing, &info(), &[], &[]).is_err());
    }
}
