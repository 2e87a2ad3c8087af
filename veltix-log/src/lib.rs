//! The ready-made Veltix logger: one call turns the `tracing` events that
//! Veltix (and your program) emit into readable lines.
//!
//! ```no_run
//! let _log = veltix_log::init(veltix_log::LogConfig::default())?;
//! veltix_log::info!("listening");
//! veltix_log::ok!("handshake done");
//! # Ok::<(), veltix_log::LogError>(())
//! ```
//!
//! Every line reads `[HH:MM:SS.mmm] LEVEL [file:line] message fields`, then,
//! when the event happened inside spans, ` in span{fields}:span{fields}`.
//! The time is **UTC** by default (cheap and unambiguous; no time-zone
//! database is read), or local time with [`LogConfig::local_time`] (see
//! [`TimeZone::Local`] for when to build the logger so that the local offset
//! can be read).
//! The level tags are five characters wide: `TRACE`, `DEBUG`, `INFO `,
//! `OK   `, `WARN `, `ERROR`, `CRIT `. `tracing` has no success or critical
//! level, so these two are conventions: an INFO event with the field
//! `ok = true` is printed as `OK` (the [`ok!`] macro), an ERROR event with
//! `crit = true` as `CRIT` ([`crit!`]). Each part before the message can be
//! turned off in [`LogConfig`].
//!
//! Lines go to standard error, or to a file rotated by size with a number of
//! backups kept (`app.log`, `app.log.1` … `app.log.N`, `.1` the newest).
//! Writing happens on a background thread so that logging never waits on
//! the disk; when that thread falls more than
//! [`LogConfig::buffered_lines`] lines behind, the logging thread waits
//! rather than drop a line, so no line is ever lost silently
//! ([`LogHandle::dropped_lines`] stays 0). Keep the [`LogHandle`] alive for
//! as long as you log: dropping it flushes what is queued and stops the
//! writer.
//!
//! # Which events are written
//!
//! An explicit level wins: [`LogConfig::level`] (or a `--log-level` flag
//! through [`LogConfig::from_flags`]). Without one, the `RUST_LOG`
//! environment variable is honoured through `tracing-subscriber`'s
//! `EnvFilter`: one of our level names (`debug`, `ok`, `crit`, …) or
//! directives such as `warn,veltix_core=debug`. Without either, INFO. A
//! `RUST_LOG` that does not parse is ignored: the logger writes at INFO and
//! its first line is a warning saying why. `RUST_LOG` is read once, when the
//! logger is built.
//!
//! The level can be changed at run time with [`LogHandle::set_level`]
//! (replacing any `RUST_LOG` directives). Events that are filtered out are
//! not formatted at all: their arguments are never evaluated into text.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing::Subscriber;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub use clock::TimeZone;

mod clock;
mod filter;
mod format;

pub use tracing::level_filters::LevelFilter;
pub use tracing::{debug, error, info, trace, warn};

#[doc(hidden)]
pub use tracing as __tracing;

/// Logs a success: an INFO event with the field `ok = true`, printed with the
/// `OK` tag. Takes the same arguments as [`tracing::info!`].
#[macro_export]
macro_rules! ok {
    ($($arg:tt)+) => {
        $crate::__tracing::info!(ok = true, $($arg)+)
    };
}

/// Logs a critical failure: an ERROR event with the field `crit = true`,
/// printed with the `CRIT` tag. Takes the same arguments as
/// [`tracing::error!`].
#[macro_export]
macro_rules! crit {
    ($($arg:tt)+) => {
        $crate::__tracing::error!(crit = true, $($arg)+)
    };
}

/// When to colour the output with ANSI escapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorMode {
    /// Colour when writing to standard error and it is a terminal, and the
    /// `NO_COLOR` environment variable is not set; never in a file.
    #[default]
    Auto,
    /// Always colour, files included.
    Always,
    /// Never colour.
    Never,
}

/// What to log, how, and where. Start from [`LogConfig::default`] (`RUST_LOG`
/// or else INFO, to standard error, colours when a terminal, UTC, every part
/// shown).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LogConfig {
    /// The most verbose level written; [`LevelFilter::OFF`] writes nothing.
    /// `None` (the default): what `RUST_LOG` says, else INFO (see the crate
    /// documentation for the precedence).
    pub level: Option<LevelFilter>,
    /// Whether to colour the output.
    pub color: ColorMode,
    /// Show `[HH:MM:SS.mmm]`.
    pub timestamp: bool,
    /// The clock of the timestamps: UTC by default.
    pub time_zone: TimeZone,
    /// Show the level tag.
    pub show_level: bool,
    /// Show `[file:line]` of the code that logged.
    pub caller: bool,
    /// Write to this file instead of standard error.
    pub file: Option<PathBuf>,
    /// Rotate the file once it holds more than this many bytes; a file is
    /// then at most this size plus one line. 0 never rotates.
    pub max_file_bytes: u64,
    /// Rotated files kept besides the current one (`FILE.1` … `FILE.N`).
    pub backups: usize,
    /// Lines queued for the writer thread before a logging thread waits.
    pub buffered_lines: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: None,
            color: ColorMode::Auto,
            timestamp: true,
            time_zone: TimeZone::Utc,
            show_level: true,
            caller: true,
            file: None,
            max_file_bytes: 10 * 1024 * 1024,
            backups: 5,
            buffered_lines: 128_000,
        }
    }
}

impl LogConfig {
    /// The defaults with what `--log-level NAME` and `--log-file PATH` flags
    /// gave: what every example's argument parser calls. Without a level,
    /// `RUST_LOG` applies.
    ///
    /// # Errors
    /// [`LogError`] for a level name [`parse_level`] does not know.
    pub fn from_flags(level: Option<&str>, file: Option<String>) -> Result<Self, LogError> {
        let config = Self::default().file(file);
        Ok(match level {
            Some(name) => config.level(parse_level(name)?),
            None => config,
        })
    }

    /// Sets the level; it wins over `RUST_LOG`.
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = Some(level);
        self
    }

    /// Timestamps in local time (`true`) or UTC (`false`, the default).
    /// Build the logger before starting threads: see [`TimeZone::Local`].
    pub fn local_time(self, local: bool) -> Self {
        self.time_zone(if local {
            TimeZone::Local
        } else {
            TimeZone::Utc
        })
    }

    /// Sets the clock of the timestamps.
    pub fn time_zone(mut self, zone: TimeZone) -> Self {
        self.time_zone = zone;
        self
    }

    /// Writes to `path` (rotated by size) instead of standard error; `None`
    /// keeps standard error.
    pub fn file(mut self, path: Option<impl Into<PathBuf>>) -> Self {
        self.file = path.map(Into::into);
        self
    }

    /// Sets the colour mode.
    pub fn color(mut self, color: ColorMode) -> Self {
        self.color = color;
        self
    }

    /// Sets the rotation: at most `max_file_bytes` (plus one line) per file,
    /// `backups` rotated files kept.
    pub fn rotation(mut self, max_file_bytes: u64, backups: usize) -> Self {
        self.max_file_bytes = max_file_bytes;
        self.backups = backups;
        self
    }
}

/// Why the logger could not be set up or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log file could not be opened.
    #[error("cannot open log file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A level name that [`parse_level`] does not know.
    #[error("unknown log level {0:?} (expected off, crit, error, warn, ok, info, debug or trace)")]
    Level(String),
    /// [`init`] found a global subscriber already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    /// The subscriber behind a [`LogHandle`] is gone.
    #[error("the logger is gone: {0}")]
    Gone(String),
}

/// Parses a level name, case-insensitive: `off`, `crit`/`critical` (as
/// ERROR), `error`, `warn`/`warning`, `ok`/`info`, `debug`, `trace`.
pub fn parse_level(name: &str) -> Result<LevelFilter, LogError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "off" | "none" => LevelFilter::OFF,
        "crit" | "critical" | "error" => LevelFilter::ERROR,
        "warn" | "warning" => LevelFilter::WARN,
        "ok" | "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => return Err(LogError::Level(name.to_owned())),
    })
}

/// Keeps the logger's writer thread running and changes its level. Dropping
/// it flushes the queued lines and stops writing.
#[derive(Debug)]
pub struct LogHandle {
    level: reload::Handle<EnvFilter, Registry>,
    utc_offset: i32,
    dropped: ErrorCounter,
    _guard: WorkerGuard,
}

impl LogHandle {
    /// Changes the level from now on, on every thread, for every target
    /// (the directives `RUST_LOG` gave are replaced).
    pub fn set_level(&self, level: LevelFilter) -> Result<(), LogError> {
        self.level
            .reload(filter::only(level))
            .map_err(|e| LogError::Gone(e.to_string()))
    }

    /// The level in force: with `RUST_LOG` directives, the most verbose level
    /// any of them lets through.
    pub fn level(&self) -> LevelFilter {
        self.level
            .with_current(EnvFilter::max_level_hint)
            .ok()
            .flatten()
            .unwrap_or(LevelFilter::OFF)
    }

    /// The offset from UTC, in seconds east, that timestamps are shown in:
    /// 0 for UTC, and for [`TimeZone::Local`] when the local offset could
    /// not be determined.
    pub fn utc_offset_secs(&self) -> i32 {
        self.utc_offset
    }

    /// Lines dropped because the writer fell behind: always 0, since a
    /// logging thread waits for room rather than drop a line.
    pub fn dropped_lines(&self) -> usize {
        self.dropped.dropped_lines()
    }
}

/// Builds the logger as a subscriber without installing it, for
/// [`tracing::subscriber::with_default`] or a dispatcher of your own;
/// [`init`] installs it globally.
///
/// `RUST_LOG` (when no level is set) and the local UTC offset (with
/// [`TimeZone::Local`]) are read here, once. What could not be used (a
/// malformed `RUST_LOG`, an unknown offset) is written as a WARN line
/// through the new logger before it is returned.
pub fn build(
    config: &LogConfig,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogHandle), LogError> {
    // Before the writer thread below is spawned: the local offset may only be
    // readable while the process has one thread (see `TimeZone::Local`).
    let (utc_offset, offset_warning) = clock::resolve(config.time_zone, clock::local_offset);
    let chosen = filter::choose_from_env(config.level);
    let (writer, color): (Box<dyn Write + Send>, bool) = match &config.file {
        Some(path) => (
            Box::new(open_rotating(path, config.max_file_bytes, config.backups)?),
            config.color == ColorMode::Always,
        ),
        None => {
            let color = match config.color {
                ColorMode::Always => true,
                ColorMode::Never => false,
                ColorMode::Auto => {
                    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            (Box::new(io::stderr()), color)
        }
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(config.buffered_lines.max(1))
        .thread_name("veltix-log")
        .finish(writer);
    let dropped = writer.error_counter();
    let (filter, level) = reload::Layer::new(chosen.filter);
    let format = format::VeltixFormat {
        timestamp: config.timestamp,
        utc_offset,
        level: config.show_level,
        caller: config.caller,
        color,
    };
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(format)
        .with_writer(writer);
    // Shared so that the warnings below go through it before the caller
    // installs it (an `Arc` of a subscriber is a subscriber).
    let subscriber = Arc::new(Registry::default().with(filter).with(output));
    for warning in [chosen.warning, offset_warning].into_iter().flatten() {
        tracing::subscriber::with_default(Arc::clone(&subscriber), || {
            tracing::warn!("{warning}");
        });
    }
    let handle = LogHandle {
        level,
        utc_offset,
        dropped,
        _guard: guard,
    };
    Ok((subscriber, handle))
}

/// Builds the logger and installs it as the global subscriber. Keep the
/// returned handle alive for as long as the program logs.
pub fn init(config: LogConfig) -> Result<LogHandle, LogError> {
    let (subscriber, handle) = build(&config)?;
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LogError::AlreadyInstalled)?;
    Ok(handle)
}

/// Opens `path` for appending (checking that it can be opened, which the
/// rotating writer would only find out by losing lines), rotated by size.
fn open_rotating(
    path: &Path,
    max_bytes: u64,
    backups: usize,
) -> Result<FileRotate<AppendCount>, LogError> {
    let fail = |source| LogError::File {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    let limit = match usize::try_from(max_bytes) {
        Ok(0) => ContentLimit::None,
        Ok(bytes) => ContentLimit::BytesSurpassed(bytes),
        Err(_) => ContentLimit::None,
    };
    Ok(FileRotate::new(
        path,
        AppendCount::new(backups),
        limit,
        Compression::None,
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names() {
        assert_eq!(parse_level("OK").unwrap(), LevelFilter::INFO);
        assert_eq!(parse_level("crit").unwrap(), LevelFilter::ERROR);
        assert_eq!(parse_level("Debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("off").unwrap(), LevelFilter::OFF);
        assert!(parse_level("loud").is_err());
    }
}
