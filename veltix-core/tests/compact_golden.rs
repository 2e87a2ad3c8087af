//! Golden tests for the compact "VX" frame: the three vectors of PROTOCOL.md
//! §5, and frames compiled by the real Python Veltix 3.3.0 package (both of
//! its engines) in `data/python_vectors.json`.

mod common;

use bytes::BytesMut;
use veltix_core::compact::{self, Decoder, Header};
use veltix_core::frame::EncodedFrame;
use veltix_core::wire::Wire;
use veltix_core::{Message, MessageType, RequestId};

struct Vector {
    message: Message,
    frame: Vec<u8>,
}

/// PROTOCOL.md §5, copied as written there.
fn protocol_md_vectors() -> Vec<Vector> {
    [
        (
            200,
            &b"hello"[..],
            0x1234,
            "56580000c8000000053610a686123468656c6c6f",
        ),
        (0, b"", 0, "565800000000000000000000000000"),
        (
            201,
            "Veltix 🦀".as_bytes(),
            0xFFFF,
            "56580000c90000000b035d5cdeffff56656c74697820f09fa680",
        ),
    ]
    .into_iter()
    .map(|(code, payload, id, frame)| Vector {
        message: Message::new(MessageType::from_code(code), payload.to_vec())
            .with_request_id(RequestId::from_compact(id)),
        frame: hex::decode(frame).expect("hex"),
    })
    .collect()
}

/// `data/python_vectors.json`, compiled by Python Veltix 3.3.0.
fn python_vectors() -> Vec<Vector> {
    let all = common::python_vectors();
    let frames = all["compact_frames"].as_array().expect("array");
    assert_eq!(frames.len(), 7);
    frames
        .iter()
        .map(|v| {
            let code = u16::try_from(v["type_code"].as_u64().expect("code")).expect("u16");
            let id = u16::try_from(v["request_id"].as_u64().expect("id")).expect("u16");
            let payload = hex::decode(v["payload_hex"].as_str().expect("hex")).expect("hex");
            Vector {
                message: Message::new(MessageType::from_code(code), payload)
                    .with_request_id(RequestId::from_compact(id)),
                frame: hex::decode(v["frame_hex"].as_str().expect("hex")).expect("hex"),
            }
        })
        .collect()
}

fn all_vectors() -> Vec<Vector> {
    let mut all = protocol_md_vectors();
    all.extend(python_vectors());
    all
}

#[test]
fn messages_encode_to_the_exact_bytes() {
    for v in all_vectors() {
        let frame = EncodedFrame::new_compact(&v.message).expect("fits");
        assert_eq!(frame.to_bytes().as_ref(), &v.frame[..], "{:?}", v.message);
        assert_eq!(frame.wire_len(), v.frame.len());
        assert_eq!(Wire::Compact.encode(&v.message).expect("fits"), frame);
        let mut out = Vec::new();
        compact::encode(&v.message, &mut out).expect("fits");
        assert_eq!(out, v.frame);
    }
}

#[test]
fn frames_decode_to_their_fields_with_no_timestamp() {
    for v in all_vectors() {
        let mut buf = BytesMut::from(&v.frame[..]);
        let decoded = Decoder::default()
            .decode(&mut buf)
            .expect("valid")
            .expect("whole frame");
        assert_eq!(decoded, v.message.clone().with_timestamp_ms(0));
        assert!(buf.is_empty());
        let header = Header::parse(v.frame[..15].try_into().expect("15 bytes")).expect("magic");
        assert_eq!(header.flags, 0);
        assert_eq!(header.checksum, compact::checksum(v.message.payload()));
    }
}

#[test]
fn all_vectors_back_to_back_decode_in_order() {
    let vectors = all_vectors();
    let stream: Vec<u8> = vectors.iter().flat_map(|v| v.frame.clone()).collect();
    let mut buf = BytesMut::from(&stream[..]);
    let mut decoder = Decoder::default();
    for v in &vectors {
        assert_eq!(
            decoder.decode(&mut buf).expect("valid"),
            Some(v.message.clone())
        );
    }
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn flags_are_ignored_on_receive() {
    let mut frame = protocol_md_vectors().remove(0);
    frame.frame[2] = 0xa5;
    let mut buf = BytesMut::from(&frame.frame[..]);
    let decoded = Decoder::default().decode(&mut buf).expect("valid");
    assert_eq!(decoded, Some(frame.message));
}
