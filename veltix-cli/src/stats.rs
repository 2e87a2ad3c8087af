//! Round-trip statistics: min/avg/max/mdev as ping(8) prints them, and
//! percentiles (nearest rank) for the bench table.

use std::time::Duration;

use serde_json::{Value, json};

use crate::duration::millis;

/// The percentiles in the bench table: column names and per-mille ranks.
pub(crate) const PERCENTILES: [(&str, usize); 4] =
    [("p50", 500), ("p90", 900), ("p99", 990), ("p99.9", 999)];

/// A summary of a set of durations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// How many.
    pub(crate) count: usize,
    /// The smallest.
    pub(crate) min: Duration,
    /// The mean.
    pub(crate) mean: Duration,
    /// The largest.
    pub(crate) max: Duration,
    /// The population standard deviation (ping(8)'s `mdev`).
    pub(crate) mdev: Duration,
    /// [`PERCENTILES`], in order.
    pub(crate) percentiles: [Duration; 4],
}

impl Summary {
    /// Summarizes `samples` (sorting them); `None` when there are none.
    pub(crate) fn of(samples: &mut [Duration]) -> Option<Self> {
        samples.sort_unstable();
        let (&min, &max) = (samples.first()?, samples.last()?);
        let n = samples.len() as f64;
        let secs = samples.iter().map(Duration::as_secs_f64);
        let mean = secs.clone().sum::<f64>() / n;
        let mean_square = secs.map(|s| s * s).sum::<f64>() / n;
        let variance = (mean_square - mean * mean).max(0.0);
        Some(Self {
            count: samples.len(),
            min,
            mean: Duration::from_secs_f64(mean),
            max,
            mdev: Duration::from_secs_f64(variance.sqrt()),
            percentiles: PERCENTILES.map(|(_, p)| percentile(samples, p)),
        })
    }

    /// `min/avg/max/mdev` in milliseconds, as ping(8) prints them.
    pub(crate) fn ping_line(&self) -> String {
        format!(
            "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
            millis(self.min),
            millis(self.mean),
            millis(self.max),
            millis(self.mdev)
        )
    }

    /// Every figure in milliseconds, as a JSON object.
    pub(crate) fn json_ms(&self) -> Value {
        let mut object = json!({
            "min": millis(self.min),
            "mean": millis(self.mean),
            "mdev": millis(self.mdev),
            "max": millis(self.max),
        });
        for ((name, _), value) in PERCENTILES.iter().zip(self.percentiles) {
            object[*name] = json!(millis(value));
        }
        object
    }
}

/// The nearest-rank percentile of sorted, non-empty `samples`, given per
/// mille (in integers: 99.9 % of 1000 samples is the 999th, not the 1000th).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    let rank = (per_mille * sorted.len()).div_ceil(1000);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=1000).rev().map(ms).collect();
        let summary = Summary::of(&mut samples).unwrap();
        assert_eq!(summary.percentiles, [ms(500), ms(900), ms(990), ms(999)]);
        assert_eq!(
            (summary.min, summary.max, summary.count),
            (ms(1), ms(1000), 1000)
        );
        let mut one = vec![ms(7)];
        assert_eq!(Summary::of(&mut one).unwrap().percentiles, [ms(7); 4]);
        assert_eq!(Summary::of(&mut []), None);
    }

    #[test]
    fn ping_figures() {
        let mut samples = vec![ms(1), ms(3)];
        let summary = Summary::of(&mut samples).unwrap();
        assert_eq!(summary.mean, ms(2));
        assert_eq!(summary.mdev, ms(1));
        assert_eq!(
            summary.ping_line(),
            "rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms"
        );
        assert_eq!(summary.json_ms()["p99.9"], json!(3.0));
    }
}
