//! Message type codes: the system types the library owns and the user range.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The type code of a message (a `u16` on the wire), with an optional name
/// for logs.
///
/// Codes `0..200` are reserved to the library (see [`MessageType::PING`] and its
/// siblings), `200..500` are for applications and `500..=65535` for plugins.
/// [`MessageType::new`] builds a user type and refuses reserved codes;
/// [`MessageType::named`] does the same and gives the type a name;
/// [`MessageType::from_code`] accepts any code, as a decoder must.
///
/// # Names
///
/// A name is for people reading logs: `Display` shows a named type as
/// `chat(200)` and `Debug` as `MessageType(chat(200))`. It never goes on the
/// wire, and equality, ordering and hashing look at the code alone, so a
/// named type equals the unnamed one with the same code, and either finds
/// the other in a `HashMap` or `BTreeMap`.
///
/// A type decoded from the wire has no name (names are sender-side). To log
/// a received message by name, look its type up among the types the
/// application declared with [`with_name_from`](Self::with_name_from).
///
/// ```
/// use veltix_core::MessageType;
///
/// const CHAT: MessageType = match MessageType::named(200, "chat") {
///     Ok(t) => t,
///     Err(_) => panic!("200 is a user code"),
/// };
/// assert_eq!(CHAT.to_string(), "chat(200)");
/// assert_eq!(CHAT.name(), Some("chat"));
///
/// // What a decoder reads off the wire: the same code, no name.
/// let received = MessageType::from_code(200);
/// assert_eq!(received, CHAT);
/// assert_eq!(received.to_string(), "200");
/// assert_eq!(received.with_name_from(&[CHAT]).to_string(), "chat(200)");
/// ```
///
/// Because equality ignores the name, a `MessageType` constant cannot be
/// used as a `match` pattern; match on [`code`](Self::code) or compare with
/// `==` in a guard instead.
#[derive(Clone, Copy)]
pub struct MessageType {
    code: u16,
    name: Option<&'static str>,
}

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

    /// A user message type with a name for logs (see [Names](Self#names)).
    ///
    /// # Errors
    /// [`ReservedTypeError`] when `code` is below [`MessageType::FIRST_USER_CODE`],
    /// as for [`new`](Self::new).
    pub const fn named(code: u16, name: &'static str) -> Result<Self, ReservedTypeError> {
        match Self::new(code) {
            Ok(ty) => Ok(ty.with_name(name)),
            Err(err) => Err(err),
        }
    }

    /// Any code, reserved or not: what a decoder reads off the wire. No name.
    pub const fn from_code(code: u16) -> Self {
        Self { code, name: None }
    }

    /// This type with `name` for logs; the code, and so equality, unchanged.
    #[must_use]
    pub const fn with_name(self, name: &'static str) -> Self {
        Self {
            code: self.code,
            name: Some(name),
        }
    }

    /// This type with the name of the first type in `known` that has the
    /// same code and a name; itself when there is none.
    ///
    /// A received message's type has no name: this gives it the one the
    /// application declared, for logs.
    #[must_use]
    pub fn with_name_from(self, known: &[MessageType]) -> Self {
        known
            .iter()
            .find(|ty| ty.code == self.code && ty.name.is_some())
            .copied()
            .unwrap_or(self)
    }

    /// The code as sent on the wire.
    pub const fn code(self) -> u16 {
        self.code
    }

    /// Whether the code is in the range reserved to the library (`0..200`).
    pub const fn is_system(self) -> bool {
        self.code < Self::FIRST_USER_CODE
    }

    /// The name given with [`named`](Self::named) or
    /// [`with_name`](Self::with_name), else the protocol name of a known
    /// system type (`"PING"`, `"HELLO_ACK"`, …).
    pub const fn name(self) -> Option<&'static str> {
        if let Some(name) = self.name {
            return Some(name);
        }
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

// By code only: a name is a label for logs, not part of the type's identity
// (a received, unnamed type must equal the named one the sender used).
impl PartialEq for MessageType {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

impl Eq for MessageType {}

impl PartialOrd for MessageType {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MessageType {
    fn cmp(&self, other: &Self) -> Ordering {
        self.code.cmp(&other.code)
    }
}

impl Hash for MessageType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.code.hash(state);
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name, self.name()) {
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
    fn named_types_show_their_name_and_compare_by_code() {
        use std::collections::hash_map::DefaultHasher;

        let chat = MessageType::named(200, "chat").expect("user code");
        assert_eq!(chat.to_string(), "chat(200)");
        assert_eq!(format!("{chat:?}"), "MessageType(chat(200))");
        assert_eq!(chat.name(), Some("chat"));
        assert_eq!(chat.code(), 200);

        let bare = MessageType::from_code(200);
        assert_eq!(chat, bare);
        assert_eq!(chat.cmp(&bare), Ordering::Equal);
        let hash = |t: MessageType| {
            let mut h = DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(chat), hash(bare));
        assert!(chat < MessageType::from_code(201));
        let mut map = std::collections::HashMap::new();
        map.insert(chat, "handler");
        assert_eq!(map.get(&bare), Some(&"handler"));

        assert_eq!(
            MessageType::named(199, "nope"),
            Err(ReservedTypeError { code: 199 })
        );
        // A name on a system type replaces its protocol name in logs.
        assert_eq!(MessageType::PING.with_name("probe").to_string(), "probe(0)");
    }

    #[test]
    fn received_types_take_the_declared_name() {
        let chat = MessageType::named(200, "chat").expect("user code");
        let moves = MessageType::named(201, "move").expect("user code");
        let known = [MessageType::from_code(200), moves, chat];
        assert_eq!(
            MessageType::from_code(200).with_name_from(&known).name(),
            Some("chat")
        );
        assert_eq!(
            MessageType::from_code(201).with_name_from(&known).name(),
            Some("move")
        );
        assert_eq!(
            MessageType::from_code(202).with_name_from(&known).name(),
            None
        );
    }

    #[test]
    fn stays_small_and_copy() {
        fn copy<T: Copy>(t: T) -> T {
            t
        }
        assert_eq!(copy(MessageType::PONG), MessageType::PONG);
        // A code and a string pointer: three words at most.
        assert!(std::mem::size_of::<MessageType>() <= 3 * std::mem::size_of::<usize>());
    }
}
