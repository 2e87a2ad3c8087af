//! The connection loop, written once for every runtime: read → feed →
//! drain → write → sleep until `poll_timeout`.

use std::collections::HashMap;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Buf as _;
use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use veltix_core::{
    CloseCode, CloseReason, Connection, Event, Message, PeerInfo, RequestError, RequestId,
};

use crate::Error;
use crate::backlog::Backlog;
use crate::link::{Command, CommandRx, Commands, Control, LinkEnds};
use crate::runtime::{Socket, Timer};
use veltix_core::flow::{FlowControl, Gate, ReadGate};

/// Where a connection's events go: callbacks, the event stream, or both.
pub(crate) trait Sink: Send + Unpin + 'static {
    /// Delivers `event` to a callback or the event stream; never waits.
    fn deliver(&mut self, event: SinkEvent);

    /// The events delivered to the stream and not taken yet, which count as
    /// pending output (`None` when nothing is kept).
    fn backlog(&self) -> Option<&Backlog> {
        None
    }
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
}

/// Most IoSlices handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// When a full set of slices carries less than this, the frames are small:
/// they are copied into one buffer of [`WRITE_CHUNK`] bytes and written at once.
const COALESCE_BELOW: usize = 16 * 1024;
/// Bytes written at once when coalescing small frames.
const WRITE_CHUNK: usize = 64 * 1024;
/// Work items per kind in one round, so one busy peer cannot starve a task's neighbours.
const BATCH: usize = 64;
/// Rounds per poll before yielding back to the runtime.
const ROUNDS: usize = 16;
/// Bytes read per poll before yielding: on a single-threaded executor one
/// flooding peer must not hold up everyone else (each byte read is decoded,
/// hashed and answered before the next read).
const READ_BUDGET: usize = 64 * 1024;
/// After a close, how long the driver keeps flushing our last frames and
/// draining the peer's, so a close frame is not lost to a TCP reset (closing
/// a socket with unread input resets it). Bounded, so a peer that neither
/// reads nor closes cannot hold a task.
const LINGER: Duration = Duration::from_secs(2);

/// What the driver hands back when its connection ends: the channel ends, so a
/// reconnecting client can give them to the next connection.
pub(crate) struct DriverExit {
    pub(crate) commands: CommandRx,
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) reason: CloseReason,
}

enum Waiter {
    Reply(oneshot::Sender<Result<Message, Error>>),
    Pong(oneshot::Sender<Result<Duration, Error>>),
}

/// The future that drives one connection over one socket until it ends.
pub(crate) struct Driver<S: Socket, T: Timer, K: Sink> {
    conn: Connection,
    socket: S,
    timer: T,
    armed: Option<Instant>,
    ends: Option<(CommandRx, mpsc::UnboundedReceiver<Control>)>,
    gone: Arc<OnceLock<CloseReason>>,
    /// Commands taken from the channel (or the direct lane of callbacks)
    /// that are not applied yet: the first may be waiting for room in the
    /// outbound queue.
    stalled: Commands,
    waiters: HashMap<RequestId, (u64, Waiter)>,
    tokens: HashMap<u64, RequestId>,
    sink: K,
    /// Bytes read at once (the buffer itself is per thread, see
    /// [`with_scratch`]) and the water marks.
    read: ReadSettings,
    gate: ReadGate,
    /// Since when the socket has taken none of our pending output.
    stall_since: Option<Instant>,
    read_closed: bool,
    write_closed: bool,
    /// A close asked for by a handle, applied once every command accepted
    /// before it has been queued (or at the deadline, for a peer that does
    /// not read).
    closing: Option<(CloseCode, String, Instant)>,
    /// Whether the handshake completed (for the log: a close before it is a
    /// failed handshake).
    connected: bool,
    /// Whether the Closed event has come out of the connection.
    reason: Option<CloseReason>,
    /// Set with `reason`: when lingering ends.
    linger_until: Option<Instant>,
    shutdown_sent: bool,
}

impl<S: Socket, T: Timer, K: Sink> Driver<S, T, K> {
    pub(crate) fn new(
        conn: Connection,
        socket: S,
        timer: T,
        ends: LinkEnds,
        sink: K,
        read: ReadSettings,
    ) -> Self {
        Self {
            conn,
            socket,
            timer,
            armed: None,
            ends: Some((ends.commands, ends.control)),
            gone: ends.gone,
            stalled: Commands::default(),
            waiters: HashMap::new(),
            tokens: HashMap::new(),
            sink,
            read,
            gate: ReadGate::default(),
            stall_since: None,
            read_closed: false,
            write_closed: false,
            closing: None,
            connected: false,
            reason: None,
            linger_until: None,
            shutdown_sent: false,
        }
    }

    fn poll_control(&mut self, cx: &mut Context<'_>) -> bool {
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
                    if self.closing.is_none() && !self.conn.is_closed() {
                        // Later sends fail at once; those already accepted
                        // are still received, queued and flushed before the close.
                        commands.close();
                        let deadline = Instant::now() + LINGER;
                        self.closing = Some((code, reason, deadline));
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
                        let (code, reason) = match self.closing.take() {
                            Some((code, reason, _)) => (code, reason),
                            None => (CloseCode::NORMAL, "handle dropped".to_owned()),
                        };
                        self.conn.close(now.get(), code, &reason);
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
                self.apply(command, now.get());
                progress = true;
                if self.conn.is_closed() || self.conn.queued_bytes() >= WRITE_CHUNK {
                    return progress;
                }
            }
        }
        progress
    }

    fn apply(&mut self, command: Command, now: Instant) {
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
                    Ok(id) => self.wait(token, id, Waiter::Reply(reply)),
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
    fn deliver_events(&mut self) {
        // The callbacks' `try_` commands for this connection go straight to
        // `stalled`, for this round's write.
        let lane = self
            .ends
            .as_ref()
            .map(|(commands, _)| commands.open_direct(&mut self.stalled));
        while let Some(event) = self.conn.poll_event() {
            if let Some(event) = self.route(event) {
                self.sink.deliver(event);
            }
        }
        if let Some(lane) = lane {
            CommandRx::close_direct(lane, &mut self.stalled);
        }
    }

    /// Completes waiters; returns what is for the sink.
    fn route(&mut self, event: Event) -> Option<SinkEvent> {
        match event {
            Event::Connected(info) => {
                self.connected = true;
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
                if self.connected {
                    tracing::info!(%reason, "disconnected");
                } else {
                    tracing::warn!(%reason, "handshake failed");
                }
                self.reason = Some(reason.clone());
                self.linger_until = Instant::now().checked_add(LINGER);
                let _ = self.gone.set(reason.clone());
                return Some(SinkEvent::Closed(reason));
            }
            Event::Response {
                request_id,
                message,
            } => {
                if let Some(Waiter::Reply(tx)) = self.take_waiter(request_id) {
                    let _ = tx.send(Ok(message));
                }
            }
            Event::Pong { request_id, rtt } => {
                if let Some(Waiter::Pong(tx)) = self.take_waiter(request_id) {
                    let _ = tx.send(Ok(rtt));
                }
            }
            Event::RequestFailed { request_id, error } => {
                if error == RequestError::TimedOut {
                    tracing::debug!(%request_id, "request timed out");
                }
                match self.take_waiter(request_id) {
                    Some(Waiter::Reply(tx)) => drop(tx.send(Err(error.into()))),
                    Some(Waiter::Pong(tx)) => drop(tx.send(Err(error.into()))),
                    None => {}
                }
            }
            // Logged by the core, inside this connection's span.
            Event::FrameDropped(_) => {}
            other => tracing::trace!(event = ?other, "unhandled connection event"),
        }
        None
    }

    /// Whether the flow control lets this connection read now. While it
    /// does not, the driver is woken when it may: by the socket taking
    /// output, or by the application taking events.
    fn may_read(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let flow = self.read.flow;
        // Commands queued by other threads count too: on the threaded API
        // the answers to what was read come back that way.
        let queued = self.ends.as_ref().map_or(0, |(rx, _)| rx.queued_bytes());
        let own = self
            .conn
            .queued_bytes()
            .saturating_add(self.stalled.bytes())
            .saturating_add(queued);
        let held = self.sink.backlog().map_or(0, Backlog::bytes);
        let mut gate = self.gate.update(own.saturating_add(held), &flow);
        if !gate.may_read() && own < flow.low_water {
            // Our own output drains as the socket takes it, which wakes us;
            // the events' share drains as the application takes them.
            if let Some(backlog) = self.sink.backlog()
                && backlog.poll_at_most(cx, flow.low_water - own).is_ready()
            {
                gate = self.gate.update(own.saturating_add(backlog.bytes()), &flow);
            }
        }
        match gate {
            Gate::Open => {}
            Gate::Resumed => {
                self.conn.set_reading_paused(now.get(), false);
                tracing::trace!("reading resumed");
            }
            Gate::Paused => {
                self.conn.set_reading_paused(now.get(), true);
                tracing::debug!(
                    pending = own.saturating_add(held),
                    high_water = flow.high_water,
                    "reading paused: output to this peer is above the high-water mark"
                );
            }
            Gate::Closed => {}
        }
        gate.may_read()
    }

    /// Reads while the socket has data, `budget` (bytes left this poll)
    /// lasts and flow control allows.
    fn poll_read(&mut self, cx: &mut Context<'_>, budget: &mut usize, now: &mut LazyNow) -> bool {
        let mut progress = false;
        while *budget > 0 {
            if self.read_closed || self.conn.is_closed() || !self.may_read(cx, now) {
                break;
            }
            let (socket, conn) = (&mut self.socket, &mut self.conn);
            let read = with_scratch(self.read.chunk, |buf| {
                let read = socket.poll_read(cx, buf);
                if let Poll::Ready(Ok(n)) = read {
                    conn.handle_input(now.get(), &buf[..n]);
                }
                read
            });
            match read {
                Poll::Ready(Ok(0)) => {
                    self.read_closed = true;
                    self.conn.handle_transport_closed();
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    *budget = budget.saturating_sub(n);
                    if n < self.read.chunk {
                        // Drained the socket for now; let events flow before reading on.
                        break;
                    }
                }
                Poll::Ready(Err(err)) => {
                    tracing::debug!(error = %err, "read failed");
                    self.read_closed = true;
                    self.conn.handle_transport_closed();
                    return true;
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    /// Writes while the socket takes bytes; notes since when it takes
    /// none (see [`FlowControl::write_stall_timeout`]).
    fn poll_write(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let mut progress = false;
        while !self.write_closed {
            let Some(mut transmit) = self.conn.poll_transmit() else {
                self.stall_since = None;
                break;
            };
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = transmit.chunks_vectored(&mut slices);
                let bytes: usize = slices[..n].iter().map(|s| s.len()).sum();
                if n == MAX_IOVECS && bytes < COALESCE_BELOW {
                    // Many small frames: one copy into a big buffer is far
                    // cheaper than a write (and a TCP segment) per 64 slices.
                    let socket = &mut self.socket;
                    with_write_scratch(|buf| {
                        let len = transmit.peek_into(buf);
                        socket.poll_write_vectored(cx, &[IoSlice::new(&buf[..len])])
                    })
                } else {
                    self.socket.poll_write_vectored(cx, &slices[..n])
                }
            };
            match written {
                Poll::Ready(Ok(n)) if n > 0 => {
                    transmit.advance(n);
                    progress = true;
                    self.stall_since = None;
                }
                Poll::Ready(result) => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "write failed");
                    }
                    self.write_closed = true;
                    self.conn.handle_transport_closed();
                    return true;
                }
                Poll::Pending => {
                    if self.stall_since.is_none() && self.read.flow.write_stall_timeout.is_some() {
                        self.stall_since = Some(now.get());
                    }
                    break;
                }
            }
        }
        progress
    }

    /// When the peer counts as no longer reading, if its output is stuck.
    fn stall_deadline(&self) -> Option<Instant> {
        self.stall_since?
            .checked_add(self.read.flow.write_stall_timeout?)
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let close_by = self.closing.as_ref().map(|c| c.2);
        let stall_by = self.stall_deadline();
        let next = [self.conn.poll_timeout(), close_by, stall_by]
            .into_iter()
            .flatten()
            .min();
        let Some(deadline) = self.linger_until.or(next) else {
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
        if self.linger_until.is_some() {
            // Lingered long enough: give up on the peer.
            self.read_closed = true;
            self.write_closed = true;
            return true;
        }
        let now = Instant::now().max(deadline);
        if stall_by.is_some_and(|stall_by| stall_by <= now) {
            tracing::warn!(
                timeout = ?self.read.flow.write_stall_timeout,
                queued = self.conn.queued_bytes(),
                "closing a peer that stopped reading: none of its output was written"
            );
            self.stall_since = None;
            self.stalled.clear();
            self.conn.handle_write_stalled();
            return true;
        }
        if let Some((code, reason, _)) = self.closing.take_if(|c| c.2 <= now) {
            // The peer did not read what was queued before the close in time.
            self.stalled.clear();
            self.conn.close(now, code, &reason);
            return true;
        }
        // A timer may fire a hair early; never let that spin.
        self.conn.handle_timeout(now);
        true
    }

    /// While lingering: reads and discards until the peer closes, at most a
    /// read budget per poll (then `cx` is woken to come back).
    fn drain_reads(&mut self, cx: &mut Context<'_>) {
        let mut budget = READ_BUDGET;
        while !self.read_closed {
            if budget == 0 {
                cx.waker().wake_by_ref();
                break;
            }
            let socket = &mut self.socket;
            match with_scratch(self.read.chunk, |buf| socket.poll_read(cx, buf)) {
                Poll::Ready(Ok(0) | Err(_)) => self.read_closed = true,
                Poll::Ready(Ok(n)) => budget = budget.saturating_sub(n),
                Poll::Pending => break,
            }
        }
    }

    /// Closed, the Closed event (always the last) delivered, everything written.
    fn finished(&mut self) -> bool {
        self.reason.is_some() && (self.write_closed || self.conn.poll_transmit().is_none())
    }
}

impl<S: Socket, T: Timer, K: Sink> Future for Driver<S, T, K> {
    type Output = DriverExit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DriverExit> {
        let this = self.get_mut();
        let mut budget = READ_BUDGET;
        for _ in 0..ROUNDS {
            // At most one clock read per round, not per message (a round
            // never blocks, so everything in it happens at the same `now`),
            // and none in a round that finds nothing to do.
            let mut now = LazyNow::default();
            let mut progress = this.poll_control(cx);
            progress |= this.poll_commands(cx, &mut now);
            this.deliver_events();
            if this.poll_read(cx, &mut budget, &mut now) {
                progress = true;
                // Dispatch before writing: a server must list a peer as
                // connected before the HELLO_ACK that lets it send goes out.
                this.deliver_events();
            }
            if !this.stalled.is_empty() {
                // Answers given by callbacks just now: out with this round's write.
                progress |= this.poll_commands(cx, &mut now);
            }
            progress |= this.poll_write(cx, &mut now);
            progress |= this.poll_timer(cx);
            if this.finished() {
                if !this.write_closed && !this.shutdown_sent {
                    if this.socket.poll_shutdown(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.shutdown_sent = true;
                }
                this.drain_reads(cx);
                if !this.read_closed && !this.write_closed {
                    // Woken by the peer's end of stream or the linger timer.
                    return Poll::Pending;
                }
                let reason = this.reason.clone().unwrap_or(CloseReason::TransportClosed);
                fail_waiters(&mut this.waiters, &reason);
                let (commands, control) = this
                    .ends
                    .take()
                    .unwrap_or_else(|| (CommandRx::detached(), mpsc::unbounded().1));
                return Poll::Ready(DriverExit {
                    commands,
                    control,
                    reason,
                });
            }
            if budget == 0 {
                // The socket may hold more, but no waker was registered for
                // it: come back after the other tasks had their turn.
                break;
            }
            if !progress {
                return Poll::Pending;
            }
        }
        // Plenty done; let other tasks run and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The time of one round, read from the clock the first time something in
/// the round needs it.
#[derive(Default)]
struct LazyNow(Option<Instant>);

impl LazyNow {
    fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

thread_local! {
    /// One read buffer per thread, not per connection: what is read is copied
    /// into the connection at once, so the buffer is free again before any
    /// other task runs on this thread. An idle connection then costs no read buffer.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// One coalescing buffer per thread, for the same reason as [`SCRATCH`]:
    /// what is written is consumed before any other task runs on this thread.
    static WRITE_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's [`WRITE_CHUNK`]-byte coalescing buffer.
fn with_write_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    WRITE_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < WRITE_CHUNK {
                buf.resize(WRITE_CHUNK, 0);
            }
            f(&mut buf[..WRITE_CHUNK])
        }
        Err(_) => f(&mut vec![0; WRITE_CHUNK]),
    })
}

/// Runs `f` with this thread's scratch buffer of `len` bytes (a fresh one if
/// it is somehow in use already).
fn with_scratch<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0; len]),
    })
}

fn fail_waiters(waiters: &mut HashMap<RequestId, (u64, Waiter)>, reason: &CloseReason) {
    for (_, (_, waiter)) in waiters.drain() {
        let error = RequestError::ConnectionClosed(reason.clone());
        match waiter {
            Waiter::Reply(tx) => drop(tx.send(Err(error.into()))),
            Waiter::Pong(tx) => drop(tx.send(Err(error.into()))),
        }
    }
}
