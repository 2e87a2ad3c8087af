//! Golden tests over the independently computed vectors in `data/vectors.json`
//! (a copy of `shared/vectors.json`).

use bytes::BytesMut;
use serde_json::Value;
use veltix_core::frame::{DecodeError, Decoder, EncodedFrame, HEADER_LEN};
use veltix_core::{Message, MessageType, RequestId};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json parses")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().expect("hex string")).expect("valid hex")
}

struct Valid {
    name: String,
    message: Message,
    frame: Vec<u8>,
}

fn valid_vectors() -> Vec<Valid> {
    let all = vectors();
    let valid = all["valid"].as_array().expect("valid array");
    assert_eq!(valid.len(), 5, "expected the five valid vectors");
    valid
        .iter()
        .map(|v| {
            let code = u16::try_from(v["type_code"].as_u64().expect("type_code")).expect("u16");
            let id: RequestId = v["request_id"]
                .as_str()
                .expect("request_id")
                .parse()
                .expect("uuid");
            let message = Message::new(MessageType::from_code(code), hex_field(v, "payload_hex"))
                .with_request_id(id)
                .with_timestamp_ms(v["timestamp_ms"].as_u64().expect("timestamp_ms"));
            let frame = hex_field(v, "frame_hex");
            assert_eq!(
                frame.len() as u64,
                v["frame_len"].as_u64().expect("frame_len")
            );
            Valid {
                name: v["name"].as_str().expect("name").to_owned(),
                message,
                frame,
            }
        })
        .collect()
}

#[test]
fn valid_frames_encode_to_the_exact_bytes() {
    for v in valid_vectors() {
        let encoded = EncodedFrame::new(&v.message).expect("fits");
        assert_eq!(encoded.to_bytes().as_ref(), &v.frame[..], "{}", v.name);
        assert_eq!(encoded.wire_len(), v.frame.len(), "{}", v.name);
        let mut out = Vec::new();
        veltix_core::frame::encode(&v.message, &mut out).expect("fits");
        assert_eq!(out, v.frame, "{}", v.name);
    }
}

#[test]
fn valid_frames_decode_to_their_fields() {
    for v in valid_vectors() {
        let mut buf = BytesMut::from(&v.frame[..]);
        let decoded = Decoder::default()
            .decode(&mut buf)
            .expect("valid frame")
            .expect("whole frame");
        assert_eq!(decoded, v.message, "{}", v.name);
        assert_eq!(
            decoded.request_id().to_string(),
            decoded.request_id().to_string().to_lowercase()
        );
        assert!(buf.is_empty(), "{}: bytes left over", v.name);
    }
}

#[test]
fn request_ids_print_as_in_the_vectors() {
    let all = vectors();
    for v in all["valid"].as_array().expect("valid array") {
        let text = v["request_id"].as_str().expect("request_id");
        let frame = hex_field(v, "frame_hex");
        let id = RequestId::from_bytes(frame[46..62].try_into().expect("16 bytes"));
        assert_eq!(id.to_string(), text);
    }
}

#[test]
fn all_valid_frames_in_one_stream_decode_in_order() {
    let vectors = valid_vectors();
    let stream: Vec<u8> = vectors.iter().flat_map(|v| v.frame.clone()).collect();
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::from(&stream[..]);
    for v in &vectors {
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(v.message.clone())),
            "{}",
            v.name
        );
    }
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

fn invalid_vector(name_prefix: &str) -> Vec<u8> {
    let all = vectors();
    let v = all["invalid"]
        .as_array()
        .expect("invalid array")
        .iter()
        .find(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(name_prefix))
        })
        .expect("vector present");
    hex_field(v, "frame_hex")
}

#[test]
fn hash_mismatch_drops_the_frame_and_stays_in_sync() {
    let bad = invalid_vector("hash mismatch");
    let good = &valid_vectors()[0];
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&bad);
    buf.extend_from_slice(&good.frame);
    let mut decoder = Decoder::default();
    let err = decoder.decode(&mut buf).expect_err("hash mismatch");
    assert!(
        matches!(err, DecodeError::HashMismatch { message_type, payload_len: 5, .. } if message_type.code() == 200),
        "{err:?}"
    );
    assert!(!err.is_fatal());
    assert_eq!(decoder.decode(&mut buf), Ok(Some(good.message.clone())));
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn four_gib_length_is_refused_on_the_header_before_reserving() {
    let frame = invalid_vector("length field 4 GiB");
    assert_eq!(frame.len(), HEADER_LEN);
    let mut buf = BytesMut::from(&frame[..]);
    let capacity_before = buf.capacity();
    let mut decoder = Decoder::default();
    let err = decoder.decode(&mut buf).expect_err("too large");
    assert_eq!(
        err,
        DecodeError::PayloadTooLarge {
            len: u32::MAX,
            max: 16 * 1024 * 1024
        }
    );
    assert!(err.is_fatal());
    assert_eq!(buf.capacity(), capacity_before, "the buffer grew");
    // The error sticks: the stream cannot be trusted any more.
    buf.extend_from_slice(&valid_vectors()[0].frame);
    assert_eq!(decoder.decode(&mut buf), Err(err));
    let io: std::io::Error = DecodeError::PayloadTooLarge { len: 1, max: 0 }.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn one_byte_at_a_time() {
    let vectors = valid_vectors();
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for v in &vectors {
        for &b in &v.frame {
            buf.extend_from_slice(&[b]);
            while let Some(m) = decoder.decode(&mut buf).expect("valid") {
                got.push(m);
            }
        }
    }
    let want: Vec<Message> = vectors.into_iter().map(|v| v.message).collect();
    assert_eq!(got, want);
}
