//! Message type codes: the system types the library owns and the user range.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

/// The type code of a message (a `u16` on the wire).
///
/// Codes `0..200` are reserved to the library (see [`MessageType::PING`] and its
/// siblings), `200..500` are for applications and `500..=65535` for plugins.
/// [`MessageType::new`] builds a user type and refuses reserved codes;
/// [`MessageType::named`] does the same and gives the code a name;
/// [`MessageType::from_code`] accepts any code, as a decoder must.
///
/// # Names
///
/// A name is for people reading logs: `Display` shows a named code as
/// `chat(200)` and `Debug` as `MessageType(chat(200))`. It never goes on the
/// wire and is not part of the value (a `MessageType` is its code, two
/// bytes): names live in one process-wide table, by code, so a type decoded
/// from the wire shows the name its code was given too. Naming a code again
/// replaces its name.
///
/// ```
/// use veltix_core::MessageType;
///
/// let chat = MessageType::named(200, "chat")?;
/// assert_eq!(chat.to_string(), "chat(200)");
/// assert_eq!(chat.name(), Some("chat"));
///
/// // What a decoder reads off the wire: the same code, so the same name.
/// let received = MessageType::from_code(200);
/// assert_eq!(received, chat);
/// assert_eq!(received.to_string(), "chat(200)");
/// # Ok::<(), veltix_core::ReservedTypeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageType {
    code: u16,
}

/// The names given with [`MessageType::named`], by code. Read only to
/// format a type (logs), written only when a code is named.
static NAMES: RwLock<BTreeMap<u16, &'static str>> = RwLock::new(BTreeMap::new());

/// A user message type was asked for with a code reserved to the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message type code {code} is reserved to the library (user types start at {first})", first = MessageType::FIRST_USER_CODE)]
pub struct ReservedTypeError {
    /// The code that was refused.
    pub code: u16,
}

impl MessageType {
    /// Ask the peer for a [`MessageType::PONG`].
    pub const PING: Self = Self::from_code(0);
    /// Answer to a PING: same request id, empty payload.
    pub const PONG: Self = Self::from_code(1);
    /// Keep-alive sent on send-silence.
    pub const HEARTBEAT: Self = Self::from_code(2);
    /// Handshake opening frame.
    pub const HELLO: Self = Self::from_code(10);
    /// Handshake answer.
    pub const HELLO_ACK: Self = Self::from_code(11);
    /// Generic error, also used to say why a connection is being closed.
    pub const ERROR: Self = Self::from_code(20);
    /// The peer sent a malformed request.
    pub const INVALID_REQUEST: Self = Self::from_code(21);

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
            Ok(Self::from_code(code))
        }
    }

    /// A user message type whose code shows as `name` in logs (see
    /// [Names](Self#names)).
    ///
    /// # Errors
    /// [`ReservedTypeError`] when `code` is below [`MessageType::FIRST_USER_CODE`],
    /// as for [`new`](Self::new); nothing is named then.
    pub fn named(code: u16, name: &'static str) -> Result<Self, ReservedTypeError> {
        let ty = Self::new(code)?;
        NAMES
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code, name);
        Ok(ty)
    }

    /// Any code, reserved or not: what a decoder reads off the wire.
    pub const fn from_code(code: u16) -> Self {
        Self { code }
    }

    /// The code as sent on the wire.
    pub const fn code(self) -> u16 {
        self.code
    }

    /// Whether the code is in the range reserved to the library (`0..200`).
    pub const fn is_system(self) -> bool {
        self.code < Self::FIRST_USER_CODE
    }

    /// The name given with [`named`](Self::named), else the protocol name
    /// of a known system type (`"PING"`, `"HELLO_ACK"`, …).
    pub fn name(self) -> Option<&'static str> {
        self.user_name().or_else(|| self.system_name())
    }

    fn user_name(self) -> Option<&'static str> {
        if self.is_system() {
            return None;
        }
        NAMES
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.code)
            .copied()
    }

    const fn system_name(self) -> Option<&'static str> {
        Some(match self.code {
            0 => "PING",
            1 => "PONG",
            2 => "HEARTBEAT",
            10 => "HELLO",
            11 => "HELLO_ACK",
            20 => "ERROR",
            21 => "INVALID_REQUEST",
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.user_name(), self.system_name()) {
            (Some(user), _) => write!(f, "{user}({})", self.code),
            (None, Some(system)) => f.write_str(system),
            (None, None) => write!(f, "{}", self.code),
        }
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageType({self})")
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for MessageType {
    /// Any code, unnamed: what a decoder could read off the wire.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        u16::arbitrary(u).map(Self::from_code)
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        <u16 as arbitrary::Arbitrary<'a>>::size_hint(depth)
    }
}

impl From<MessageType> for u16 {
    fn from(ty: MessageType) -> Self {
        ty.code
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

    #[test]
    fn named_codes_show_their_name_wherever_they_come_from() {
        // 4xx codes here: no other test of this binary names them.
        let chat = MessageType::named(410, "chat").expect("user code");
        assert_eq!(chat.to_string(), "chat(410)");
        assert_eq!(format!("{chat:?}"), "MessageType(chat(410))");
        assert_eq!(chat.name(), Some("chat"));
        let received = MessageType::from_code(410);
        assert_eq!(received, chat);
        assert_eq!(received.to_string(), "chat(410)");
        MessageType::named(410, "talk").expect("user code");
        assert_eq!(chat.to_string(), "talk(410)", "named again: the new name");
        assert_eq!(
            MessageType::named(199, "nope"),
            Err(ReservedTypeError { code: 199 })
        );
        assert_eq!(MessageType::from_code(199).name(), None, "not named");
        assert_eq!(MessageType::from_code(411).to_string(), "411");
    }

    #[test]
    fn stays_two_bytes_and_matchable() {
        assert_eq!(std::mem::size_of::<MessageType>(), 2);
        // Structural equality: the constants are patterns.
        let kind = MessageType::from_code(1);
        assert!(matches!(kind, MessageType::PONG));
    }
}
