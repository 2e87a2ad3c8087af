//! Which events pass: the caller's level, else `RUST_LOG`, else INFO.

use std::env::{self, VarError};

use tracing_subscriber::EnvFilter;

use crate::{LevelFilter, parse_level};

/// The level used when neither the caller nor `RUST_LOG` gives one.
pub(crate) const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// The filter to install, and what to warn about once the logger is up.
#[derive(Debug)]
pub(crate) struct Chosen {
    pub(crate) filter: EnvFilter,
    pub(crate) warning: Option<String>,
}

/// The filter for an explicit `level` or, without one, for the value of
/// `RUST_LOG` (`None`: unset). Precedence: the caller's level, then a
/// non-blank `RUST_LOG`, then [`DEFAULT_LEVEL`]. A `RUST_LOG` that is one of
/// our level names ([`parse_level`]: `ok`, `crit`, …) is that level; any
/// other is read as `EnvFilter` directives (`warn,veltix_core=debug`). One
/// that does not parse falls back to the default, with a warning; this
/// function never fails, so a bad environment cannot stop a program.
pub(crate) fn choose(level: Option<LevelFilter>, rust_log: Option<&str>) -> Chosen {
    let chosen = |filter, warning| Chosen { filter, warning };
    if let Some(level) = level {
        return chosen(only(level), None);
    }
    let Some(value) = rust_log.map(str::trim).filter(|v| !v.is_empty()) else {
        return chosen(only(DEFAULT_LEVEL), None);
    };
    if let Ok(level) = parse_level(value) {
        return chosen(only(level), None);
    }
    match EnvFilter::builder().parse(value) {
        Ok(filter) => chosen(filter, None),
        Err(err) => chosen(
            only(DEFAULT_LEVEL),
            Some(format!(
                "RUST_LOG={value:?} is not a valid filter ({err}); logging at {DEFAULT_LEVEL}"
            )),
        ),
    }
}

/// [`choose`] with the process's `RUST_LOG`; a value that is not UTF-8 is
/// ignored with a warning.
pub(crate) fn choose_from_env(level: Option<LevelFilter>) -> Chosen {
    if level.is_some() {
        return choose(level, None);
    }
    match env::var("RUST_LOG") {
        Ok(value) => choose(None, Some(&value)),
        Err(VarError::NotPresent) => choose(None, None),
        Err(VarError::NotUnicode(_)) => Chosen {
            filter: only(DEFAULT_LEVEL),
            warning: Some(format!("RUST_LOG is not UTF-8; logging at {DEFAULT_LEVEL}")),
        },
    }
}

/// A filter letting through `level` and everything more severe, from every
/// target.
pub(crate) fn only(level: LevelFilter) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(level: Option<LevelFilter>, rust_log: Option<&str>) -> (String, Option<String>) {
        let Chosen { filter, warning } = choose(level, rust_log);
        (filter.to_string(), warning)
    }

    #[test]
    fn without_level_or_rust_log_the_default_is_info() {
        assert_eq!(shown(None, None), ("info".into(), None));
        assert_eq!(shown(None, Some("")), ("info".into(), None));
        assert_eq!(shown(None, Some("  ")), ("info".into(), None));
    }

    #[test]
    fn rust_log_is_read_when_no_level_is_given() {
        assert_eq!(shown(None, Some("debug")), ("debug".into(), None));
        assert_eq!(shown(None, Some(" OK ")), ("info".into(), None));
        assert_eq!(shown(None, Some("crit")), ("error".into(), None));
        let (filter, warning) = shown(None, Some("warn,veltix_core=trace"));
        assert!(warning.is_none());
        assert!(filter.contains("veltix_core=trace"), "{filter}");
        assert!(filter.contains("warn"), "{filter}");
        let chosen = choose(None, Some("warn,veltix_core=trace")).filter;
        assert_eq!(chosen.max_level_hint(), Some(LevelFilter::TRACE));
        // A target alone turns every other target off, as env_logger does.
        let chosen = choose(None, Some("my_app=debug")).filter;
        assert_eq!(chosen.to_string(), "my_app=debug");
    }

    #[test]
    fn an_explicit_level_wins_over_rust_log() {
        assert_eq!(
            shown(Some(LevelFilter::ERROR), Some("trace")),
            ("error".into(), None)
        );
        assert_eq!(
            shown(Some(LevelFilter::OFF), Some("veltix=[{")),
            ("off".into(), None)
        );
    }

    #[test]
    fn a_malformed_rust_log_falls_back_to_info_with_a_warning() {
        for bad in ["veltix=loud", "a=b=c", "[{", "app=6"] {
            let (filter, warning) = shown(None, Some(bad));
            assert_eq!(filter, "info", "{bad}");
            let warning = warning.unwrap_or_else(|| panic!("no warning for {bad:?}"));
            assert!(warning.contains("RUST_LOG"), "{warning}");
            assert!(warning.contains("logging at info"), "{warning}");
        }
    }
}
