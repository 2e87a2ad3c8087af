//! The progress bar of a scenario, on standard error (drawn only on a terminal).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Limit;

/// Messages between two updates of the bar's text.
const TEXT_EVERY: u64 = 256;

/// One scenario's bar: filled by messages (`--count`) or by time (`--duration`).
pub(crate) struct Progress {
    bar: ProgressBar,
    limit: Limit,
}

impl Progress {
    /// A bar for scenario `name`, hidden when `hidden` or when standard
    /// error is not a terminal.
    pub(crate) fn new(name: &str, limit: Limit, hidden: bool) -> Self {
        let target = if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let length = match limit {
            Limit::Count(count) => count,
            Limit::Duration(duration) => millis(duration),
        };
        let bar = ProgressBar::with_draw_target(Some(length), target);
        if let Ok(style) = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_owned());
        Self { bar, limit }
    }

    /// `done` messages so far, since `started`.
    pub(crate) fn update(&self, done: u64, started: Instant) {
        match self.limit {
            Limit::Count(_) => self.bar.set_position(done),
            Limit::Duration(_) => self.bar.set_position(millis(started.elapsed())),
        }
        if done.is_multiple_of(TEXT_EVERY) {
            self.bar.set_message(format!("{done} messages"));
        }
    }

    /// Waiting for what is still in flight.
    pub(crate) fn waiting(&self, what: &str) {
        self.bar.set_message(what.to_owned());
    }

    /// Removes the bar.
    pub(crate) fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
