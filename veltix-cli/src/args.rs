//! The command line: subcommands and flags (clap derive), with the help text
//! a person reads.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use veltix_tokio::tls::SpkiPin;
use veltix_tokio::{Dialect, MessageType};

use crate::duration;
use crate::exit::EXIT_CODES_HELP;
use crate::payload;

const ABOUT: &str = "Talk Veltix from the command line: serve, send, request, ping, benchmark";

const LONG_ABOUT: &str = "\
Talk Veltix from the command line: serve, send, request, ping, benchmark.

Every command speaks every dialect (--dialect native|python1.4|python3|legacy)
and every TLS mode: a server takes --tls-cert/--tls-key (and --tls-client-ca
for mutual TLS) and prints its key pin; a client trusts a CA file (--tls-ca)
or that pin (--tls-pin), and may show a certificate of its own. --json gives
machine-readable output on standard output.

Examples:
  veltix listen 127.0.0.1:7000                 # an echo server
  veltix listen 127.0.0.1:7000 --print --json  # print every message as JSON
  veltix send 127.0.0.1:7000 --type 201 --data @event.bin
  veltix request 127.0.0.1:7000 --data hello --timeout 2s
  veltix ping 127.0.0.1:7000 --count 5 --interval 200ms
  veltix bench 127.0.0.1:7000 --duration 3s --size 256
  veltix ping 10.0.0.5:7443 --tls-pin sha256:3f1a…";

/// `veltix`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "veltix",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve on ADDR: echo every message back (the default), or print each one.
    ///
    /// Prints `listening on ADDR` once ready (the bound address: port 0
    /// picks a free one) and, with TLS, `tls pin sha256:<hex>` for clients
    /// that trust by pin. Shuts down gracefully on Ctrl-C or SIGTERM: every
    /// peer is told, and what was queued for it is flushed.
    #[command(after_help = EXIT_CODES_HELP)]
    Listen(ListenArgs),
    /// Send one message, then close cleanly once it has been flushed.
    #[command(after_help = EXIT_CODES_HELP)]
    Send(SendArgs),
    /// Send a request and print the reply's payload (as it is, bytes for bytes).
    #[command(after_help = EXIT_CODES_HELP)]
    Request(RequestArgs),
    /// Measure round-trip times with the protocol's own PING/PONG.
    ///
    /// Prints one line per ping and a ping(8)-style summary. Runs until
    /// --count pings were sent, or until Ctrl-C; exits 1 when any ping got
    /// no reply.
    #[command(after_help = EXIT_CODES_HELP)]
    Ping(PingArgs),
    /// Load a server and print a percentile table.
    ///
    /// Scenarios: `request` (sequential request/response round trips, as
    /// fast as they come), `burst` (pipelined sends, counting the echoes
    /// that come back: against an echo server), `latency` (requests at a
    /// steady --rate, one at a time). Each runs on a fresh connection for
    /// --duration or --count. A progress bar is drawn on standard error
    /// when it is a terminal (and not with --json).
    #[command(after_help = EXIT_CODES_HELP)]
    Bench(BenchArgs),
}

impl Command {
    /// Whether `--json` was asked for.
    pub(crate) fn json(&self) -> bool {
        match self {
            Self::Listen(args) => args.json,
            Self::Send(args) => args.json,
            Self::Request(args) => args.json,
            Self::Ping(args) => args.json,
            Self::Bench(args) => args.json,
        }
    }
}

/// The dialect (handshake and wire) to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DialectArg {
    /// This library's handshake (a native server also serves legacy clients).
    Native,
    /// Python Veltix 1.4 – 1.6 (HELLO / HELLO_ACK, server first).
    #[value(name = "python1.4", alias = "python14")]
    Python14,
    /// Python Veltix 2.x / 3.x (compact frames after a JSON handshake).
    Python3,
    /// No handshake at all (Python Veltix 1.2 / 1.3).
    Legacy,
}

impl DialectArg {
    /// The library's dialect.
    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Self::Native => Dialect::Native,
            Self::Python14 => Dialect::Python14,
            Self::Python3 => Dialect::Python3,
            Self::Legacy => Dialect::Legacy,
        }
    }

    /// The name as written on the command line.
    pub(crate) fn name(self) -> &'static str {
        dialect_name(self.dialect())
    }
}

/// A dialect's name as written on the command line.
pub(crate) fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Native => "native",
        Dialect::Python14 => "python1.4",
        Dialect::Python3 => "python3",
        Dialect::Legacy => "legacy",
        _ => "unknown",
    }
}

/// Protocol settings shared by servers and clients.
#[derive(Debug, Args)]
#[command(next_help_heading = "Protocol")]
pub(crate) struct ProtocolArgs {
    /// The dialect to speak: handshake and wire format.
    #[arg(long, value_enum, value_name = "DIALECT", default_value_t = DialectArg::Native)]
    pub(crate) dialect: DialectArg,
    /// A pre-shared key both sides must prove (native dialect only): TEXT,
    /// or @FILE for a file's bytes as they are, a final newline included
    /// (@- for standard input).
    #[arg(long, value_name = "TEXT|@FILE", value_parser = payload::parse)]
    pub(crate) key: Option<Bytes>,
}

/// The TLS flags of `listen`.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS (server)")]
pub(crate) struct ServerTlsArgs {
    /// Serve TLS 1.3 with this certificate chain (PEM, end-entity first).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Mutual TLS: require a client certificate signed by a CA in this PEM file.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
}

/// The TLS flags of every client command.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS (client)")]
pub(crate) struct ClientTlsArgs {
    /// Connect over TLS 1.3, trusting servers whose certificate chains to a
    /// CA in this PEM file (and names the host of ADDR, or --tls-server-name).
    #[arg(long, value_name = "PEM", group = "tls_trust")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Connect over TLS 1.3, trusting the server that holds this key:
    /// `sha256:<hex>` as `veltix listen` prints it (bare hex works too).
    /// No CA, no name check, expiry ignored: the ssh known_hosts model.
    #[arg(long, value_name = "HEX", group = "tls_trust", value_parser = parse_pin)]
    pub(crate) tls_pin: Option<SpkiPin>,
    /// A client certificate (PEM), for servers that require one.
    #[arg(long, value_name = "PEM", requires_all = ["tls_key", "tls_trust"])]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the host
    /// of ADDR (with --tls-ca; with --tls-pin it is only sent as SNI).
    #[arg(long, value_name = "NAME", requires = "tls_trust")]
    pub(crate) tls_server_name: Option<String>,
}

/// Where a client connects, and how.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The server's address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,
    /// Protocol settings.
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
    /// Time allowed to connect: for TCP, then for the handshakes (TLS and Veltix).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse)]
    pub(crate) connect_timeout: Duration,
    /// TLS settings.
    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

/// The message to send.
#[derive(Debug, Args)]
pub(crate) struct MessageArgs {
    /// The message type: a user code, 200 – 65535.
    #[arg(long = "type", value_name = "CODE", default_value = "200", value_parser = parse_type)]
    pub(crate) kind: MessageType,
    /// The payload: TEXT as it is, or @FILE for a file's bytes (@- for
    /// standard input; @@ for a text that starts with @). Default: empty.
    #[arg(long, value_name = "TEXT|@FILE", value_parser = payload::parse, default_value = "")]
    pub(crate) data: Bytes,
}

/// `veltix listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,
    /// Answer every message with a message of the same type and payload,
    /// carrying its request id, so requests get their own payload back (the
    /// default).
    #[arg(long, conflicts_with = "print")]
    pub(crate) echo: bool,
    /// Print every message, one line each: peer, type, request id and
    /// payload (as text when it is UTF-8, else hex); and each connect and
    /// disconnect. Answers nothing.
    #[arg(long)]
    pub(crate) print: bool,
    /// One JSON object per line on standard output.
    #[arg(long)]
    pub(crate) json: bool,
    /// Protocol settings.
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
    /// TLS settings.
    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

/// `veltix send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The message.
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// Say what was sent as one JSON object on standard output.
    #[arg(long)]
    pub(crate) json: bool,
    /// The server.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
}

/// `veltix request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The request.
    #[command(flatten)]
    pub(crate) message: MessageArgs,
    /// How long to wait for the reply.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub(crate) timeout: Duration,
    /// Print the reply as one JSON object: type, request id, timestamp,
    /// payload, latency.
    #[arg(long)]
    pub(crate) json: bool,
    /// The server.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
}

/// `veltix ping`.
#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// Stop after this many pings (default: until Ctrl-C).
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
    /// Time between the starts of two pings.
    #[arg(short = 'i', long, value_name = "DURATION", default_value = "1s", value_parser = duration::parse)]
    pub(crate) interval: Duration,
    /// How long to wait for each pong.
    #[arg(short = 'W', long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub(crate) timeout: Duration,
    /// One JSON object per line: one per ping, then the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// The server.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
}

/// A `veltix bench` scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Sequential request/response round trips, as fast as they come.
    Request,
    /// Pipelined sends, counting the echoes that come back.
    Burst,
    /// Requests one at a time at a steady --rate.
    Latency,
}

impl Scenario {
    /// The name as written on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Burst => "burst",
            Self::Latency => "latency",
        }
    }
}

/// `veltix bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The scenarios to run, in this order (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "SCENARIO",
        default_value = "request,burst,latency"
    )]
    pub(crate) scenario: Vec<Scenario>,
    /// How long each scenario runs [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, conflicts_with = "count")]
    pub(crate) duration: Option<Duration>,
    /// How many messages (round trips, sends) each scenario makes, instead of --duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
    /// Payload size in bytes. Burst measures each echo's latency when it is 8 or more.
    #[arg(long, value_name = "BYTES", default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=16 * 1024 * 1024))]
    pub(crate) size: u32,
    /// Requests per second in the latency scenario.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) rate: u32,
    /// The message type of every message.
    #[arg(long = "type", value_name = "CODE", default_value = "200", value_parser = parse_type)]
    pub(crate) kind: MessageType,
    /// How long to wait for one reply, or for the next echo at the end of a burst.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub(crate) timeout: Duration,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// The server.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
}

/// A user message type, 200 – 65535.
fn parse_type(text: &str) -> Result<MessageType, String> {
    let code: u16 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a message type: expected a number, 200 – 65535"))?;
    MessageType::new(code).map_err(|e| e.to_string())
}

/// A key pin, `sha256:<hex>` or bare hex.
fn parse_pin(text: &str) -> Result<SpkiPin, String> {
    text.parse()
        .map_err(|e: veltix_tokio::tls::TlsError| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn reserved_types_are_refused() {
        assert!(parse_type("200").is_ok());
        assert!(parse_type("65535").is_ok());
        assert!(parse_type("1").unwrap_err().contains("reserved"));
        assert!(parse_type("70000").unwrap_err().contains("200 – 65535"));
    }

    #[test]
    fn dialects_parse_by_their_names() {
        for dialect in [
            DialectArg::Native,
            DialectArg::Python14,
            DialectArg::Python3,
            DialectArg::Legacy,
        ] {
            assert_eq!(DialectArg::from_str(dialect.name(), false), Ok(dialect));
        }
        assert_eq!(
            DialectArg::from_str("python14", false),
            Ok(DialectArg::Python14)
        );
    }

    #[test]
    fn client_tls_flags_need_a_trust() {
        let parse =
            |args: &[&str]| Cli::try_parse_from([&["veltix", "ping", "h:1"], args].concat());
        assert!(parse(&["--tls-pin", &"ab".repeat(32)]).is_ok());
        assert!(parse(&["--tls-cert", "c", "--tls-key", "k"]).is_err());
        assert!(parse(&["--tls-ca", "a", "--tls-pin", &"ab".repeat(32)]).is_err());
        assert!(parse(&["--tls-ca", "a", "--tls-cert", "c", "--tls-key", "k"]).is_ok());
        assert!(parse(&["--tls-ca", "a", "--tls-cert", "c"]).is_err());
        assert!(parse(&["--tls-server-name", "x"]).is_err());
        assert!(parse(&["--tls-pin", "sha256:12"]).is_err());
    }
}
