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
//! The time is **UTC** (cheap and unambiguous; no time-zone database is read).
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
//! The level can be changed at run time with [`LogHandle::set_level`].
//! Events below the level are not formatted at all: their arguments are
//! never evaluated into text.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Registry, reload};

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

/// What to log, how, and where. Start from [`LogConfig::default`] (INFO, to
/// standard error, colours when a terminal, every part shown).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LogConfig {
    /// The most verbose level written; [`LevelFilter::OFF`] writes nothing.
    pub level: LevelFilter,
    /// Whether to colour the output.
    pub color: ColorMode,
    /// Show `[HH:MM:SS.mmm]` (UTC).
    pub timestamp: bool,
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
            level: LevelFilter::INFO,
            color: ColorMode::Auto,
            timestamp: true,
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
    /// gave: what every example's argument parser calls.
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

    /// Sets the level.
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
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
    level: reload::Handle<LevelFilter, Registry>,
    dropped: ErrorCounter,
    _guard: WorkerGuard,
}

impl LogHandle {
    /// Changes the level from now on, on every thread.
    pub fn set_level(&self, level: LevelFilter) -> Result<(), LogError> {
        self.level
            .reload(level)
            .map_err(|e| LogError::Gone(e.to_string()))
    }

    /// The level in force.
    pub fn level(&self) -> LevelFilter {
        self.level.clone_current().unwrap_or(LevelFilter::OFF)
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
pub fn build(
    config: &LogConfig,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogHandle), LogError> {
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
    let (filter, level) = reload::Layer::new(config.level);
    let format = VeltixFormat {
        timestamp: config.timestamp,
        level: config.show_level,
        caller: config.caller,
        color,
    };
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(format)
        .with_writer(writer);
    let subscriber = Registry::default().with(filter).with(output);
    let handle = LogHandle {
        level,
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

/// Our line format; see the crate documentation.
struct VeltixFormat {
    timestamp: bool,
    level: bool,
    caller: bool,
    color: bool,
}

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl VeltixFormat {
    fn paint(&self, w: &mut Writer<'_>, style: &str, text: fmt::Arguments<'_>) -> fmt::Result {
        if self.color {
            write!(w, "{style}{text}{RESET}")
        } else {
            w.write_fmt(text)
        }
    }
}

impl<S, N> FormatEvent<S, N> for VeltixFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);

        if self.timestamp {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let secs = now.as_secs() % 86_400;
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            let ms = now.subsec_millis();
            self.paint(&mut w, DIM, format_args!("[{h:02}:{m:02}:{s:02}.{ms:03}]"))?;
            w.write_char(' ')?;
        }
        if self.level {
            let (tag, style) = match *meta.level() {
                Level::TRACE => ("TRACE", "\x1b[35m"),
                Level::DEBUG => ("DEBUG", "\x1b[34m"),
                Level::INFO if fields.ok => ("OK   ", "\x1b[1;32m"),
                Level::INFO => ("INFO ", "\x1b[32m"),
                Level::WARN => ("WARN ", "\x1b[33m"),
                Level::ERROR if fields.crit => ("CRIT ", "\x1b[1;37;41m"),
                Level::ERROR => ("ERROR", "\x1b[31m"),
            };
            self.paint(&mut w, style, format_args!("{tag}"))?;
            w.write_char(' ')?;
        }
        if self.caller
            && let Some(file) = meta.file()
        {
            let file = short_file(file);
            match meta.line() {
                Some(line) => self.paint(&mut w, DIM, format_args!("[{file}:{line}]"))?,
                None => self.paint(&mut w, DIM, format_args!("[{file}]"))?,
            }
            w.write_char(' ')?;
        }
        w.write_str(&fields.message)?;
        for (i, field) in fields.rest.iter().enumerate() {
            if i > 0 || !fields.message.is_empty() {
                w.write_char(' ')?;
            }
            w.write_str(field)?;
        }
        if let Some(scope) = ctx.event_scope() {
            let mut sep = " in ";
            for span in scope.from_root() {
                w.write_str(sep)?;
                sep = ":";
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>()
                    && !f.is_empty()
                {
                    write!(w, "{{{f}}}")?;
                }
            }
        }
        writeln!(w)
    }
}

/// The file name, with its parent folder when the name alone says little
/// (`connection/mod.rs`, not `mod.rs`).
fn short_file(path: &str) -> &str {
    let mut parts = path.rsplitn(3, ['/', '\\']);
    let name = parts.next().unwrap_or(path);
    match (name, parts.next()) {
        ("mod.rs" | "lib.rs" | "main.rs", Some(parent)) => {
            &path[path.len() - name.len() - parent.len() - 1..]
        }
        _ => name,
    }
}

/// An event's fields: the message, the `ok` / `crit` markers, the rest as
/// `name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
    ok: bool,
    crit: bool,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "ok" if value => self.ok = true,
            "crit" if value => self.crit = true,
            _ => self.record_debug(field, &value),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        } else {
            self.rest.push(format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_file_names() {
        assert_eq!(short_file("veltix-driver/src/server.rs"), "server.rs");
        assert_eq!(
            short_file("veltix-core/src/connection/mod.rs"),
            "connection/mod.rs"
        );
        assert_eq!(short_file("main.rs"), "main.rs");
        assert_eq!(short_file("a.rs"), "a.rs");
    }

    #[test]
    fn level_names() {
        assert_eq!(parse_level("OK").unwrap(), LevelFilter::INFO);
        assert_eq!(parse_level("crit").unwrap(), LevelFilter::ERROR);
        assert_eq!(parse_level("Debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("off").unwrap(), LevelFilter::OFF);
        assert!(parse_level("loud").is_err());
    }
}
