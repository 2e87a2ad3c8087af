//! Streaming decoding of compact frames: bytes in any split → whole,
//! verified frames, with resynchronisation on the magic.

use bytes::{Buf, BytesMut};

use super::encode::checksum;
use super::header::{HEADER_LEN, Header, MAGIC};
use crate::wire::{DEFAULT_MAX_PAYLOAD, DecodeError, RESERVE_STEP};
use crate::{Message, RequestId};

/// A streaming decoder for compact "VX" frames (`docs/protocol.md` §7).
///
/// The caller owns the byte buffer: append what the transport read to a
/// [`BytesMut`] and call [`decode`](Self::decode) until it returns `Ok(None)`.
/// Frames may be split across reads or packed many to one read; payloads are
/// handed out as `Bytes` split off the caller's buffer, without copying.
///
/// # Policies
///
/// - **Length.** The payload length is checked against the limit as soon as
///   the header is complete, before the buffer grows for the payload (which
///   then grows in steps of at most 64 KiB as bytes arrive). A header read in
///   sync whose length is over the limit is fatal
///   ([`DecodeError::PayloadTooLarge`]): the connection closes, as on the
///   classic wire.
/// - **Checksum.** A payload whose CRC-32 does not match is dropped by its
///   length and reported ([`DecodeError::HashMismatch`]); the next frame is
///   read. The payload's bytes are never searched for frames.
/// - **Magic.** Where a frame should start but the bytes are not `VX`, the
///   decoder resynchronises: it skips to the next `VX` whose header announces
///   a length within the limit (a `VX` with a larger length is taken for
///   noise, not a header), reports [`DecodeError::BadMagic`] with the number
///   of bytes skipped, and decodes the frame found there on the next call,
///   checksum included. A trailing `V` is kept, since it may begin the next
///   magic. Every byte is examined a bounded number of times, so a peer
///   streaming garbage costs linear work and no memory.
///
/// Frames carry no timestamp on this wire: decoded messages have
/// [`timestamp_ms`](Message::timestamp_ms) 0, and request ids are 16-bit
/// ([`RequestId::from_compact`]). The flags byte is ignored.
///
/// ```
/// use bytes::BytesMut;
/// use veltix_core::compact::Decoder;
/// use veltix_core::frame::EncodedFrame;
/// use veltix_core::{Message, MessageType, RequestId};
///
/// let msg = Message::new(MessageType::new(200)?, "hello")
///     .with_request_id(RequestId::from_compact(0x1234));
/// let wire = EncodedFrame::new_compact(&msg)?.to_bytes();
/// assert_eq!(wire.len(), 15 + 5);
///
/// let mut decoder = Decoder::default();
/// let mut buf = BytesMut::from(&b"noise"[..]); // garbage first: resynchronised
/// buf.extend_from_slice(&wire[..9]);
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(&wire[9..]);
/// assert!(decoder.decode(&mut buf).is_err()); // BadMagic { skipped: 5 }, not fatal
/// assert_eq!(decoder.decode(&mut buf)?, Some(msg));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_payload: u32,
    /// `Some(bytes skipped so far)` while looking for the next frame.
    resync: Option<u64>,
    /// Set once a fatal error was seen; every later call returns it again.
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

/// What one step in sync found.
enum InSync {
    Frame(Message),
    NeedMore,
    LostSync,
}

impl Decoder {
    /// A decoder that refuses payloads longer than `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Self {
            max_payload,
            resync: None,
            failed: None,
        }
    }

    /// The payload limit in bytes.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Whether the decoder is skipping bytes to find the next frame.
    pub fn is_resynchronising(&self) -> bool {
        self.resync.is_some()
    }

    /// Decodes the next whole frame from the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` holds no whole frame yet (the partial
    /// frame stays in `src`). Call again after a non-fatal error.
    ///
    /// # Errors
    /// - [`DecodeError::PayloadTooLarge`] (fatal): returned again on every
    ///   later call, without touching `src`.
    /// - [`DecodeError::HashMismatch`]: the frame was dropped; go on.
    /// - [`DecodeError::BadMagic`]: bytes were skipped; the next call returns
    ///   the frame found after them.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        loop {
            match self.resync {
                None => match self.in_sync(src)? {
                    InSync::Frame(message) => return Ok(Some(message)),
                    InSync::NeedMore => return Ok(None),
                    InSync::LostSync => self.resync = Some(0),
                },
                Some(skipped) => return self.resynchronise(src, skipped),
            }
        }
    }

    /// A frame must start at the front of `src`.
    fn in_sync(&mut self, src: &mut BytesMut) -> Result<InSync, DecodeError> {
        // Decide on the magic as soon as its bytes arrive: the verdict is the
        // same whatever comes after, so chunking cannot change the outcome.
        for (i, &want) in MAGIC.iter().enumerate() {
            match src.get(i) {
                None => return Ok(InSync::NeedMore),
                Some(&byte) if byte != want => return Ok(InSync::LostSync),
                Some(_) => {}
            }
        }
        let Some(header) = peek_header(src) else {
            return Ok(InSync::NeedMore);
        };
        if header.payload_len > self.max_payload {
            let err = DecodeError::PayloadTooLarge {
                len: header.payload_len,
                max: self.max_payload,
            };
            self.failed = Some(err.clone());
            return Err(err);
        }
        let total = frame_len(&header);
        if src.len() < total {
            src.reserve((total - src.len()).min(RESERVE_STEP));
            return Ok(InSync::NeedMore);
        }
        src.advance(HEADER_LEN);
        let payload = src.split_to(total - HEADER_LEN).freeze();
        let request_id = RequestId::from_compact(header.request_id);
        if checksum(&payload) != header.checksum {
            return Err(DecodeError::HashMismatch {
                message_type: header.message_type,
                request_id,
                payload_len: header.payload_len,
            });
        }
        Ok(InSync::Frame(
            Message::new(header.message_type, payload).with_request_id(request_id),
        ))
    }

    /// Skips to the next plausible header; reports the skip once it is found.
    fn resynchronise(
        &mut self,
        src: &mut BytesMut,
        mut skipped: u64,
    ) -> Result<Option<Message>, DecodeError> {
        loop {
            let Some(at) = src.windows(MAGIC.len()).position(|w| w == MAGIC) else {
                // No magic: drop everything but a trailing `V`.
                let keep = usize::from(src.last() == Some(&MAGIC[0]));
                skipped += (src.len() - keep) as u64;
                src.advance(src.len() - keep);
                self.resync = Some(skipped);
                return Ok(None);
            };
            skipped += at as u64;
            src.advance(at);
            let Some(header) = peek_header(src) else {
                self.resync = Some(skipped);
                return Ok(None);
            };
            if header.payload_len <= self.max_payload {
                self.resync = None;
                return Err(DecodeError::BadMagic { skipped });
            }
            // A `VX` announcing an impossible length is noise: look past it.
            skipped += 1;
            src.advance(1);
        }
    }
}

/// The header at the front of `src`, once all of it has arrived and if it
/// starts with the magic.
fn peek_header(src: &[u8]) -> Option<Header> {
    Header::parse(src.first_chunk::<HEADER_LEN>()?)
}

/// Header plus payload, saturating (a length that cannot be addressed is
/// never reached by the buffer, so the frame simply never completes).
fn frame_len(header: &Header) -> usize {
    usize::try_from(header.payload_len)
        .unwrap_or(usize::MAX)
        .saturating_add(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageType;
    use crate::wire::EncodedFrame;

    fn frame(code: u16, id: u16, payload: &[u8]) -> Vec<u8> {
        let message = Message::new(MessageType::from_code(code), payload.to_vec())
            .with_request_id(RequestId::from_compact(id));
        EncodedFrame::new_compact(&message)
            .expect("fits")
            .to_bytes()
            .to_vec()
    }

    fn drain(decoder: &mut Decoder, buf: &mut BytesMut) -> Vec<Result<Message, DecodeError>> {
        let mut out = Vec::new();
        loop {
            match decoder.decode(buf) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => return out,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }

    #[test]
    fn a_vx_with_an_impossible_length_is_skipped_while_resynchronising() {
        let mut stream = b"junk".to_vec();
        // A false magic announcing 4 GiB - 1: not a header.
        stream.extend_from_slice(b"VX\x00\x00\xc8\xff\xff\xff\xff");
        stream.extend_from_slice(&frame(200, 7, b"real"));
        let mut buf = BytesMut::from(&stream[..]);
        let out = drain(&mut Decoder::new(1024), &mut buf);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Err(DecodeError::BadMagic { skipped: 4 + 9 }));
        let msg = out[1].as_ref().expect("the real frame");
        assert_eq!(&msg.payload()[..], b"real");
        assert_eq!(msg.request_id().to_compact(), Some(7));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_trailing_v_is_kept_while_resynchronising() {
        let wire = frame(201, 1, b"x");
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"??V"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"V");
        assert!(decoder.is_resynchronising());
        // The `V` was not the magic after all; the real frame follows.
        buf.extend_from_slice(&wire);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(DecodeError::BadMagic { skipped: 3 })
        );
        assert!(!decoder.is_resynchronising());
        assert_eq!(
            decoder
                .decode(&mut buf)
                .expect("valid")
                .map(|m| m.payload().clone()),
            Some("x".into())
        );
    }

    #[test]
    fn a_plausible_false_header_is_decoded_and_dropped_by_its_checksum() {
        // A false `VX` with a small length swallows what follows as its
        // payload; its checksum fails, and the decoder resynchronises again.
        let mut stream = b"\x00VX\x00\x00\xc8\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00".to_vec();
        stream.extend_from_slice(&frame(200, 2, b"lost"));
        stream.extend_from_slice(&frame(200, 3, b"kept"));
        let mut buf = BytesMut::from(&stream[..]);
        let out = drain(&mut Decoder::default(), &mut buf);
        assert_eq!(out[0], Err(DecodeError::BadMagic { skipped: 1 }));
        assert!(matches!(
            out[1],
            Err(DecodeError::HashMismatch { payload_len: 3, .. })
        ));
        assert!(matches!(out[2], Err(DecodeError::BadMagic { .. })));
        let last = out
            .last()
            .expect("three or more")
            .as_ref()
            .expect("a frame");
        assert_eq!(&last.payload()[..], b"kept");
    }

    #[test]
    fn an_over_limit_length_in_sync_is_fatal_and_sticky() {
        let mut buf = BytesMut::from(&frame(200, 0, &[0; 11])[..]);
        let mut decoder = Decoder::new(10);
        let err = DecodeError::PayloadTooLarge { len: 11, max: 10 };
        assert_eq!(decoder.decode(&mut buf), Err(err.clone()));
        assert_eq!(buf.len(), HEADER_LEN + 11, "nothing consumed");
        assert_eq!(decoder.decode(&mut buf), Err(err));
    }
}
