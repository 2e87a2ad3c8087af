//! The command line: what to run, against which servers, how many times.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;

use veltix_core::Dialect;
use veltix_core::compression::Compression;

use crate::implementation::Implementation;
use crate::scenario::Scenario;

pub(crate) const USAGE: &str = "usage:
  veltix-bench [--runs N] [--smoke] [--out DIR] [--only SCENARIO,…] [--impls IMPL,…] [--dialect D,…] [--compress] [--legacy] [--window N]
  veltix-bench --server [NAME=]HOST:PORT[,…] [--impls CLIENT,…] [--dialect D,…] [--compress] [--legacy] [--only …] [--window N] [--runs N] [--smoke] [--out DIR]
  veltix-bench serve --impl IMPL [--addr HOST:PORT] [--dialect D] [--compression off|lz4]
scenarios: ping request-64B burst-64B echo-pipelined-64B stress-100conn tick-100x60Hz large-1MiB
  large-1MiB-text idle-1k idle-10k idle-100k broadcast-100k tls-handshakes tls-handshakes-16x
impls: tokio smol mio mio-threaded python python3 tokio+ld tokio+sha
  tokio+tls smol+tls mio+tls mio-threaded+tls tokio+rustls+sha
--dialect D,…: the Veltix rows (client and server) speak each dialect in turn, interleaved:
  native (default), python3 (compact wire: 15-byte header, CRC-32), python14, legacy;
  a row in dialect D is named IMPL/D (IMPL alone for native)
--compression C,…: the Veltix rows (client and server) run with each setting in turn, interleaved:
  off (default), lz4 (ConnectionConfig::compression = Some(Compression::default()): LZ4, payloads
  from 1 KiB); a row with lz4 is named IMPL+lz4, native dialect only. --compress: off,lz4
--server: the client side only, against servers already running (default: ping, request-64B,
  echo-pipelined-64B with the tokio client); clients: tokio smol mio mio-threaded tokio+sha
--legacy: Veltix clients skip the handshake (ClientConfig::legacy(), for Python Veltix 1.x servers)
--window N: at most N echoes in flight in echo-pipelined-64B (default: the sender never waits)";

/// The dialects `--dialect` knows, by name.
const DIALECTS: [(&str, Dialect); 4] = [
    ("native", Dialect::Native),
    ("python3", Dialect::Python3),
    ("python14", Dialect::Python14),
    ("legacy", Dialect::Legacy),
];

/// The name of `dialect` in `--dialect` and in row names.
pub(crate) fn dialect_name(dialect: Dialect) -> &'static str {
    DIALECTS
        .iter()
        .find(|(_, d)| *d == dialect)
        .map_or("native", |(name, _)| name)
}

/// The dialect called `name`.
pub(crate) fn parse_dialect(name: &str) -> Option<Dialect> {
    DIALECTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, dialect)| *dialect)
}

/// The compression settings `--compression` knows, by name: none, and the
/// default one (LZ4, payloads of 1 KiB and more).
const COMPRESSIONS: [&str; 2] = ["off", "lz4"];

/// The name of `compression` in `--compression` (and after `+` in row names).
pub(crate) fn compression_name(compression: Option<Compression>) -> &'static str {
    COMPRESSIONS[usize::from(compression.is_some())]
}

/// The compression setting called `name`: `Some(None)` for `off`.
pub(crate) fn parse_compression(name: &str) -> Option<Option<Compression>> {
    match name {
        "off" => Some(None),
        "lz4" => Some(Some(Compression::default())),
        _ => None,
    }
}

/// The scenarios a `--server` run does unless `--only` says otherwise.
const SERVER_DEFAULT: [Scenario; 3] = [Scenario::Ping, Scenario::Request, Scenario::EchoPipelined];

/// A server the bench did not start (`--server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct External {
    /// The name its rows get: NAME in `NAME=ADDR`, else the address as given.
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
}

/// What the command line asked for.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) runs: usize,
    pub(crate) smoke: bool,
    pub(crate) out: PathBuf,
    pub(crate) scenarios: Vec<Scenario>,
    /// The implementations, or with `--server` the clients.
    pub(crate) implementations: Vec<Implementation>,
    /// Whether `--impls` chose them: a chosen `python` that cannot run is
    /// an error; by default its row is skipped with a note.
    pub(crate) impls_chosen: bool,
    /// Servers already running; empty when the bench starts its own.
    pub(crate) servers: Vec<External>,
    /// Veltix clients skip the handshake.
    pub(crate) legacy: bool,
    /// Most echoes in flight in `echo-pipelined-64B`.
    pub(crate) window: Option<u64>,
    /// The dialects the Veltix rows speak, each in turn (default: native).
    pub(crate) dialects: Vec<Dialect>,
    /// The compression settings the Veltix rows run with, each in turn
    /// (default: off only).
    pub(crate) compressions: Vec<Option<Compression>>,
}

pub(crate) fn usage_error(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}\n{USAGE}"))
}

/// Parses the arguments after the program name (not the `serve` subcommand).
pub(crate) fn parse(args: &[String]) -> io::Result<Options> {
    let mut runs = None;
    let mut smoke = false;
    let mut out = PathBuf::from("target/veltix-bench");
    let mut scenarios = None;
    let mut implementations = None;
    let mut servers = Vec::new();
    let mut legacy = false;
    let mut window = None;
    let mut dialects = None;
    let mut compressions = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| usage_error(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--legacy" | "--no-handshake" => legacy = true,
            "--runs" => {
                let v = value()?;
                runs = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| usage_error(format!("bad run count {v}")))?,
                );
            }
            "--out" => out = PathBuf::from(value()?),
            "--window" => {
                let v = value()?;
                window = Some(
                    v.parse()
                        .ok()
                        .filter(|&n: &u64| n > 0)
                        .ok_or_else(|| usage_error(format!("bad window {v}")))?,
                );
            }
            "--only" => {
                scenarios = Some(list(value()?, |name| {
                    Scenario::ALL.into_iter().find(|s| s.name() == name)
                })?);
            }
            "--impls" => implementations = Some(list(value()?, Implementation::from_name)?),
            "--dialect" | "--dialects" => {
                let mut chosen: Vec<Dialect> = Vec::new();
                for dialect in list(value()?, parse_dialect)? {
                    if !chosen.contains(&dialect) {
                        chosen.push(dialect);
                    }
                }
                dialects = Some(chosen);
            }
            "--compress" => compressions = Some(vec![None, Some(Compression::default())]),
            "--compression" => {
                let mut chosen: Vec<Option<Compression>> = Vec::new();
                for compression in list(value()?, parse_compression)? {
                    if !chosen.contains(&compression) {
                        chosen.push(compression);
                    }
                }
                compressions = Some(chosen);
            }
            "--server" => {
                for server in value()?.split(',') {
                    servers.push(external(server.trim())?);
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(usage_error(format!("unknown option {arg}"))),
        }
    }
    let external = !servers.is_empty();
    let options = Options {
        runs: runs.unwrap_or(if smoke { 1 } else { 5 }),
        smoke,
        out,
        scenarios: scenarios.unwrap_or_else(|| {
            if external {
                SERVER_DEFAULT.to_vec()
            } else {
                Scenario::ALL.to_vec()
            }
        }),
        impls_chosen: implementations.is_some(),
        implementations: implementations.unwrap_or_else(|| {
            if external {
                vec![Implementation::Tokio]
            } else {
                Implementation::ALL.to_vec()
            }
        }),
        servers,
        legacy,
        window,
        dialects: dialects.unwrap_or_else(|| vec![Dialect::Native]),
        compressions: compressions.unwrap_or_else(|| vec![None]),
    };
    if external {
        check_external(&options)?;
    }
    Ok(options)
}

/// `[NAME=]HOST:PORT`; the host may be a name to resolve.
fn external(text: &str) -> io::Result<External> {
    let (name, addr_text) = match text.split_once('=') {
        Some((name, addr)) => (name.trim(), addr.trim()),
        None => (text, text),
    };
    let addr = addr_text
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| usage_error(format!("bad server address {addr_text}")))?;
    if name.is_empty() {
        return Err(usage_error(format!("empty server name in {text}")));
    }
    Ok(External {
        name: name.to_owned(),
        addr,
    })
}

/// Refuses, with the reason, what cannot run against a server the bench
/// did not start.
fn check_external(options: &Options) -> io::Result<()> {
    for implementation in &options.implementations {
        if let Some(why) = implementation.external_client_refusal() {
            return Err(usage_error(format!(
                "{} cannot be a --server client: {why}",
                implementation.name()
            )));
        }
    }
    for scenario in &options.scenarios {
        if matches!(scenario, Scenario::Burst) || scenario.large() {
            return Err(usage_error(format!(
                "{} is not run with --server: an echo server answers its one-way \
                 messages too, and the scenario does not read answers \
                 (echo-pipelined-64B does: that is the burst against an echo server)",
                scenario.name()
            )));
        }
    }
    Ok(())
}

/// A comma-separated list of names, each found with `find`.
fn list<T>(value: &str, find: impl Fn(&str) -> Option<T>) -> io::Result<Vec<T>> {
    value
        .split(',')
        .map(|name| find(name.trim()).ok_or_else(|| usage_error(format!("unknown name {name}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_run_everything_five_times_or_once_in_smoke_mode() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.runs, 5);
        assert_eq!(options.scenarios, Scenario::ALL);
        assert_eq!(options.implementations, Implementation::ALL);
        assert!(!options.impls_chosen && !options.legacy && options.servers.is_empty());
        assert_eq!(parse(&args("--smoke")).unwrap().runs, 1);
        let chosen = parse(&args(
            "--impls mio-threaded,python --only echo-pipelined-64B",
        ))
        .unwrap();
        assert_eq!(
            chosen.implementations,
            [Implementation::MioThreaded, Implementation::Python]
        );
        assert_eq!(chosen.scenarios, [Scenario::EchoPipelined]);
        assert!(chosen.impls_chosen);
    }

    #[test]
    fn server_mode_names_servers_and_defaults_to_the_tokio_client() {
        let options = parse(&args(
            "--server 127.0.0.1:7000,py=127.0.0.1:7001 --no-handshake",
        ))
        .unwrap();
        assert_eq!(options.servers[0].name, "127.0.0.1:7000");
        assert_eq!(options.servers[1].name, "py");
        assert_eq!(options.servers[1].addr, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(options.implementations, [Implementation::Tokio]);
        assert_eq!(options.scenarios, SERVER_DEFAULT);
        assert!(options.legacy);
        assert_eq!(options.window, None);
        assert_eq!(parse(&args("--window 4096")).unwrap().window, Some(4096));
    }

    #[test]
    fn dialects_are_named_listed_once_each_and_native_by_default() {
        assert_eq!(parse(&[]).unwrap().dialects, [Dialect::Native]);
        let options = parse(&args("--dialect python3,native,python3,legacy,python14")).unwrap();
        assert_eq!(
            options.dialects,
            [
                Dialect::Python3,
                Dialect::Native,
                Dialect::Legacy,
                Dialect::Python14
            ]
        );
        for (name, dialect) in DIALECTS {
            assert_eq!(parse_dialect(name), Some(dialect));
            assert_eq!(dialect_name(dialect), name);
        }
        let refused = parse(&args("--dialect python2")).unwrap_err().to_string();
        assert!(refused.contains("unknown name python2"), "{refused}");
    }

    #[test]
    fn compression_is_off_by_default_and_compress_runs_both() {
        assert_eq!(parse(&[]).unwrap().compressions, [None]);
        let lz4 = Some(Compression::default());
        assert_eq!(
            parse(&args("--compress")).unwrap().compressions,
            [None, lz4]
        );
        assert_eq!(
            parse(&args("--compression lz4,off,lz4"))
                .unwrap()
                .compressions,
            [lz4, None]
        );
        for name in COMPRESSIONS {
            assert_eq!(compression_name(parse_compression(name).unwrap()), name);
        }
        let refused = parse(&args("--compression zstd")).unwrap_err().to_string();
        assert!(refused.contains("unknown name zstd"), "{refused}");
        let text = parse(&args("--only large-1MiB,large-1MiB-text")).unwrap();
        assert_eq!(text.scenarios, [Scenario::Large, Scenario::LargeText]);
    }

    #[test]
    fn server_mode_refuses_what_cannot_work_and_says_why() {
        let refused = |line: &str| parse(&args(line)).unwrap_err().to_string();
        assert!(refused("--server 127.0.0.1:1 --impls tokio+ld").contains("LengthDelimited"));
        assert!(refused("--server 127.0.0.1:1 --impls python").contains("server only"));
        assert!(refused("--server 127.0.0.1:1 --impls python3").contains("server only"));
        assert!(refused("--server 127.0.0.1:1 --impls tokio+tls").contains("plaintext"));
        assert!(refused("--server 127.0.0.1:1 --only burst-64B").contains("echo-pipelined-64B"));
        assert!(
            refused("--server 127.0.0.1:1 --only large-1MiB-text").contains("echo-pipelined-64B")
        );
        assert!(refused("--server nowhere").contains("bad server address"));
        assert!(refused("--server =127.0.0.1:1").contains("empty server name"));
        assert!(refused("--runs 0").contains("bad run count"));
        assert!(refused("--window 0").contains("bad window"));
        assert!(refused("--impls nope").contains("unknown name"));
    }
}
