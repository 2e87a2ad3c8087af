//! A [`tokio_util::codec`] [`Decoder`] and [`Encoder`] for Veltix frames, for
//! applications with a `Framed` stack of their own (feature `codec`).
//!
//! [`FrameCodec`] speaks one wire: the classic frame (62-byte header,
//! SHA-256; Python Veltix 1.x and the native dialect) or the compact "VX"
//! frame (15-byte header, CRC-32; Python Veltix 2.0.3 – 3.3). It is framing
//! only: no handshake, keep-alive or request matching — that is what
//! [`Server`](crate::Server) and [`Client`](crate::Client) add. The framing
//! itself is `veltix-core`'s streaming decoder and encoder, wrapped, so the
//! receive policies are the core's:
//!
//! - **Length.** A header announcing a payload above the limit
//!   ([`FrameCodec::with_max_payload`], 16 MiB by default) is refused as soon
//!   as the header is complete, before any memory is reserved for the
//!   payload; the buffer then grows in steps of at most 64 KiB as the payload
//!   really arrives. The refusal is fatal: [`CodecError::Decode`] with
//!   [`DecodeError::PayloadTooLarge`], on this and every later call.
//! - **Integrity.** A frame whose hash (classic) or CRC (compact) does not
//!   match is dropped and counted ([`FrameCodec::frames_dropped`]); decoding
//!   goes on with the next frame, as a Veltix connection does.
//! - **Magic** (compact only). Bytes that do not start a frame are skipped up
//!   to the next frame and counted ([`FrameCodec::bytes_skipped`]).
//!
//! The encoder writes a message's type, request id, timestamp (classic wire;
//! the codec reads no clock, so set it with
//! [`Message::with_timestamp_ms`] if the peer wants one) and payload, and
//! refuses payloads above the same limit.
//!
//! ```
//! use futures::{SinkExt as _, StreamExt as _};
//! use tokio_util::codec::Framed;
//! use veltix_tokio::codec::FrameCodec;
//! use veltix_tokio::{Message, MessageType};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (near, far) = tokio::io::duplex(64 * 1024);
//! let mut near = Framed::new(near, FrameCodec::classic().with_max_payload(1 << 20));
//! let mut far = Framed::new(far, FrameCodec::classic().with_max_payload(1 << 20));
//!
//! let hello = Message::new(MessageType::new(200)?, "hello");
//! near.send(hello.clone()).await?;
//! let got = far.next().await.expect("a frame")?;
//! assert_eq!(got, hello);
//! # Ok(()) }
//! ```

use std::io;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};
use veltix_core::wire::{DEFAULT_MAX_PAYLOAD, EncodedFrame, Wire};
use veltix_core::{compact, frame};

use crate::Message;

pub use veltix_core::wire::{DecodeError, EncodeError};

/// Decodes frames into [`Message`]s and encodes [`Message`]s into frames of
/// one wire; see the [module documentation](self) for its policies.
#[derive(Debug)]
pub struct FrameCodec {
    inner: Inner,
    max_payload: u32,
    frames_dropped: u64,
    bytes_skipped: u64,
}

#[derive(Debug)]
enum Inner {
    Classic {
        decoder: frame::Decoder,
        // Boxed: the encoder, with the compressor it may hold, is large,
        // and the compact variant has none.
        encoder: Box<frame::Encoder>,
    },
    Compact {
        decoder: compact::Decoder,
    },
}

impl FrameCodec {
    /// A codec for the classic frame (plain: every payload hashed, none
    /// compressed), with the default 16 MiB payload limit.
    pub fn classic() -> Self {
        Self::with_inner(
            Inner::Classic {
                decoder: frame::Decoder::new(DEFAULT_MAX_PAYLOAD),
                encoder: Box::default(),
            },
            DEFAULT_MAX_PAYLOAD,
        )
    }

    /// A codec for the compact "VX" frame, with the default 16 MiB payload
    /// limit. Request ids must fit 16 bits
    /// ([`RequestId::from_compact`](crate::RequestId::from_compact)).
    pub fn compact() -> Self {
        Self::with_inner(
            Inner::Compact {
                decoder: compact::Decoder::new(DEFAULT_MAX_PAYLOAD),
            },
            DEFAULT_MAX_PAYLOAD,
        )
    }

    /// This codec with payloads limited to `max_payload` bytes, both ways.
    /// Call it before decoding: it starts a fresh decoder.
    #[must_use]
    pub fn with_max_payload(self, max_payload: u32) -> Self {
        let inner = match self.inner {
            Inner::Classic { encoder, .. } => Inner::Classic {
                decoder: frame::Decoder::new(max_payload),
                encoder,
            },
            Inner::Compact { .. } => Inner::Compact {
                decoder: compact::Decoder::new(max_payload),
            },
        };
        Self::with_inner(inner, max_payload)
    }

    fn with_inner(inner: Inner, max_payload: u32) -> Self {
        Self {
            inner,
            max_payload,
            frames_dropped: 0,
            bytes_skipped: 0,
        }
    }

    /// The wire this codec speaks.
    pub fn wire(&self) -> Wire {
        match self.inner {
            Inner::Classic { .. } => Wire::Classic,
            Inner::Compact { .. } => Wire::Compact,
        }
    }

    /// The payload limit in bytes.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Frames dropped so far because their hash or CRC did not match.
    pub fn frames_dropped(&self) -> u64 {
        self.frames_dropped
    }

    /// Bytes skipped so far looking for the next frame (compact wire).
    pub fn bytes_skipped(&self) -> u64 {
        self.bytes_skipped
    }

    /// Whether a frame has begun but is not complete: its header is read
    /// (classic) or bytes of it are buffered in `src`.
    fn is_mid_frame(&self, src: &BytesMut) -> bool {
        let header_read = match &self.inner {
            Inner::Classic { decoder, .. } => decoder.is_mid_frame(),
            Inner::Compact { .. } => false,
        };
        header_read || !src.is_empty()
    }
}

impl Default for FrameCodec {
    /// [`FrameCodec::classic`].
    fn default() -> Self {
        Self::classic()
    }
}

/// What went wrong reading or writing frames with a [`FrameCodec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The stream cannot be decoded any further (only fatal decode errors
    /// reach here: [`DecodeError::PayloadTooLarge`], and
    /// [`DecodeError::Decompress`]); drop the connection. Frames that fail
    /// their integrity check are dropped and counted instead.
    #[error(transparent)]
    Decode(DecodeError),
    /// The message cannot be written on this wire (a payload over 4 GiB, or
    /// a request id wider than the compact wire's 16 bits).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The payload is above the codec's limit: the peer would refuse it.
    #[error(
        "refusing to send a {len}-byte payload, above the {max}-byte limit (see FrameCodec::with_max_payload)"
    )]
    TooLargeToSend {
        /// The payload's length.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame ({buffered} bytes of it buffered)")]
    Truncated {
        /// The bytes left unread in the buffer.
        buffered: usize,
    },
    /// Reading or writing the transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<CodecError> for io::Error {
    fn from(err: CodecError) -> Self {
        match err {
            CodecError::Io(err) => err,
            CodecError::Decode(err) => err.into(),
            CodecError::Encode(err) => err.into(),
            CodecError::TooLargeToSend { .. } => io::Error::new(io::ErrorKind::InvalidInput, err),
            CodecError::Truncated { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, err),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        // Every non-fatal error has consumed bytes from `src` (the core's
        // contract), so this loop ends within the buffer.
        loop {
            let decoded = match &mut self.inner {
                Inner::Classic { decoder, .. } => decoder.decode(src),
                Inner::Compact { decoder } => decoder.decode(src),
            };
            match decoded {
                Ok(message) => return Ok(message),
                Err(DecodeError::BadMagic { skipped }) => {
                    self.bytes_skipped = self.bytes_skipped.saturating_add(skipped);
                }
                Err(err) if !err.is_fatal() => {
                    self.frames_dropped = self.frames_dropped.saturating_add(1);
                }
                Err(err) => return Err(CodecError::Decode(err)),
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if self.is_mid_frame(src) {
            return Err(CodecError::Truncated {
                buffered: src.len(),
            });
        }
        Ok(None)
    }
}

impl Encoder<&Message> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = message.payload().len();
        // u32 → usize is lossless on every platform Veltix builds for.
        if len > self.max_payload as usize {
            return Err(CodecError::TooLargeToSend {
                len,
                max: self.max_payload,
            });
        }
        let frame = match &mut self.inner {
            Inner::Classic { encoder, .. } => encoder.encode(message).map_err(EncodeError::from)?,
            Inner::Compact { .. } => EncodedFrame::new_compact(message)?,
        };
        dst.reserve(frame.wire_len());
        frame.write_to(dst);
        Ok(())
    }
}

impl Encoder<Message> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        <Self as Encoder<&Message>>::encode(self, &message, dst)
    }
}
