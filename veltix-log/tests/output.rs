//! The logger's real output, written to files in temporary folders: the
//! line format, rotation, run-time level changes, silence when off. Each
//! test uses its own subscriber through `with_default`, so tests running in
//! parallel do not see each other's events.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use regex::Regex;
use veltix_log::{ColorMode, LevelFilter, LogConfig, LogHandle, TimeZone, crit, ok};

/// Runs `f` with a logger built from `config` (writing to `file`), then drops
/// the logger, which flushes every queued line, and returns the file's lines.
fn log_to(file: &Path, config: LogConfig, f: impl FnOnce(&LogHandle)) -> Vec<String> {
    let (subscriber, handle) = veltix_log::build(&config.file(Some(file))).expect("logger");
    tracing::subscriber::with_default(subscriber, || f(&handle));
    drop(handle);
    fs::read_to_string(file)
        .expect("log file")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The defaults at INFO, whatever `RUST_LOG` says where the tests run.
fn info() -> LogConfig {
    LogConfig::default().level(LevelFilter::INFO)
}

fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("app.log");
    (dir, file)
}

#[test]
fn every_line_has_the_format() {
    let (_dir, file) = temp_log();
    let first = line!() + 5;
    let lines = log_to(
        &file,
        LogConfig::default().level(LevelFilter::TRACE),
        |_| {
            veltix_log::trace!("a trace");
            veltix_log::debug!("a debug");
            veltix_log::info!("an info");
            ok!("a success");
            veltix_log::warn!("a warning");
            veltix_log::error!("an error");
            crit!("a critical failure");
        },
    );
    let format = Regex::new(
        r"^\[(\d{2}):(\d{2}):(\d{2})\.\d{3}\] (TRACE|DEBUG|INFO |OK   |WARN |ERROR|CRIT ) \[output\.rs:(\d+)\] (.+)$",
    )
    .unwrap();
    let expected = [
        ("TRACE", "a trace"),
        ("DEBUG", "a debug"),
        ("INFO ", "an info"),
        ("OK   ", "a success"),
        ("WARN ", "a warning"),
        ("ERROR", "an error"),
        ("CRIT ", "a critical failure"),
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (i, (line, (tag, message))) in lines.iter().zip(expected).enumerate() {
        let caps = format
            .captures(line)
            .unwrap_or_else(|| panic!("{line:?} is not in the format"));
        assert!(caps[1].parse::<u32>().unwrap() < 24);
        assert!(caps[2].parse::<u32>().unwrap() < 60);
        assert!(caps[3].parse::<u32>().unwrap() < 60);
        assert_eq!(&caps[4], tag);
        assert_eq!(caps[5].parse::<u32>().unwrap(), first + i as u32, "{line}");
        assert_eq!(&caps[6], message);
    }
}

#[test]
fn fields_and_spans_follow_the_message() {
    let (_dir, file) = temp_log();
    let lines = log_to(&file, info(), |_| {
        let span = tracing::info_span!("peer", id = 7, addr = "127.0.0.1:9");
        let _in = span.enter();
        veltix_log::info!(reason = "idle", bytes = 62, "closed");
    });
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with(r#"closed reason="idle" bytes=62 in peer{id=7 addr="127.0.0.1:9"}"#),
        "{}",
        lines[0]
    );
}

#[test]
fn parts_can_be_turned_off_and_colours_on() {
    let (_dir, file) = temp_log();
    let mut config = info();
    config.timestamp = false;
    config.show_level = false;
    config.caller = false;
    let lines = log_to(&file, config, |_| veltix_log::info!("bare"));
    assert_eq!(lines, ["bare"]);

    let (_dir, file) = temp_log();
    let lines = log_to(&file, info().color(ColorMode::Always), |_| {
        veltix_log::warn!("painted")
    });
    assert!(lines[0].contains("\x1b[33mWARN \x1b[0m"), "{:?}", lines[0]);

    // Auto never colours a file.
    let (_dir, file) = temp_log();
    let lines = log_to(&file, info(), |_| veltix_log::warn!("plain"));
    assert!(!lines[0].contains('\x1b'), "{:?}", lines[0]);
}

#[test]
fn rotation_keeps_n_backups_each_bounded_in_size() {
    let (dir, file) = temp_log();
    const MAX: u64 = 2_000;
    const BACKUPS: usize = 3;
    let config = info().rotation(MAX, BACKUPS);
    log_to(&file, config, |_| {
        for n in 0..500 {
            veltix_log::info!("line number {n:05} with some padding to fill the file");
        }
    });
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["app.log", "app.log.1", "app.log.2", "app.log.3"]);

    let mut kept = Vec::new();
    for name in ["app.log.3", "app.log.2", "app.log.1", "app.log"] {
        let text = fs::read_to_string(dir.path().join(name)).unwrap();
        let longest = text.lines().map(|l| l.len() as u64 + 1).max().unwrap();
        assert!(
            text.len() as u64 <= MAX + longest,
            "{name} holds {} bytes",
            text.len()
        );
        kept.extend(text.lines().map(str::to_owned));
    }
    // The newest lines are kept, in order, none missing between them.
    let numbers: Vec<u32> = kept
        .iter()
        .map(|l| {
            let at = l.find("line number ").unwrap() + "line number ".len();
            l[at..at + 5].parse().unwrap()
        })
        .collect();
    assert_eq!(*numbers.last().unwrap(), 499);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(
        numbers.len() > 3 * (MAX as usize / 120),
        "{}",
        numbers.len()
    );
}

#[test]
fn the_level_changes_at_run_time() {
    let (_dir, file) = temp_log();
    let lines = log_to(&file, info(), |log| {
        assert_eq!(log.level(), LevelFilter::INFO);
        veltix_log::debug!("hidden before");
        veltix_log::info!("shown at info");
        log.set_level(LevelFilter::DEBUG).unwrap();
        assert_eq!(log.level(), LevelFilter::DEBUG);
        veltix_log::debug!("shown at debug");
        veltix_log::trace!("hidden at debug");
        log.set_level(LevelFilter::ERROR).unwrap();
        veltix_log::warn!("hidden at error");
        crit!("shown at error");
        log.set_level(LevelFilter::OFF).unwrap();
        crit!("hidden when off");
        assert_eq!(log.dropped_lines(), 0);
    });
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l.rsplit("] ").next().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["shown at info", "shown at debug", "shown at error"]
    );
}

/// Counts how often it is formatted.
struct Counted<'a>(&'a AtomicUsize);

impl fmt::Display for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fetch_add(1, Ordering::Relaxed);
        f.write_str("counted")
    }
}

#[test]
fn nothing_is_written_or_formatted_when_off() {
    let (_dir, file) = temp_log();
    let formatted = AtomicUsize::new(0);
    let lines = log_to(&file, info().level(LevelFilter::OFF), |_| {
        crit!("{}", Counted(&formatted));
        veltix_log::error!(value = %Counted(&formatted), "an error");
        veltix_log::info!("{}", Counted(&formatted));
    });
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(fs::metadata(&file).unwrap().len(), 0);
    assert_eq!(formatted.load(Ordering::Relaxed), 0);

    // The same events are formatted once each when on: the counter works.
    let (_dir, file) = temp_log();
    let lines = log_to(&file, info(), |_| {
        crit!("{}", Counted(&formatted));
        veltix_log::debug!("{}", Counted(&formatted));
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(formatted.load(Ordering::Relaxed), 1);
}

#[test]
fn an_unopenable_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A folder cannot be opened as the log file.
    let config = info().file(Some(dir.path()));
    let err = veltix_log::build(&config).err().expect("an error");
    assert!(matches!(err, veltix_log::LogError::File { .. }), "{err}");
}

/// The hour of the day in UTC now.
fn utc_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_secs() % 86_400 / 3600
}

#[test]
fn a_fixed_offset_shifts_the_time_and_keeps_the_format() {
    let (_dir, file) = temp_log();
    let before = utc_hour();
    // +05:30: the hour moves by 5 or 6, the minutes by 30.
    let config = info().time_zone(TimeZone::Fixed(5 * 3600 + 30 * 60));
    let (mut offset, mut minute) = (0, 0);
    let lines = log_to(&file, config, |log| {
        offset = log.utc_offset_secs();
        minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60
            % 60;
        veltix_log::info!("shifted");
    });
    let after = utc_hour();
    assert_eq!(offset, 19_800);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let format =
        Regex::new(r"^\[(\d{2}):(\d{2}):\d{2}\.\d{3}\] INFO  \[output\.rs:\d+\] shifted$").unwrap();
    let caps = format
        .captures(&lines[0])
        .unwrap_or_else(|| panic!("{:?} is not in the format", lines[0]));
    let (hour, min): (u64, u64) = (caps[1].parse().unwrap(), caps[2].parse().unwrap());
    let expected = |utc: u64| [(utc + 5) % 24, (utc + 6) % 24];
    assert!(
        expected(before).contains(&hour) || expected(after).contains(&hour),
        "hour {hour} for UTC {before}..{after}"
    );
    // Read within a minute of the line, give or take the minute turning.
    let shifted = [(minute + 30) % 60, (minute + 29) % 60, (minute + 31) % 60];
    assert!(
        shifted.contains(&min),
        "minute {min} for UTC minute {minute}"
    );
}

#[test]
fn utc_is_the_default_and_local_time_is_opt_in() {
    assert_eq!(LogConfig::default().time_zone, TimeZone::Utc);
    assert_eq!(
        LogConfig::default().local_time(true).time_zone,
        TimeZone::Local
    );
    let (_dir, file) = temp_log();
    let lines = log_to(&file, info(), |log| {
        assert_eq!(log.utc_offset_secs(), 0);
        veltix_log::info!("utc");
    });
    assert_eq!(lines.len(), 1);
    // Local time: the system's offset, or UTC with a warning saying why.
    let (_dir, file) = temp_log();
    let mut offset = None;
    let lines = log_to(&file, info().local_time(true), |log| {
        offset = Some(log.utc_offset_secs());
        veltix_log::info!("local");
    });
    let offset = offset.unwrap();
    assert!(offset.abs() < 86_400, "{offset}");
    let warned = lines
        .iter()
        .any(|l| l.contains("WARN ") && l.contains("UTC"));
    assert!(!warned || offset == 0, "{lines:?}");
    assert!(lines.last().unwrap().ends_with("] local"), "{lines:?}");
}
