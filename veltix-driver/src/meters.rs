//! Feature `metrics`: the same figures as [`Stats`](crate::Stats), through
//! the [`metrics`] crate's facade, so any exporter (Prometheus, StatsD…)
//! picks them up.
//!
//! Every series carries two labels: `role` (`server` or `client`) and
//! `server` (the server's address: the one a server is bound to, the one a
//! client connects to). Counters: `veltix_bytes_in`, `veltix_bytes_out`,
//! `veltix_frames_in`, `veltix_frames_out`, `veltix_corrupt_frames`,
//! `veltix_requests_timed_out`, `veltix_reconnects` (clients),
//! `veltix_unrouted_messages`, `veltix_handler_errors`,
//! `veltix_replies_dropped` (what the application's handlers did). Gauges, moved
//! up and down by each connection: `veltix_connections`,
//! `veltix_requests_pending`, `veltix_queued_bytes`; set on each sample:
//! `veltix_rtt_seconds`, `veltix_smoothed_rtt_seconds`.
//!
//! The handles are registered once per server or client, with the recorder
//! installed at that moment; a connection's driver updates them once per
//! poll, with the deltas it publishes to its [`Stats`](crate::Stats) anyway;
//! the handlers' counters move as they are counted, from whichever thread
//! ran the handler.
//! Without the feature, [`Meters`] is an empty type whose methods do nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::stats::{Counts, Handled};

/// A server's or a client's metric handles.
#[cfg(feature = "metrics")]
pub(crate) struct Meters {
    bytes_in: metrics::Counter,
    bytes_out: metrics::Counter,
    frames_in: metrics::Counter,
    frames_out: metrics::Counter,
    corrupt_frames: metrics::Counter,
    requests_timed_out: metrics::Counter,
    reconnects: metrics::Counter,
    unrouted: metrics::Counter,
    handler_errors: metrics::Counter,
    replies_dropped: metrics::Counter,
    connections: metrics::Gauge,
    requests_pending: metrics::Gauge,
    queued_bytes: metrics::Gauge,
    rtt: metrics::Gauge,
    smoothed_rtt: metrics::Gauge,
}

/// Without the feature: nothing to record.
#[cfg(not(feature = "metrics"))]
pub(crate) struct Meters;

/// What a connection last added to the gauges, to take back when it ends.
#[derive(Debug, Default, Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct GaugeShare {
    pending: usize,
    queued: usize,
}

#[cfg(feature = "metrics")]
impl Meters {
    /// Registers the handles of the server bound to (or the client of)
    /// `server`; `None` without the feature.
    pub(crate) fn register(role: &'static str, server: SocketAddr) -> Option<Arc<Self>> {
        Some(Arc::new(Self::new(role, server)))
    }

    fn new(role: &'static str, server: SocketAddr) -> Self {
        let labels = [("role", role.to_owned()), ("server", server.to_string())];
        Self {
            bytes_in: metrics::counter!("veltix_bytes_in", &labels),
            bytes_out: metrics::counter!("veltix_bytes_out", &labels),
            frames_in: metrics::counter!("veltix_frames_in", &labels),
            frames_out: metrics::counter!("veltix_frames_out", &labels),
            corrupt_frames: metrics::counter!("veltix_corrupt_frames", &labels),
            requests_timed_out: metrics::counter!("veltix_requests_timed_out", &labels),
            reconnects: metrics::counter!("veltix_reconnects", &labels),
            unrouted: metrics::counter!("veltix_unrouted_messages", &labels),
            handler_errors: metrics::counter!("veltix_handler_errors", &labels),
            replies_dropped: metrics::counter!("veltix_replies_dropped", &labels),
            connections: metrics::gauge!("veltix_connections", &labels),
            requests_pending: metrics::gauge!("veltix_requests_pending", &labels),
            queued_bytes: metrics::gauge!("veltix_queued_bytes", &labels),
            rtt: metrics::gauge!("veltix_rtt_seconds", &labels),
            smoothed_rtt: metrics::gauge!("veltix_smoothed_rtt_seconds", &labels),
        }
    }

    /// Adds what changed from `before` to `now`.
    pub(crate) fn publish(&self, before: &Counts, now: &Counts) {
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
                counter.increment(delta);
            }
        }
    }

    /// Moves the gauges by the change in this connection's share.
    pub(crate) fn gauges(&self, share: &mut GaugeShare, pending: usize, queued: usize) {
        move_gauge(&self.requests_pending, &mut share.pending, pending);
        move_gauge(&self.queued_bytes, &mut share.queued, queued);
    }

    /// A connection started (`true`) or ended.
    pub(crate) fn connection(&self, up: bool) {
        if up {
            self.connections.increment(1.0);
        } else {
            self.connections.decrement(1.0);
        }
    }

    /// One round-trip time, and the smoothed one after it.
    pub(crate) fn rtt(&self, rtt: Duration, smoothed: Option<Duration>) {
        self.rtt.set(rtt.as_secs_f64());
        if let Some(smoothed) = smoothed {
            self.smoothed_rtt.set(smoothed.as_secs_f64());
        }
    }

    /// One more reconnection of a client.
    pub(crate) fn reconnected(&self) {
        self.reconnects.increment(1);
    }

    /// One more of what a handler did (see [`Handled`]).
    pub(crate) fn handled(&self, what: Handled) {
        match what {
            Handled::Unrouted => &self.unrouted,
            Handled::HandlerError => &self.handler_errors,
            Handled::ReplyDropped => &self.replies_dropped,
        }
        .increment(1);
    }
}

#[cfg(feature = "metrics")]
#[allow(clippy::cast_precision_loss)] // gauges are f64; counts far below 2^52
fn move_gauge(gauge: &metrics::Gauge, share: &mut usize, now: usize) {
    if now != *share {
        if now > *share {
            gauge.increment((now - *share) as f64);
        } else {
            gauge.decrement((*share - now) as f64);
        }
        *share = now;
    }
}

#[cfg(not(feature = "metrics"))]
impl Meters {
    pub(crate) fn register(_: &'static str, _: SocketAddr) -> Option<Arc<Self>> {
        None
    }

    pub(crate) fn publish(&self, _: &Counts, _: &Counts) {}

    pub(crate) fn gauges(&self, _: &mut GaugeShare, _: usize, _: usize) {}

    pub(crate) fn connection(&self, _: bool) {}

    pub(crate) fn rtt(&self, _: Duration, _: Option<Duration>) {}

    pub(crate) fn reconnected(&self) {}

    pub(crate) fn handled(&self, _: Handled) {}
}
