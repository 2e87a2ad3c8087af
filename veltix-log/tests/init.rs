//! `init` installs the logger globally, once: a binary of its own, since the
//! global subscriber cannot be uninstalled.

use std::fs;

use veltix_log::{LevelFilter, LogConfig, LogError};

#[test]
fn init_installs_once_and_logs_from_every_thread() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("global.log");
    let config = LogConfig::default()
        .level(LevelFilter::INFO)
        .file(Some(&file));
    let log = veltix_log::init(config.clone()).expect("first init");
    assert!(matches!(
        veltix_log::init(config),
        Err(LogError::AlreadyInstalled)
    ));

    std::thread::spawn(|| veltix_log::info!("from a thread"))
        .join()
        .unwrap();
    veltix_log::debug!("hidden");
    log.set_level(LevelFilter::DEBUG).unwrap();
    std::thread::spawn(|| veltix_log::debug!("debug from a thread"))
        .join()
        .unwrap();
    drop(log);

    let text = fs::read_to_string(&file).unwrap();
    let messages: Vec<&str> = text
        .lines()
        .map(|l| l.rsplit("] ").next().unwrap())
        .collect();
    assert_eq!(messages, ["from a thread", "debug from a thread"]);
}
