//! The markdown tables printed at the end of a run and kept in BENCHMARKS.md.

use std::fmt::Write as _;

use super::{RunInfo, Summary};

/// A readable number: thousands grouped for big ones, a few significant
/// digits for small ones.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v.abs() >= 10_000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        if v < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn optional(v: Option<f64>, suffix: &str) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{}{suffix}", number(v)))
}

/// The results as markdown: run facts, the main table, the latency table.
pub(crate) fn markdown(info: &RunInfo, summaries: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · commit {} · {} · {} cores · {} run(s) each{} · single-thread SHA-256 {} MiB/s\n",
        info.date,
        info.commit,
        info.cpu,
        info.cores,
        info.runs,
        if info.smoke { " · SMOKE sizes" } else { "" },
        number(info.sha256_mib_s)
    );
    out.push_str(
        "| scenario | impl | median | min | max | unit | × tokio+ld | × tokio+sha | CPU µs/msg (client+server) |\n\
         |---|---|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for s in summaries {
        let cpu = match (
            s.cpu_us_per_msg,
            s.cpu_client_us_per_msg,
            s.cpu_server_us_per_msg,
        ) {
            (Some(t), Some(c), Some(v)) => {
                format!("{} ({} + {})", number(t), number(c), number(v))
            }
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.scenario,
            s.implementation,
            number(s.median),
            number(s.min),
            number(s.max),
            s.unit,
            optional(s.ratio_ld, "×"),
            optional(s.ratio_sha, "×"),
            cpu
        );
    }
    out.push_str(
        "\nRatios divide medians: above 1× is better for rates, below 1× is better for \
         latencies and memory.\n",
    );
    let with_latency: Vec<&Summary> = summaries.iter().filter(|s| s.p50.is_some()).collect();
    if !with_latency.is_empty() {
        out.push_str(
            "\n| scenario | impl | p50 µs | p95 µs | p99 µs | max µs |\n|---|---|---:|---:|---:|---:|\n",
        );
        for s in with_latency {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                s.scenario,
                s.implementation,
                optional(s.p50, ""),
                optional(s.p95, ""),
                optional(s.p99, ""),
                optional(s.max_latency, "")
            );
        }
        out.push_str("\nLatency percentiles: each run's percentile, median over runs.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(2_039_740.8), "2 039 741");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(28.44), "28.4");
        assert_eq!(number(0.844), "0.84");
        assert_eq!(number(f64::NAN), "—");
    }

    #[test]
    fn table_has_a_row_per_summary_and_latencies_where_measured() {
        let info = RunInfo {
            date: "2026-11-24 05:00 UTC".to_owned(),
            commit: "abc1234".to_owned(),
            cpu: "cpu".to_owned(),
            cores: 2,
            runs: 5,
            smoke: false,
            sha256_mib_s: 1500.0,
        };
        let samples = vec![
            crate::report::stats::tests::sample("burst-64B", "tokio", 1, 2_000_000.0),
            crate::report::stats::tests::sample("burst-64B", "tokio+sha", 1, 3_000_000.0),
        ];
        let table = markdown(&info, &crate::report::summarize(&samples));
        assert!(table.contains("| burst-64B | tokio | 2 000 000 |"));
        assert!(table.contains("0.67×"));
        assert!(table.contains("| p50 µs |"));
        assert!(table.contains("abc1234"));
    }
}
