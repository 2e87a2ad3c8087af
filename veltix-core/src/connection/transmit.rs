//! The outbound queue and the [`Transmit`] view the driver writes from.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Buf;

use crate::frame::{EncodedFrame, HEADER_LEN};

/// Frames waiting to be written, and how much of the first one already was.
#[derive(Debug, Default)]
pub(crate) struct OutboundQueue {
    frames: VecDeque<EncodedFrame>,
    /// Bytes of `frames[0]` already written.
    written: usize,
    /// Unwritten bytes over all frames.
    queued: usize,
}

impl OutboundQueue {
    pub(crate) fn push(&mut self, frame: EncodedFrame) {
        self.queued += frame.wire_len();
        self.frames.push_back(frame);
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.written = 0;
        self.queued = 0;
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = EncodedFrame> + '_ {
        self.written = 0;
        self.queued = 0;
        self.frames.drain(..)
    }
}

/// Bytes the connection wants written, as a [`Buf`] over the queued frames.
///
/// Returned by [`Connection::poll_transmit`](crate::Connection::poll_transmit).
/// Write from [`chunk`](Buf::chunk) or, better, from
/// [`chunks_vectored`](Buf::chunks_vectored) (one vectored write covers many
/// small frames, and payloads are never copied), then report what the
/// transport accepted with [`advance`](Buf::advance). Whatever is not advanced
/// stays queued for the next call. [`Transmit::copy_into`] coalesces into a
/// caller-owned buffer instead, for transports without vectored writes.
#[derive(Debug)]
pub struct Transmit<'a> {
    queue: &'a mut OutboundQueue,
}

impl<'a> Transmit<'a> {
    pub(crate) fn new(queue: &'a mut OutboundQueue) -> Option<Self> {
        (!queue.is_empty()).then_some(Self { queue })
    }

    /// Copies up to `max` bytes into `dst` and advances past them; returns how
    /// many were copied.
    pub fn copy_into(&mut self, dst: &mut impl bytes::BufMut, max: usize) -> usize {
        let mut copied = 0;
        while copied < max && self.has_remaining() {
            let chunk = self.chunk();
            let n = chunk.len().min(max - copied);
            dst.put_slice(&chunk[..n]);
            self.advance(n);
            copied += n;
        }
        copied
    }
}

impl Buf for Transmit<'_> {
    fn remaining(&self) -> usize {
        self.queue.queued
    }

    fn chunk(&self) -> &[u8] {
        match self.queue.frames.front() {
            Some(frame) => frame_chunk(frame, self.queue.written),
            None => &[],
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let q = &mut *self.queue;
        while cnt > 0 {
            let Some(front) = q.frames.front() else {
                // Advancing past the end is a caller bug; stop rather than panic.
                break;
            };
            let left = front.wire_len() - q.written;
            if cnt < left {
                q.written += cnt;
                q.queued -= cnt;
                break;
            }
            cnt -= left;
            q.queued -= left;
            q.written = 0;
            q.frames.pop_front();
        }
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        let mut n = 0;
        let mut written = self.queue.written;
        'frames: for frame in &self.queue.frames {
            for part in [frame.header(), frame.payload().as_ref()] {
                let part = if written >= part.len() {
                    written -= part.len();
                    continue;
                } else {
                    let p = &part[written..];
                    written = 0;
                    p
                };
                let Some(slot) = dst.get_mut(n) else {
                    break 'frames;
                };
                *slot = IoSlice::new(part);
                n += 1;
            }
        }
        n
    }
}

/// The unwritten part of the frame's header, or of its payload once the
/// header is out.
fn frame_chunk(frame: &EncodedFrame, written: usize) -> &[u8] {
    if written < HEADER_LEN {
        &frame.header()[written..]
    } else {
        &frame.payload()[written - HEADER_LEN..]
    }
}
