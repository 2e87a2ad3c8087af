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
            .frames
            .iter()
            .flat_map(|frame| [frame.header(), frame.payload().as_ref()])
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
    if written < HEADER_LEN {
        &frame.header()[written..]
    } else {
        &frame.payload()[written - HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
