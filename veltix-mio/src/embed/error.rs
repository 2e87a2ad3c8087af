//! The embedded wing's error: why a connection could not be opened.

use std::error::Error as StdError;
use std::{fmt, io};

use veltix_core::ConfigError;

/// Why [`MioConnection::accept`](super::MioConnection::accept) or
/// [`MioConnection::connect`](super::MioConnection::connect) failed.
///
/// Converts into [`io::Error`] (settings that cannot work become
/// [`InvalidInput`](io::ErrorKind::InvalidInput)) and, with the default
/// `runtime` feature, into `veltix_mio::Error`.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The connection settings cannot work.
    Config(ConfigError),
    /// The OS refused: no randomness for the handshake nonce, or the
    /// connect call failed.
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(err) => fmt::Display::fmt(err, f),
            Self::Io(err) => write!(f, "i/o error: {err}"),
        }
    }
}

impl StdError for OpenError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Shown in full by `Display` already: its own source, if any.
            Self::Config(err) => err.source(),
            Self::Io(err) => Some(err),
        }
    }
}

impl From<ConfigError> for OpenError {
    fn from(err: ConfigError) -> Self {
        Self::Config(err)
    }
}

impl From<io::Error> for OpenError {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

impl From<OpenError> for io::Error {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::Io(err) => err,
            config @ OpenError::Config(_) => io::Error::new(io::ErrorKind::InvalidInput, config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_cannot_work_are_invalid_input() {
        let err = io::Error::from(OpenError::from(ConfigError::EmptyVersionRange));
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "protocol version range is empty");
    }

    #[test]
    fn an_os_error_comes_back_as_it_was() {
        let err = io::Error::from(OpenError::from(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}
