//! The time of day printed at the start of each line: UTC, or shifted by a
//! UTC offset found once, when the logger is built.

use std::fmt;
use std::time::Duration;

/// Which clock the `[HH:MM:SS.mmm]` timestamps read. The format is the same
/// in every zone: only the hours and minutes shift, no offset is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeZone {
    /// Coordinated Universal Time (the default): cheap, unambiguous, and the
    /// same on every machine.
    #[default]
    Utc,
    /// The machine's local time. The UTC offset is asked of the operating
    /// system **once**, when the logger is built, and kept: a daylight-saving
    /// change while the program runs is not followed.
    ///
    /// Build the logger before the program starts threads (for tokio: in a
    /// plain `fn main`, before the runtime is built, not inside
    /// `#[tokio::main]`). Reading the offset goes through the C library's
    /// time-zone state, which is unsound to touch while another thread may
    /// change the environment; the `time` crate that reads it may refuse
    /// when the process has several threads, and the platform may not know
    /// the offset at all. Then the logger uses UTC and its first line is a
    /// warning saying so (when WARN is let through). [`LogHandle::utc_offset_secs`](crate::LogHandle::utc_offset_secs)
    /// tells which offset is in force.
    Local,
    /// A fixed offset from UTC in seconds, east positive: `3600` is +01:00,
    /// `-19_800` is −05:30. Nothing is asked of the system.
    Fixed(i32),
}

/// The offset in seconds for `zone`, and a warning when the local offset
/// was asked for and `local` (the system's answer) could not give it.
pub(crate) fn resolve(
    zone: TimeZone,
    local: impl FnOnce() -> Option<i32>,
) -> (i32, Option<String>) {
    match zone {
        TimeZone::Utc => (0, None),
        TimeZone::Fixed(offset) => (offset, None),
        TimeZone::Local => match local() {
            Some(offset) => (offset, None),
            None => (
                0,
                Some(
                    "the local UTC offset cannot be determined (was the logger built after \
                     threads were started?); timestamps are in UTC"
                        .to_owned(),
                ),
            ),
        },
    }
}

/// The system's UTC offset now, in seconds, if it can be determined.
pub(crate) fn local_offset() -> Option<i32> {
    time::UtcOffset::current_local_offset()
        .ok()
        .map(time::UtcOffset::whole_seconds)
}

/// The time of day `since_epoch` (since the Unix epoch, UTC) shifted by
/// `offset` seconds, shown as `HH:MM:SS.mmm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeOfDay {
    secs: u32,
    millis: u32,
}

impl TimeOfDay {
    pub(crate) fn new(since_epoch: Duration, offset: i32) -> Self {
        let secs = (i128::from(since_epoch.as_secs()) + i128::from(offset)).rem_euclid(86_400);
        Self {
            // rem_euclid(86_400) is in 0..86_400.
            secs: u32::try_from(secs).unwrap_or(0),
            millis: since_epoch.subsec_millis(),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.secs / 3600, self.secs / 60 % 60, self.secs % 60);
        write!(f, "{h:02}:{m:02}:{s:02}.{:03}", self.millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T23:30:05.123Z.
    const LATE: Duration = Duration::from_millis(1_796_167_805_123);

    #[test]
    fn utc_and_fixed_offsets_render_in_the_line_format() {
        assert_eq!(TimeOfDay::new(LATE, 0).to_string(), "23:30:05.123");
        assert_eq!(TimeOfDay::new(LATE, 2 * 3600).to_string(), "01:30:05.123");
        assert_eq!(TimeOfDay::new(LATE, -19_800).to_string(), "18:00:05.123");
        assert_eq!(
            TimeOfDay::new(LATE, 5 * 3600 + 45 * 60).to_string(),
            "05:15:05.123"
        );
        assert_eq!(
            TimeOfDay::new(Duration::ZERO, -1).to_string(),
            "23:59:59.000"
        );
        // Any offset renders without overflow or panic.
        for offset in [i32::MIN, i32::MAX] {
            let shown = TimeOfDay::new(Duration::MAX, offset).to_string();
            assert_eq!(shown.len(), "HH:MM:SS.mmm".len(), "{shown}");
        }
    }

    #[test]
    fn only_local_asks_the_system() {
        let asked = || -> Option<i32> { panic!("asked the system") };
        assert_eq!(resolve(TimeZone::Utc, asked), (0, None));
        assert_eq!(resolve(TimeZone::Fixed(-3600), asked), (-3600, None));
        assert_eq!(resolve(TimeZone::Local, || Some(7200)), (7200, None));
    }

    #[test]
    fn an_unknown_local_offset_falls_back_to_utc_with_a_warning() {
        let (offset, warning) = resolve(TimeZone::Local, || None);
        assert_eq!(offset, 0);
        assert!(warning.is_some_and(|w| w.contains("UTC")));
    }
}
