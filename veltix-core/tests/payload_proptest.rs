//! Property tests for typed payloads, named message types and `Arbitrary`:
//! text and JSON survive a trip through a real frame encoder and decoder of
//! either wire; a named type is its code on the wire and compares by code;
//! `Arbitrary` messages encode and decode as any other.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use veltix_core::frame::EncodedFrame;
use veltix_core::{Message, MessageType, RequestId, compact, frame};

/// `message` through the classic wire and back.
fn classic_trip(message: &Message) -> Message {
    let mut buf = BytesMut::from(&EncodedFrame::new(message).expect("fits").to_bytes()[..]);
    let mut decoder = frame::Decoder::default();
    decoder
        .decode(&mut buf)
        .expect("valid frame")
        .expect("whole frame")
}

/// `message` through the compact wire (Python Veltix 3.x) and back.
fn compact_trip(message: &Message) -> Message {
    let frame = EncodedFrame::new_compact(message).expect("fits");
    let mut buf = BytesMut::from(&frame.to_bytes()[..]);
    let mut decoder = compact::Decoder::default();
    decoder
        .decode(&mut buf)
        .expect("valid frame")
        .expect("whole frame")
}

fn user_type() -> impl Strategy<Value = MessageType> {
    (MessageType::FIRST_USER_CODE..=u16::MAX).prop_map(MessageType::from_code)
}

proptest! {
    #[test]
    fn text_round_trips_through_both_wires(kind in user_type(), text in any::<String>()) {
        let message = Message::text(kind, text.clone());
        prop_assert_eq!(message.payload().as_ref(), text.as_bytes());
        for received in [classic_trip(&message), compact_trip(&message)] {
            prop_assert_eq!(received.as_text().expect("UTF-8"), text.as_str());
        }
    }

    #[test]
    fn text_accepts_exactly_utf8(bytes in vec(any::<u8>(), 0..64)) {
        let message = Message::new(MessageType::from_code(200), bytes.clone());
        prop_assert_eq!(message.as_text().ok(), std::str::from_utf8(&bytes).ok());
    }
}

#[cfg(feature = "serde")]
mod json {
    use proptest::collection::btree_map;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        name: String,
        count: u64,
        delta: i32,
        tags: Vec<String>,
        ratio: Option<f64>,
        fields: std::collections::BTreeMap<String, bool>,
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            any::<String>(),
            any::<u64>(),
            any::<i32>(),
            vec(any::<String>(), 0..4),
            // Finite floats only: JSON has no NaN or infinity.
            proptest::option::of(-1e300f64..1e300),
            btree_map(any::<String>(), any::<bool>(), 0..4),
        )
            .prop_map(|(name, count, delta, tags, ratio, fields)| Record {
                name,
                count,
                delta,
                tags,
                ratio,
                fields,
            })
    }

    proptest! {
        #[test]
        fn json_round_trips_through_both_wires(kind in user_type(), value in record()) {
            let message = Message::json(kind, &value).expect("serialisable");
            // What Python's `json.loads(payload.decode("utf-8"))` needs.
            prop_assert!(std::str::from_utf8(message.payload()).is_ok());
            for received in [classic_trip(&message), compact_trip(&message)] {
                prop_assert_eq!(received.parse_json::<Record>().expect("JSON"), value.clone());
                prop_assert_eq!(
                    received.parse_json::<serde_json::Value>().expect("JSON"),
                    serde_json::to_value(&value).expect("serialisable")
                );
            }
        }

        #[test]
        fn json_reads_python_style_spacing_and_ascii_escapes(value in record()) {
            // Python's json.dumps defaults: ", " and ": ", non-ASCII as \uXXXX.
            let python = python_dumps(&serde_json::to_value(&value).expect("serialisable"));
            let message = Message::new(MessageType::from_code(200), python);
            prop_assert_eq!(message.parse_json::<Record>().expect("JSON"), value);
        }
    }

    /// `json.dumps(value)` as Python writes it with its defaults
    /// (`ensure_ascii=True`, separators `", "` and `": "`).
    fn python_dumps(value: &serde_json::Value) -> String {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                let mut out = String::from("\"");
                for unit in s.encode_utf16() {
                    match unit {
                        0x22 => out.push_str("\\\""),
                        0x5c => out.push_str("\\\\"),
                        0x20..=0x7e => out.push(char::from(unit as u8)),
                        _ => out.push_str(&format!("\\u{unit:04x}")),
                    }
                }
                out.push('"');
                out
            }
            Value::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(python_dumps)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Object(map) => format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!(
                        "{}: {}",
                        python_dumps(&Value::String(k.clone())),
                        python_dumps(v)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
}

proptest! {
    #[test]
    fn named_types_are_their_code(code in MessageType::FIRST_USER_CODE..=u16::MAX, payload in vec(any::<u8>(), 0..32)) {
        let named = MessageType::named(code, "chat").expect("user code");
        let message = Message::new(named, payload.clone());
        let unnamed = Message::new(MessageType::from_code(code), payload);
        prop_assert_eq!(&message, &unnamed);
        prop_assert_eq!(
            EncodedFrame::new(&message).expect("fits").to_bytes(),
            EncodedFrame::new(&unnamed).expect("fits").to_bytes()
        );
        let received = classic_trip(&message).message_type();
        prop_assert_eq!(received, named);
        // Names are by code: the received type shows it too.
        prop_assert_eq!(received.to_string(), format!("chat({code})"));
    }

    #[test]
    fn named_refuses_reserved_codes(code in 0..MessageType::FIRST_USER_CODE) {
        prop_assert!(MessageType::named(code, "x").is_err());
    }
}

#[cfg(feature = "arbitrary")]
mod arbitrary_values {
    use arbitrary::{Arbitrary, Unstructured};

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_messages_survive_the_classic_wire(data in vec(any::<u8>(), 0..512)) {
            let id = RequestId::arbitrary(&mut Unstructured::new(&data)).expect("any bytes");
            let mut first = [0; 16];
            let n = data.len().min(16);
            first[..n].copy_from_slice(&data[..n]);
            prop_assert_eq!(id, RequestId::from_bytes(first));
            let mut u = Unstructured::new(&data);
            let message = Message::arbitrary(&mut u).expect("any bytes make a message");
            prop_assert_eq!(classic_trip(&message), message.clone());
            // A type is its code, named or not.
            let kind = MessageType::arbitrary(&mut u).expect("any bytes make a type");
            prop_assert_eq!(kind, MessageType::from_code(kind.code()));
            let rest = Message::arbitrary_take_rest(Unstructured::new(&data)).expect("take rest");
            prop_assert_eq!(rest.message_type(), message.message_type());
            prop_assert_eq!(rest.request_id(), message.request_id());
        }
    }
}
