//! The life of one connection's task, as one type: every transition is a
//! method here, and the driver asks it what to do rather than keeping flags.
//!
//! ```text
//! Handshaking ──Connected──▶ Open
//!      │                       │
//!      └──close asked──▶ Closing{deadline} ◀──close asked──┘
//!      │                       │
//!      └───────Closed event (from any of the three)───────▶ Lingering{until}
//!                                                              │ flushed, write half
//!                                                              │ shut, peer's bytes
//!                                                              ▼ drained or `until`
//!                                                             Done
//! ```

use std::time::{Duration, Instant};

use veltix_core::{CloseCode, CloseReason};

/// After a close, how long the driver keeps flushing our last frames and
/// draining the peer's, so a close frame is not lost to a TCP reset (closing
/// a socket with unread input resets it). Bounded, so a peer that neither
/// reads nor closes cannot hold a task.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// Where a connection's task is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// The handshake is under way.
    Handshaking,
    /// Established: messages flow.
    Open,
    /// A handle asked to close. Later sends are refused; those accepted
    /// before are still applied and flushed, then the connection closes —
    /// at `deadline` at the latest, for a peer that does not read.
    Closing {
        code: CloseCode,
        reason: String,
        deadline: Instant,
    },
    /// The connection has closed and reported it. What was queued is being
    /// written, then the write half is shut (`shut`), then the peer's bytes
    /// are read and dropped until it closes too — or until `until`.
    Lingering {
        reason: CloseReason,
        until: Instant,
        shut: bool,
    },
    /// Nothing more to do: the task ends with `reason`.
    Done { reason: CloseReason },
}

impl Phase {
    /// The handshake completed.
    pub(crate) fn established(&mut self) {
        if matches!(self, Self::Handshaking) {
            *self = Self::Open;
        }
    }

    /// A handle asked to close; whether this is the first request (later
    /// ones, and requests after the close, change nothing).
    pub(crate) fn close_asked(&mut self, code: CloseCode, reason: String, now: Instant) -> bool {
        if !matches!(self, Self::Handshaking | Self::Open) {
            return false;
        }
        *self = Self::Closing {
            code,
            reason,
            deadline: now + LINGER,
        };
        true
    }

    /// The close a handle asked for, to apply now: every command accepted
    /// before it has been taken (`drained`), or its deadline has passed.
    pub(crate) fn take_close(
        &mut self,
        drained: bool,
        now: Instant,
    ) -> Option<(CloseCode, String)> {
        match self {
            Self::Closing { deadline, .. } if drained || *deadline <= now => {
                // Running until the connection reports the close, which the
                // driver routes in the same round: on to Lingering.
                let Self::Closing { code, reason, .. } = std::mem::replace(self, Self::Open) else {
                    unreachable!("matched above");
                };
                Some((code, reason))
            }
            _ => None,
        }
    }

    /// The connection reported its close: linger from `now`.
    pub(crate) fn closed(&mut self, reason: CloseReason, now: Instant) {
        if !matches!(self, Self::Lingering { .. } | Self::Done { .. }) {
            *self = Self::Lingering {
                reason,
                until: now + LINGER,
                shut: false,
            };
        }
    }

    /// Lingered long enough, or the peer has closed too.
    pub(crate) fn done(&mut self) {
        if let Self::Lingering { reason, .. } = self {
            let reason = reason.clone();
            *self = Self::Done { reason };
        }
    }

    /// The deadline this phase itself sets (a close to force, a linger to end).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Closing { deadline, .. } => Some(*deadline),
            Self::Lingering { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Whether the connection has closed (lingering or done).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self, Self::Lingering { .. } | Self::Done { .. })
    }

    /// Why the connection ended, once it has.
    pub(crate) fn reason(&self) -> Option<&CloseReason> {
        match self {
            Self::Lingering { reason, .. } | Self::Done { reason } => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_asked_waits_for_the_queue_or_its_deadline() {
        let t0 = crate::runtime::test_clock_origin();
        let mut phase = Phase::Handshaking;
        phase.established();
        assert!(matches!(phase, Phase::Open));
        assert!(phase.close_asked(CloseCode::NORMAL, "bye".into(), t0));
        assert!(!phase.close_asked(CloseCode::SHUTDOWN, "again".into(), t0));
        assert_eq!(phase.take_close(false, t0), None, "commands still queued");
        let (code, reason) = phase.take_close(false, t0 + LINGER).expect("deadline");
        assert_eq!((code, reason.as_str()), (CloseCode::NORMAL, "bye"));
    }

    #[test]
    fn closed_lingers_once_then_is_done() {
        let t0 = crate::runtime::test_clock_origin();
        let mut phase = Phase::Open;
        phase.closed(CloseReason::IdleTimeout, t0);
        assert_eq!(phase.deadline(), Some(t0 + LINGER));
        phase.closed(CloseReason::TransportClosed, t0 + LINGER);
        assert_eq!(
            phase.reason(),
            Some(&CloseReason::IdleTimeout),
            "the first reason stays"
        );
        assert!(!phase.close_asked(CloseCode::NORMAL, "late".into(), t0));
        phase.done();
        assert!(matches!(
            phase,
            Phase::Done {
                reason: CloseReason::IdleTimeout
            }
        ));
    }
}
