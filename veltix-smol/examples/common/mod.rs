//! A tiny command-line parser shared by the examples: `--name VALUE` options
//! and `--flag` switches, each taken out of the argument list as it is read;
//! [`Args::finish`] then refuses whatever is left, so a typo is not ignored.
#![allow(dead_code)] // each example uses only part of it

use std::str::FromStr;

pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn from_env() -> Self {
        Self(std::env::args().skip(1).collect())
    }

    /// Takes `--name`; whether it was given.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        let found = self.0.iter().position(|a| a == name);
        found.map(|i| self.0.remove(i)).is_some()
    }

    /// Takes `--name VALUE` and parses VALUE; `None` when absent.
    pub(crate) fn opt<T: FromStr>(&mut self, name: &str) -> Option<T> {
        let i = self.0.iter().position(|a| a == name)?;
        if i + 1 >= self.0.len() {
            fail(&format!("{name} needs a value"));
        }
        let raw = self.0.remove(i + 1);
        self.0.remove(i);
        Some(
            raw.parse()
                .unwrap_or_else(|_| fail(&format!("{name}: bad value {raw:?}"))),
        )
    }

    /// Takes `--name VALUE`, or gives `default`.
    pub(crate) fn value<T: FromStr>(&mut self, name: &str, default: T) -> T {
        self.opt(name).unwrap_or(default)
    }

    /// Takes `--log-level LEVEL` and `--log-file PATH` into a logger
    /// configuration for `veltix_log::init`.
    pub(crate) fn log_config(&mut self) -> veltix_log::LogConfig {
        let level: Option<String> = self.opt("--log-level");
        let file: Option<String> = self.opt("--log-file");
        veltix_log::LogConfig::from_flags(level.as_deref(), file)
            .unwrap_or_else(|err| fail(&err.to_string()))
    }

    /// Takes the server flags `--addr`, `--idle-timeout SECS` (0 disables
    /// it; below the heartbeat interval, that interval becomes a third of
    /// it) and `--max-payload BYTES` into a server configuration.
    pub(crate) fn server_config(&mut self) -> veltix_smol::ServerConfig {
        let addr: String = self.value("--addr", "127.0.0.1:7000".to_owned());
        let idle_secs: Option<f64> = self.opt("--idle-timeout");
        let max_payload: Option<u32> = self.opt("--max-payload");
        let mut config = veltix_smol::ServerConfig::new(addr);
        let conn = &mut config.connection;
        if let Some(secs) = idle_secs {
            let idle = std::time::Duration::try_from_secs_f64(secs)
                .unwrap_or_else(|_| fail("--idle-timeout must be a number of seconds ≥ 0"));
            conn.idle_timeout = (!idle.is_zero()).then_some(idle);
            if conn.heartbeat_interval.is_some_and(|beat| beat >= idle) && !idle.is_zero() {
                conn.heartbeat_interval = Some(idle / 3);
            }
        }
        if let Some(bytes) = max_payload {
            conn.max_payload = bytes;
        }
        config
    }

    /// Prints `usage` and exits on `--help` or on any argument not taken.
    pub(crate) fn finish(self, usage: &str) {
        if self.0.iter().any(|a| a == "--help" || a == "-h") {
            println!("usage: {usage}");
            std::process::exit(0);
        }
        if !self.0.is_empty() {
            fail(&format!(
                "unexpected arguments {:?}\nusage: {usage}",
                self.0
            ));
        }
    }
}

pub(crate) fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
