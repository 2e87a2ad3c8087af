//! The connection loop, written once for every runtime: read → feed →
//! drain → write → sleep until `poll_timeout`.
//!
//! One [`Driver`] future runs one connection until it ends. Each poll runs
//! rounds of: control messages (cancel, close), commands from the handles,
//! events out of the connection (to waiters, callbacks or the stream),
//! reads (while flow control allows), writes, timers. Time comes from the
//! runtime, read at most once per round ([`LazyNow`]); the connection's life
//! is one [`Phase`].

mod ledger;
mod phase;
mod scratch;
mod socket_io;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use veltix_core::flow::{FlowControl, ReadGate};
use veltix_core::{
    CloseCode, CloseReason, Connection, Event, Message, PeerInfo, RequestError, RequestId,
};

use crate::Error;
use crate::backlog::Backlog;
use crate::handle::{Command, CommandRx, Commands, Control, DriverEnds, Security};
use crate::meters::{GaugeShare, Meters};
use crate::runtime::{Runtime, Socket, Timer as _, wall_micros};
use crate::stats::{Counts, StatsCell};
use ledger::Ledger;
use phase::Phase;
use scratch::with_read_scratch;
use veltix_tls::{TlsLayer, TlsSession};

/// Where a connection's events go: callbacks, the event stream, or both.
pub(crate) trait Sink: Send + Unpin + 'static {
    /// Delivers `event` to a callback or the event stream; never waits.
    fn deliver(&mut self, event: SinkEvent);

    /// Whether the application lets this peer in, now that the handshake
    /// proved who it is (a server's accept hook); the reason it is told if not.
    fn admit(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// The events delivered to the stream and not taken yet, which count as
    /// pending output (`None` when nothing is kept).
    fn backlog(&self) -> Option<&Backlog> {
        None
    }

    /// A round of deliveries is over (the driver is about to wait or write).
    fn round_done(&mut self) {}
}

/// The events a sink sees; request outcomes never reach it (their waiters get them).
#[derive(Debug)]
pub(crate) enum SinkEvent {
    Connected(PeerInfo),
    Message(Message),
    Closed(CloseReason),
}

impl SinkEvent {
    /// Bytes the event stands for while it waits for the application: the
    /// frame it came from (so a backlog of empty messages still counts).
    pub(crate) fn weight(&self) -> usize {
        let payload = match self {
            Self::Message(message) => message.payload().len(),
            Self::Connected(_) | Self::Closed(_) => 0,
        };
        veltix_core::frame::HEADER_LEN.saturating_add(payload)
    }
}

/// How a driver reads: bytes at once, and when to stop (flow control).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadSettings {
    pub(crate) chunk: usize,
    pub(crate) flow: FlowControl,
    /// How long a TLS handshake may take (the connection's handshake timeout).
    pub(crate) handshake_timeout: Duration,
}

/// The driver's maps of its own requests.
type WaiterMap<K, V> = foldhash::HashMap<K, V>;

/// Most IoSlices handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Commands applied in one go before their bytes are written: one large
/// write's worth.
const WRITE_CHUNK: usize = 64 * 1024;
/// Work items per kind in one round, so one busy peer cannot starve a task's neighbours.
const BATCH: usize = 64;
/// Rounds per poll before yielding back to the runtime.
const ROUNDS: usize = 16;
/// Bytes read per poll before yielding: on a single-threaded executor one
/// flooding peer must not hold up everyone else (each byte read is decoded,
/// hashed and answered before the next read).
const READ_BUDGET: usize = 64 * 1024;

/// What the driver hands back when its connection ends: the channel ends, so a
/// reconnecting client can give them to the next connection.
pub(crate) struct DriverExit {
    pub(crate) commands: CommandRx,
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) reason: CloseReason,
}

enum Waiter {
    /// A request, and when it was sent (for its round-trip time).
    Reply(oneshot::Sender<Result<Message, Error>>, Instant),
    Pong(oneshot::Sender<Result<Duration, Error>>),
}

/// The two halves of the socket, as far as the driver knows.
#[derive(Debug, Default)]
struct Halves {
    /// End of stream or a read error: nothing more will be read.
    read_closed: bool,
    /// A write error: nothing more can be written.
    write_closed: bool,
}

/// The future that drives one connection over one socket until it ends.
///
/// Its state is one allocation and the future a pointer to it: a task that
/// awaits a driver in an `async move` block keeps the captured driver
/// beside the one being awaited (the compiler does not overlap them), so an
/// unboxed driver would cost every idle connection its state twice (~2 KiB).
pub(crate) struct Driver<R: Runtime, K: Sink>(Box<State<R, K>>);

impl<R: Runtime, K: Sink> Driver<R, K> {
    pub(crate) fn new(
        conn: Connection,
        runtime: R,
        socket: R::Socket,
        ends: DriverEnds,
        sink: K,
        read: ReadSettings,
        tls: Option<TlsSession>,
    ) -> Self {
        Self(Box::new(State::new(
            conn, runtime, socket, ends, sink, read, tls,
        )))
    }
}

/// A driver's state.
struct State<R: Runtime, K: Sink> {
    conn: Connection,
    runtime: R,
    socket: R::Socket,
    timer: R::Timer,
    /// The deadline the timer is set to, if it is armed.
    armed: Option<Instant>,
    ends: Option<(CommandRx, mpsc::UnboundedReceiver<Control>)>,
    gone: Arc<OnceLock<CloseReason>>,
    /// Commands taken from the channel (or the direct lane of callbacks)
    /// that are not applied yet: the first may be waiting for room in the
    /// outbound queue.
    stalled: Commands,
    /// Keyed by our own request ids and tokens, which a peer does not
    /// choose: a fast hasher, not SipHash.
    waiters: WaiterMap<RequestId, (u64, Waiter)>,
    tokens: WaiterMap<u64, RequestId>,
    sink: K,
    /// Bytes read at once (the buffer itself is per thread, see
    /// [`scratch`]) and the water marks.
    read: ReadSettings,
    gate: ReadGate,
    /// Which queued output answers what was read (that alone pauses reading).
    ledger: Ledger,
    /// Since when the socket has taken none of our pending output.
    stall_since: Option<Instant>,
    halves: Halves,
    phase: Phase,
    /// The handshake has just completed or a timer has just fired: once
    /// everything is written, give back the memory of the empty queues
    /// (see [`State::shrink_when_quiet`]).
    shrink: bool,
    /// TLS between the socket and the connection, when configured.
    tls: Option<Box<TlsLayer>>,
    /// When the TLS handshake must be done by; `None` once it is (or without TLS).
    tls_deadline: Option<Instant>,
    security: Arc<Security>,
    /// Where the counts are published, and the server's totals.
    stats: Arc<StatsCell>,
    totals: Option<Arc<StatsCell>>,
    /// Counted as data passes (bytes, dropped frames, timeouts; frames
    /// come from the core's own counters at publishing).
    counts: Counts,
    /// What was published last: the next publish adds the difference.
    published: Counts,
    /// The server's or client's metrics (feature `metrics`), and what this
    /// connection adds to its gauges now.
    meters: Option<Arc<Meters>>,
    gauge_share: GaugeShare,
}

impl<R: Runtime, K: Sink> State<R, K> {
    fn new(
        conn: Connection,
        runtime: R,
        socket: R::Socket,
        ends: DriverEnds,
        sink: K,
        read: ReadSettings,
        tls: Option<TlsSession>,
    ) -> Self {
        let now = runtime.now();
        let timer = runtime.timer(now);
        let tls_deadline = tls.as_ref().map(|_| now + read.handshake_timeout);
        let phase = if conn.is_established() {
            // No handshake: the Connected event is already queued.
            Phase::Open
        } else {
            Phase::Handshaking
        };
        Self {
            conn,
            runtime,
            socket,
            timer,
            armed: None,
            ends: Some((ends.commands, ends.control)),
            gone: ends.gone,
            stalled: Commands::default(),
            waiters: WaiterMap::default(),
            tokens: WaiterMap::default(),
            sink,
            read,
            gate: ReadGate::default(),
            ledger: Ledger::default(),
            stall_since: None,
            halves: Halves::default(),
            phase,
            shrink: false,
            tls: tls.map(|session| Box::new(TlsLayer::new(session))),
            tls_deadline,
            security: ends.security,
            stats: ends.stats,
            totals: ends.totals,
            counts: Counts::default(),
            published: Counts::default(),
            meters: ends.meters.inspect(|meters| meters.connection(true)),
            gauge_share: GaugeShare::default(),
        }
    }

    /// Publishes what changed since the last time (once per poll: plain
    /// field updates per message, a few relaxed atomics per poll).
    fn publish(&mut self) {
        let core = self.conn.stats();
        self.counts.frames_in = core.frames_received;
        self.counts.frames_out = core.frames_sent;
        if self.counts != self.published {
            self.stats
                .publish(&self.published, &self.counts, self.totals.as_deref());
            if let Some(meters) = &self.meters {
                meters.publish(&self.published, &self.counts);
            }
            self.published = self.counts;
        }
        let pending = self.waiters.len();
        let queued = self
            .conn
            .queued_bytes()
            .saturating_add(self.stalled.bytes());
        self.stats.set_gauges(pending, queued);
        if let Some(meters) = &self.meters {
            meters.gauges(&mut self.gauge_share, pending, queued);
        }
    }

    /// One round-trip time measured.
    fn rtt(&self, rtt: Duration) {
        let smoothed = self.stats.rtt(rtt, self.totals.as_deref());
        if let Some(meters) = &self.meters {
            meters.rtt(rtt, smoothed);
        }
    }

    /// The connection's share of the metrics' gauges goes (it has ended,
    /// or its task was dropped).
    fn retire_meters(&mut self) {
        if let Some(meters) = self.meters.take() {
            meters.gauges(&mut self.gauge_share, 0, 0);
            meters.connection(false);
        }
    }

    fn poll_control(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let mut progress = false;
        for _ in 0..BATCH {
            let Some((commands, control)) = self.ends.as_mut() else {
                break;
            };
            match control.poll_next_unpin(cx) {
                Poll::Ready(Some(Control::Cancel(token))) => {
                    if let Some(id) = self.tokens.remove(&token) {
                        self.waiters.remove(&id);
                        self.conn.cancel(id);
                    }
                    progress = true;
                }
                Poll::Ready(Some(Control::Close(code, reason))) => {
                    if self.phase.close_asked(code, reason, now.get(&self.runtime)) {
                        // Later sends fail at once; those already accepted
                        // are still received, queued and flushed before the close.
                        commands.close();
                    }
                    progress = true;
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        progress
    }

    /// Applies queued commands: those left from before, then everything the
    /// handles queued since. Stops when the outbound queue is full (senders
    /// then wait), or holds a full write: the write goes out first, and the
    /// next round goes on.
    fn poll_commands(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let progress = self.take_and_apply(cx, now);
        // A side's own sends, settled once for the batch (see `apply`).
        self.ledger.settle(false, self.conn.queued_bytes());
        progress
    }

    /// [`poll_commands`](Self::poll_commands) but for the ledger.
    fn take_and_apply(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let mut progress = false;
        loop {
            if self.conn.is_closed() {
                break;
            }
            if self.stalled.is_empty() {
                if !self.conn.can_send(0) {
                    break;
                }
                let Some((commands, _)) = self.ends.as_mut() else {
                    break;
                };
                match commands.poll_take(cx, &mut self.stalled) {
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => {
                        // Drained after a close request, or every handle is
                        // gone and nobody can use this connection any more.
                        let now = now.get(&self.runtime);
                        let (code, reason) = self
                            .phase
                            .take_close(true, now)
                            .unwrap_or((CloseCode::NORMAL, "handle dropped".to_owned()));
                        self.ledger.settle(false, self.conn.queued_bytes());
                        self.conn.close(now, code, &reason);
                        self.ledger.settle(false, self.conn.queued_bytes());
                        progress = true;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            while let Some(command) = self.stalled.pop_front() {
                if !self.conn.can_send(command.payload_len()) {
                    tracing::debug!(
                        queued = self.conn.queued_bytes(),
                        "outbound queue full: senders wait until the peer reads"
                    );
                    self.stalled.push_front(command);
                    return progress;
                }
                self.apply(command, now.get(&self.runtime));
                progress = true;
                if self.conn.is_closed() || self.conn.queued_bytes() >= WRITE_CHUNK {
                    return progress;
                }
            }
        }
        progress
    }

    /// Carries out one command. Only a reply is entered in the ledger here,
    /// between two settlements; a side's own sends are settled once per
    /// batch by `poll_commands` (anything queued before a reply is settled
    /// as not answering first, so the split stays exact).
    fn apply(&mut self, command: Command, now: Instant) {
        let answer = matches!(command, Command::Reply(..));
        if answer {
            self.ledger.settle(false, self.conn.queued_bytes());
        }
        let result = match command {
            Command::Send(message) => self.conn.send(now, message).map(drop),
            Command::Reply(id, message) => self.conn.reply_to(now, id, message),
            Command::Frame(frame) => self.conn.send_frame(now, frame),
            Command::Request {
                token,
                message,
                timeout,
                reply,
            } => {
                match self.conn.request(now, message, timeout) {
                    Ok(id) => self.wait(token, id, Waiter::Reply(reply, now)),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
                Ok(())
            }
            Command::Ping {
                token,
                timeout,
                reply,
            } => {
                match self.conn.ping(now, timeout) {
                    Ok(id) => self.wait(token, id, Waiter::Pong(reply)),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
                Ok(())
            }
        };
        if answer {
            self.ledger.settle(true, self.conn.queued_bytes());
        }
        if let Err(err) = result {
            tracing::debug!(error = %err, "message not sent");
        }
    }

    fn wait(&mut self, token: u64, id: RequestId, waiter: Waiter) {
        self.tokens.insert(token, id);
        self.waiters.insert(id, (token, waiter));
    }

    fn take_waiter(&mut self, id: RequestId) -> Option<Waiter> {
        let (token, waiter) = self.waiters.remove(&id)?;
        self.tokens.remove(&token);
        Some(waiter)
    }

    /// Drains the connection's events into the sink.
    fn deliver_events(&mut self, now: &mut LazyNow) {
        // The callbacks' `try_` commands for this connection go straight to
        // `stalled`, for this round's write.
        let lane = self
            .ends
            .as_ref()
            .map(|(commands, _)| commands.open_direct(&mut self.stalled));
        // Messages and replies carry their receive time (for
        // `Message::latency`): one wall-clock read per round, at most.
        let mut received_at = None;
        while let Some(mut event) = self.conn.poll_event() {
            if let Event::Message(message) | Event::Response { message, .. } = &mut event {
                let at = *received_at.get_or_insert_with(|| wall_micros(&self.runtime));
                message.set_received_at_micros(at);
            }
            if let Some(event) = self.route(event, now) {
                self.sink.deliver(event);
            }
        }
        self.sink.round_done();
        if let Some(lane) = lane {
            CommandRx::close_direct(lane, &mut self.stalled);
        }
    }

    /// Completes waiters; returns what is for the sink.
    fn route(&mut self, event: Event, now: &mut LazyNow) -> Option<SinkEvent> {
        match event {
            Event::Connected(info) => {
                self.security.proved_client_id(self.conn.peer_client_id());
                if let Err(reason) = self.sink.admit() {
                    tracing::info!(%reason, "refused by the accept hook");
                    let now = now.get(&self.runtime);
                    self.ledger.settle(false, self.conn.queued_bytes());
                    self.conn.close(now, CloseCode::REFUSED, &reason);
                    self.ledger.settle(false, self.conn.queued_bytes());
                    return None;
                }
                self.phase.established();
                self.shrink = true;
                tracing::info!(
                    version = ?info.protocol_version,
                    authenticated = info.authenticated,
                    heartbeat = info.heartbeat,
                    "connected"
                );
                return Some(SinkEvent::Connected(info));
            }
            Event::Message(message) => return Some(SinkEvent::Message(message)),
            Event::Closed(reason) => {
                if self.conn.peer_info().is_some() {
                    tracing::info!(%reason, "disconnected");
                } else {
                    tracing::warn!(%reason, "handshake failed");
                }
                self.phase.closed(reason.clone(), now.get(&self.runtime));
                let _ = self.gone.set(reason.clone());
                return Some(SinkEvent::Closed(reason));
            }
            Event::Response {
                request_id,
                message,
            } => {
                if let Some(Waiter::Reply(tx, sent)) = self.take_waiter(request_id) {
                    self.rtt(now.get(&self.runtime).saturating_duration_since(sent));
                    let _ = tx.send(Ok(message));
                }
            }
            Event::Pong { request_id, rtt } => {
                self.rtt(rtt);
                if let Some(Waiter::Pong(tx)) = self.take_waiter(request_id) {
                    let _ = tx.send(Ok(rtt));
                }
            }
            Event::RequestFailed { request_id, error } => {
                if error == RequestError::TimedOut {
                    tracing::debug!(%request_id, "request timed out");
                }
                let waiter = self.take_waiter(request_id);
                if waiter.is_some() && error == RequestError::TimedOut {
                    self.counts.requests_timed_out += 1;
                }
                match waiter {
                    Some(Waiter::Reply(tx, _)) => drop(tx.send(Err(error.into()))),
                    Some(Waiter::Pong(tx)) => drop(tx.send(Err(error.into()))),
                    None => {}
                }
            }
            // Logged by the core, inside this connection's span.
            Event::FrameDropped(_) => self.counts.corrupt_frames += 1,
            other => tracing::trace!(event = ?other, "unhandled connection event"),
        }
        None
    }

    /// The earliest deadline: the connection's timers, the phase's own (a
    /// close to force, a linger to end), a write stall.
    fn next_deadline(&self) -> Option<Instant> {
        if let Phase::Lingering { until, .. } = self.phase {
            return Some(until);
        }
        // Until TLS is up the connection has heard nothing: its own timers
        // (legacy wait, idle) wait; the TLS handshake has its deadline.
        let connection = match self.tls_deadline {
            Some(deadline) => Some(deadline),
            None => self.conn.poll_timeout(),
        };
        [connection, self.phase.deadline(), self.stall_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.next_deadline() else {
            self.armed = None;
            return false;
        };
        // Re-arm only to move the timer earlier. Deadlines mostly move later
        // (each frame pushes the idle and heartbeat deadlines out), and a
        // timer reset on every message costs the runtime's timer wheel and,
        // on some runtimes, a wake-up of its timer thread. A timer left
        // early just fires early and is re-armed then.
        let armed = match self.armed {
            Some(armed) if armed <= deadline => armed,
            _ => {
                self.timer.reset(deadline);
                self.armed = Some(deadline);
                deadline
            }
        };
        if self.timer.poll_expired(cx).is_pending() {
            return false;
        }
        self.armed = None;
        if armed < deadline {
            // Fired for a deadline that has since moved later: re-arm only.
            return true;
        }
        // A timer may fire a hair early; never let that spin.
        let now = self.runtime.now().max(deadline);
        self.ledger.settle(false, self.conn.queued_bytes());
        self.on_deadline(now);
        // Keep-alives and close frames are this side's own output.
        self.ledger.settle(false, self.conn.queued_bytes());
        true
    }

    /// Whatever was due at `now`.
    fn on_deadline(&mut self, now: Instant) {
        self.shrink = true;
        if matches!(self.phase, Phase::Lingering { until, .. } if until <= now) {
            // Lingered long enough: give up on the peer.
            self.phase.done();
            return;
        }
        if self
            .stall_deadline()
            .is_some_and(|stall_by| stall_by <= now)
        {
            tracing::warn!(
                timeout = ?self.read.flow.write_stall_timeout,
                queued = self.conn.queued_bytes(),
                "closing a peer that stopped reading: none of its output was written"
            );
            self.stall_since = None;
            self.stalled.clear();
            self.conn.handle_write_stalled();
            return;
        }
        if let Some((code, reason)) = self.phase.take_close(false, now) {
            // The peer did not read what was queued before the close in time.
            self.stalled.clear();
            self.conn.close(now, code, &reason);
            return;
        }
        match self.tls_deadline {
            Some(deadline) if deadline <= now => {
                tracing::warn!("the TLS handshake did not finish within the handshake timeout");
                self.tls_deadline = None;
                self.conn
                    .handle_transport_failed(CloseReason::HandshakeTimeout);
            }
            Some(_) => {}
            None => self.conn.handle_timeout(now),
        }
    }

    /// Lingering: our last frames are written; shuts the write half once,
    /// then reads and discards until the peer closes, at most a read budget
    /// per poll (then `cx` is woken to come back). Ready once the peer's
    /// half is closed too, or ours cannot be written.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Phase::Lingering { shut, .. } = &mut self.phase else {
            return Poll::Ready(());
        };
        if !self.halves.write_closed && !*shut {
            if self.socket.poll_shutdown(cx).is_pending() {
                return Poll::Pending;
            }
            *shut = true;
        }
        let mut budget = READ_BUDGET;
        while !self.halves.read_closed {
            if budget == 0 {
                cx.waker().wake_by_ref();
                break;
            }
            let socket = &mut self.socket;
            match with_read_scratch(self.read.chunk, |buf| socket.poll_read(cx, buf)) {
                Poll::Ready(Ok(0) | Err(_)) => self.halves.read_closed = true,
                Poll::Ready(Ok(n)) => {
                    budget = budget.saturating_sub(n);
                    self.counts.bytes_in += n as u64;
                }
                Poll::Pending => break,
            }
        }
        if self.halves.read_closed || self.halves.write_closed {
            Poll::Ready(())
        } else {
            // Woken by the peer's end of stream or the linger timer.
            Poll::Pending
        }
    }

    /// Closed, the Closed event (always the last) delivered, everything
    /// written (or nothing more can be).
    fn flushed(&mut self) -> bool {
        self.phase.is_closed()
            && (self.halves.write_closed
                || (self.conn.poll_transmit().is_none()
                    && self.tls.as_deref().is_none_or(|layer| !layer.wants_write())))
    }

    fn exit(&mut self) -> DriverExit {
        let reason = self
            .phase
            .reason()
            .cloned()
            .unwrap_or(CloseReason::TransportClosed);
        fail_waiters(&mut self.waiters, &reason);
        let (commands, control) = self
            .ends
            .take()
            .unwrap_or_else(|| (CommandRx::detached(), mpsc::unbounded().1));
        DriverExit {
            commands,
            control,
            reason,
        }
    }
}

// Nothing in a driver is pinned structurally: the socket, timer and sink
// are `Unpin`, and the runtime handle is only called through `&`.
impl<R: Runtime, K: Sink> Unpin for State<R, K> {}

impl<R: Runtime, K: Sink> Future for Driver<R, K> {
    type Output = DriverExit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DriverExit> {
        let this = &mut *self.get_mut().0;
        let poll = this.poll_rounds(cx);
        this.publish();
        if poll.is_ready() {
            this.retire_meters();
        }
        poll
    }
}

impl<R: Runtime, K: Sink> Drop for State<R, K> {
    fn drop(&mut self) {
        self.retire_meters();
    }
}

impl<R: Runtime, K: Sink> State<R, K> {
    /// The loop's rounds, until there is nothing to do, the budget is
    /// spent, or the connection has ended.
    fn poll_rounds(&mut self, cx: &mut Context<'_>) -> Poll<DriverExit> {
        let this = self;
        let mut budget = READ_BUDGET;
        for _ in 0..ROUNDS {
            // At most one clock read per round, not per message (a round
            // never blocks, so everything in it happens at the same `now`),
            // and none in a round that finds nothing to do.
            let mut now = LazyNow::default();
            let mut progress = this.poll_control(cx, &mut now);
            progress |= this.poll_commands(cx, &mut now);
            this.deliver_events(&mut now);
            if this.poll_read(cx, &mut budget, &mut now) {
                progress = true;
                // Dispatch before writing: a server must list a peer as
                // connected before the HELLO_ACK that lets it send goes out.
                this.deliver_events(&mut now);
            }
            if !this.stalled.is_empty() {
                // Answers given by callbacks just now: out with this round's write.
                progress |= this.poll_commands(cx, &mut now);
            }
            progress |= this.poll_write(cx, &mut now);
            progress |= this.poll_timer(cx);
            if matches!(this.phase, Phase::Done { .. })
                || (this.flushed() && this.poll_linger(cx).is_ready())
            {
                return Poll::Ready(this.exit());
            }
            if this.phase.is_closed() && this.flushed() {
                // Lingering, waiting for the peer or the timer.
                return Poll::Pending;
            }
            if budget == 0 {
                // The socket may hold more, but no waker was registered for
                // it: come back after the other tasks had their turn.
                break;
            }
            if !progress {
                this.shrink_when_quiet();
                return Poll::Pending;
            }
        }
        // Plenty done; let other tasks run and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R: Runtime, K: Sink> State<R, K> {
    /// After the handshake and after a timer (a keep-alive, an idle check:
    /// never per message), once nothing is left to write, gives back the
    /// capacity the connection's and the driver's queues kept from the
    /// traffic so far. An idle connection then holds no buffers; one that
    /// goes on exchanging messages allocates them again once.
    fn shrink_when_quiet(&mut self) {
        if !self.shrink || self.conn.queued_bytes() > 0 || !self.stalled.is_empty() {
            return;
        }
        self.shrink = false;
        self.conn.shrink_to_fit();
        self.ledger.shrink_to_fit();
        self.stalled.shrink_to_fit();
        if let Some((commands, _)) = &self.ends {
            commands.shrink_to_fit();
        }
        if self.waiters.is_empty() {
            self.waiters = WaiterMap::default();
            self.tokens = WaiterMap::default();
        }
    }
}

/// The time of one round, read from the runtime's clock the first time
/// something in the round needs it.
#[derive(Default)]
struct LazyNow(Option<Instant>);

impl LazyNow {
    fn get<R: Runtime>(&mut self, runtime: &R) -> Instant {
        *self.0.get_or_insert_with(|| runtime.now())
    }
}

fn fail_waiters(waiters: &mut WaiterMap<RequestId, (u64, Waiter)>, reason: &CloseReason) {
    for (_, (_, waiter)) in waiters.drain() {
        let error = RequestError::ConnectionClosed(reason.clone());
        match waiter {
            Waiter::Reply(tx, _) => drop(tx.send(Err(error.into()))),
            Waiter::Pong(tx) => drop(tx.send(Err(error.into()))),
        }
    }
}
