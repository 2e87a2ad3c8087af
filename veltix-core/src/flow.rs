//! Read flow control, the policy every driver applies: a connection's
//! transport is not read while its pending output is above a high-water
//! mark, and is read again once it is at or below a low-water mark (Netty's
//! write-buffer water marks with auto-read, asyncio's `pause_reading`).
//!
//! Pending output is everything the connection owes or holds because of
//! what it read: the connection's outbound bytes
//! ([`Connection::queued_bytes`](crate::Connection::queued_bytes)) and
//! whatever the driver keeps on top (messages the application has not
//! handled yet, answers not handed to the connection yet). While reads
//! pause, TCP pushes back on the peer, so a peer that sends faster than it
//! reads (or faster than the application handles its messages) is slowed
//! down instead of growing memory; a peer that reads its answers is never
//! cut off and never sees them reordered.
//!
//! A driver keeps one [`ReadGate`] per connection, asks it before every read,
//! and tells the connection when reads pause and resume
//! ([`Connection::set_reading_paused`](crate::Connection::set_reading_paused)),
//! so that a paused peer is not taken for an idle one. A peer whose output
//! makes no progress for [`FlowControl::write_stall_timeout`] is given up
//! ([`Connection::handle_write_stalled`](crate::Connection::handle_write_stalled)).

use std::time::Duration;

/// The water marks and the write-stall timeout of every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowControl {
    /// Pending output (bytes, frame headers included) at which reading
    /// pauses. Default 1 MiB.
    pub high_water: usize,
    /// Pending output at or below which reading resumes. Default 512 KiB.
    pub low_water: usize,
    /// A connection whose output makes no progress for this long (the peer
    /// does not read) is closed with
    /// [`CloseReason::WriteStalled`](crate::CloseReason::WriteStalled).
    /// While its reads are paused a peer is not idle (its data is waiting),
    /// so this, not the idle timeout, is what ends a peer that never reads.
    /// `None` waits for ever. Default 30 s.
    pub write_stall_timeout: Option<Duration>,
}

impl Default for FlowControl {
    fn default() -> Self {
        Self {
            high_water: 1024 * 1024,
            low_water: 512 * 1024,
            write_stall_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl FlowControl {
    /// Sets both water marks.
    #[must_use]
    pub fn water_marks(mut self, low: usize, high: usize) -> Self {
        self.low_water = low;
        self.high_water = high;
        self
    }

    /// Sets [`write_stall_timeout`](Self::write_stall_timeout).
    #[must_use]
    pub fn write_stall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_stall_timeout = timeout;
        self
    }

    /// The first setting that cannot work, by name.
    #[must_use]
    pub fn invalid(&self) -> Option<&'static str> {
        if self.high_water == 0 {
            Some("flow.high_water")
        } else if self.low_water > self.high_water {
            Some("flow.low_water (above flow.high_water)")
        } else if self.write_stall_timeout.is_some_and(|t| t.is_zero()) {
            Some("flow.write_stall_timeout")
        } else {
            None
        }
    }
}

/// Whether a connection may read, with hysteresis between the marks.
#[derive(Debug, Default)]
pub struct ReadGate {
    paused: bool,
}

/// What [`ReadGate::update`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Read on.
    Open,
    /// Reading just resumed.
    Resumed,
    /// Reading just paused.
    Paused,
    /// Still paused.
    Closed,
}

impl Gate {
    /// Whether the transport may be read now.
    #[must_use]
    pub fn may_read(self) -> bool {
        matches!(self, Self::Open | Self::Resumed)
    }
}

impl ReadGate {
    /// Decides from the connection's pending output (bytes).
    pub fn update(&mut self, pending: usize, flow: &FlowControl) -> Gate {
        match (self.paused, pending) {
            (false, p) if p >= flow.high_water => {
                self.paused = true;
                Gate::Paused
            }
            (false, _) => Gate::Open,
            (true, p) if p <= flow.low_water => {
                self.paused = false;
                Gate::Resumed
            }
            (true, _) => Gate::Closed,
        }
    }

    /// What [`update`](Self::update) would decide, without deciding it.
    #[must_use]
    pub fn may_read(&self, pending: usize, flow: &FlowControl) -> bool {
        if self.paused {
            pending <= flow.low_water
        } else {
            pending < flow.high_water
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_at_the_high_mark_and_resumes_at_the_low_one() {
        let flow = FlowControl::default().water_marks(100, 200);
        let mut gate = ReadGate::default();
        assert_eq!(gate.update(150, &flow), Gate::Open);
        assert_eq!(gate.update(200, &flow), Gate::Paused);
        assert_eq!(gate.update(150, &flow), Gate::Closed, "between the marks");
        assert_eq!(gate.update(101, &flow), Gate::Closed);
        assert_eq!(gate.update(100, &flow), Gate::Resumed);
        assert_eq!(gate.update(150, &flow), Gate::Open, "between the marks");
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert_eq!(FlowControl::default().invalid(), None);
        assert!(
            FlowControl::default()
                .water_marks(10, 5)
                .invalid()
                .is_some()
        );
        assert!(FlowControl::default().water_marks(0, 0).invalid().is_some());
        assert!(
            FlowControl::default()
                .write_stall_timeout(Some(Duration::ZERO))
                .invalid()
                .is_some()
        );
    }
}
