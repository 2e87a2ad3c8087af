//! What the examples of `veltix-tokio`, `veltix-smol` and `veltix-mio`
//! share, so that each example is only what it shows: the command line
//! ([`parse`] and the flag groups [`ServerArgs`], [`LogArgs`],
//! [`ClientDialectArgs`], [`ClientTlsArgs`]), the echo servers' shutdown
//! line ([`summary`]) and, for the blocking examples, a [`StopSignal`]. A dev-dependency of those three crates; never
//! published.
//!
//! # Why lexopt, not clap
//!
//! The examples are meant to be read, built in seconds and run with a
//! dozen flags. [lexopt] is one small file with no dependencies: it
//! compiles in well under a second, and an example's flags stay visible as
//! one `match` on their names. clap (which `veltix-cli` uses, where
//! generated help and completions earn their keep) would give the examples
//! `--help` text for free, but its derive macro pulls in `syn` and takes
//! tens of seconds to build on a small machine — paid by every example of a
//! crate, since dev-dependencies are built for all of them, including the
//! first `cargo run --example demo` a newcomer types. The usage lines here
//! are written by hand instead; a typo is refused all the same.
//!
//! ```no_run
//! use examples_support::{LogArgs, ServerArgs, parse};
//!
//! let (mut server, mut log, mut count) = (ServerArgs::default(), LogArgs::default(), 10u32);
//! parse("echo_server [--addr HOST:PORT] [--count N] …", |arg| match arg.name() {
//!     "count" => arg.set(&mut count),
//!     _ => server.take(arg) || log.take(arg),
//! });
//! let config = server.config(); // a veltix ServerConfig, as every runtime re-exports it
//! let _log = log.init();
//! ```

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use lexopt::ValueExt as _;
use veltix_driver::tls::{ServerTrust, TlsClientConfig, TlsServerConfig};
use veltix_driver::{ClientTls, Dialect, ServerConfig, Stats};

/// The address the example servers listen on and the clients connect to.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7000";

/// Reads the command line: hands every `--name` option to `take`, which
/// returns whether it knew the option (and took its value with
/// [`Arg::set`]). Prints `usage` and exits with status 0 on `--help` or
/// `-h`; exits with status 2 on an option nobody took, a missing or bad
/// value, or a stray argument.
pub fn parse(usage: &str, mut take: impl FnMut(&mut Arg<'_>) -> bool) {
    use lexopt::Arg::{Long, Short};
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => return,
            Ok(Some(Long("help") | Short('h'))) => {
                println!("usage: {usage}");
                std::process::exit(0);
            }
            Ok(Some(Long(name))) => {
                let name = name.to_owned();
                let mut arg = Arg {
                    name: &name,
                    parser: &mut parser,
                };
                if !take(&mut arg) {
                    fail(format!("unexpected option --{name}\nusage: {usage}"));
                }
            }
            Ok(Some(other)) => fail(format!("{}\nusage: {usage}", other.unexpected())),
            Err(err) => fail(format!("{err}\nusage: {usage}")),
        }
    }
}

/// One `--name` option being read (see [`parse`]).
pub struct Arg<'a> {
    name: &'a str,
    parser: &'a mut lexopt::Parser,
}

impl Arg<'_> {
    /// The option's name, without the leading `--`.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Takes the option's value (`--name VALUE` or `--name=VALUE`) into
    /// `slot`; exits with status 2 if it is missing or does not parse.
    /// Returns `true`, so a match arm can end with it.
    pub fn set<T: FromStr>(&mut self, slot: &mut T) -> bool {
        *slot = self.value();
        true
    }

    /// The same into an optional `slot`.
    pub fn set_some<T: FromStr>(&mut self, slot: &mut Option<T>) -> bool {
        *slot = Some(self.value());
        true
    }

    /// A switch without a value: sets `slot`. Returns `true`.
    pub fn switch(&mut self, slot: &mut bool) -> bool {
        *slot = true;
        true
    }

    fn value<T: FromStr>(&mut self) -> T {
        let name = self.name;
        let raw = match self.parser.value() {
            Ok(raw) => raw.string().unwrap_or_else(|err| fail(err)),
            Err(err) => fail(err),
        };
        raw.parse()
            .unwrap_or_else(|_| fail(format!("--{name}: bad value {raw:?}")))
    }
}

/// The server flags: `--addr`, `--idle-timeout SECS` (0 disables it; below
/// the heartbeat interval, that interval becomes a third of it),
/// `--max-payload BYTES`, `--dialect` (see [`dialect`]) and the TLS flags
/// `--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]`.
#[derive(Debug)]
pub struct ServerArgs {
    addr: String,
    idle_secs: Option<f64>,
    max_payload: Option<u32>,
    dialect: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_client_ca: Option<String>,
}

impl Default for ServerArgs {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.to_owned(),
            idle_secs: None,
            max_payload: None,
            dialect: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

impl ServerArgs {
    /// Takes `arg` if it is one of the server flags (for [`parse`]).
    pub fn take(&mut self, arg: &mut Arg<'_>) -> bool {
        match arg.name() {
            "addr" => arg.set(&mut self.addr),
            "idle-timeout" => arg.set_some(&mut self.idle_secs),
            "max-payload" => arg.set_some(&mut self.max_payload),
            "dialect" => arg.set_some(&mut self.dialect),
            "tls-cert" => arg.set_some(&mut self.tls_cert),
            "tls-key" => arg.set_some(&mut self.tls_key),
            "tls-client-ca" => arg.set_some(&mut self.tls_client_ca),
            _ => false,
        }
    }

    /// The server configuration these flags describe; exits with status 2
    /// on a bad combination or a TLS file that cannot be used.
    pub fn config(self) -> ServerConfig {
        let mut config = ServerConfig::new(self.addr).dialect(dialect(self.dialect.as_deref()));
        let conn = &mut config.connection;
        if let Some(secs) = self.idle_secs {
            let idle = Duration::try_from_secs_f64(secs)
                .unwrap_or_else(|_| fail("--idle-timeout must be a number of seconds ≥ 0"));
            conn.idle_timeout = (!idle.is_zero()).then_some(idle);
            if conn.heartbeat_interval.is_some_and(|beat| beat >= idle) && !idle.is_zero() {
                conn.heartbeat_interval = Some(idle / 3);
            }
        }
        if let Some(bytes) = self.max_payload {
            conn.max_payload = bytes;
        }
        config.tls = server_tls(self.tls_cert, self.tls_key, self.tls_client_ca);
        config
    }
}

/// TLS for every peer, requiring client certificates from `client_ca` when given.
fn server_tls(
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
) -> Option<TlsServerConfig> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if client_ca.is_none() => return None,
        _ => fail("--tls-cert and --tls-key go together (and --tls-client-ca with them)"),
    };
    let tls = TlsServerConfig::builder_from_files(cert, key)
        .and_then(|builder| match client_ca {
            Some(ca) => builder.require_client_cert_file(ca),
            None => Ok(builder),
        })
        .and_then(|builder| builder.build());
    Some(tls.unwrap_or_else(|err| fail(err)))
}

/// The protocol spoken with peers, by its `--dialect` name: `native` (the
/// default; a native server also serves Python Veltix 1.2/1.3 clients),
/// `python1.4` (Python Veltix 1.4.0–1.6.1), `python3` (Python Veltix
/// 2.0.3–3.3.0) or `legacy` (no handshake, for Python 1.2/1.3 servers).
/// Exits with status 2 on any other name.
pub fn dialect(name: Option<&str>) -> Dialect {
    match name {
        None | Some("native") => Dialect::Native,
        Some("python1.4") => Dialect::Python14,
        Some("python3") => Dialect::Python3,
        Some("legacy") => Dialect::Legacy,
        Some(other) => fail(format!(
            "--dialect: unknown dialect {other:?} (native, python1.4, python3, legacy)"
        )),
    }
}

/// The logger flags `--log-level LEVEL` (off, crit, error, warn, ok, info,
/// debug, trace; default info) and `--log-file PATH` (rotated by size).
#[derive(Debug, Default)]
pub struct LogArgs {
    level: Option<String>,
    file: Option<String>,
}

impl LogArgs {
    /// Takes `arg` if it is one of the logger flags (for [`parse`]).
    pub fn take(&mut self, arg: &mut Arg<'_>) -> bool {
        match arg.name() {
            "log-level" => arg.set_some(&mut self.level),
            "log-file" => arg.set_some(&mut self.file),
            _ => false,
        }
    }

    /// Starts `veltix-log` with these flags; logging lasts as long as the
    /// handle. Exits with status 2 on a bad level or an unusable file.
    pub fn init(self) -> veltix_log::LogHandle {
        let config = veltix_log::LogConfig::from_flags(self.level.as_deref(), self.file)
            .unwrap_or_else(|err| fail(err));
        veltix_log::init(config).unwrap_or_else(|err| fail(err))
    }
}

/// A client's `--dialect NAME` (see [`dialect`]) and `--no-handshake`
/// (which means `--dialect legacy`).
#[derive(Debug, Default)]
pub struct ClientDialectArgs {
    name: Option<String>,
    no_handshake: bool,
}

impl ClientDialectArgs {
    /// Takes `arg` if it is `--dialect` or `--no-handshake` (for [`parse`]).
    pub fn take(&mut self, arg: &mut Arg<'_>) -> bool {
        match arg.name() {
            "dialect" => arg.set_some(&mut self.name),
            "no-handshake" => arg.switch(&mut self.no_handshake),
            _ => false,
        }
    }

    /// The dialect; exits with status 2 when `--no-handshake` comes with a
    /// `--dialect` other than `legacy`.
    pub fn dialect(&self) -> Dialect {
        match dialect(self.name.as_deref()) {
            Dialect::Native if self.no_handshake && self.name.is_none() => Dialect::Legacy,
            Dialect::Legacy => Dialect::Legacy,
            _ if self.no_handshake => fail("--no-handshake means --dialect legacy"),
            dialect => dialect,
        }
    }
}

/// How a client speaking `dialect` describes its connection.
pub fn describe(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Legacy => "no handshake",
        Dialect::Python14 => "Python 1.4–1.6 handshake",
        Dialect::Python3 => "Python 3.x handshake",
        _ => "handshake",
    }
}

/// A client's TLS flags: `--tls-ca PEM | --tls-pin HEX [--tls-cert PEM
/// --tls-key PEM] [--tls-server-name NAME]` — trust a CA file or one pinned
/// key, with a client certificate for servers that require one.
#[derive(Debug, Default)]
pub struct ClientTlsArgs {
    ca: Option<String>,
    pin: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    server_name: Option<String>,
}

impl ClientTlsArgs {
    /// Takes `arg` if it is one of the client TLS flags (for [`parse`]).
    pub fn take(&mut self, arg: &mut Arg<'_>) -> bool {
        match arg.name() {
            "tls-ca" => arg.set_some(&mut self.ca),
            "tls-pin" => arg.set_some(&mut self.pin),
            "tls-cert" => arg.set_some(&mut self.cert),
            "tls-key" => arg.set_some(&mut self.key),
            "tls-server-name" => arg.set_some(&mut self.server_name),
            _ => false,
        }
    }

    /// TLS to the server, or `None` for plaintext; exits with status 2 on a
    /// bad combination or a file or pin that cannot be used.
    pub fn config(self) -> Option<ClientTls> {
        let trust = match (self.ca, self.pin) {
            (Some(ca), None) => ServerTrust::ca_file(ca),
            (None, Some(pin)) => ServerTrust::pin(&pin),
            (None, None)
                if self.cert.is_none() && self.key.is_none() && self.server_name.is_none() =>
            {
                return None;
            }
            _ => fail("TLS needs exactly one of --tls-ca PEM or --tls-pin HEX"),
        };
        let (cert, key) = (self.cert, self.key);
        let config = trust
            .map(TlsClientConfig::builder)
            .and_then(|builder| match (cert, key) {
                (Some(cert), Some(key)) => builder.client_cert_files(cert, key),
                (None, None) => Ok(builder),
                _ => fail("--tls-cert and --tls-key go together"),
            })
            .and_then(|builder| builder.build())
            .unwrap_or_else(|err| fail(err));
        Some(ClientTls {
            config,
            server_name: self.server_name,
        })
    }
}

/// The one line an echo server prints once shut down: what it served, from
/// [`Server::stats`](veltix_driver::Server::stats).
pub fn summary(stats: &Stats) -> String {
    format!(
        "served {} frames in ({} bytes), {} frames out ({} bytes), {} corrupt frames dropped",
        stats.frames_in, stats.bytes_in, stats.frames_out, stats.bytes_out, stats.corrupt_frames
    )
}

/// Prints `message` to standard error and exits with status 2 (a usage error).
pub fn fail(message: impl Display) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

/// Ctrl-C (SIGINT) and SIGTERM, caught so that a blocking example can shut
/// down gracefully instead of being killed. Catching starts at
/// [`register`](Self::register): register before announcing readiness, so
/// that a signal sent from then on is never the default, fatal one.
pub struct StopSignal {
    #[cfg(not(windows))]
    signals: signal_hook::iterator::Signals,
    #[cfg(windows)]
    raised: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StopSignal {
    /// Starts catching the signals.
    ///
    /// # Errors
    /// The OS's error registering a handler.
    pub fn register() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        #[cfg(not(windows))]
        let stop = Self {
            signals: signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?,
        };
        #[cfg(windows)]
        let stop = Self {
            raised: std::sync::Arc::default(),
        };
        #[cfg(windows)]
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, stop.raised.clone())?;
        }
        Ok(stop)
    }

    /// Blocks until one of the signals has arrived (since `register`).
    pub fn wait(self) {
        #[cfg(not(windows))]
        {
            let mut signals = self.signals;
            signals.forever().next();
        }
        #[cfg(windows)] // no self-pipe there: look at the flag now and then
        while !self.raised.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_one_line_of_counts() {
        let mut stats = Stats::default();
        stats.frames_in = 3;
        stats.bytes_in = 300;
        stats.frames_out = 2;
        stats.bytes_out = 200;
        stats.corrupt_frames = 1;
        assert_eq!(
            summary(&stats),
            "served 3 frames in (300 bytes), 2 frames out (200 bytes), 1 corrupt frames dropped"
        );
    }
}
