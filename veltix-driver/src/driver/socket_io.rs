//! The driver's socket I/O: reading (as flow control allows) and writing,
//! in plaintext or through TLS, and noting a peer that stopped reading.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Buf as _;
use veltix_core::flow::Gate;
use veltix_core::{CloseReason, Connection};
use veltix_tls::{TlsLayer, looks_like_tls_client_hello};

use super::scratch::with_read_scratch;
use super::{LazyNow, MAX_IOVECS, Sink, State};
use crate::backlog::Backlog;
use crate::runtime::{Runtime, Socket};

impl<R: Runtime, K: Sink> State<R, K> {
    /// Whether the flow control lets this connection read now. While it
    /// does not, the driver is woken when it may: by the socket taking
    /// output, or by the application taking events.
    pub(super) fn may_read(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let flow = self.read.flow;
        // Answers only: a side's own sends never pause its reading (see
        // `ledger`). Answers queued by other threads count too: on the
        // threaded API replies come back that way.
        self.ledger.settle(false, self.conn.queued_bytes());
        let queued = self
            .ends
            .as_ref()
            .map_or(0, |(rx, _)| rx.queued_answer_bytes());
        let own = self
            .ledger
            .answers()
            .saturating_add(self.stalled.answer_bytes())
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
            Gate::Open | Gate::Closed => {}
            Gate::Resumed => {
                self.conn.set_reading_paused(now.get(&self.runtime), false);
                tracing::trace!("reading resumed");
            }
            Gate::Paused => {
                self.conn.set_reading_paused(now.get(&self.runtime), true);
                tracing::debug!(
                    pending = own.saturating_add(held),
                    high_water = flow.high_water,
                    "reading paused: output to this peer is above the high-water mark"
                );
            }
        }
        gate.may_read()
    }

    /// Reads while the socket has data, `budget` (bytes left this poll)
    /// lasts and flow control allows.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        budget: &mut usize,
        now: &mut LazyNow,
    ) -> bool {
        let mut progress = false;
        while *budget > 0 {
            if self.halves.read_closed || self.conn.is_closed() || !self.may_read(cx, now) {
                break;
            }
            let (socket, conn, runtime) = (&mut self.socket, &mut self.conn, &self.runtime);
            let tls = self.tls.as_deref_mut();
            let mut failed = None;
            let read = with_read_scratch(self.read.chunk, |buf| {
                let read = socket.poll_read(cx, buf);
                if let Poll::Ready(Ok(n)) = read
                    && n > 0
                {
                    failed = feed(tls, conn, now.get(runtime), &buf[..n]).err();
                }
                read
            });
            // What the input made the connection queue (PONGs, handshake
            // answers) answers it.
            self.ledger.settle(true, self.conn.queued_bytes());
            if let Some(error) = failed {
                self.tls_failed(error);
                self.halves.read_closed = true;
                return true;
            }
            self.check_tls_established();
            match read {
                Poll::Ready(Ok(0)) => {
                    self.halves.read_closed = true;
                    match self.tls.as_deref_mut() {
                        Some(layer) => {
                            if let Err(error) = layer.receive_eof(&mut self.conn) {
                                self.tls_failed(error);
                            }
                        }
                        None => self.conn.handle_transport_closed(),
                    }
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    self.counts.bytes_in += n as u64;
                    *budget = budget.saturating_sub(n);
                    if n < self.read.chunk {
                        // Drained the socket for now; let events flow before reading on.
                        break;
                    }
                }
                Poll::Ready(Err(err)) => {
                    tracing::debug!(error = %err, "read failed");
                    self.halves.read_closed = true;
                    self.conn.handle_transport_closed();
                    return true;
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    /// The TLS session failed: the connection has closed with it; the
    /// handles learn the typed error; the alert is still to be written.
    pub(super) fn tls_failed(&mut self, error: veltix_tls::TlsError) {
        match &error {
            veltix_tls::TlsError::NotTls { .. } => {
                tracing::warn!(%error, "refused a plaintext peer on a TLS port");
                // Told why in plaintext, which it reads: TLS is dropped.
                self.tls = None;
                TlsLayer::refuse_plaintext(&mut self.conn, self.runtime.now());
                self.ledger.settle(false, self.conn.queued_bytes());
            }
            veltix_tls::TlsError::Truncated { .. } => {
                tracing::info!(%error, "the TLS stream ended without close_notify");
            }
            _ => tracing::warn!(%error, "TLS failed"),
        }
        self.security.failed(error);
        self.tls_deadline = None;
    }

    /// Once the TLS handshake is done: the peer's identity for the handles,
    /// set before the connection can report Connected.
    pub(super) fn check_tls_established(&mut self) {
        if self.tls_deadline.is_some()
            && let Some(layer) = self.tls.as_deref()
            && layer.is_established()
        {
            self.tls_deadline = None;
            let session = layer.session();
            tracing::debug!(
                cipher = ?session.cipher(),
                key_exchange = ?session.key_exchange(),
                peer = ?layer.peer_identity().map(|id| id.subject().to_owned()),
                "TLS established"
            );
            self.security.verified(layer.peer_identity().cloned());
        }
    }

    /// Writes while the socket takes bytes; notes since when it takes
    /// none (see [`FlowControl::write_stall_timeout`]).
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        if self.tls.is_some() {
            return self.poll_write_tls(cx, now);
        }
        let mut progress = false;
        while !self.halves.write_closed {
            let Some(mut transmit) = self.conn.poll_transmit() else {
                self.stall_since = None;
                break;
            };
            // Small frames arrive already copied back to back by the core
            // (its outbound queue coalesces them), so the slices are few
            // and large: no copying here.
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = transmit.chunks_vectored(&mut slices);
                self.socket.poll_write_vectored(cx, &slices[..n])
            };
            match written {
                Poll::Ready(Ok(n)) if n > 0 => {
                    transmit.advance(n);
                    self.counts.bytes_out += n as u64;
                    progress = true;
                    self.stall_since = None;
                }
                Poll::Ready(result) => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "write failed");
                    }
                    self.halves.write_closed = true;
                    self.conn.handle_transport_closed();
                    return true;
                }
                Poll::Pending => {
                    if self.stall_since.is_none() && self.read.flow.write_stall_timeout.is_some() {
                        self.stall_since = Some(now.get(&self.runtime));
                    }
                    break;
                }
            }
        }
        progress
    }

    /// [`poll_write`](Self::poll_write) through TLS: the connection's output
    /// is encrypted as the session's buffer allows, then the ciphertext
    /// (handshake messages and alerts too) is written.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>, now: &mut LazyNow) -> bool {
        let Some(layer) = self.tls.as_deref_mut() else {
            return false;
        };
        let mut progress = false;
        let mut failed = None;
        while !self.halves.write_closed {
            if let Err(error) = layer.encrypt(&mut self.conn) {
                failed = Some(error);
            }
            if !layer.wants_write() {
                self.stall_since = None;
                break;
            }
            let mut socket = PollWriter {
                socket: &mut self.socket,
                cx: &mut *cx,
            };
            match layer.write_to(&mut socket) {
                Ok(n) if n > 0 => {
                    progress = true;
                    self.counts.bytes_out += n as u64;
                    self.stall_since = None;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if self.stall_since.is_none() && self.read.flow.write_stall_timeout.is_some() {
                        self.stall_since = Some(now.get(&self.runtime));
                    }
                    break;
                }
                result => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "write failed");
                    }
                    self.halves.write_closed = true;
                    self.conn.handle_transport_closed();
                    progress = true;
                    break;
                }
            }
        }
        if let Some(error) = failed {
            self.tls_failed(error);
        }
        progress
    }

    /// When the peer counts as no longer reading, if its output is stuck.
    pub(super) fn stall_deadline(&self) -> Option<Instant> {
        self.stall_since?
            .checked_add(self.read.flow.write_stall_timeout?)
    }
}

/// Hands bytes read from the socket to the connection, through TLS when
/// configured. A plaintext server's first bytes that look like a TLS
/// ClientHello close the connection with a clear reason, not a decoding
/// error (the client would otherwise see only garbage).
fn feed(
    tls: Option<&mut TlsLayer>,
    conn: &mut Connection,
    now: Instant,
    bytes: &[u8],
) -> Result<(), veltix_tls::TlsError> {
    match tls {
        Some(layer) => layer.receive(now, bytes, conn),
        None if conn.stats().bytes_received == 0 && looks_like_tls_client_hello(bytes) => {
            tracing::warn!("refused a TLS client on a plaintext port");
            conn.handle_transport_failed(CloseReason::TransportFailed(
                "a TLS client on a plaintext port".to_owned(),
            ));
            Ok(())
        }
        None => {
            conn.handle_input(now, bytes);
            Ok(())
        }
    }
}

/// A poll-based socket as an `io::Write` for the TLS session: `Pending`
/// becomes `WouldBlock` (nothing is lost: the session keeps what it could
/// not write).
struct PollWriter<'a, 'b, S> {
    socket: &'a mut S,
    cx: &'a mut Context<'b>,
}

impl<S: Socket> io::Write for PollWriter<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.socket.poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
