//! `RUST_LOG` end to end. The environment belongs to the whole process, so
//! each case runs this test binary again as a child with its own
//! `RUST_LOG`, and reads the file the child logged to.

use std::fs;
use std::path::Path;
use std::process::Command;

use veltix_log::{LevelFilter, LogConfig};

/// Set in a child: the file to log to.
const CHILD_FILE: &str = "VELTIX_LOG_TEST_FILE";
/// Set in a child: the level the caller gives, if any.
const CHILD_LEVEL: &str = "VELTIX_LOG_TEST_LEVEL";

/// What the child does: one event at each level, with the defaults (plus
/// the level in `CHILD_LEVEL`, if set). A no-op when run as a normal test.
#[test]
fn child_logs_one_event_per_level() {
    let Some(file) = std::env::var_os(CHILD_FILE) else {
        return;
    };
    let level = std::env::var(CHILD_LEVEL).ok();
    let config = LogConfig::from_flags(level.as_deref(), None)
        .expect("level")
        .file(Some(file));
    let (subscriber, log) = veltix_log::build(&config).expect("logger");
    tracing::subscriber::with_default(subscriber, || {
        veltix_log::trace!(target: "app::db", "db trace");
        veltix_log::debug!("debug");
        veltix_log::info!("info");
        veltix_log::warn!("warn");
    });
    println!("level in force: {}", log.level());
}

/// Runs the child with `rust_log` (unset when `None`) and the caller's
/// `level`, and returns the messages it logged.
fn run_child(rust_log: Option<&str>, level: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("child.log");
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child
        .args([
            "--exact",
            "child_logs_one_event_per_level",
            "--test-threads=1",
        ])
        .env(CHILD_FILE, &file)
        .env_remove("RUST_LOG")
        .env_remove(CHILD_LEVEL);
    if let Some(value) = rust_log {
        child.env("RUST_LOG", value);
    }
    if let Some(level) = level {
        child.env(CHILD_LEVEL, level);
    }
    let out = child.output().expect("child ran");
    assert!(out.status.success(), "{out:?}");
    messages(&file)
}

fn messages(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .expect("log file")
        .lines()
        .map(|l| l.split_once("] ").map_or(l, |(_, rest)| rest))
        // Past the level tag and the caller.
        .map(|l| l.splitn(2, "] ").last().unwrap_or(l).to_owned())
        .collect()
}

#[test]
fn without_rust_log_the_level_is_info() {
    assert_eq!(run_child(None, None), ["info", "warn"]);
}

#[test]
fn rust_log_sets_the_filter_when_no_level_is_given() {
    assert_eq!(run_child(Some("debug"), None), ["debug", "info", "warn"]);
    assert_eq!(
        run_child(Some("warn,app::db=trace"), None),
        ["db trace", "warn"]
    );
}

#[test]
fn an_explicit_level_wins_over_rust_log() {
    assert_eq!(run_child(Some("trace"), Some("warn")), ["warn"]);
}

#[test]
fn a_malformed_rust_log_means_info_and_one_warning() {
    let lines = run_child(Some("app=loud"), None);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("RUST_LOG=\"app=loud\" is not a valid filter"),
        "{lines:?}"
    );
    assert_eq!(lines[1..], ["info", "warn"]);
}

#[test]
fn the_handle_reports_the_most_verbose_level_let_through() {
    let config = LogConfig::default().level(LevelFilter::DEBUG);
    let (_subscriber, log) = veltix_log::build(&config).expect("logger");
    assert_eq!(log.level(), LevelFilter::DEBUG);
}
