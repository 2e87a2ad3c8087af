//! A tiny command-line parser shared by the examples: `--name VALUE` options
//! and `--flag` switches, each taken out of the argument list as it is read;
//! [`Args::finish`] then refuses whatever is left, so a typo is not ignored.
#![allow(dead_code)] // each example uses only part of it

use std::str::FromStr;

use veltix_smol::Dialect;

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
    /// it), `--max-payload BYTES` and `--dialect` (see [`dialect`](Self::dialect))
    /// into a server configuration.
    pub(crate) fn server_config(&mut self) -> veltix_smol::ServerConfig {
        let addr: String = self.value("--addr", "127.0.0.1:7000".to_owned());
        let idle_secs: Option<f64> = self.opt("--idle-timeout");
        let max_payload: Option<u32> = self.opt("--max-payload");
        let dialect = self.dialect();
        let mut config = veltix_smol::ServerConfig::new(addr).dialect(dialect);
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
        config.tls = self.server_tls();
        config
    }

    /// Takes `--dialect NAME`, the protocol spoken with peers: `native` (the
    /// default; a native server also serves Python Veltix 1.2/1.3 clients),
    /// `python1.4` (Python Veltix 1.4.0–1.6.1), `python3` (Python Veltix
    /// 2.0.3–3.3.0) or `legacy` (no handshake, for Python 1.2/1.3 servers).
    pub(crate) fn dialect(&mut self) -> Dialect {
        let name: Option<String> = self.opt("--dialect");
        match name.as_deref() {
            None | Some("native") => Dialect::Native,
            Some("python1.4") => Dialect::Python14,
            Some("python3") => Dialect::Python3,
            Some("legacy") => Dialect::Legacy,
            Some(other) => fail(&format!(
                "--dialect: unknown dialect {other:?} (native, python1.4, python3, legacy)"
            )),
        }
    }

    /// Takes the client's `--dialect NAME` and `--no-handshake` (which means
    /// `--dialect legacy`); refuses the two together naming another dialect.
    pub(crate) fn client_dialect(&mut self) -> Dialect {
        let no_handshake = self.flag("--no-handshake");
        let named = self.0.iter().any(|a| a == "--dialect");
        match self.dialect() {
            Dialect::Native if no_handshake && !named => Dialect::Legacy,
            Dialect::Legacy => Dialect::Legacy,
            _ if no_handshake => fail("--no-handshake means --dialect legacy"),
            dialect => dialect,
        }
    }

    /// Takes `--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]`: TLS for
    /// every peer, requiring client certificates from the CA file when given.
    pub(crate) fn server_tls(&mut self) -> Option<veltix_smol::tls::TlsServerConfig> {
        let cert: Option<String> = self.opt("--tls-cert");
        let key: Option<String> = self.opt("--tls-key");
        let client_ca: Option<String> = self.opt("--tls-client-ca");
        let (cert, key) = match (cert, key) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) if client_ca.is_none() => return None,
            _ => fail("--tls-cert and --tls-key go together (and --tls-client-ca with them)"),
        };
        let tls = veltix_smol::tls::TlsServerConfig::builder_from_files(cert, key)
            .and_then(|builder| match client_ca {
                Some(ca) => builder.require_client_cert_file(ca),
                None => Ok(builder),
            })
            .and_then(|builder| builder.build());
        Some(tls.unwrap_or_else(|err| fail(&err.to_string())))
    }

    /// Takes `--tls-ca PEM | --tls-pin HEX [--tls-cert PEM --tls-key PEM]
    /// [--tls-server-name NAME]`: TLS to the server, trusting a CA file or
    /// one pinned key, with a client certificate for servers that require one.
    pub(crate) fn client_tls(&mut self) -> Option<veltix_smol::ClientTls> {
        use veltix_smol::tls::{ServerTrust, TlsClientConfig};
        let ca: Option<String> = self.opt("--tls-ca");
        let pin: Option<String> = self.opt("--tls-pin");
        let cert: Option<String> = self.opt("--tls-cert");
        let key: Option<String> = self.opt("--tls-key");
        let server_name: Option<String> = self.opt("--tls-server-name");
        let trust = match (ca, pin) {
            (Some(ca), None) => ServerTrust::ca_file(ca),
            (None, Some(pin)) => ServerTrust::pin(&pin),
            (None, None) if cert.is_none() && key.is_none() && server_name.is_none() => {
                return None;
            }
            _ => fail("TLS needs exactly one of --tls-ca PEM or --tls-pin HEX"),
        };
        let config = trust
            .map(TlsClientConfig::builder)
            .and_then(|builder| match (cert, key) {
                (Some(cert), Some(key)) => builder.client_cert_files(cert, key),
                (None, None) => Ok(builder),
                _ => fail("--tls-cert and --tls-key go together"),
            })
            .and_then(|builder| builder.build())
            .unwrap_or_else(|err| fail(&err.to_string()));
        Some(veltix_smol::ClientTls {
            config,
            server_name,
        })
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

/// How a client speaking `dialect` describes its connection.
pub(crate) fn describe(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Legacy => "no handshake",
        Dialect::Python14 => "Python 1.4–1.6 handshake",
        Dialect::Python3 => "Python 3.x handshake",
        _ => "handshake",
    }
}

pub(crate) fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
