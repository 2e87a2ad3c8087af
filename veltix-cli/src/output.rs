//! Standard output: lines for people, JSON lines for programs, raw bytes for
//! payloads; a closed pipe is a failure to report, never a panic.

use std::io::{self, IsTerminal as _, Write as _};

use serde_json::Value;
use veltix_tokio::RequestId;

use crate::exit::Failure;

/// Writes one line to standard output (flushed, so a reader sees it at once).
///
/// # Errors
/// Standard output is closed or failing.
pub(crate) fn line(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(stdout_failed)
}

/// Writes one JSON object as one line.
///
/// # Errors
/// As [`line()`].
pub(crate) fn json(value: &Value) -> Result<(), Failure> {
    line(&value.to_string())
}

/// Writes a payload as it is; on a terminal, ends it with a newline when it
/// has none, so the prompt does not follow it on the same line.
///
/// # Errors
/// As [`line()`].
pub(crate) fn raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let newline = out.is_terminal() && !bytes.ends_with(b"\n");
    out.write_all(bytes)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush())
        .map_err(stdout_failed)
}

/// Writes `veltix: <message>` to standard error (best effort).
pub(crate) fn error(message: &str) {
    let _ = writeln!(io::stderr().lock(), "veltix: {message}");
}

/// A request id for people and JSON: `None` for the nil id (no request).
pub(crate) fn request_id(id: RequestId) -> Option<String> {
    (!id.is_nil()).then(|| id.to_string())
}

fn stdout_failed(error: io::Error) -> Failure {
    Failure::failed(format!("cannot write to standard output: {error}"))
}
