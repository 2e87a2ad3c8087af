//! From runs to summaries: percentiles, min/median/max, ratios to the baselines.
//!
//! Nothing here panics on empty input or on NaN: sorting uses
//! [`f64::total_cmp`] and non-finite figures are left out of medians.

use serde::Serialize;

use super::{BASELINE_LD, BASELINE_SHA, BASELINE_TLS, PYTHON, Sample};

/// The `p`-th percentile (0–100, nearest rank) of an ascending slice; NaN when empty.
///
/// Nearest rank: the smallest value such that at least `p` % of the data is
/// less than or equal to it, so `p = 0` gives the minimum and `p = 100` the
/// maximum. `p` outside 0..=100 is clamped; a NaN `p` gives the minimum.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // A NaN `p` survives the clamp and casts to rank 0, hence the minimum.
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One scenario on one implementation, over all its runs.
///
/// Ratios divide medians whatever the direction of the metric: for rates
/// (`higher_is_better`) a ratio above 1 is better than the baseline, for
/// latency and memory (lower is better) a ratio below 1 is.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Implementation name.
    pub(crate) implementation: String,
    /// Unit of `min`, `median` and `max` (from the first run).
    pub(crate) unit: String,
    /// Whether bigger is better (rates); false for latency and memory.
    pub(crate) higher_is_better: bool,
    /// Runs summarised.
    pub(crate) runs: usize,
    /// Smallest value over the runs (NaN when no run has a finite value).
    pub(crate) min: f64,
    /// Median value over the runs (NaN when no run has a finite value).
    pub(crate) median: f64,
    /// Largest value over the runs (NaN when no run has a finite value).
    pub(crate) max: f64,
    /// This median / the LengthDelimited baseline's ([`BASELINE_LD`]) median in
    /// the same scenario; None without that baseline (or with a zero median).
    /// Above 1 is better for rates, below 1 for latency and memory.
    pub(crate) ratio_ld: Option<f64>,
    /// This median / the header + SHA-256 baseline's ([`BASELINE_SHA`]) median
    /// in the same scenario; same rules as `ratio_ld`.
    pub(crate) ratio_sha: Option<f64>,
    /// This median / Python Veltix's ([`PYTHON`]) median in the same
    /// scenario; same rules as `ratio_ld`.
    pub(crate) ratio_python: Option<f64>,
    /// The row this one is a variant of: its uncompressed self for a
    /// compressed row (`tokio+lz4` → `tokio`, `tokio+tls+lz4` →
    /// `tokio+tls`), its plaintext self for a TLS row (`tokio+tls` →
    /// `tokio`, `tokio+rustls+sha` → `tokio+sha`), its native self for a
    /// row in another dialect (`tokio/python3` → `tokio`). None for other rows.
    pub(crate) counterpart: Option<String>,
    /// This median / the counterpart's median in the same scenario; same
    /// rules as `ratio_ld`.
    pub(crate) ratio_counterpart: Option<f64>,
    /// This CPU per message / the counterpart's.
    pub(crate) cpu_ratio_counterpart: Option<f64>,
    /// This row's bytes on the wire / the counterpart's (medians).
    pub(crate) wire_ratio_counterpart: Option<f64>,
    /// For TLS rows: this median / the rustls baseline's ([`BASELINE_TLS`])
    /// in the same scenario; None for plaintext rows.
    pub(crate) ratio_tls: Option<f64>,
    /// For TLS rows: this CPU per message / the rustls baseline's.
    pub(crate) cpu_ratio_tls: Option<f64>,
    /// Median over runs of client + server CPU per message, µs.
    pub(crate) cpu_us_per_msg: Option<f64>,
    /// Median over runs of the client's CPU per message, µs.
    pub(crate) cpu_client_us_per_msg: Option<f64>,
    /// Median over runs of the server's CPU per message, µs.
    pub(crate) cpu_server_us_per_msg: Option<f64>,
    /// Median over runs of client + server CPU per MiB of payload, µs
    /// (throughput scenarios).
    pub(crate) cpu_us_per_mib: Option<f64>,
    /// Median over runs of the bytes on the wire in the measured part,
    /// both directions (when the client counts them).
    pub(crate) wire_bytes: Option<f64>,
    /// Median over runs of bytes on the wire ÷ payload bytes.
    pub(crate) wire_per_payload: Option<f64>,
    /// Round-trip time, µs: each run's 50th percentile, median over runs
    /// (None when no run measured latencies).
    pub(crate) p50: Option<f64>,
    /// Each run's 95th percentile round trip, median over runs, µs.
    pub(crate) p95: Option<f64>,
    /// Each run's 99th percentile round trip, median over runs, µs.
    pub(crate) p99: Option<f64>,
    /// Each run's longest round trip, median over runs, µs.
    pub(crate) max_latency: Option<f64>,
}

/// A row's median, CPU per message and bytes on the wire: what its
/// variants are divided by.
type Figures = (f64, Option<f64>, Option<f64>);

/// Median of the finite values (None when there are none).
fn median_of(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Pushes `item` unless already present (small lists: linear search is fine).
fn push_new<'a>(list: &mut Vec<&'a str>, item: &'a str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Groups samples by (scenario, implementation).
///
/// Scenarios come in the order they first appear in `samples`, and within a
/// scenario the implementations in the order they first appear anywhere in
/// `samples`, so a run that failed the first time does not move its row.
pub(crate) fn summarize(samples: &[Sample]) -> Vec<Summary> {
    let mut scenarios: Vec<&str> = Vec::new();
    let mut implementations: Vec<&str> = Vec::new();
    for s in samples {
        push_new(&mut scenarios, &s.scenario);
        push_new(&mut implementations, &s.implementation);
    }
    let mut summaries: Vec<Summary> = Vec::new();
    for &scenario in &scenarios {
        let first = summaries.len();
        for &implementation in &implementations {
            let runs: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.scenario == scenario && s.implementation == implementation)
                .collect();
            if let Some(summary) = summary(&runs) {
                summaries.push(summary);
            }
        }
        let group = &mut summaries[first..];
        let baseline = |name: &str| {
            group
                .iter()
                .find(|s| s.implementation == name)
                .map(|s| s.median)
                .filter(|m| m.is_finite() && *m != 0.0)
        };
        let (ld, sha) = (baseline(BASELINE_LD), baseline(BASELINE_SHA));
        let python = baseline(PYTHON);
        let figures = |name: &str| {
            group
                .iter()
                .find(|s| s.implementation == name)
                .map(|s| (s.median, s.cpu_us_per_msg, s.wire_bytes))
        };
        let tls = figures(BASELINE_TLS);
        let counterparts: Vec<Option<Figures>> = group
            .iter()
            .map(|s| counterpart(&s.implementation).and_then(|c| figures(&c)))
            .collect();
        for (s, of) in group.iter_mut().zip(counterparts) {
            s.ratio_ld = ld.map(|b| s.median / b);
            s.ratio_sha = sha.map(|b| s.median / b);
            s.ratio_python = python.map(|b| s.median / b);
            s.counterpart = counterpart(&s.implementation).filter(|_| of.is_some());
            if let Some((median, cpu, wire)) = of {
                s.ratio_counterpart = ratio(s.median, median);
                s.cpu_ratio_counterpart = s.cpu_us_per_msg.and_then(|c| ratio(c, cpu?));
                s.wire_ratio_counterpart = s.wire_bytes.and_then(|w| ratio(w, wire?));
            }
            if let Some((median, cpu, _)) = tls.filter(|_| is_tls(&s.implementation)) {
                s.ratio_tls = ratio(s.median, median);
                s.cpu_ratio_tls = s.cpu_us_per_msg.and_then(|c| ratio(c, cpu?));
            }
        }
    }
    summaries
}

/// `a / b`, unless `b` is zero or either is not finite.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b != 0.0).then(|| a / b)
}

/// Whether a row runs over TLS: a `+tls` row (`tokio+tls`,
/// `tokio+tls/python3`, `tokio+tls@server`) or the rustls baseline.
pub(crate) fn is_tls(row: &str) -> bool {
    let client = row.split_once('@').map_or(row, |(client, _)| client);
    client.contains("+tls") || client == BASELINE_TLS
}

/// The row `row` is a variant of, by name: without compression
/// (`tokio+lz4` → `tokio`, `tokio+tls+lz4` → `tokio+tls`), else without
/// TLS (`tokio+tls` → `tokio`, `tokio+tls/python3` → `tokio/python3`,
/// `tokio+rustls+sha` → `tokio+sha`), else in the native dialect
/// (`tokio/python3` → `tokio`); a `@server` suffix is kept. None for a row
/// that is no variant.
pub(crate) fn counterpart(row: &str) -> Option<String> {
    let (client, server) = match row.split_once('@') {
        Some((client, server)) => (client, Some(server)),
        None => (row, None),
    };
    let base = if client.contains(COMPRESSED) {
        client.replacen(COMPRESSED, "", 1)
    } else if client == BASELINE_TLS {
        BASELINE_SHA.to_owned()
    } else if client.contains("+tls") {
        client.replacen("+tls", "", 1)
    } else {
        client.split_once('/')?.0.to_owned()
    };
    Some(match server {
        Some(server) => format!("{base}@{server}"),
        None => base,
    })
}

/// What a compressed row's name carries (`tokio+lz4`).
const COMPRESSED: &str = "+lz4";

/// The summary of the runs of one (scenario, implementation), ratios unset;
/// None without runs.
fn summary(runs: &[&Sample]) -> Option<Summary> {
    let first = runs.first()?;
    let mut values: Vec<f64> = runs
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    let per_run =
        |f: &dyn Fn(&Sample) -> Option<f64>| median_of(runs.iter().filter_map(|s| f(s)).collect());
    let sorted_latencies: Vec<Vec<f64>> = runs
        .iter()
        .map(|s| {
            let mut sorted: Vec<f64> = s
                .latencies_us
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            sorted.sort_by(f64::total_cmp);
            sorted
        })
        .collect();
    let latency = |p: f64| {
        median_of(
            sorted_latencies
                .iter()
                .filter(|sorted| !sorted.is_empty())
                .map(|sorted| percentile(sorted, p))
                .collect(),
        )
    };
    let per_message =
        |cpu: f64, s: &Sample| (s.messages > 0).then(|| cpu * 1e6 / s.messages as f64);
    Some(Summary {
        scenario: first.scenario.clone(),
        implementation: first.implementation.clone(),
        unit: first.unit.clone(),
        higher_is_better: first.higher_is_better,
        runs: runs.len(),
        min: values.first().copied().unwrap_or(f64::NAN),
        median: median_of(values.clone()).unwrap_or(f64::NAN),
        max: values.last().copied().unwrap_or(f64::NAN),
        ratio_ld: None,
        ratio_sha: None,
        ratio_python: None,
        counterpart: None,
        ratio_counterpart: None,
        cpu_ratio_counterpart: None,
        wire_ratio_counterpart: None,
        ratio_tls: None,
        cpu_ratio_tls: None,
        cpu_us_per_msg: per_run(&|s: &Sample| s.cpu_us_per_message()),
        cpu_client_us_per_msg: per_run(&|s: &Sample| per_message(s.cpu_client_s, s)),
        cpu_server_us_per_msg: per_run(&|s: &Sample| per_message(s.cpu_server_s, s)),
        cpu_us_per_mib: per_run(&|s: &Sample| s.cpu_us_per_mib()),
        wire_bytes: per_run(&|s: &Sample| s.wire_bytes().map(|w| w as f64)),
        wire_per_payload: per_run(&|s: &Sample| {
            let payload = s.payload_bytes.filter(|&p| p > 0)?;
            Some(s.wire_bytes()? as f64 / payload as f64)
        }),
        p50: latency(50.0),
        p95: latency(95.0),
        p99: latency(99.0),
        max_latency: latency(100.0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A throughput sample whose figures all scale with `value`: CPU client
    /// `value` ms, server 2 ms, 1000 messages, latencies `value` × 1..=100 µs.
    pub(crate) fn sample(scenario: &str, implementation: &str, run: usize, value: f64) -> Sample {
        Sample {
            scenario: scenario.to_owned(),
            implementation: implementation.to_owned(),
            run,
            value,
            unit: "msg/s".to_owned(),
            higher_is_better: true,
            messages: 1000,
            wall_s: 1.0,
            cpu_client_s: 0.001 * value,
            cpu_server_s: 0.002,
            latencies_us: (1..=100).map(|i| f64::from(i) * value).collect(),
            payload_bytes: None,
            wire_sent_bytes: None,
            wire_received_bytes: None,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let data: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&data, 50.0), 5.0);
        assert_eq!(percentile(&data, 51.0), 6.0);
        assert_eq!(percentile(&data, 90.0), 9.0);
        assert_eq!(percentile(&data, 95.0), 10.0);
        assert_eq!(percentile(&data, 0.0), 1.0);
        assert_eq!(percentile(&data, 100.0), 10.0);
        assert_eq!(percentile(&[7.0], 99.9), 7.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 99.0), 99.0);
        assert_eq!(percentile(&hundred, 99.5), 100.0);
        assert_eq!(percentile(&hundred, 25.0), 25.0);
    }

    #[test]
    fn percentile_survives_odd_input() {
        let data = [1.0, 2.0, 3.0];
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&data, -5.0), 1.0);
        assert_eq!(percentile(&data, 250.0), 3.0);
        assert_eq!(percentile(&data, f64::NAN), 1.0);
        assert_eq!(percentile(&data, f64::INFINITY), 3.0);
    }

    #[test]
    fn summaries_take_medians_and_ratios_to_the_baselines() {
        let samples = vec![
            sample("s", "tokio", 1, 3.0),
            sample("s", "tokio", 2, 1.0),
            sample("s", "tokio", 3, 2.0),
            sample("s", BASELINE_LD, 1, 4.0),
            sample("s", BASELINE_SHA, 1, 2.0),
        ];
        let summaries = summarize(&samples);
        assert_eq!(summaries.len(), 3);
        let tokio = &summaries[0];
        assert_eq!(tokio.runs, 3);
        assert_eq!((tokio.min, tokio.median, tokio.max), (1.0, 2.0, 3.0));
        assert_eq!(tokio.ratio_ld, Some(0.5));
        assert_eq!(tokio.ratio_sha, Some(1.0));
        // CPU of run k: client k ms + server 2 ms over 1000 messages.
        assert!(close(tokio.cpu_us_per_msg, 4.0));
        assert!(close(tokio.cpu_client_us_per_msg, 2.0));
        assert!(close(tokio.cpu_server_us_per_msg, 2.0));
        // Run k has latencies k, 2k, .., 100k: p50 = 50k, median over runs k = 2.
        assert_eq!(tokio.p50, Some(100.0));
        assert_eq!(tokio.p95, Some(190.0));
        assert_eq!(tokio.p99, Some(198.0));
        assert_eq!(tokio.max_latency, Some(200.0));
        // The baselines against themselves and each other.
        assert_eq!(summaries[1].implementation, BASELINE_LD);
        assert_eq!(summaries[1].ratio_ld, Some(1.0));
        assert_eq!(summaries[1].ratio_sha, Some(2.0));
        assert_eq!(summaries[2].ratio_ld, Some(0.5));
        assert!(summaries.iter().all(|s| s.ratio_python.is_none()));
    }

    #[test]
    fn ratios_to_python_where_it_ran() {
        let summaries = summarize(&[
            sample("s", "tokio", 1, 30.0),
            sample("s", PYTHON, 1, 3.0),
            sample("t", "tokio", 1, 1.0),
        ]);
        assert_eq!(summaries[0].ratio_python, Some(10.0));
        assert_eq!(summaries[1].ratio_python, Some(1.0));
        assert_eq!(summaries[2].ratio_python, None);
    }

    #[test]
    fn variants_are_divided_by_their_counterparts_and_tls_rows_by_the_tls_baseline() {
        assert_eq!(counterpart("tokio+tls").as_deref(), Some("tokio"));
        assert_eq!(
            counterpart("mio-threaded+tls/python3").as_deref(),
            Some("mio-threaded/python3")
        );
        assert_eq!(counterpart("smol/legacy").as_deref(), Some("smol"));
        assert_eq!(counterpart(BASELINE_TLS).as_deref(), Some(BASELINE_SHA));
        assert_eq!(counterpart("tokio/python3@py").as_deref(), Some("tokio@py"));
        assert_eq!(counterpart("tokio+lz4").as_deref(), Some("tokio"));
        assert_eq!(counterpart("tokio+tls+lz4").as_deref(), Some("tokio+tls"));
        assert_eq!(counterpart("mio+lz4@srv").as_deref(), Some("mio@srv"));
        assert_eq!(counterpart("tokio"), None);
        assert_eq!(counterpart(BASELINE_SHA), None);
        assert!(is_tls("smol+tls") && is_tls(BASELINE_TLS) && is_tls("tokio+tls/python3"));
        assert!(!is_tls("tokio") && !is_tls("tokio/python3") && !is_tls("tokio@tls+x"));

        // CPU of a sample of value v: (v ms + 2 ms) / 1000 messages = v + 2 µs.
        let summaries = summarize(&[
            sample("s", "tokio", 1, 4.0),
            sample("s", "tokio+tls", 1, 2.0),
            sample("s", "tokio/python3", 1, 8.0),
            sample("s", BASELINE_SHA, 1, 10.0),
            sample("s", BASELINE_TLS, 1, 2.5),
            sample("t", "tokio+tls", 1, 1.0),
        ]);
        let find = |scenario: &str, row: &str| {
            summaries
                .iter()
                .find(|s| s.scenario == scenario && s.implementation == row)
                .unwrap()
        };
        let tls = find("s", "tokio+tls");
        assert_eq!(tls.counterpart.as_deref(), Some("tokio"));
        assert_eq!(tls.ratio_counterpart, Some(0.5));
        assert!(close(tls.cpu_ratio_counterpart, 4.0 / 6.0));
        assert_eq!(tls.ratio_tls, Some(0.8));
        assert!(close(tls.cpu_ratio_tls, 4.0 / 4.5));
        let compact = find("s", "tokio/python3");
        assert_eq!(compact.ratio_counterpart, Some(2.0));
        assert_eq!(compact.ratio_tls, None);
        let baseline = find("s", BASELINE_TLS);
        assert_eq!(baseline.counterpart.as_deref(), Some(BASELINE_SHA));
        assert_eq!(baseline.ratio_counterpart, Some(0.25));
        assert_eq!(baseline.ratio_tls, Some(1.0));
        let plain = find("s", "tokio");
        assert_eq!((plain.counterpart.as_ref(), plain.ratio_tls), (None, None));
        // No counterpart or baseline in the scenario: no ratios.
        let alone = find("t", "tokio+tls");
        assert_eq!(alone.counterpart, None);
        assert_eq!((alone.ratio_counterpart, alone.ratio_tls), (None, None));
    }

    #[test]
    fn even_run_counts_average_the_middle_two() {
        let samples = vec![
            sample("s", "mio", 1, 1.0),
            sample("s", "mio", 2, 4.0),
            sample("s", "mio", 3, 2.0),
            sample("s", "mio", 4, 10.0),
        ];
        let mio = &summarize(&samples)[0];
        assert_eq!((mio.min, mio.median, mio.max), (1.0, 3.0, 10.0));
        assert_eq!(mio.p50, Some(150.0));
        assert_eq!((mio.ratio_ld, mio.ratio_sha), (None, None));
    }

    #[test]
    fn lower_is_better_metrics_still_divide_medians() {
        let latency = |implementation: &str, value: f64| Sample {
            unit: "µs".to_owned(),
            higher_is_better: false,
            ..sample("ping", implementation, 1, value)
        };
        let summaries = summarize(&[
            latency("smol", 30.0),
            latency(BASELINE_LD, 20.0),
            latency(BASELINE_SHA, 60.0),
        ]);
        let smol = &summaries[0];
        assert!(!smol.higher_is_better);
        assert_eq!(smol.unit, "µs");
        assert_eq!(smol.ratio_ld, Some(1.5));
        assert_eq!(smol.ratio_sha, Some(0.5));
    }

    #[test]
    fn groups_by_scenario_then_implementation_in_first_seen_order() {
        // Run 1 of smol on "a" failed, so smol first shows up under "b".
        let samples = vec![
            sample("a", "tokio", 1, 1.0),
            sample("b", "smol", 1, 1.0),
            sample("b", "tokio", 1, 1.0),
            sample("a", "smol", 2, 1.0),
            sample("a", "tokio", 2, 1.0),
            sample("c", BASELINE_LD, 2, 1.0),
        ];
        let order: Vec<(String, String)> = summarize(&samples)
            .into_iter()
            .map(|s| (s.scenario, s.implementation))
            .collect();
        let expected = [
            ("a", "tokio"),
            ("a", "smol"),
            ("b", "tokio"),
            ("b", "smol"),
            ("c", BASELINE_LD),
        ];
        assert_eq!(
            order,
            expected.map(|(s, i)| (s.to_owned(), i.to_owned())).to_vec()
        );
        // Ratios never cross scenarios: "a" and "b" have no baseline.
        assert!(
            summarize(&samples)[..4]
                .iter()
                .all(|s| s.ratio_ld.is_none())
        );
    }

    #[test]
    fn empty_nan_and_missing_figures_give_none_not_panics() {
        assert!(summarize(&[]).is_empty());

        let mut idle = sample("idle", "tokio", 1, f64::NAN);
        idle.messages = 0;
        idle.latencies_us.clear();
        let mut baseline = sample("idle", BASELINE_LD, 1, 0.0);
        baseline.latencies_us = vec![f64::NAN, 5.0, f64::INFINITY, 1.0];
        let summaries = summarize(&[idle, baseline]);
        let idle = &summaries[0];
        assert!(idle.min.is_nan() && idle.median.is_nan() && idle.max.is_nan());
        assert_eq!(idle.cpu_us_per_msg, None);
        assert_eq!(idle.cpu_client_us_per_msg, None);
        assert_eq!((idle.p50, idle.max_latency), (None, None));
        // A zero baseline median gives no ratio rather than infinity.
        assert_eq!(idle.ratio_ld, None);
        // Non-finite latencies are left out.
        assert_eq!(summaries[1].p50, Some(1.0));
        assert_eq!(summaries[1].max_latency, Some(5.0));
    }
}
