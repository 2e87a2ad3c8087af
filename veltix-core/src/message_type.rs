//! Message type codes: the system types the library owns and the user range.

use std::fmt;

/// The type code of a message (a `u16` on the wire).
///
/// Codes `0..200` are reserved to the library (see [`MessageType::PING`] and its
/// siblings), `200..500` are for applications and `500..=65535` for plugins.
/// [`MessageType::new`] builds a user type and refuses reserved codes;
/// [`MessageType::from_code`] accepts any code, as a decoder must.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageType(u16);

/// A user message type was asked for with a code reserved to the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message type code {code} is reserved to the library (user types start at {first})", first = MessageType::FIRST_USER_CODE)]
pub struct ReservedTypeError {
    /// The code that was refused.
    pub code: u16,
}

impl MessageType {
    /// Ask the peer for a [`MessageType::PONG`].
    pub const PING: Self = Self(0);
    /// Answer to a PING: same request id, empty payload.
    pub const PONG: Self = Self(1);
    /// Keep-alive sent on send-silence.
    pub const HEARTBEAT: Self = Self(2);
    /// Handshake opening frame.
    pub const HELLO: Self = Self(10);
    /// Handshake answer.
    pub const HELLO_ACK: Self = Self(11);
    /// Generic error, also used to say why a connection is being closed.
    pub const ERROR: Self = Self(20);
    /// The peer sent a malformed request.
    pub const INVALID_REQUEST: Self = Self(21);

    /// The first code applications may use.
    pub const FIRST_USER_CODE: u16 = 200;
    /// The first code of the plugin range.
    pub const FIRST_PLUGIN_CODE: u16 = 500;

    /// A user (application or plugin) message type.
    ///
    /// # Errors
    /// [`ReservedTypeError`] when `code` is below [`MessageType::FIRST_USER_CODE`].
    pub const fn new(code: u16) -> Result<Self, ReservedTypeError> {
        if code < Self::FIRST_USER_CODE {
            Err(ReservedTypeError { code })
        } else {
            Ok(Self(code))
        }
    }

    /// Any code, reserved or not: what a decoder reads off the wire.
    pub const fn from_code(code: u16) -> Self {
        Self(code)
    }

    /// The code as sent on the wire.
    pub const fn code(self) -> u16 {
        self.0
    }

    /// Whether the code is in the range reserved to the library (`0..200`).
    pub const fn is_system(self) -> bool {
        self.0 < Self::FIRST_USER_CODE
    }

    /// The protocol name of a known system type (`"PING"`, `"HELLO_ACK"`, …).
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PING => "PING",
            Self::PONG => "PONG",
            Self::HEARTBEAT => "HEARTBEAT",
            Self::HELLO => "HELLO",
            Self::HELLO_ACK => "HELLO_ACK",
            Self::ERROR => "ERROR",
            Self::INVALID_REQUEST => "INVALID_REQUEST",
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageType({self})")
    }
}

impl From<MessageType> for u16 {
    fn from(ty: MessageType) -> Self {
        ty.0
    }
}

impl TryFrom<u16> for MessageType {
    type Error = ReservedTypeError;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_types_below_200_are_refused() {
        assert_eq!(MessageType::new(199), Err(ReservedTypeError { code: 199 }));
        assert_eq!(MessageType::new(0), Err(ReservedTypeError { code: 0 }));
        assert_eq!(MessageType::new(200).map(MessageType::code), Ok(200));
        assert_eq!(MessageType::try_from(65535).map(u16::from), Ok(65535));
    }

    #[test]
    fn names_and_display() {
        assert_eq!(MessageType::HELLO_ACK.name(), Some("HELLO_ACK"));
        assert_eq!(MessageType::from_code(3).name(), None);
        assert_eq!(MessageType::PING.to_string(), "PING");
        assert_eq!(MessageType::from_code(321).to_string(), "321");
        assert_eq!(format!("{:?}", MessageType::PONG), "MessageType(PONG)");
        assert!(MessageType::INVALID_REQUEST.is_system());
        assert!(!MessageType::from_code(200).is_system());
    }
}
