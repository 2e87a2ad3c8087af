//! Exit codes, and the one-line error every command fails with.
//!
//! A failure is classified once, here, from the library's typed errors, so
//! every command exits with the same code for the same cause.

use std::fmt;
use std::process::ExitCode;

use veltix_tokio::tls::TlsError;
use veltix_tokio::{CloseCode, CloseReason, Error};

/// What `--help` says about exit codes: keep it in step with [`Exit`].
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the operation failed: a request or ping timed out, the connection was
     closed, the handshake failed (is --dialect right?), echoes were lost
  2  bad arguments or usage (also an unreadable --data @FILE or PEM file)
  3  TLS or authentication failure: a certificate or key pin was refused
     (either way), the peer does not speak TLS or requires it, or the
     pre-shared key was refused
  4  cannot connect or listen: connection refused, address unreachable or
     unresolvable, connect timeout, address already in use

Errors are one line on standard error: `veltix: <what went wrong>`; with
--json, also a last line {\"error\": …, \"exit_code\": N} on standard output.";

/// The exit code of a run; the numbers are documented in [`EXIT_CODES_HELP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The operation failed (timeout, closed, handshake failed, lost echoes).
    Failed = 1,
    /// Bad arguments or usage; also what clap exits with.
    Usage = 2,
    /// A TLS or pre-shared-key authentication failure.
    Auth = 3,
    /// No connection (or no listening socket) could be had.
    Unreachable = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command failed: an exit code and one line for a person.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit code.
    pub(crate) exit: Exit,
    message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// The operation failed (exit code 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    /// A library error met while doing `what` (`"connect to 127.0.0.1:7000"`),
    /// classified.
    pub(crate) fn from_error(what: &str, error: &Error) -> Self {
        let exit = classify(error);
        let hint = match error {
            Error::Closed(reason) if is_tls_required(reason) => {
                " (connect with --tls-pin or --tls-ca)"
            }
            _ if exit == Exit::Failed && is_handshake_failure(error) => {
                " (does the server speak this --dialect?)"
            }
            _ => "",
        };
        Self::new(exit, format!("{what}: {}{hint}", describe(error)))
    }

    /// A TLS setting that cannot be used (a PEM file, a pin).
    pub(crate) fn from_tls_config(error: &TlsError) -> Self {
        Self::new(Exit::Usage, format!("TLS settings: {error}"))
    }

    /// The message, on one line.
    pub(crate) fn message(&self) -> String {
        one_line(&self.message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The exit code for a library error.
fn classify(error: &Error) -> Exit {
    match error {
        // Socket errors come from binding and connecting (the OS's refusal,
        // an unreachable network, a name that does not resolve, a port in
        // use): the others are typed. An address that is not one at all
        // (no port, a port that is no number) is the user's to fix.
        Error::Resolve { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput => {
            Exit::Usage
        }
        Error::Io(_) | Error::Resolve { .. } | Error::ConnectTimeout => Exit::Unreachable,
        Error::Config(_) | Error::InvalidConfig(_) => Exit::Usage,
        Error::Tls(e) if is_tls_setting(e) => Exit::Usage,
        Error::Tls(_) => Exit::Auth,
        Error::Closed(reason) => classify_close(reason),
        _ => Exit::Failed,
    }
}

fn classify_close(reason: &CloseReason) -> Exit {
    match reason {
        CloseReason::AuthFailed(_) | CloseReason::TransportFailed(_) => Exit::Auth,
        CloseReason::Peer { code, .. } if *code == CloseCode::AUTH_FAILED => Exit::Auth,
        reason if is_tls_required(reason) => Exit::Auth,
        _ => Exit::Failed,
    }
}

/// A TLS server telling a plaintext client it requires TLS (its own close
/// code, sent in plaintext by `veltix_tls::TlsLayer::refuse_plaintext`).
fn is_tls_required(reason: &CloseReason) -> bool {
    matches!(reason, CloseReason::Peer { code, .. } if *code == CloseCode::TLS_REQUIRED)
}

/// A TLS error about our own files or settings, not about the peer.
fn is_tls_setting(error: &TlsError) -> bool {
    matches!(
        error,
        TlsError::File { .. } | TlsError::Pem { .. } | TlsError::Config(_)
    )
}

/// Whether the connection ended in the handshake: most often two sides
/// speaking different dialects.
fn is_handshake_failure(error: &Error) -> bool {
    matches!(
        error,
        Error::Closed(
            CloseReason::HandshakeTimeout
                | CloseReason::VersionMismatch { .. }
                | CloseReason::PeerVersionMismatch { .. }
                | CloseReason::Handshake(_)
                | CloseReason::ProtocolViolation(_)
        )
    )
}

/// The error as a person reads it (the library's own words, mostly).
fn describe(error: &Error) -> String {
    match error {
        Error::Io(e) => e.to_string(),
        Error::Tls(e) => format!("TLS: {e}"),
        other => other.to_string(),
    }
}

/// `text` with line breaks folded into spaces.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_documented_codes() {
        use std::io;
        let refused = Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&refused), Exit::Unreachable);
        assert_eq!(classify(&Error::TimedOut), Exit::Failed);
        assert_eq!(classify(&Error::ConnectTimeout), Exit::Unreachable);
        let resolve = |kind, message| Error::Resolve {
            addr: "x".to_owned(),
            source: io::Error::new(kind, message),
        };
        let malformed = resolve(io::ErrorKind::InvalidInput, "invalid socket address");
        assert_eq!(classify(&malformed), Exit::Usage);
        let unknown = resolve(io::ErrorKind::Other, "no such host");
        assert_eq!(classify(&unknown), Exit::Unreachable);
        let pin = TlsError::Config("bad pin".to_owned());
        assert_eq!(classify(&Error::Tls(pin)), Exit::Usage);
        assert_eq!(classify(&Error::Tls(TlsError::UnknownIssuer)), Exit::Auth);
        let auth = CloseReason::AuthFailed("wrong key");
        assert_eq!(classify(&Error::Closed(auth)), Exit::Auth);
        let full = CloseReason::Peer {
            code: CloseCode::SERVER_FULL,
            reason: "server full".to_owned(),
        };
        assert_eq!(classify(&Error::Closed(full)), Exit::Failed);
        let tls_required = CloseReason::Peer {
            code: CloseCode::TLS_REQUIRED,
            reason: "this server requires TLS".to_owned(),
        };
        assert_eq!(classify(&Error::Closed(tls_required)), Exit::Auth);
    }

    #[test]
    fn messages_are_one_line_with_a_dialect_hint_on_handshake_failures() {
        let failure = Failure::from_error(
            "connect to 127.0.0.1:7000",
            &Error::Closed(CloseReason::HandshakeTimeout),
        );
        assert_eq!(failure.exit, Exit::Failed);
        assert_eq!(
            failure.message(),
            "connect to 127.0.0.1:7000: connection closed: handshake timed out \
             (does the server speak this --dialect?)"
        );
        assert_eq!(Failure::failed("a\nb\r\n c").message(), "a b c");
    }
}
