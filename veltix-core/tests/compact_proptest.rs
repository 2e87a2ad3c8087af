//! Property tests for the compact frame codec: any chunking of a stream
//! decodes to the same messages; garbage in front of a frame is skipped and
//! reported once; a bad checksum drops exactly that frame; an over-limit
//! length is refused before the buffer grows.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use veltix_core::compact::{Decoder, EncodedFrame, HEADER_LEN, offset};
use veltix_core::wire::DecodeError;
use veltix_core::{Message, MessageType, RequestId};

fn message() -> impl Strategy<Value = Message> {
    (any::<u16>(), any::<u16>(), vec(any::<u8>(), 0..2048)).prop_map(|(code, id, payload)| {
        Message::new(MessageType::from_code(code), payload)
            .with_request_id(RequestId::from_compact(id))
    })
}

fn wire(message: &Message) -> Vec<u8> {
    EncodedFrame::new_compact(message)
        .expect("small payload, 16-bit id")
        .to_bytes()
        .to_vec()
}

fn stream_of(messages: &[Message]) -> Vec<u8> {
    messages.iter().flat_map(wire).collect()
}

/// Chunk sizes used in a cycle: single bytes, small and large reads.
fn chunk_plan() -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![3 => 1usize..4, 3 => 4usize..100, 2 => 100usize..5000, 1 => Just(usize::MAX)],
        1..12,
    )
}

/// Bytes without any `V`, so they hold no magic and end in none.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    vec(
        any::<u8>().prop_map(|b| if b == b'V' { b'W' } else { b }),
        1..300,
    )
}

/// Feeds `stream` in the chunks of `plan`, draining after each; returns the
/// outcomes and the bytes left over.
fn feed(
    decoder: &mut Decoder,
    stream: &[u8],
    plan: &[usize],
) -> (Vec<Result<Message, DecodeError>>, usize) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = stream;
    for &len in plan.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return (out, buf.len());
                    }
                }
            }
        }
    }
    (out, buf.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_decodes_the_same_messages(
        messages in vec(message(), 0..12),
        plan in chunk_plan(),
    ) {
        let stream = stream_of(&messages);
        let (got, left) = feed(&mut Decoder::default(), &stream, &plan);
        let want: Vec<_> = messages.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(left, 0);
    }

    #[test]
    fn garbage_in_front_of_a_frame_is_skipped_and_reported_once(
        garbage in noise(),
        messages in vec(message(), 1..4),
        plan in chunk_plan(),
    ) {
        let mut stream = garbage.clone();
        stream.extend_from_slice(&stream_of(&messages));
        let (got, left) = feed(&mut Decoder::default(), &stream, &plan);
        let mut want = vec![Err(DecodeError::BadMagic { skipped: garbage.len() as u64 })];
        want.extend(messages.into_iter().map(Ok));
        prop_assert_eq!(got, want);
        prop_assert_eq!(left, 0);
    }

    #[test]
    fn a_magic_announcing_an_impossible_length_is_noise_too(
        pieces in vec((noise(), any::<[u8; 4]>(), 1u32..=u32::MAX - 4096), 1..5),
        message in message(),
        plan in chunk_plan(),
    ) {
        // noise, then `VX` + a header whose length is over the limit, repeated.
        let max = 4096;
        let mut garbage = Vec::new();
        for (noise, filler, excess) in &pieces {
            garbage.extend_from_slice(noise);
            let mut header = [0u8; HEADER_LEN];
            header[..2].copy_from_slice(b"VX");
            header[offset::PAYLOAD_LEN..offset::CHECKSUM]
                .copy_from_slice(&(max + excess).to_be_bytes());
            header[offset::CHECKSUM..offset::REQUEST_ID].copy_from_slice(filler);
            // No other `V` in it: raising a length byte keeps it over the limit.
            for b in &mut header[2..] {
                if *b == b'V' {
                    *b = b'W';
                }
            }
            garbage.extend_from_slice(&header);
        }
        let mut stream = garbage.clone();
        stream.extend_from_slice(&wire(&message));
        // Payloads are under 2048 bytes: the real frame is within the limit.
        let (got, left) = feed(&mut Decoder::new(max), &stream, &plan);
        let want = vec![Err(DecodeError::BadMagic { skipped: garbage.len() as u64 }), Ok(message)];
        prop_assert_eq!(got, want);
        prop_assert_eq!(left, 0);
    }

    #[test]
    fn a_bad_checksum_drops_that_frame_and_the_next_one_is_read(
        messages in vec(message(), 1..8),
        which in any::<Index>(),
        at in any::<Index>(),
        mask in 1u8..=255,
        plan in chunk_plan(),
    ) {
        let bad = which.index(messages.len());
        let mut stream = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let mut frame = wire(message);
            if i == bad {
                // Flip a payload byte, or a checksum byte for an empty payload.
                let span = if frame.len() > HEADER_LEN {
                    HEADER_LEN..frame.len()
                } else {
                    offset::CHECKSUM..offset::REQUEST_ID
                };
                frame[span.start + at.index(span.len())] ^= mask;
            }
            stream.extend_from_slice(&frame);
        }
        let (got, left) = feed(&mut Decoder::default(), &stream, &plan);
        let want: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if i == bad {
                    Err(DecodeError::HashMismatch {
                        message_type: m.message_type(),
                        request_id: m.request_id(),
                        payload_len: m.payload().len() as u32,
                    })
                } else {
                    Ok(m.clone())
                }
            })
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(left, 0);
    }

    #[test]
    fn an_over_limit_length_is_refused_before_the_buffer_grows(
        max in 0u32..512,
        accepted_len in any::<Index>(),
        excess in prop_oneof![1u32..8, 8u32..65_536, 1u32..=u32::MAX],
        code in any::<u16>(),
        id in any::<u16>(),
        extra in vec(any::<u8>(), 0..128),
        plan in chunk_plan(),
    ) {
        let payload: Vec<u8> = (0..accepted_len.index(max as usize + 1)).map(|i| i as u8).collect();
        let accepted = Message::new(MessageType::from_code(code), payload)
            .with_request_id(RequestId::from_compact(id));
        let accepted_wire = wire(&accepted);
        let len = max.saturating_add(excess);
        let mut lying = wire(&Message::new(MessageType::from_code(code), extra.clone()));
        lying[offset::PAYLOAD_LEN..offset::CHECKSUM].copy_from_slice(&len.to_be_bytes());
        let mut stream = accepted_wire.clone();
        stream.extend_from_slice(&lying);
        let refused = DecodeError::PayloadTooLarge { len, max };

        let (got, left) = feed(&mut Decoder::new(max), &stream, &plan);
        prop_assert_eq!(got, vec![Ok(accepted.clone()), Err(refused.clone())]);
        // Refused as soon as the header is in: only bytes of the lying frame
        // fed by then are left (its header, perhaps some payload).
        prop_assert!((HEADER_LEN..=lying.len()).contains(&left), "{left}");

        // In one exactly sized buffer: any reservation would show in the capacity.
        let mut buf = BytesMut::with_capacity(stream.len());
        buf.extend_from_slice(&stream);
        prop_assume!(buf.capacity() == buf.len());
        let mut decoder = Decoder::new(max);
        prop_assert_eq!(decoder.decode(&mut buf), Ok(Some(accepted)));
        let (left, capacity) = (buf.len(), buf.capacity());
        prop_assert_eq!(left, lying.len());
        for _ in 0..3 {
            prop_assert_eq!(decoder.decode(&mut buf), Err(refused.clone()));
            prop_assert_eq!((buf.len(), buf.capacity()), (left, capacity));
        }
    }
}
