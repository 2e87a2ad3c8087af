//! Counters of what connections have done: [`Stats`], what `stats()` on a
//! peer, a client or a server returns, and the cells behind it.
//!
//! A connection's driver counts in plain fields as data passes (bytes read
//! and written, dropped frames, timed-out requests) and takes the rest from
//! its core's own counters; it publishes into its [`StatsCell`] once per poll,
//! not per message, with relaxed atomics and no lock. Only the driver writes
//! its cell, so publishing is a load and a store per changed counter; a
//! server's totals, which every peer's driver adds to, take a `fetch_add`
//! per changed counter per poll.

// std's atomics even under loom: the counters order nothing, so the models
// have nothing to check in them.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a connection has done so far, or a server's connections together.
///
/// From [`Peer::stats`](crate::Peer::stats),
/// [`Client::stats`](crate::Client::stats) (every connection of the client,
/// reconnections included) and [`Server::stats`](crate::Server::stats) (all
/// its peers, those gone included; the gauges over those connected now).
/// Counters only grow. Values are published by the connection's task after
/// each turn of its loop, so they may lag what just happened by that much.
/// With the feature `metrics`, the same figures also go through the
/// `metrics` facade, labelled per server (see the README).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes read from the socket (with TLS: the encrypted records).
    pub bytes_in: u64,
    /// Bytes written to the socket (with TLS: the encrypted records).
    pub bytes_out: u64,
    /// Whole frames received: application messages, answers, keep-alives,
    /// handshake and close frames, and the corrupt ones dropped.
    pub frames_in: u64,
    /// Frames queued for sending, of every kind as for `frames_in`.
    pub frames_out: u64,
    /// Frames dropped as corrupt (payload hash or checksum mismatch, or
    /// bytes skipped to find the next frame on the compact wire); each one
    /// is also logged. The connection lives on.
    pub corrupt_frames: u64,
    /// Requests and pings of the application waiting for an answer now (a gauge).
    pub requests_pending: u64,
    /// Requests and pings of the application that got no answer before
    /// their deadline.
    pub requests_timed_out: u64,
    /// The round-trip time last measured: a ping's, or a request's from
    /// sending to its answer (which includes the peer's time to answer).
    pub last_rtt: Option<Duration>,
    /// Those round-trip times smoothed as TCP does (RFC 6298):
    /// `srtt = 7/8 · srtt + 1/8 · rtt`, starting at the first sample.
    pub smoothed_rtt: Option<Duration>,
    /// Bytes of output waiting for the socket now (a gauge): encoded frames,
    /// and commands taken from the handles but not encoded yet.
    pub queued_bytes: u64,
    /// Times the client connected again after losing its connection
    /// (always 0 for a server and its peers).
    pub reconnects: u64,
    /// Messages nobody handled: no route for their type, no `on_message`,
    /// and no event stream taken (each is also logged, at debug). Counted
    /// only once a route is registered; before that such messages wait for
    /// the event stream, as always.
    pub unrouted: u64,
    /// Route and message handlers that returned an `Err` or panicked (each
    /// is also logged with the peer). The peer is served on.
    pub handler_errors: u64,
    /// Replies returned by handlers that could not be queued (the peer's
    /// outbound queue was full, or it was gone); each is also logged.
    pub replies_dropped: u64,
}

/// What the application's handlers did, counted by whoever runs them (the
/// connection's task, a handler task, a worker thread): see [`StatsCell::handled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    Unrouted,
    HandlerError,
    ReplyDropped,
}

/// The counters a driver keeps in plain fields and publishes (see
/// [`StatsCell::publish`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) corrupt_frames: u64,
    pub(crate) requests_timed_out: u64,
}

/// The shared side of [`Stats`]: one per connection handle (a client's
/// lasts across its reconnections), one per server for the totals.
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    corrupt_frames: AtomicU64,
    requests_pending: AtomicU64,
    requests_timed_out: AtomicU64,
    /// Nanoseconds; 0 for none yet.
    last_rtt: AtomicU64,
    /// Nanoseconds; 0 for none yet.
    smoothed_rtt: AtomicU64,
    queued_bytes: AtomicU64,
    reconnects: AtomicU64,
    // The handlers' counts, written from any thread (so `fetch_add`).
    unrouted: AtomicU64,
    handler_errors: AtomicU64,
    replies_dropped: AtomicU64,
}

/// A cell's one writer (a connection's driver) adds without a locked
/// instruction: nobody else writes it, readers only load.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

fn nanos(d: Duration) -> u64 {
    // At least 1: 0 means "no sample yet".
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn duration(nanos: u64) -> Option<Duration> {
    (nanos != 0).then(|| Duration::from_nanos(nanos))
}

/// RFC 6298's smoothing, α = 1/8, in nanoseconds.
fn smooth(srtt: u64, sample: u64) -> u64 {
    if srtt == 0 {
        sample
    } else {
        (srtt - srtt / 8).saturating_add(sample / 8).max(1)
    }
}

impl StatsCell {
    /// Publishes what changed from `before` to `now`, by this cell's only
    /// writer; the same deltas go to `totals`, which every peer of a server
    /// adds to.
    pub(crate) fn publish(&self, before: &Counts, now: &Counts, totals: Option<&Self>) {
        let pairs = [
            (&self.bytes_in, before.bytes_in, now.bytes_in),
            (&self.bytes_out, before.bytes_out, now.bytes_out),
            (&self.frames_in, before.frames_in, now.frames_in),
            (&self.frames_out, before.frames_out, now.frames_out),
            (
                &self.corrupt_frames,
                before.corrupt_frames,
                now.corrupt_frames,
            ),
            (
                &self.requests_timed_out,
                before.requests_timed_out,
                now.requests_timed_out,
            ),
        ];
        for (counter, before, now) in pairs {
            let delta = now.wrapping_sub(before);
            if delta != 0 {
                bump(counter, delta);
            }
        }
        if let Some(totals) = totals {
            let pairs = [
                (&totals.bytes_in, before.bytes_in, now.bytes_in),
                (&totals.bytes_out, before.bytes_out, now.bytes_out),
                (&totals.frames_in, before.frames_in, now.frames_in),
                (&totals.frames_out, before.frames_out, now.frames_out),
                (
                    &totals.corrupt_frames,
                    before.corrupt_frames,
                    now.corrupt_frames,
                ),
                (
                    &totals.requests_timed_out,
                    before.requests_timed_out,
                    now.requests_timed_out,
                ),
            ];
            for (counter, before, now) in pairs {
                let delta = now.wrapping_sub(before);
                if delta != 0 {
                    counter.fetch_add(delta, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sets the gauges (by the cell's only writer).
    pub(crate) fn set_gauges(&self, requests_pending: usize, queued_bytes: usize) {
        let pending = requests_pending as u64;
        if self.requests_pending.load(Ordering::Relaxed) != pending {
            self.requests_pending.store(pending, Ordering::Relaxed);
        }
        let queued = queued_bytes as u64;
        if self.queued_bytes.load(Ordering::Relaxed) != queued {
            self.queued_bytes.store(queued, Ordering::Relaxed);
        }
    }

    /// One round-trip time measured (by the cell's only writer); `totals`
    /// too, where several writers may race (a lost update there only
    /// skips one sample's smoothing). The smoothed RTT after it: the
    /// totals' when there are totals.
    pub(crate) fn rtt(&self, rtt: Duration, totals: Option<&Self>) -> Option<Duration> {
        let sample = nanos(rtt);
        let mut smoothed = 0;
        for cell in std::iter::once(self).chain(totals) {
            cell.last_rtt.store(sample, Ordering::Relaxed);
            smoothed = smooth(cell.smoothed_rtt.load(Ordering::Relaxed), sample);
            cell.smoothed_rtt.store(smoothed, Ordering::Relaxed);
        }
        duration(smoothed)
    }

    /// One more reconnection of a client.
    pub(crate) fn reconnected(&self) {
        bump(&self.reconnects, 1);
    }

    /// One more of `what`, here and in `totals` (a server's); any thread.
    pub(crate) fn handled(&self, what: Handled, totals: Option<&Self>) {
        for cell in std::iter::once(self).chain(totals) {
            let counter = match what {
                Handled::Unrouted => &cell.unrouted,
                Handled::HandlerError => &cell.handler_errors,
                Handled::ReplyDropped => &cell.replies_dropped,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What the cell holds now.
    pub(crate) fn snapshot(&self) -> Stats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            frames_in: load(&self.frames_in),
            frames_out: load(&self.frames_out),
            corrupt_frames: load(&self.corrupt_frames),
            requests_pending: load(&self.requests_pending),
            requests_timed_out: load(&self.requests_timed_out),
            last_rtt: duration(load(&self.last_rtt)),
            smoothed_rtt: duration(load(&self.smoothed_rtt)),
            queued_bytes: load(&self.queued_bytes),
            reconnects: load(&self.reconnects),
            unrouted: load(&self.unrouted),
            handler_errors: load(&self.handler_errors),
            replies_dropped: load(&self.replies_dropped),
        }
    }
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use super::*;

    #[test]
    fn deltas_reach_the_cell_and_the_totals() {
        let (cell, totals) = (StatsCell::default(), StatsCell::default());
        let mut counts = Counts::default();
        let before = counts;
        counts.bytes_in = 100;
        counts.frames_in = 2;
        counts.corrupt_frames = 1;
        cell.publish(&before, &counts, Some(&totals));
        let before = counts;
        counts.bytes_in = 150;
        cell.publish(&before, &counts, Some(&totals));
        cell.set_gauges(3, 40);
        let stats = cell.snapshot();
        assert_eq!(
            (stats.bytes_in, stats.frames_in, stats.corrupt_frames),
            (150, 2, 1)
        );
        assert_eq!((stats.requests_pending, stats.queued_bytes), (3, 40));
        let totals = totals.snapshot();
        assert_eq!(totals.bytes_in, 150);
        assert_eq!(totals.requests_pending, 0, "gauges are not totalled here");
    }

    #[test]
    fn rtt_is_smoothed_as_rfc_6298_says() {
        let cell = StatsCell::default();
        assert_eq!(cell.snapshot().smoothed_rtt, None);
        cell.rtt(Duration::from_millis(80), None);
        assert_eq!(
            cell.snapshot().smoothed_rtt,
            Some(Duration::from_millis(80))
        );
        cell.rtt(Duration::from_millis(160), None);
        let stats = cell.snapshot();
        assert_eq!(stats.last_rtt, Some(Duration::from_millis(160)));
        // 7/8 · 80 + 1/8 · 160 = 90 ms
        assert_eq!(stats.smoothed_rtt, Some(Duration::from_millis(90)));
    }
}
