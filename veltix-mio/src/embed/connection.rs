//! A Veltix connection for an event loop you own: a core [`Connection`] and
//! a `mio` TCP stream, registered in your `mio::Poll` with your token.

use std::io::{self, IoSlice, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf as _;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use veltix_core::flow::{FlowControl, Gate, ReadGate};
use veltix_core::{
    CloseCode, CloseReason, Connection, ConnectionConfig, Event, Message, RequestId, Role,
    SendError,
};
use veltix_tls::{PeerIdentity, TlsLayer, TlsSession};

use super::OpenError;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read per call before the connection lets the rest of your loop
/// run; what is left is read on the next [`MioConnection::handle_timeout`],
/// which [`MioConnection::poll_timeout`] then asks for at once.
const READ_BUDGET: usize = 256 * 1024;
/// Most slices handed to one vectored write.
const WRITE_SLICES: usize = 64;

/// One Veltix connection over a `mio` TCP stream, driven by your own loop.
///
/// # Calling contract
///
/// Register it once with [`register`](Self::register) (readable and
/// writable, edge-triggered, under your token). Then, with `now` read from
/// one monotonic clock that never goes backwards:
///
/// 1. **Inputs.** For every `mio` event with its token, call
///    [`handle_event`](Self::handle_event): it reads until the socket has
///    nothing more (`WouldBlock`), feeds the bytes to the connection, and
///    writes what the connection queued until the socket takes no more. When
///    the instant from [`poll_timeout`](Self::poll_timeout) has passed, call
///    [`handle_timeout`](Self::handle_timeout).
/// 2. **Mutators**, any time: [`send`](Self::send), [`request`](Self::request),
///    [`ping`](Self::ping), [`reply`](Self::reply), [`close`](Self::close).
///    Each writes at once what the socket takes; the rest goes out on the
///    next writable event.
/// 3. **Outputs**, after every input or mutator: [`poll_event`](Self::poll_event)
///    until `None`, then [`poll_timeout`](Self::poll_timeout), the deadline
///    to fold into the timeout of your next `Poll::poll` (the earliest over
///    all your connections).
///
/// When [`is_finished`](Self::is_finished) is true (closed, everything
/// flushed, the write half shut), [`deregister`](Self::deregister) it and
/// drop it.
///
/// Everything runs on your thread, so nothing here blocks or spawns; a
/// message callback is simply your code between `poll_event` calls.
///
/// # Flow control
///
/// The socket is read only while the connection's queued output is below
/// [`FlowControl::high_water`], and again once it is at or below
/// `low_water` (set them with [`set_flow_control`](Self::set_flow_control)):
/// a peer that sends without reading its answers is paused by TCP instead
/// of growing your memory. At most 256 KiB are read per call, so one
/// flooding peer cannot hold up your other connections. Either way the data
/// left in the socket produces no new edge-triggered event, so
/// [`poll_timeout`](Self::poll_timeout) returns an instant already past
/// while there is reading to resume: your loop polls without waiting and
/// calls [`handle_timeout`](Self::handle_timeout), which reads on. Messages
/// taken from `poll_event` count once you answer them, so answer them before
/// your next call; if you hand them to work elsewhere, hold reads while that
/// backlog is high with [`hold_reads`](Self::hold_reads). A peer whose output makes no
/// progress for [`FlowControl::write_stall_timeout`] is closed with
/// [`CloseReason::WriteStalled`].
///
/// See `examples/embed.rs` for one `Poll` serving a listener and many
/// connections, with timers.
#[derive(Debug)]
pub struct MioConnection {
    conn: Connection,
    stream: TcpStream,
    buf: Box<[u8]>,
    /// A `connect` still in progress: nothing may be written yet.
    connecting: bool,
    read_closed: bool,
    write_closed: bool,
    /// The write half was shut after the last byte of a closed connection.
    shut: bool,
    flow: FlowControl,
    gate: ReadGate,
    /// Reads held by the application ([`hold_reads`](Self::hold_reads)).
    held: bool,
    /// Whether the connection was last told its reads are paused.
    paused: bool,
    /// The socket may hold unread bytes (no `WouldBlock` since the last
    /// readable event).
    readable: bool,
    /// The latest `now` given, for what happens without one (writes).
    now: Instant,
    /// Since when the socket has taken none of the queued output.
    stall_since: Option<Instant>,
    /// TLS between the socket and the connection (see [`with_tls`](Self::with_tls)).
    tls: Option<Box<TlsLayer>>,
    /// When the TLS handshake must be done by; `None` once it is.
    tls_deadline: Option<Instant>,
}

impl MioConnection {
    /// Drives `conn` over `stream`, which may be connected (accepted) or
    /// still connecting (from [`TcpStream::connect`]). Sets `TCP_NODELAY`
    /// once connected.
    pub fn new(conn: Connection, stream: TcpStream) -> Self {
        let connecting = stream.peer_addr().is_err();
        if !connecting {
            nodelay(&stream);
        }
        Self {
            conn,
            stream,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            connecting,
            read_closed: false,
            write_closed: false,
            shut: false,
            flow: FlowControl::default(),
            gate: ReadGate::default(),
            held: false,
            paused: false,
            readable: false,
            now: Instant::now(),
            stall_since: None,
            tls: None,
            tls_deadline: None,
        }
    }

    /// Runs the connection over TLS (give the connection
    /// `transport_authenticated = true` in its [`ConnectionConfig`] to let
    /// two Veltix peers skip the per-frame SHA-256 then): `session` is a
    /// [`TlsSession::server`] for an accepted stream, a
    /// [`TlsSession::client`] for [`connect`](Self::connect). Nothing reaches
    /// the connection before the TLS handshake completes, which must happen
    /// within the connection's handshake timeout; until then the
    /// connection's own timers wait. The same layer as the async API's
    /// (`veltix_tls::TlsLayer`).
    #[must_use]
    pub fn with_tls(mut self, session: TlsSession) -> Self {
        self.tls_deadline = Some(self.now + self.conn.config().handshake_timeout);
        self.tls = Some(Box::new(TlsLayer::new(session)));
        self
    }

    /// Who the peer proved to be over TLS, once the handshake is done.
    pub fn tls_identity(&self) -> Option<&PeerIdentity> {
        self.tls.as_deref()?.peer_identity()
    }

    /// Sets the water marks and the write-stall timeout (default:
    /// [`FlowControl::default`]).
    pub fn set_flow_control(&mut self, flow: FlowControl) {
        self.flow = flow;
    }

    /// Stops (`true`) or resumes (`false`) reading, for a backlog of your
    /// own: messages handed to other work and not done yet. While held, the
    /// peer is not counted as idle.
    pub fn hold_reads(&mut self, hold: bool) {
        self.held = hold;
    }

    /// The server side of an accepted stream, with a handshake nonce from the OS.
    ///
    /// # Errors
    /// [`OpenError::Config`] for unworkable settings, [`OpenError::Io`]
    /// without OS randomness.
    pub fn accept(
        stream: TcpStream,
        config: ConnectionConfig,
        now: Instant,
    ) -> Result<Self, OpenError> {
        Ok(Self::new(fresh(Role::Server, config, now)?, stream))
    }

    /// Starts a non-blocking connect to `addr`; the client side, whose HELLO
    /// goes out once the connection is up.
    ///
    /// # Errors
    /// As [`accept`](Self::accept), and the OS's connect error.
    pub fn connect(
        addr: SocketAddr,
        config: ConnectionConfig,
        now: Instant,
    ) -> Result<Self, OpenError> {
        let conn = fresh(Role::Client, config, now)?;
        Ok(Self::new(conn, TcpStream::connect(addr)?))
    }

    /// Registers the stream in `registry` under `token` (readable and writable).
    ///
    /// # Errors
    /// The OS's error.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Removes the stream from `registry`.
    ///
    /// # Errors
    /// The OS's error.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut self.stream)
    }

    /// Handles one readiness event for this connection's token.
    pub fn handle_event(&mut self, now: Instant, event: &mio::event::Event) {
        self.now = now;
        if self.connecting {
            self.check_connected();
        }
        if !self.connecting && (event.is_readable() || event.is_read_closed() || event.is_error()) {
            self.readable = true;
        }
        self.read(now);
        self.flush();
    }

    /// Runs the connection's timers due at `now` (handshake, idle, heartbeat,
    /// request deadlines, write stall) and reads on where reading had
    /// stopped with data left (see [Flow control](Self#flow-control)).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.tls_deadline.is_some_and(|deadline| deadline <= now) {
            tracing::warn!("the TLS handshake did not finish within the handshake timeout");
            self.tls_deadline = None;
            self.conn
                .handle_transport_failed(CloseReason::HandshakeTimeout);
        }
        let stalled = self
            .stall_since
            .zip(self.flow.write_stall_timeout)
            .is_some_and(|(since, timeout)| now.saturating_duration_since(since) >= timeout);
        if stalled {
            tracing::warn!("closing a peer that stopped reading: none of its output was written");
            self.stall_since = None;
            self.conn.handle_write_stalled();
        }
        if self.tls_deadline.is_none() {
            self.conn.handle_timeout(now);
        }
        self.read(now);
        self.flush();
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.conn.poll_event()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next;
    /// `None`: no timer. An instant already past when reading can resume.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let resume = self.can_resume().then_some(self.now);
        let stall = self
            .stall_since
            .zip(self.flow.write_stall_timeout)
            .and_then(|(since, timeout)| since.checked_add(timeout));
        // Until TLS is up the connection has heard nothing: its own timers wait.
        let connection = match self.tls_deadline {
            Some(deadline) => Some(deadline),
            None => self.conn.poll_timeout(),
        };
        [connection, resume, stall].into_iter().flatten().min()
    }

    /// Whether there is reading to do that no readiness event will announce.
    fn can_resume(&self) -> bool {
        self.readable
            && !self.held
            && !self.read_closed
            && !self.conn.is_closed()
            && self.gate.may_read(self.queued(), &self.flow)
    }

    /// Output not yet written: the connection's, and ciphertext.
    fn queued(&self) -> usize {
        let tls = self.tls.as_deref().map_or(0, TlsLayer::pending_bytes);
        self.conn.queued_bytes().saturating_add(tls)
    }

    /// Closed, flushed and shut: deregister and drop it.
    pub fn is_finished(&self) -> bool {
        self.conn.is_closed() && (self.shut || self.write_closed)
    }

    /// Queues an application message; returns its request id.
    ///
    /// # Errors
    /// [`SendError`]: reserved type, queue full, payload too long, closed.
    pub fn send(&mut self, now: Instant, message: Message) -> Result<RequestId, SendError> {
        self.now = now;
        let id = self.conn.send(now, message)?;
        self.flush();
        Ok(id)
    }

    /// Sends a request; [`Event::Response`] or [`Event::RequestFailed`] follows for the id.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`SendError::TooManyPending`].
    pub fn request(
        &mut self,
        now: Instant,
        message: Message,
        timeout: Duration,
    ) -> Result<RequestId, SendError> {
        self.now = now;
        let id = self.conn.request(now, message, timeout)?;
        self.flush();
        Ok(id)
    }

    /// Sends a PING; [`Event::Pong`] with the round-trip time or
    /// [`Event::RequestFailed`] follows for the id.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub fn ping(&mut self, now: Instant, timeout: Duration) -> Result<RequestId, SendError> {
        self.now = now;
        let id = self.conn.ping(now, timeout)?;
        self.flush();
        Ok(id)
    }

    /// Answers `received`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(
        &mut self,
        now: Instant,
        received: &Message,
        message: Message,
    ) -> Result<(), SendError> {
        self.now = now;
        self.conn.reply(now, received, message)?;
        self.flush();
        Ok(())
    }

    /// Closes the connection, telling the peer `code` and `reason` after what
    /// is already queued.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        self.now = now;
        self.conn.close(now, code, reason);
        self.flush();
    }

    /// The protocol state machine (for its state and counters).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn check_connected(&mut self) {
        let state = match self.stream.take_error() {
            Ok(Some(err)) | Err(err) => Err(err),
            Ok(None) => self.stream.peer_addr().map(drop),
        };
        match state {
            Ok(()) => {
                self.connecting = false;
                nodelay(&self.stream);
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {} // still connecting
            Err(err) => {
                tracing::debug!(error = %err, "connect failed");
                self.transport_closed();
            }
        }
    }

    /// Reads until the socket has nothing more (edge-triggered readiness),
    /// flow control stops it, or the budget of one call is spent.
    fn read(&mut self, now: Instant) {
        let mut budget = READ_BUDGET;
        while self.readable && !self.read_closed && !self.conn.is_closed() {
            if budget == 0 || !self.may_read(now) {
                return;
            }
            match (&self.stream).read(&mut self.buf) {
                Ok(0) => match self.tls.as_deref_mut() {
                    Some(layer) => {
                        if let Err(error) = layer.receive_eof(&mut self.conn) {
                            tracing::info!(%error, "the TLS stream ended without close_notify");
                        }
                        self.read_closed = true;
                    }
                    None => self.transport_closed(),
                },
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    match self.tls.as_deref_mut() {
                        Some(layer) => {
                            if let Err(error) = layer.receive(now, &self.buf[..n], &mut self.conn) {
                                tracing::warn!(%error, "TLS failed");
                                self.read_closed = true;
                                if matches!(error, veltix_tls::TlsError::NotTls { .. }) {
                                    // Told why in plaintext, which it reads.
                                    self.tls = None;
                                    TlsLayer::refuse_plaintext(&mut self.conn, now);
                                }
                            } else if self.tls_deadline.is_some() && layer.is_established() {
                                self.tls_deadline = None;
                            }
                        }
                        None => self.conn.handle_input(now, &self.buf[..n]),
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(error = %err, "read failed");
                    self.transport_closed();
                }
            }
        }
    }

    /// Asks the gate, and tells the connection when reads pause or resume.
    fn may_read(&mut self, now: Instant) -> bool {
        let gate = self.gate.update(self.queued(), &self.flow);
        let pause = self.held || !gate.may_read();
        if pause != self.paused {
            self.paused = pause;
            self.conn.set_reading_paused(now, pause);
            if gate == Gate::Paused {
                tracing::debug!(
                    queued = self.conn.queued_bytes(),
                    "reading paused: output to this peer is above the high-water mark"
                );
            }
        }
        !pause
    }

    /// Writes what is queued until the socket takes no more; shuts the write
    /// half once a closed connection has nothing left.
    fn flush(&mut self) {
        if self.connecting && self.conn.is_closed() {
            // Closed before the connect completed (a timeout, or `close`): nothing to send.
            self.write_closed = true;
        }
        if self.connecting || self.write_closed {
            return;
        }
        if self.tls.is_some() {
            return self.flush_tls();
        }
        while let Some(mut transmit) = self.conn.poll_transmit() {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let count = transmit.chunks_vectored(&mut slices);
            match (&self.stream).write_vectored(&slices[..count]) {
                Ok(0) => {
                    self.transport_closed();
                    return;
                }
                Ok(n) => {
                    transmit.advance(n);
                    self.stall_since = None;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.stall_since.get_or_insert(self.now);
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(error = %err, "write failed");
                    self.transport_closed();
                    return;
                }
            }
        }
        self.stall_since = None;
        if self.conn.is_closed() && !self.shut {
            self.shut = true;
            // The peer may be gone already; either way we are done writing.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// [`flush`](Self::flush) through TLS: encrypt what the connection
    /// queued, write the ciphertext; `close_notify` before the write half is
    /// shut.
    fn flush_tls(&mut self) {
        let Some(layer) = self.tls.as_deref_mut() else {
            return;
        };
        loop {
            if let Err(error) = layer.encrypt(&mut self.conn) {
                tracing::warn!(%error, "TLS failed");
            }
            if !layer.wants_write() {
                break;
            }
            match layer.write_to(&mut &self.stream) {
                Ok(0) => return self.transport_closed(),
                Ok(_) => self.stall_since = None,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.stall_since.get_or_insert(self.now);
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(error = %err, "write failed");
                    return self.transport_closed();
                }
            }
        }
        self.stall_since = None;
        if self.conn.is_closed() && !self.shut {
            self.shut = true;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    fn transport_closed(&mut self) {
        self.read_closed = true;
        self.write_closed = true;
        self.connecting = false;
        self.conn.handle_transport_closed();
    }
}

/// A new connection with a nonce and id seed from the OS.
fn fresh(role: Role, config: ConnectionConfig, now: Instant) -> Result<Connection, OpenError> {
    let mut random = [0; 32];
    getrandom::fill(&mut random).map_err(io::Error::other)?;
    let wall_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis().try_into().unwrap_or(u64::MAX));
    Ok(Connection::new(role, config, now, wall_ms, random)?)
}

fn nodelay(stream: &TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_while_still_connecting_is_finished() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let now = Instant::now();
        let mut conn =
            MioConnection::connect(addr, ConnectionConfig::default(), now).expect("connect");
        // As if the connect were still in progress (on loopback it may be done already).
        conn.connecting = true;
        conn.close(now, CloseCode::NORMAL, "changed my mind");
        assert!(conn.is_finished());
        assert!(matches!(
            conn.poll_event(),
            Some(Event::Closed(veltix_core::CloseReason::Local { .. }))
        ));
    }
}
