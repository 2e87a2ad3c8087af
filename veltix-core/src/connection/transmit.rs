//! The outbound queue and the [`Transmit`] view the driver writes from.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BytesMut};

use crate::wire::EncodedFrame;

/// Frames up to this many bytes (header included) are copied, back to back,
/// into one buffer when they queue up behind another small frame: a burst
/// of small messages then leaves as one contiguous buffer (one write, no
/// per-frame bookkeeping), and each payload is released as soon as it is
/// copied. Larger frames stay as they are, their payload shared, never copied.
const INLINE_MAX: usize = 1024;
/// The most bytes one coalescing buffer holds: one large write's worth.
const INLINE_BUFFER: usize = 64 * 1024;
/// A coalescing buffer's first size; it grows as frames pile up.
const INLINE_START: usize = 4 * 1024;

/// A run of queued bytes.
#[derive(Debug)]
enum Segment {
    /// One frame, as encoded: header and shared payload.
    Frame(EncodedFrame),
    /// Small frames copied back to back.
    Inline(BytesMut),
}

impl Segment {
    fn len(&self) -> usize {
        match self {
            Self::Frame(frame) => frame.wire_len(),
            Self::Inline(bytes) => bytes.len(),
        }
    }

    /// The segment as up to two slices (empty ones are skipped by readers).
    fn parts(&self) -> [&[u8]; 2] {
        match self {
            Self::Frame(frame) => [frame.header(), frame.payload().as_ref()],
            Self::Inline(bytes) => [bytes.as_ref(), &[]],
        }
    }
}

/// Frames waiting to be written, and how much of the first segment already was.
#[derive(Debug, Default)]
pub(crate) struct OutboundQueue {
    /// Never copy small frames together: a queue of frames held back, to be
    /// adapted one by one when they are released.
    keep_frames: bool,
    segments: VecDeque<Segment>,
    /// Bytes of `segments[0]` already written.
    written: usize,
    /// Unwritten bytes over all segments.
    queued: usize,
    /// Frames pushed since the queue was last cleared.
    frames: u64,
    /// Bytes ever written out of this queue (never reset).
    written_total: u64,
}

impl OutboundQueue {
    /// A queue that keeps every frame whole (see [`append_with`](Self::append_with)).
    pub(crate) fn keeping_frames() -> Self {
        Self {
            keep_frames: true,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, frame: EncodedFrame) {
        let len = frame.wire_len();
        self.queued += len;
        self.frames += 1;
        if len <= INLINE_MAX && !self.keep_frames {
            match self.segments.back_mut() {
                Some(Segment::Inline(bytes)) if bytes.len() + len <= INLINE_BUFFER => {
                    if bytes.capacity() - bytes.len() < len {
                        // Outgrown its first size: a burst is under way, so
                        // straight to the whole buffer, not through every
                        // doubling (each a copy of all the bytes so far).
                        bytes.reserve(INLINE_BUFFER - bytes.len());
                    }
                    frame.write_to(bytes);
                    return;
                }
                Some(back) => {
                    if let Segment::Frame(previous) = back
                        && previous.wire_len() <= INLINE_MAX
                    {
                        // Bytes already written from `previous` keep their
                        // offset: it is copied first.
                        let mut bytes = BytesMut::with_capacity(INLINE_START);
                        previous.write_to(&mut bytes);
                        frame.write_to(&mut bytes);
                        *back = Segment::Inline(bytes);
                        return;
                    }
                }
                None => {}
            }
        }
        self.segments.push_back(Segment::Frame(frame));
    }

    /// Queues bytes that are not a frame (a Python 3.x JSON handshake
    /// message), after everything queued so far.
    pub(crate) fn push_raw(&mut self, raw: &[u8]) {
        self.queued += raw.len();
        match self.segments.back_mut() {
            Some(Segment::Inline(bytes)) if bytes.len() + raw.len() <= INLINE_BUFFER => {
                bytes.extend_from_slice(raw);
            }
            _ => self
                .segments
                .push_back(Segment::Inline(BytesMut::from(raw))),
        }
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Whether any byte has ever been handed to the transport.
    pub(crate) fn has_written(&self) -> bool {
        self.written_total > 0
    }

    /// Frames pushed since the queue was last cleared.
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Gives back the memory of an empty queue.
    pub(crate) fn shrink_to_fit(&mut self) {
        if self.segments.is_empty() {
            self.segments = VecDeque::new();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.segments.clear();
        self.written = 0;
        self.queued = 0;
        self.frames = 0;
    }

    /// Moves everything queued in `other` (of which nothing was written)
    /// behind what this queue holds.
    pub(crate) fn append(&mut self, other: OutboundQueue) {
        self.append_with(other, |frame| frame);
    }

    /// [`append`](Self::append), passing every whole frame of `other`
    /// through `adapt` (frames `other` copied together are moved as they
    /// are: give it a queue [`keeping_frames`](Self::keeping_frames)).
    pub(crate) fn append_with(
        &mut self,
        other: OutboundQueue,
        mut adapt: impl FnMut(EncodedFrame) -> EncodedFrame,
    ) {
        debug_assert_eq!(other.written, 0, "a held queue is never written from");
        let frames = self.frames + other.frames;
        for segment in other.segments {
            match segment {
                Segment::Frame(frame) => self.push(adapt(frame)),
                Segment::Inline(bytes) => {
                    self.queued += bytes.len();
                    self.segments.push_back(Segment::Inline(bytes));
                }
            }
        }
        self.frames = frames;
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
        match self.queue.segments.front() {
            Some(Segment::Frame(frame)) => frame_chunk(frame, self.queue.written),
            Some(Segment::Inline(bytes)) => &bytes[self.queue.written..],
            None => &[],
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let q = &mut *self.queue;
        q.written_total += cnt.min(q.queued) as u64;
        while cnt > 0 {
            let Some(front) = q.segments.front() else {
                // Advancing past the end is a caller bug; stop rather than panic.
                break;
            };
            let left = front.len() - q.written;
            if cnt < left {
                q.written += cnt;
                q.queued -= cnt;
                break;
            }
            cnt -= left;
            q.queued -= left;
            q.written = 0;
            q.segments.pop_front();
        }
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(self.parts()) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

impl Transmit<'_> {
    /// The unwritten bytes in order, as the queued headers and payloads
    /// (the first one possibly partly written already).
    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        let mut written = self.queue.written;
        self.queue
            .segments
            .iter()
            .flat_map(Segment::parts)
            .filter_map(move |part| {
                if written >= part.len() {
                    written -= part.len();
                    None
                } else {
                    let rest = &part[written..];
                    written = 0;
                    Some(rest)
                }
            })
    }

    /// Copies the unwritten bytes from the front into `dst`, as many as fit,
    /// without consuming them; returns how many were copied. Write them,
    /// then [`advance`](Buf::advance) by what the transport accepted.
    ///
    /// Coalescing many small frames into one buffer this way costs one
    /// memcpy and saves a write (and, on TCP, a segment) per frame batch.
    pub fn peek_into(&self, dst: &mut [u8]) -> usize {
        let mut copied = 0;
        for part in self.parts() {
            let n = part.len().min(dst.len() - copied);
            dst[copied..copied + n].copy_from_slice(&part[..n]);
            copied += n;
            if copied == dst.len() {
                break;
            }
        }
        copied
    }
}

/// The unwritten part of the frame's header, or of its payload once the
/// header is out.
fn frame_chunk(frame: &EncodedFrame, written: usize) -> &[u8] {
    let header = frame.header();
    if written < header.len() {
        &header[written..]
    } else {
        &frame.payload()[written - header.len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::HEADER_LEN;
    use crate::{Message, MessageType};

    fn queue_of(sizes: &[usize]) -> (OutboundQueue, Vec<u8>) {
        let mut queue = OutboundQueue::default();
        let mut wire = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            let message = Message::new(MessageType::new(200).unwrap(), payload);
            let frame = EncodedFrame::new(&message).unwrap();
            frame.write_to(&mut wire);
            queue.push(frame);
        }
        (queue, wire)
    }

    /// Everything `transmit` holds, written in pieces of `step` bytes
    /// from `chunk` (as a transport that takes a little at a time would).
    fn write_out(queue: &mut OutboundQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(mut transmit) = Transmit::new(queue) {
            let chunk = transmit.chunk();
            let n = chunk.len().min(step);
            out.extend_from_slice(&chunk[..n]);
            transmit.advance(n);
        }
        out
    }

    #[test]
    fn small_frames_leave_as_one_buffer_and_large_ones_as_they_are() {
        let (mut queue, wire) = queue_of(&[64; 100]);
        let transmit = Transmit::new(&mut queue).unwrap();
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(
            transmit.chunks_vectored(&mut slices),
            1,
            "one contiguous buffer"
        );
        assert_eq!(&slices[0][..], &wire[..]);

        let (mut queue, wire) = queue_of(&[5, 3000, 6, 7, 70_000, 1024 - HEADER_LEN, 0]);
        let transmit = Transmit::new(&mut queue).unwrap();
        let mut slices = [IoSlice::new(&[]); 16];
        let n = transmit.chunks_vectored(&mut slices);
        // A frame alone stays header + payload (2 slices); small ones behind
        // a small one join it (1): [5] 2 | [3000] 2 | [6, 7] 1 | [70 000] 2 | [1024, 0] 1.
        assert_eq!(n, 8);
        let gathered: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(gathered, wire);
        assert_eq!(write_out(&mut queue, 777), wire);
    }

    #[test]
    fn a_partly_written_frame_keeps_its_place_when_later_frames_join_it() {
        let mut queue = OutboundQueue::default();
        let mut wire = Vec::new();
        let frame = |i: u8| {
            let message = Message::new(MessageType::new(200).unwrap(), vec![i; 40]);
            EncodedFrame::new(&message).unwrap()
        };
        let first = frame(1);
        first.write_to(&mut wire);
        queue.push(first);
        Transmit::new(&mut queue).unwrap().advance(30);
        for i in 2..5 {
            let next = frame(i);
            next.write_to(&mut wire);
            queue.push(next);
        }
        assert_eq!(queue.queued_bytes(), wire.len() - 30);
        assert_eq!(write_out(&mut queue, 13), &wire[30..]);
        assert!(queue.is_empty());
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn one_coalescing_buffer_holds_at_most_a_large_write() {
        let (mut queue, wire) = queue_of(&[900; 300]);
        let transmit = Transmit::new(&mut queue).unwrap();
        let mut slices = [IoSlice::new(&[]); 64];
        let n = transmit.chunks_vectored(&mut slices);
        assert!(n > 1);
        assert!(slices[..n].iter().all(|s| s.len() <= INLINE_BUFFER));
        assert_eq!(write_out(&mut queue, usize::MAX), wire);
    }

    #[test]
    fn an_appended_queue_follows_in_order_and_counts_its_frames() {
        let (mut queue, mut wire) = queue_of(&[10, 2000]);
        let (held, held_wire) = queue_of(&[20, 30]);
        wire.extend_from_slice(&held_wire);
        queue.append(held);
        assert_eq!(queue.frames(), 4);
        assert_eq!(queue.queued_bytes(), wire.len());
        assert_eq!(write_out(&mut queue, 100), wire);
    }

    #[test]
    fn peek_into_copies_the_unwritten_front_without_consuming_it() {
        let (mut queue, wire) = queue_of(&[0, 5, 300, 64]);
        let mut transmit = Transmit::new(&mut queue).unwrap();
        // Part of the first header written already.
        transmit.advance(10);
        let mut buf = [0u8; 100];
        let n = transmit.peek_into(&mut buf);
        assert_eq!(n, 100);
        assert_eq!(&buf[..], &wire[10..110]);
        assert_eq!(transmit.remaining(), wire.len() - 10, "nothing consumed");

        // A buffer bigger than what is queued gets all of it.
        let mut big = vec![0u8; wire.len() + 50];
        let n = transmit.peek_into(&mut big);
        assert_eq!(&big[..n], &wire[10..]);

        // Writing part of it and advancing lines up with the next peek.
        transmit.advance(200);
        let n = transmit.peek_into(&mut big);
        assert_eq!(&big[..n], &wire[210..]);
    }

    #[test]
    fn compact_frames_and_raw_bytes_leave_in_order() {
        let mut queue = OutboundQueue::default();
        let mut wire = b"\x00\x02{}".to_vec();
        queue.push_raw(&wire);
        for size in [3usize, 5000, 0] {
            let message = Message::new(MessageType::new(200).unwrap(), vec![7; size]);
            let frame = EncodedFrame::new_compact(&message).unwrap();
            frame.write_to(&mut wire);
            queue.push(frame);
        }
        assert_eq!(queue.frames(), 3, "raw bytes are not a frame");
        assert!(!queue.has_written());
        assert_eq!(write_out(&mut queue, 9), wire);
        assert!(queue.has_written());
    }

    #[test]
    fn chunks_vectored_and_peek_into_agree() {
        let (mut queue, wire) = queue_of(&[3, 0, 70, 1]);
        let mut transmit = Transmit::new(&mut queue).unwrap();
        transmit.advance(64);
        let mut slices = [IoSlice::new(&[]); 16];
        let n = transmit.chunks_vectored(&mut slices);
        let gathered: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        let mut peeked = vec![0u8; wire.len()];
        let m = transmit.peek_into(&mut peeked);
        assert_eq!(gathered, &wire[64..]);
        assert_eq!(&peeked[..m], &wire[64..]);
        // Empty payloads give no empty slices.
        assert!(slices[..n].iter().all(|s| !s.is_empty()));
    }
}
