//! Latency samples in bounded memory.

use std::time::Duration;

/// Samples kept at most: 8 MiB of them. Past this the sampler keeps every
/// other one and halves its rate, so what it holds stays evenly spread over
/// the run (and its percentiles representative) whatever the run's length.
const CAPACITY: usize = 1 << 20;

/// Evenly spaced latency samples of a run, at most [`CAPACITY`].
#[derive(Debug)]
pub(crate) struct Sampler {
    nanos: Vec<u64>,
    /// One sample kept in every `stride` offered.
    stride: u64,
    offered: u64,
    capacity: usize,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl Sampler {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            nanos: Vec::new(),
            stride: 1,
            offered: 0,
            capacity: capacity.max(2),
        }
    }

    /// Offers one sample.
    pub(crate) fn push(&mut self, latency: Duration) {
        if self.offered.is_multiple_of(self.stride) {
            self.nanos
                .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
            if self.nanos.len() >= self.capacity {
                let mut i = 0;
                self.nanos.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.offered += 1;
    }

    /// The samples kept.
    pub(crate) fn into_durations(self) -> Vec<Duration> {
        self.nanos.into_iter().map(Duration::from_nanos).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_until_full_then_an_even_spread() {
        let mut sampler = Sampler::with_capacity(4);
        for n in 0..3 {
            sampler.push(Duration::from_nanos(n));
        }
        let nanos = |s: Sampler| -> Vec<u128> {
            s.into_durations().iter().map(Duration::as_nanos).collect()
        };
        let mut full = Sampler::with_capacity(4);
        for n in 0..16 {
            full.push(Duration::from_nanos(n));
        }
        assert_eq!(nanos(sampler), [0, 1, 2]);
        // Full at 4 (0..4 → 0, 2; stride 2), then 4, 6 (→ 0, 4; stride 4),
        // then 8, 12 (→ 0, 8; stride 8).
        assert_eq!(nanos(full), [0, 8]);
    }
}
