//! Typed payloads: UTF-8 text, and JSON (feature `serde`) as Python Veltix
//! 3.x's `Request(T, text=…)` / `Request(T, json=…)` put it on the wire and
//! its `Response.text` / `Response.json` read it.
//!
//! Python Veltix 3.3.0 encodes JSON with `json.dumps(value).encode("utf-8")`
//! (`veltix/utils/encoding.py`): `", "` and `": "` separators, non-ASCII
//! escaped as `\uXXXX`. It decodes with `json.loads(payload.decode("utf-8"))`,
//! which takes any valid JSON in UTF-8. We write serde_json's compact form
//! (no spaces, UTF-8 as is), which that reads, and read Python's, which
//! serde_json takes; `tests/src/interop/json.rs` checks both directions
//! against the real package.

use std::str::Utf8Error;

use bytes::Bytes;

use crate::{Message, MessageType};

/// The payload of a message read as text was not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the payload of a message of type {message_type} is not UTF-8: {source}")]
pub struct TextError {
    /// The type of the message whose payload was read.
    pub message_type: MessageType,
    /// Where the UTF-8 went wrong.
    #[source]
    pub source: Utf8Error,
}

/// A value could not be turned into a JSON payload, or a payload into a value.
#[cfg(feature = "serde")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The value could not be serialised (a map with non-string keys, a
    /// `Serialize` impl that failed, …).
    #[error("cannot encode the value as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The payload is not JSON (or not UTF-8), or not JSON of the asked type.
    #[error("the payload is not JSON of the expected type: {0}")]
    Decode(#[source] serde_json::Error),
}

#[cfg(feature = "serde")]
impl JsonError {
    /// The serde_json error behind this one (also its
    /// [`source`](std::error::Error::source)).
    pub fn json_error(&self) -> &serde_json::Error {
        match self {
            Self::Encode(err) | Self::Decode(err) => err,
        }
    }
}

impl Message {
    /// A message whose payload is `text` in UTF-8, what Python Veltix's
    /// `Request(T, text=…)` sends. The string's buffer becomes the payload
    /// without a copy.
    ///
    /// ```
    /// use veltix_core::{Message, MessageType};
    ///
    /// let message = Message::text(MessageType::new(200)?, "héllo");
    /// assert_eq!(message.as_text()?, "héllo");
    /// assert_eq!(&message.payload()[..], "héllo".as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn text(message_type: MessageType, text: impl Into<String>) -> Self {
        Self::new(message_type, Bytes::from(text.into()))
    }

    /// The payload as text, what Python Veltix's `Response.text` gives.
    ///
    /// # Errors
    /// [`TextError`] when the payload is not UTF-8 (nothing is replaced).
    pub fn as_text(&self) -> Result<&str, TextError> {
        std::str::from_utf8(self.payload()).map_err(|source| TextError {
            message_type: self.message_type(),
            source,
        })
    }

    /// A message whose payload is `value` as JSON in UTF-8, which Python
    /// Veltix's `Response.json` reads (and any JSON parser).
    ///
    /// The JSON is compact (no spaces) and keeps non-ASCII characters as
    /// UTF-8. Non-finite floats become `null`, as serde_json writes them.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use veltix_core::{Message, MessageType};
    ///
    /// #[derive(Serialize, Deserialize, Debug, PartialEq)]
    /// struct Move {
    ///     player: String,
    ///     x: i32,
    /// }
    ///
    /// let kind = MessageType::named(201, "move")?;
    /// let message = Message::json(kind, &Move { player: "zoé".into(), x: -3 })?;
    /// assert_eq!(&message.payload()[..], r#"{"player":"zoé","x":-3}"#.as_bytes());
    /// assert_eq!(message.parse_json::<Move>()?, Move { player: "zoé".into(), x: -3 });
    ///
    /// // What Python's `Request(T, json={"player": "zoé", "x": -3})` sends.
    /// let from_python = Message::new(kind, r#"{"player": "zo\u00e9", "x": -3}"#);
    /// assert_eq!(from_python.parse_json::<Move>()?.player, "zoé");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`JsonError::Encode`] when `value` cannot be serialised.
    #[cfg(feature = "serde")]
    pub fn json<T: serde::Serialize + ?Sized>(
        message_type: MessageType,
        value: &T,
    ) -> Result<Self, JsonError> {
        let bytes = serde_json::to_vec(value).map_err(JsonError::Encode)?;
        Ok(Self::new(message_type, bytes))
    }

    /// The payload read as JSON into a `T`, what Python Veltix's
    /// `Response.json` gives (`T = serde_json::Value` for any JSON).
    ///
    /// Python's `json.dumps` may write `NaN` and `Infinity`, which are not
    /// JSON and are refused here, and integers of any size, which fit only
    /// the Rust types wide enough for them.
    ///
    /// # Errors
    /// [`JsonError::Decode`] when the payload is not UTF-8 JSON of that
    /// shape, or has anything but whitespace after the value.
    #[cfg(feature = "serde")]
    pub fn parse_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, JsonError> {
        serde_json::from_slice(self.payload()).map_err(JsonError::Decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> MessageType {
        MessageType::from_code(200)
    }

    #[test]
    fn text_refuses_invalid_utf8_with_a_typed_error() {
        let bad = Message::new(kind(), &b"ok\xff"[..]);
        let err = bad.as_text().expect_err("not UTF-8");
        assert_eq!(err.message_type, kind());
        assert_eq!(err.source.valid_up_to(), 2);
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(Message::text(kind(), String::new()).as_text(), Ok(""));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_errors_say_which_way_and_keep_the_source() {
        use std::collections::HashMap;

        let mut map = HashMap::new();
        map.insert((1, 2), "tuple keys are not JSON");
        let err = Message::json(kind(), &map).expect_err("non-string keys");
        assert!(matches!(err, JsonError::Encode(_)), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());

        for payload in [&b"{"[..], b"[1, 2] x", b"\xff", b"NaN", b""] {
            let err = Message::new(kind(), payload)
                .parse_json::<serde_json::Value>()
                .expect_err("not JSON");
            assert!(matches!(err, JsonError::Decode(_)), "{payload:?}: {err:?}");
            assert!(err.json_error().is_syntax() || err.json_error().is_eof());
        }
        let err = Message::new(kind(), "\"text\"")
            .parse_json::<u32>()
            .expect_err("wrong type");
        assert!(err.json_error().is_data(), "{err:?}");
        assert!(err.to_string().contains("not JSON of the expected type"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_python_json_dumps_output() {
        // `json.dumps(...)` of Python 3.11 with its defaults, byte for byte.
        let python = br#"{"text": "caf\u00e9 \ud83e\udd80", "n": [1, 2.5, -3e+20, null, true], "nested": {"k": "v"}}"#;
        let value: serde_json::Value = Message::new(kind(), &python[..])
            .parse_json()
            .expect("Python's JSON");
        assert_eq!(value["text"], "café 🦀");
        assert_eq!(value["n"][2], -3e20);
        assert_eq!(value["nested"]["k"], "v");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn writes_compact_utf8_json() {
        let value = serde_json::json!({ "a": [1, "é"], "b": null, "c": f64::NAN });
        let message = Message::json(kind(), &value).expect("encodes");
        assert_eq!(
            &message.payload()[..],
            r#"{"a":[1,"é"],"b":null,"c":null}"#.as_bytes()
        );
    }
}
