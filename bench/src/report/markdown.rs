//! The markdown tables printed at the end of a run and kept in BENCHMARKS.md.
//!
//! The output depends only on its input (no clock, no locale), so the same
//! summaries always give the same text.

use std::fmt::Write as _;

use super::{BASELINE_LD, BASELINE_SHA, RunInfo, Summary};

/// Thousands separator: U+202F NARROW NO-BREAK SPACE, a thin space that
/// does not let a number wrap inside a table cell.
const THIN_SPACE: char = '\u{202f}';

/// Shown for a figure that is absent or not a number.
const NONE: &str = "—";

/// A readable number: thousands grouped with a thin space from 10 000 up,
/// whole numbers from 100, then 1 or 2 decimals, and 2 significant digits
/// below 1 (`0.84`, `0.0012`).
fn number(v: f64) -> String {
    if !v.is_finite() {
        return NONE.to_owned();
    }
    let abs = v.abs();
    let text = if abs >= 10_000.0 {
        let digits = format!("{abs:.0}");
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(THIN_SPACE);
            }
            grouped.push(c);
        }
        grouped
    } else if abs >= 100.0 {
        format!("{abs:.0}")
    } else if abs >= 10.0 {
        format!("{abs:.1}")
    } else if abs >= 1.0 || abs == 0.0 {
        format!("{abs:.2}")
    } else {
        // Two significant digits, at most six decimals.
        let decimals = ((-abs.log10()).ceil() as usize + 1).clamp(2, 6);
        format!("{abs:.decimals$}")
    };
    // Sign added by hand so that a value rounding to zero never reads "-0".
    if v < 0.0 && text.chars().any(|c| ('1'..='9').contains(&c)) {
        format!("-{text}")
    } else {
        text
    }
}

/// `number` with a suffix, or the dash for None.
fn optional(v: Option<f64>, suffix: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}{suffix}", number(v)),
        _ => NONE.to_owned(),
    }
}

/// Text safe inside a table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The results as markdown: run facts, the main table, the latency table.
pub(crate) fn markdown(info: &RunInfo, summaries: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · commit {} · {} · {} cores · {} run(s) each{} · single-thread SHA-256 {} MiB/s\n",
        cell(&info.date),
        cell(&info.commit),
        cell(&info.cpu),
        info.cores,
        info.runs,
        if info.smoke { " · SMOKE sizes" } else { "" },
        number(info.sha256_mib_s)
    );
    let _ = writeln!(
        out,
        "| scenario | impl | median | min | max | unit | × {BASELINE_LD} | × {BASELINE_SHA} | CPU µs/msg (client+server) |\n\
         |---|---|---:|---:|---:|---|---:|---:|---:|"
    );
    for s in summaries {
        let cpu = match (
            s.cpu_us_per_msg,
            s.cpu_client_us_per_msg,
            s.cpu_server_us_per_msg,
        ) {
            (Some(total), Some(client), Some(server)) if total.is_finite() => format!(
                "{} ({} + {})",
                number(total),
                number(client),
                number(server)
            ),
            (Some(total), _, _) => number(total),
            _ => NONE.to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.scenario),
            cell(&s.implementation),
            number(s.median),
            number(s.min),
            number(s.max),
            cell(&s.unit),
            optional(s.ratio_ld, "×"),
            optional(s.ratio_sha, "×"),
            cpu
        );
    }
    out.push_str(
        "\nRatios divide medians by the baseline's in the same scenario: above 1× is better \
         for rates (msg/s, MiB/s), below 1× is better for latency (µs) and memory (KiB/conn).\n",
    );
    let with_latency: Vec<&Summary> = summaries
        .iter()
        .filter(|s| {
            [s.p50, s.p95, s.p99, s.max_latency]
                .iter()
                .any(Option::is_some)
        })
        .collect();
    if !with_latency.is_empty() {
        out.push_str(
            "\n| scenario | impl | p50 µs | p95 µs | p99 µs | max µs |\n|---|---|---:|---:|---:|---:|\n",
        );
        for s in with_latency {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&s.scenario),
                cell(&s.implementation),
                optional(s.p50, ""),
                optional(s.p95, ""),
                optional(s.p99, ""),
                optional(s.max_latency, "")
            );
        }
        out.push_str(
            "\nLatency percentiles: each run's round-trip percentile (nearest rank), median over runs.\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::tests::sample;
    use crate::report::summarize;

    fn info() -> RunInfo {
        RunInfo {
            date: "2026-11-24 05:00 UTC".to_owned(),
            commit: "abc1234".to_owned(),
            cpu: "Some CPU @ 3.0GHz".to_owned(),
            cores: 8,
            runs: 5,
            smoke: false,
            sha256_mib_s: 1500.4,
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(2_039_740.8), "2\u{202f}039\u{202f}741");
        assert_eq!(number(10_000.0), "10\u{202f}000");
        assert_eq!(number(999_999.6), "1\u{202f}000\u{202f}000");
        assert_eq!(number(-123_456.0), "-123\u{202f}456");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(28.44), "28.4");
        assert_eq!(number(2.0), "2.00");
        assert_eq!(number(0.844), "0.84");
        assert_eq!(number(0.1), "0.10");
        assert_eq!(number(0.0123), "0.012");
        assert_eq!(number(0.0012), "0.0012");
        assert_eq!(number(1e-12), "0.000000");
        assert_eq!(number(0.0), "0.00");
        assert_eq!(number(-0.0001), "-0.00010");
        assert_eq!(number(-1e-9), "0.000000");
        assert_eq!(number(f64::NAN), "—");
        assert_eq!(number(f64::INFINITY), "—");
    }

    #[test]
    fn table_has_a_row_per_summary_and_latencies_where_measured() {
        let mut idle = sample("idle-1k", "tokio", 1, 12.5);
        idle.unit = "KiB/conn".to_owned();
        idle.higher_is_better = false;
        idle.messages = 0;
        idle.latencies_us.clear();
        let samples = vec![
            sample("burst-64B", "tokio", 1, 2_000_000.0),
            sample("burst-64B", BASELINE_LD, 1, 1_000_000.0),
            sample("burst-64B", BASELINE_SHA, 1, 3_000_000.0),
            idle,
        ];
        let table = markdown(&info(), &summarize(&samples));
        let lines: Vec<&str> = table.lines().collect();

        assert!(lines[0].contains("2026-11-24 05:00 UTC"));
        assert!(lines[0].contains("commit abc1234"));
        assert!(lines[0].contains("Some CPU @ 3.0GHz"));
        assert!(lines[0].contains("8 cores"));
        assert!(lines[0].contains("5 run(s)"));
        assert!(lines[0].contains("SHA-256 1500 MiB/s"));
        assert!(!lines[0].contains("SMOKE"));
        assert!(table.contains(
            "| scenario | impl | median | min | max | unit | × tokio+ld | × tokio+sha | CPU µs/msg (client+server) |"
        ));
        // CPU: client 2000 s + server 0.002 s over 1000 messages.
        assert!(table.contains(
            "| burst-64B | tokio | 2\u{202f}000\u{202f}000 | 2\u{202f}000\u{202f}000 | \
             2\u{202f}000\u{202f}000 | msg/s | 2.00× | 0.67× | 2\u{202f}000\u{202f}002 \
             (2\u{202f}000\u{202f}000 + 2.00) |"
        ));
        assert!(table.contains("| burst-64B | tokio+sha | 3\u{202f}000\u{202f}000 |"));
        assert!(table.contains("| idle-1k | tokio | 12.5 | 12.5 | 12.5 | KiB/conn | — | — | — |"));
        assert!(table.contains("below 1× is better for latency"));

        // The latency table lists the three burst rows, not the idle one.
        let latency_header = "| scenario | impl | p50 µs | p95 µs | p99 µs | max µs |";
        let at = lines.iter().position(|l| *l == latency_header).unwrap();
        let rows: Vec<&str> = lines[at + 2..]
            .iter()
            .copied()
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            "| burst-64B | tokio | 100\u{202f}000\u{202f}000 | 190\u{202f}000\u{202f}000 | \
             198\u{202f}000\u{202f}000 | 200\u{202f}000\u{202f}000 |"
        );
        // Every table line has the same number of cells as its header.
        for line in lines
            .iter()
            .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        {
            let cells = line.matches(" | ").count();
            assert!(cells == 8 || cells == 5, "odd row: {line}");
        }
        // Deterministic.
        assert_eq!(table, markdown(&info(), &summarize(&samples)));
    }

    #[test]
    fn smoke_runs_and_awkward_names_stay_inside_their_cells() {
        let info = RunInfo {
            smoke: true,
            ..info()
        };
        let mut odd = sample("a|b", "tokio", 1, 5.0);
        odd.latencies_us.clear();
        let table = markdown(&info, &summarize(&[odd]));
        assert!(table.lines().next().unwrap().contains("SMOKE"));
        assert!(table.contains("| a\\|b | tokio | 5.00 |"));
        assert!(!table.contains("p50 µs"));
    }

    #[test]
    fn no_summaries_still_give_a_header_and_an_empty_table() {
        let table = markdown(&info(), &[]);
        assert!(table.contains("|---|---|---:|"));
        assert!(!table.contains("p50 µs"));
    }
}
