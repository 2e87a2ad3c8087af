//! Property tests for the classic frame codec: any chunking of a stream decodes
//! to the same messages, a single flipped byte is caught (never a frame with a
//! wrong hash), and an over-limit length is refused before the buffer grows.

use std::ops::Range;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use veltix_core::frame::{
    DEFAULT_MAX_PAYLOAD, DecodeError, Decoder, EncodedFrame, HEADER_LEN, Header, offset,
    payload_hash,
};
use veltix_core::{Message, MessageType, RequestId};

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u16>(),
        any::<[u8; 16]>(),
        any::<u64>(),
        vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(code, id, timestamp_ms, payload)| {
            Message::new(MessageType::from_code(code), payload)
                .with_request_id(RequestId::from_bytes(id))
                .with_timestamp_ms(timestamp_ms)
        })
}

fn wire(message: &Message) -> Vec<u8> {
    EncodedFrame::new(message)
        .expect("test payloads are small")
        .to_bytes()
        .to_vec()
}

/// The frames of `messages` back to back, and where each one starts.
fn stream_of(messages: &[Message]) -> (Vec<u8>, Vec<usize>) {
    let mut stream = Vec::new();
    let mut starts = Vec::new();
    for message in messages {
        starts.push(stream.len());
        stream.extend_from_slice(&wire(message));
    }
    (stream, starts)
}

/// Chunk sizes, used in a cycle until the stream is exhausted: runs of 1-byte
/// chunks, empty chunks, small and large chunks, and "all the rest".
fn chunk_plan() -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![
            3 => (1usize..300).prop_map(|run| vec![1; run]),
            3 => (0usize..80).prop_map(|n| vec![n]),
            2 => (80usize..5000).prop_map(|n| vec![n]),
            1 => Just(vec![usize::MAX]),
        ],
        1..12,
    )
    .prop_map(|pieces| {
        let plan = pieces.concat();
        if plan.iter().all(|&n| n == 0) {
            vec![1]
        } else {
            plan
        }
    })
}

fn split<'a>(stream: &'a [u8], plan: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = stream;
    for &len in plan.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Something the decoder returned, with its place in the stream.
#[derive(Debug)]
enum Event {
    /// A message whose frame ends at stream offset `end`.
    Message { message: Message, end: usize },
    /// An error; `at` is where the decoder's read position was afterwards
    /// (end of a dropped frame, or start of a refused header), `chunk` the
    /// stream range of the chunk whose draining returned it.
    Error {
        error: DecodeError,
        at: usize,
        chunk: Range<usize>,
    },
}

impl Event {
    fn outcome(&self) -> Result<Message, DecodeError> {
        match self {
            Self::Message { message, .. } => Ok(message.clone()),
            Self::Error { error, .. } => Err(error.clone()),
        }
    }
}

struct Fed {
    events: Vec<Event>,
    fatal: Option<DecodeError>,
    /// Bytes left in the buffer at the end.
    left: usize,
}

/// Feeds `stream` to `decoder` in the chunks of `plan`, draining after every
/// chunk. Checks that the buffer stays within `largest_frame` plus one chunk,
/// that a fatal error touches neither length nor capacity of the buffer, and
/// that once fatal the decoder only ever returns that error.
fn feed(
    decoder: &mut Decoder,
    stream: &[u8],
    plan: &[usize],
    largest_frame: usize,
) -> Result<Fed, TestCaseError> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut events = Vec::new();
    let mut fatal: Option<DecodeError> = None;
    for chunk in split(stream, plan) {
        let start = fed;
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        if let Some(error) = &fatal {
            let len = buf.len();
            prop_assert_eq!(decoder.decode(&mut buf), Err(error.clone()));
            prop_assert_eq!(buf.len(), len);
            continue;
        }
        prop_assert!(
            buf.len() <= largest_frame + chunk.len(),
            "buffer holds {} bytes, above a {}-byte frame plus a {}-byte chunk",
            buf.len(),
            largest_frame,
            chunk.len()
        );
        loop {
            let (len, capacity) = (buf.len(), buf.capacity());
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(message)) => events.push(Event::Message {
                    message,
                    end: fed - buf.len(),
                }),
                Err(error) => {
                    let is_fatal = error.is_fatal();
                    prop_assert_eq!(
                        is_fatal,
                        matches!(error, DecodeError::PayloadTooLarge { .. })
                    );
                    if is_fatal {
                        prop_assert_eq!(
                            (buf.len(), buf.capacity()),
                            (len, capacity),
                            "a fatal error changed the buffer"
                        );
                        fatal = Some(error.clone());
                    }
                    events.push(Event::Error {
                        error,
                        at: fed - buf.len(),
                        chunk: start..fed,
                    });
                    if is_fatal {
                        break;
                    }
                }
            }
        }
        if fatal.is_none() {
            // Drained: at most the unfinished part of one frame is left.
            prop_assert!(buf.is_empty() || buf.len() < largest_frame);
        }
    }
    match &fatal {
        None => prop_assert_eq!(decoder.decode(&mut buf), Ok(None)),
        Some(error) => {
            for _ in 0..2 {
                prop_assert_eq!(decoder.decode(&mut buf), Err(error.clone()));
            }
        }
    }
    Ok(Fed {
        events,
        fatal,
        left: buf.len(),
    })
}

fn header_at(stream: &[u8], at: usize) -> Header {
    let bytes: &[u8; HEADER_LEN] = stream[at..at + HEADER_LEN]
        .try_into()
        .expect("a whole header");
    Header::parse(bytes)
}

/// Checks every event against the bytes it came from: a yielded message
/// re-encodes to exactly the frame it was read from, so the hash on the wire
/// was its payload's true hash; a dropped frame really had a wrong hash; a
/// refused header really announced too much.
fn check_against_stream(stream: &[u8], events: &[Event], max: u32) -> Result<(), TestCaseError> {
    for event in events {
        match event {
            Event::Message { message, end } => {
                prop_assert!(message.payload().len() <= max as usize);
                let frame = wire(message);
                prop_assert_eq!(
                    &frame[offset::HASH..offset::TIMESTAMP],
                    &payload_hash(message.payload())[..]
                );
                prop_assert!(frame.len() <= *end);
                prop_assert!(
                    frame[..] == stream[end - frame.len()..*end],
                    "yielded message is not the frame it was read from"
                );
            }
            Event::Error {
                error:
                    DecodeError::HashMismatch {
                        message_type,
                        request_id,
                        payload_len,
                    },
                at,
                ..
            } => {
                let len = *payload_len as usize;
                let start = at - len - HEADER_LEN;
                let header = header_at(stream, start);
                prop_assert_eq!(header.message_type, *message_type);
                prop_assert_eq!(header.request_id, *request_id);
                prop_assert_eq!(header.payload_len, *payload_len);
                prop_assert_ne!(payload_hash(&stream[at - len..*at]), header.payload_hash);
            }
            Event::Error {
                error: DecodeError::PayloadTooLarge { len, max: limit },
                at,
                ..
            } => {
                prop_assert_eq!(*limit, max);
                prop_assert!(*len > max);
                prop_assert_eq!(header_at(stream, *at).payload_len, *len);
            }
            Event::Error { error, .. } => prop_assert!(false, "unexpected error {error:?}"),
        }
    }
    Ok(())
}

/// Which byte to flip. Uniform positions almost always land in a payload,
/// so headers and their length fields get their own share of cases.
#[derive(Debug, Clone)]
enum FlipAt {
    Anywhere(Index),
    /// Byte `offset` of the header of one frame.
    Header {
        frame: Index,
        offset: usize,
    },
}

impl FlipAt {
    fn resolve(&self, stream: &[u8], starts: &[usize]) -> usize {
        match self {
            Self::Anywhere(at) => at.index(stream.len()),
            Self::Header { frame, offset } => starts[frame.index(starts.len())] + offset,
        }
    }
}

fn flip_position() -> impl Strategy<Value = FlipAt> {
    prop_oneof![
        any::<Index>().prop_map(FlipAt::Anywhere),
        (any::<Index>(), 0..HEADER_LEN)
            .prop_map(|(frame, offset)| FlipAt::Header { frame, offset }),
        (any::<Index>(), offset::PAYLOAD_LEN..offset::HASH)
            .prop_map(|(frame, offset)| FlipAt::Header { frame, offset }),
    ]
}

/// Whether `sub` is a subsequence of `all`.
fn is_subsequence(sub: &[Message], all: &[Message]) -> bool {
    let mut all = all.iter();
    sub.iter().all(|wanted| all.any(|m| m == wanted))
}

proptest! {
    #[test]
    fn any_chunking_decodes_the_same_messages(
        messages in vec(message(), 0..8),
        plan in chunk_plan(),
    ) {
        let (stream, _) = stream_of(&messages);
        let largest = messages.iter().map(|m| HEADER_LEN + m.payload().len()).max().unwrap_or(0);
        let mut decoder = Decoder::default();
        let fed = feed(&mut decoder, &stream, &plan, largest)?;
        check_against_stream(&stream, &fed.events, DEFAULT_MAX_PAYLOAD)?;
        let got: Vec<_> = fed.events.iter().map(Event::outcome).collect();
        let want: Vec<_> = messages.iter().cloned().map(Ok).collect();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(fed.left, 0);
        prop_assert!(!decoder.is_mid_frame());
    }

    #[test]
    fn a_flipped_byte_never_yields_a_frame_with_a_wrong_hash(
        messages in vec(message(), 1..6),
        at in flip_position(),
        mask in 1u8..=255,
        plan in chunk_plan(),
    ) {
        let (mut stream, starts) = stream_of(&messages);
        let pos = at.resolve(&stream, &starts);
        stream[pos] ^= mask;
        let k = starts.partition_point(|&start| start <= pos) - 1;
        let rel = pos - starts[k];

        let max = DEFAULT_MAX_PAYLOAD;
        let mut decoder = Decoder::new(max);
        let fed = feed(&mut decoder, &stream, &plan, HEADER_LEN + max as usize)?;
        check_against_stream(&stream, &fed.events, max)?;
        let got: Vec<_> = fed.events.iter().map(Event::outcome).collect();
        let original = &messages[k];

        if rel < offset::PAYLOAD_LEN || (offset::TIMESTAMP..HEADER_LEN).contains(&rel) {
            // Type, timestamp or request id: not covered by the hash, so the
            // frame arrives with the altered field and everything else intact.
            let header = header_at(&stream, starts[k]);
            let mut want: Vec<_> = messages.iter().cloned().map(Ok).collect();
            want[k] = Ok(Message::new(header.message_type, original.payload().clone())
                .with_request_id(header.request_id)
                .with_timestamp_ms(header.timestamp_ms));
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(fed.left, 0);
        } else if rel >= offset::HASH {
            // Hash or payload: exactly that frame is dropped, the rest arrive.
            let mut want: Vec<_> = messages.iter().cloned().map(Ok).collect();
            want[k] = Err(DecodeError::HashMismatch {
                message_type: original.message_type(),
                request_id: original.request_id(),
                payload_len: original.payload().len() as u32,
            });
            prop_assert!(fed.fatal.is_none());
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(fed.left, 0);
        } else {
            // Length: the stream is desynchronised from frame k on.
            let want_prefix: Vec<_> = messages[..k].iter().cloned().map(Ok).collect();
            prop_assert_eq!(&got[..k], &want_prefix[..]);
            let len = header_at(&stream, starts[k]).payload_len;
            let end = starts[k] + HEADER_LEN + len as usize;
            let rest = &got[k..];
            if len > max {
                prop_assert_eq!(rest, &[Err(DecodeError::PayloadTooLarge { len, max })][..]);
            } else if end > stream.len() {
                prop_assert!(rest.is_empty());
                prop_assert!(decoder.is_mid_frame());
                prop_assert_eq!(fed.left, stream.len() - starts[k] - HEADER_LEN);
            } else {
                prop_assert_eq!(&rest[0], &Err(DecodeError::HashMismatch {
                    message_type: original.message_type(),
                    request_id: original.request_id(),
                    payload_len: len,
                }));
                // Whatever follows that is accepted must be an original
                // later frame, in order.
                let later: Vec<Message> = rest.iter().filter_map(|r| r.clone().ok()).collect();
                prop_assert!(is_subsequence(&later, &messages[k + 1..]));
            }
        }
        // Decoding stops at a fatal error: it can only be the last event.
        if let Some(error) = &fed.fatal {
            prop_assert_eq!(got.last(), Some(&Err(error.clone())));
        }
    }

    #[test]
    fn an_over_limit_length_is_refused_before_the_buffer_grows(
        max in 0u32..512,
        accepted_len in any::<Index>(),
        excess in prop_oneof![1u32..8, 8u32..65_536, 1u32..=u32::MAX],
        code in any::<u16>(),
        id in any::<[u8; 16]>(),
        timestamp_ms in any::<u64>(),
        extra in vec(any::<u8>(), 0..128),
        plan in chunk_plan(),
    ) {
        // A frame right up to the limit is accepted...
        let payload: Vec<u8> = (0..accepted_len.index(max as usize + 1)).map(|i| i as u8).collect();
        let accepted = Message::new(MessageType::from_code(code), payload)
            .with_request_id(RequestId::from_bytes(id))
            .with_timestamp_ms(timestamp_ms);
        let accepted_wire = wire(&accepted);
        // ...then a header announcing more, followed by a few payload bytes.
        let len = max.saturating_add(excess);
        let lying = Header {
            message_type: MessageType::from_code(code),
            payload_len: len,
            payload_hash: payload_hash(&extra),
            timestamp_ms,
            request_id: RequestId::from_bytes(id),
        };
        let mut stream = accepted_wire.clone();
        stream.extend_from_slice(&lying.to_bytes());
        stream.extend_from_slice(&extra);
        let header_end = accepted_wire.len() + HEADER_LEN;
        let refused = DecodeError::PayloadTooLarge { len, max };

        // Chunked: refused on the drain of the chunk that completes the header.
        let mut decoder = Decoder::new(max);
        let fed = feed(&mut decoder, &stream, &plan, HEADER_LEN + max as usize)?;
        check_against_stream(&stream, &fed.events, max)?;
        prop_assert_eq!(fed.events.len(), 2);
        prop_assert_eq!(fed.events[0].outcome(), Ok(accepted.clone()));
        let Event::Error { error, at, chunk } = &fed.events[1] else {
            return Err(TestCaseError::fail("expected the refusal"));
        };
        prop_assert_eq!(error, &refused);
        prop_assert_eq!(*at, accepted_wire.len());
        prop_assert!(chunk.start < header_end && header_end <= chunk.end);
        prop_assert_eq!(fed.left, stream.len() - accepted_wire.len());

        // In one exactly sized buffer: any reservation would show in the capacity.
        let mut buf = BytesMut::with_capacity(stream.len());
        buf.extend_from_slice(&stream);
        prop_assume!(buf.capacity() == buf.len());
        let mut decoder = Decoder::new(max);
        prop_assert_eq!(decoder.decode(&mut buf), Ok(Some(accepted)));
        let (left, capacity) = (buf.len(), buf.capacity());
        prop_assert_eq!(left, HEADER_LEN + extra.len());
        for _ in 0..3 {
            prop_assert_eq!(decoder.decode(&mut buf), Err(refused.clone()));
            prop_assert_eq!((buf.len(), buf.capacity()), (left, capacity));
        }
        prop_assert!(!decoder.is_mid_frame());
    }
}
