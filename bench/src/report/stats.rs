//! From runs to summaries: percentiles, min/median/max, ratios to the baselines.

use serde::Serialize;

use super::{BASELINE_LD, BASELINE_SHA, Sample};

/// The `p`-th percentile (0–100, nearest rank) of an ascending slice; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One scenario on one implementation, over all its runs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Implementation name.
    pub(crate) implementation: String,
    /// Unit of the values.
    pub(crate) unit: String,
    /// Whether bigger is better.
    pub(crate) higher_is_better: bool,
    /// Runs summarised.
    pub(crate) runs: usize,
    /// Smallest value over the runs.
    pub(crate) min: f64,
    /// Median value over the runs.
    pub(crate) median: f64,
    /// Largest value over the runs.
    pub(crate) max: f64,
    /// Median / the LengthDelimited baseline's median (same scenario).
    pub(crate) ratio_ld: Option<f64>,
    /// Median / the header + SHA-256 baseline's median (same scenario).
    pub(crate) ratio_sha: Option<f64>,
    /// Median over runs of client + server CPU per message, µs.
    pub(crate) cpu_us_per_msg: Option<f64>,
    /// Median over runs of the client's CPU per message, µs.
    pub(crate) cpu_client_us_per_msg: Option<f64>,
    /// Median over runs of the server's CPU per message, µs.
    pub(crate) cpu_server_us_per_msg: Option<f64>,
    /// Median over runs of each run's latency percentiles, µs.
    pub(crate) p50: Option<f64>,
    /// See `p50`.
    pub(crate) p95: Option<f64>,
    /// See `p50`.
    pub(crate) p99: Option<f64>,
    /// See `p50`.
    pub(crate) max_latency: Option<f64>,
}

/// Median of the present values (None when there are none).
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

/// Groups samples by (scenario, implementation), in order of first appearance.
pub(crate) fn summarize(samples: &[Sample]) -> Vec<Summary> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for s in samples {
        let key = (s.scenario.as_str(), s.implementation.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut summaries: Vec<Summary> = keys
        .iter()
        .map(|&(scenario, implementation)| {
            let runs: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.scenario == scenario && s.implementation == implementation)
                .collect();
            summary(&runs)
        })
        .collect();
    let medians: Vec<(String, String, f64)> = summaries
        .iter()
        .map(|s| (s.scenario.clone(), s.implementation.clone(), s.median))
        .collect();
    let baseline = |scenario: &str, name: &str| {
        medians
            .iter()
            .find(|(sc, i, _)| sc == scenario && i == name)
            .map(|m| m.2)
            .filter(|m| *m != 0.0)
    };
    for s in &mut summaries {
        s.ratio_ld = baseline(&s.scenario, BASELINE_LD).map(|b| s.median / b);
        s.ratio_sha = baseline(&s.scenario, BASELINE_SHA).map(|b| s.median / b);
    }
    summaries
}

fn summary(runs: &[&Sample]) -> Summary {
    let first = runs[0];
    let mut values: Vec<f64> = runs.iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    let per_run =
        |f: &dyn Fn(&Sample) -> Option<f64>| median_of(runs.iter().filter_map(|s| f(s)).collect());
    let latency = |p: f64| {
        per_run(&|s: &Sample| {
            if s.latencies_us.is_empty() {
                return None;
            }
            let mut sorted = s.latencies_us.clone();
            sorted.sort_by(f64::total_cmp);
            Some(percentile(&sorted, p))
        })
    };
    let per_message =
        |cpu: f64, s: &Sample| (s.messages > 0).then(|| cpu * 1e6 / s.messages as f64);
    Summary {
        scenario: first.scenario.clone(),
        implementation: first.implementation.clone(),
        unit: first.unit.clone(),
        higher_is_better: first.higher_is_better,
        runs: runs.len(),
        min: values[0],
        median: median_of(values.clone()).unwrap_or(f64::NAN),
        max: values[values.len() - 1],
        ratio_ld: None,
        ratio_sha: None,
        cpu_us_per_msg: per_run(&|s: &Sample| s.cpu_us_per_message()),
        cpu_client_us_per_msg: per_run(&|s: &Sample| per_message(s.cpu_client_s, s)),
        cpu_server_us_per_msg: per_run(&|s: &Sample| per_message(s.cpu_server_s, s)),
        p50: latency(50.0),
        p95: latency(95.0),
        p99: latency(99.0),
        max_latency: latency(100.0),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
            latencies_us: (1..=100).map(|i| i as f64 * value).collect(),
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let data: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&data, 50.0), 5.0);
        assert_eq!(percentile(&data, 95.0), 10.0);
        assert_eq!(percentile(&data, 0.0), 1.0);
        assert_eq!(percentile(&data, 100.0), 10.0);
        assert!(percentile(&[], 50.0).is_nan());
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
        assert_eq!((tokio.min, tokio.median, tokio.max), (1.0, 2.0, 3.0));
        assert_eq!(tokio.ratio_ld, Some(0.5));
        assert_eq!(tokio.ratio_sha, Some(1.0));
        // CPU: (0.002 + 0.002) s over 1000 messages for the median run = 4 µs.
        assert!((tokio.cpu_us_per_msg.unwrap() - 4.0).abs() < 1e-9);
        // p50 of run k is 50 * value; the median over runs is 50 * 2.
        assert_eq!(tokio.p50, Some(100.0));
        assert_eq!(tokio.max_latency, Some(200.0));
    }
}
