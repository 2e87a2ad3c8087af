//! One decoder type over both wires, for code that picks the wire at run time.

use bytes::BytesMut;

use super::{DecodeError, Wire};
use crate::{Message, compact, frame};

/// A streaming decoder for either wire: the classic [`frame::Decoder`] or
/// the compact [`compact::Decoder`], with the same calling convention (see
/// those types for each wire's policies). Made by [`Wire::decoder`].
#[derive(Debug, Clone)]
pub struct Decoder {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Classic(frame::Decoder),
    Compact(compact::Decoder),
}

impl Decoder {
    pub(super) fn new(wire: Wire, max_payload: u32) -> Self {
        let inner = match wire {
            Wire::Classic => Inner::Classic(frame::Decoder::new(max_payload)),
            Wire::Compact => Inner::Compact(compact::Decoder::new(max_payload)),
        };
        Self { inner }
    }

    /// Which wire this decoder reads.
    pub fn wire(&self) -> Wire {
        match self.inner {
            Inner::Classic(_) => Wire::Classic,
            Inner::Compact(_) => Wire::Compact,
        }
    }

    /// The payload limit in bytes.
    pub fn max_payload(&self) -> u32 {
        match &self.inner {
            Inner::Classic(d) => d.max_payload(),
            Inner::Compact(d) => d.max_payload(),
        }
    }

    /// Reads the next classic frames with `options` (what a native
    /// handshake agreed); the compact wire has none.
    pub(crate) fn set_frame_options(&mut self, options: frame::FrameOptions) {
        if let Inner::Classic(d) = &mut self.inner {
            d.set_options(options);
        }
    }

    /// Compressed payloads decompressed so far (classic wire).
    pub(crate) fn frames_decompressed(&self) -> u64 {
        match &self.inner {
            Inner::Classic(d) => d.frames_decompressed(),
            Inner::Compact(_) => 0,
        }
    }

    /// Decodes the next whole frame from the front of `src`; `Ok(None)` when
    /// more bytes are needed. Call again after a non-fatal error.
    ///
    /// # Errors
    /// [`DecodeError`]; [`DecodeError::is_fatal`] says whether to go on.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        match &mut self.inner {
            Inner::Classic(d) => d.decode(src),
            Inner::Compact(d) => d.decode(src),
        }
    }
}
