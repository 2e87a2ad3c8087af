//! The markdown tables printed at the end of a run and kept in BENCHMARKS.md.
//!
//! The output depends only on its input (no clock, no locale), so the same
//! summaries always give the same text.

use std::fmt::Write as _;

use super::{BASELINE_LD, BASELINE_SHA, BASELINE_TLS, PYTHON, RunInfo, Summary};

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
    for note in &info.notes {
        let _ = writeln!(out, "- {}", note.replace(['\n', '\r'], " "));
    }
    if !info.notes.is_empty() {
        out.push('\n');
    }
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
            // A server the bench did not start and could not find.
            (None, Some(client), None) => format!("{NONE} ({} + {NONE})", number(client)),
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
    out.push_str(&python_table(summaries));
    out.push_str(&variants_table(summaries));
    out.push_str(&wire_table(summaries));
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

/// TLS rows against themselves in plaintext and against the rustls
/// baseline, rows in another dialect against themselves in the native
/// one: rates and CPU per message. Empty when no row has a counterpart.
fn variants_table(summaries: &[Summary]) -> String {
    let variants: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.ratio_counterpart.is_some() || s.ratio_tls.is_some())
        .collect();
    if variants.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n| scenario | row | median | unit | vs | × vs | CPU/msg × vs | × {BASELINE_TLS} | CPU/msg × {BASELINE_TLS} |\n\
         |---|---|---:|---|---|---:|---:|---:|---:|\n"
    );
    for s in variants {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.scenario),
            cell(&s.implementation),
            number(s.median),
            cell(&s.unit),
            s.counterpart.as_deref().map_or(NONE.to_owned(), cell),
            optional(s.ratio_counterpart, "×"),
            optional(s.cpu_ratio_counterpart, "×"),
            optional(s.ratio_tls, "×"),
            optional(s.cpu_ratio_tls, "×"),
        );
    }
    out.push_str(
        "\nVariants: a TLS row against the same row in plaintext (vs) and against the \
         hand-written tokio-rustls baseline; a row in another dialect (IMPL/DIALECT) against \
         the same row in the native dialect; a compressed row (IMPL+lz4) against the same row \
         without compression. Medians divided as above; CPU per message \
         (client + server) divided, below 1× is cheaper.\n",
    );
    out
}

/// The 1 MiB scenarios (MiB/s): rate, bytes on the wire and CPU per MiB of
/// payload, and a variant (a compressed row) against the row it varies.
/// Empty when no such scenario ran.
fn wire_table(summaries: &[Summary]) -> String {
    let rows: Vec<&Summary> = summaries.iter().filter(|s| s.unit == "MiB/s").collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n| scenario | row | MiB/s | wire MiB | wire ÷ payload | CPU µs/MiB | vs | × MiB/s vs | × wire vs | × CPU/MiB vs |\n\
         |---|---|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for s in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.scenario),
            cell(&s.implementation),
            number(s.median),
            optional(s.wire_bytes.map(|b| b / f64::from(1 << 20)), ""),
            optional(s.wire_per_payload, ""),
            optional(s.cpu_us_per_mib, ""),
            s.counterpart.as_deref().map_or(NONE.to_owned(), cell),
            optional(s.ratio_counterpart, "×"),
            optional(s.wire_ratio_counterpart, "×"),
            optional(s.cpu_ratio_counterpart, "×"),
        );
    }
    out.push_str(
        "\nBytes on the wire: what the client's TCP socket sent and received in the measured \
         part (the messages, then one request and its answer), counted at the socket's read \
         and write calls: frames as they travel, headers and payloads, compressed or not \
         (under TLS, the encrypted records); no TCP/IP headers; — where the client cannot be \
         counted (mio-threaded). wire ÷ payload: divided by the messages' payload bytes. CPU \
         µs/MiB: client + server, per MiB of payload. vs: the row this one varies (a +lz4 row's \
         uncompressed self), medians divided: above 1× is faster for MiB/s, below 1× is fewer \
         bytes or less CPU.\n",
    );
    out
}

/// Each implementation against Python Veltix 1.3.0, one row per scenario
/// it ran in; empty when it ran in none.
fn python_table(summaries: &[Summary]) -> String {
    if summaries.iter().all(|s| s.ratio_python.is_none()) {
        return String::new();
    }
    let mut scenarios: Vec<&str> = Vec::new();
    let mut columns: Vec<&str> = Vec::new();
    for s in summaries.iter().filter(|s| s.ratio_python.is_some()) {
        if !scenarios.contains(&s.scenario.as_str()) {
            scenarios.push(&s.scenario);
        }
        if s.implementation != PYTHON && !columns.contains(&s.implementation.as_str()) {
            columns.push(&s.implementation);
        }
    }
    let mut out = String::from("\n| scenario |");
    for column in &columns {
        let _ = write!(out, " × {PYTHON} ({}) |", cell(column));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for scenario in scenarios {
        let _ = write!(out, "| {} |", cell(scenario));
        for column in &columns {
            let ratio = summaries
                .iter()
                .find(|s| s.scenario == scenario && s.implementation == *column)
                .and_then(|s| s.ratio_python);
            let _ = write!(out, " {} |", optional(ratio, "×"));
        }
        out.push('\n');
    }
    out.push_str(
        "\nAgainst Python Veltix 1.3.0's server (the python row, driven by the tokio \
         client without the handshake): each median ÷ python's, same rules as above.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::tests::sample;
    use crate::report::{Sample, summarize};

    fn info() -> RunInfo {
        RunInfo {
            date: "2026-11-24 05:00 UTC".to_owned(),
            commit: "abc1234".to_owned(),
            cpu: "Some CPU @ 3.0GHz".to_owned(),
            cores: 8,
            runs: 5,
            smoke: false,
            sha256_mib_s: 1500.4,
            notes: Vec::new(),
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
    fn notes_and_the_python_table_appear_when_there_is_something_to_say() {
        let table = markdown(&info(), &summarize(&[sample("s", "tokio", 1, 1.0)]));
        assert!(!table.contains("× python") && !table.contains("\n- "));

        let info = RunInfo {
            notes: vec!["python: skipped (no interpreter)".to_owned()],
            ..info()
        };
        let mut unknown_server = sample("s", "mio", 1, 1.0);
        unknown_server.cpu_server_s = f64::NAN;
        let samples = [
            sample("s", "tokio", 1, 30.0),
            sample("s", PYTHON, 1, 3.0),
            unknown_server,
            sample("t", "tokio", 1, 30.0),
        ];
        let table = markdown(&info, &summarize(&samples));
        assert!(table.contains("\n- python: skipped (no interpreter)\n"));
        assert!(
            table.contains("| scenario | × python (tokio) | × python (mio) |\n|---|---:|---:|\n")
        );
        assert!(table.contains("| s | 10.0× | 0.33× |\n"));
        let python_part =
            &table[table.find("× python (tokio)").unwrap()..table.find("Against Python").unwrap()];
        assert!(!python_part.contains("| t | "), "t has no python row");
        // The client's CPU alone: 1 ms over 1000 messages.
        assert!(table.contains("| s | mio | 1.00 | 1.00 | 1.00 | msg/s | — | — | — (1.00 + —) |"));
    }

    #[test]
    fn variants_get_their_own_table() {
        let plain_only = markdown(&info(), &summarize(&[sample("s", "tokio", 1, 1.0)]));
        assert!(!plain_only.contains("Variants:"));
        let samples = [
            sample("s", "tokio", 1, 4.0),
            sample("s", "tokio+tls", 1, 2.0),
            sample("s", "tokio/python3", 1, 8.0),
            sample("s", BASELINE_TLS, 1, 2.5),
        ];
        let table = markdown(&info(), &summarize(&samples));
        assert!(table.contains("Variants:"));
        assert!(
            table.contains(
                "| s | tokio+tls | 2.00 | msg/s | tokio | 0.50× | 0.67× | 0.80× | 0.89× |"
            )
        );
        assert!(
            table.contains("| s | tokio/python3 | 8.00 | msg/s | tokio | 2.00× | 1.67× | — | — |")
        );
        // The baseline has no plaintext counterpart here: vs is empty.
        assert!(
            table.contains("| s | tokio+rustls+sha | 2.50 | msg/s | — | — | — | 1.00× | 1.00× |")
        );
    }

    #[test]
    fn the_1mib_scenarios_get_bytes_on_the_wire_and_compressed_rows_their_ratios() {
        let mib = |row: &str, value: f64, wire: u64| Sample {
            unit: "MiB/s".to_owned(),
            payload_bytes: Some(400 << 20),
            wire_sent_bytes: Some(wire - 1000),
            wire_received_bytes: Some(1000),
            ..sample("large-1MiB-text", row, 1, value)
        };
        let mut threaded = mib("mio-threaded", 100.0, 1000);
        (threaded.wire_sent_bytes, threaded.wire_received_bytes) = (None, None);
        let samples = [
            sample("burst-64B", "tokio", 1, 1.0),
            mib("tokio", 1000.0, 400 << 20),
            mib("tokio+lz4", 2000.0, 100 << 20),
            threaded,
        ];
        let table = markdown(&info(), &summarize(&samples));
        assert!(table.contains("| scenario | row | MiB/s | wire MiB | wire ÷ payload |"));
        // CPU: (1 s + 2 ms) over 400 MiB = 2505 µs/MiB.
        assert!(
            table
                .contains("| large-1MiB-text | tokio | 1000 | 400 | 1.00 | 2505 | — | — | — | — |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| large-1MiB-text | tokio+lz4 | 2000 | 100 | 0.25 | 5005 | tokio | 2.00× | 0.25× | 2.00× |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| large-1MiB-text | mio-threaded | 100 | — | — | 255 | — |"),
            "{table}"
        );
        assert!(
            !table.contains("| burst-64B | tokio | 1.00 | — |"),
            "MiB/s rows only"
        );
    }

    #[test]
    fn no_summaries_still_give_a_header_and_an_empty_table() {
        let table = markdown(&info(), &[]);
        assert!(table.contains("|---|---|---:|"));
        assert!(!table.contains("p50 µs"));
    }
}
