//! Which of the connection's queued output answers what it read.
//!
//! Flow control pauses reading a peer while the output *it caused* piles
//! up: replies, PONGs, handshake answers. A side's own sends must not pause
//! its reading: a client that pipelines requests while it reads the replies
//! would otherwise stop reading once its requests fill the socket, the
//! server would stop reading once its unread replies did, and the two would
//! wait on each other for good.
//!
//! The core queues frames from both in one FIFO. The driver notes, after
//! each call that can queue output, how many bytes it added and whether they
//! answer; bytes leave from the front as the socket takes them. The split is
//! exact but for frames sent before the handshake completes, which the core
//! holds back and queues behind the handshake's own frames.

use std::collections::VecDeque;

/// Runs of queued bytes, each answers or not, in queue order.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    runs: VecDeque<(bool, usize)>,
    /// Bytes over all runs: what the connection had queued when last seen.
    total: usize,
    /// Bytes over the runs that answer.
    answers: usize,
}

impl Ledger {
    /// The bytes of queued output that answer what was read.
    pub(crate) fn answers(&self) -> usize {
        self.answers
    }

    /// Brings the ledger to `queued`, the connection's queued bytes now:
    /// growth is output just added (answers or not), shrinkage is output
    /// written (or dropped when the connection closed).
    pub(crate) fn settle(&mut self, answer: bool, queued: usize) {
        match queued.cmp(&self.total) {
            std::cmp::Ordering::Greater => self.push(answer, queued - self.total),
            std::cmp::Ordering::Less => self.pop(self.total - queued),
            std::cmp::Ordering::Equal => {}
        }
    }

    /// Gives back the memory of an empty ledger (for an idle connection).
    pub(crate) fn shrink_to_fit(&mut self) {
        if self.runs.is_empty() {
            self.runs = VecDeque::new();
        }
    }

    fn push(&mut self, answer: bool, bytes: usize) {
        self.total += bytes;
        if answer {
            self.answers += bytes;
        }
        match self.runs.back_mut() {
            Some((kind, run)) if *kind == answer => *run += bytes,
            _ => self.runs.push_back((answer, bytes)),
        }
    }

    fn pop(&mut self, mut bytes: usize) {
        self.total -= bytes;
        while bytes > 0 {
            let Some((answer, run)) = self.runs.front_mut() else {
                break;
            };
            let taken = bytes.min(*run);
            *run -= taken;
            bytes -= taken;
            if *answer {
                self.answers -= taken;
            }
            if *run == 0 {
                self.runs.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_leave_in_queue_order() {
        let mut ledger = Ledger::default();
        ledger.settle(false, 100); // our own sends
        ledger.settle(true, 150); // replies behind them
        ledger.settle(false, 170);
        assert_eq!(ledger.answers(), 50);
        ledger.settle(true, 120); // 50 written: all ours
        assert_eq!(ledger.answers(), 50);
        ledger.settle(true, 90); // 30 more: still ours
        assert_eq!(ledger.answers(), 50);
        ledger.settle(true, 60); // 30 more: our last 20, then 10 of the replies
        assert_eq!(ledger.answers(), 40);
        ledger.settle(false, 0); // everything gone
        assert_eq!(ledger.answers(), 0);
        ledger.settle(true, 10);
        assert_eq!(ledger.answers(), 10, "counts again from empty");
    }
}
