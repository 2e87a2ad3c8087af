//! The glue between socket bytes, a [`TlsSession`] and a Veltix
//! [`Connection`], written once: the async driver of every runtime and
//! `veltix-mio`'s embedded connection both move bytes through it.
//!
//! ```text
//! socket bytes ─receive─▶ TlsSession ─plaintext─▶ Connection::handle_input
//! socket ◀─write_to── TlsSession ◀─encrypt── Connection::poll_transmit
//! ```

use std::io;
use std::time::Instant;

use veltix_core::{CloseReason, Connection};

use crate::{PeerIdentity, TlsError, TlsSession};

/// A TLS session bound to one connection's bytes.
///
/// # Calling contract
/// - Bytes read from the socket: [`receive`](Self::receive); end of
///   stream: [`receive_eof`](Self::receive_eof).
/// - Before writing, and after every input or mutation of the connection:
///   [`encrypt`](Self::encrypt), then [`write_to`](Self::write_to) the
///   socket while [`wants_write`](Self::wants_write).
/// - The connection is told when the session fails (it closes with
///   `CloseReason::TransportFailed`) or the stream ends; once it has closed
///   and its last bytes are encrypted, `encrypt` adds `close_notify`.
/// - [`pending_bytes`](Self::pending_bytes) is ciphertext not yet written,
///   for flow control and for knowing when everything is out.
#[derive(Debug)]
pub struct TlsLayer {
    session: TlsSession,
}

impl TlsLayer {
    /// Binds `session` to a connection's bytes.
    pub fn new(session: TlsSession) -> Self {
        Self { session }
    }

    /// Decrypts bytes read from the socket into `conn`. Plaintext reaches the
    /// connection only after the handshake verified the peer.
    ///
    /// # Errors
    /// The session's error; the connection has been closed with it —
    /// except for [`TlsError::NotTls`]: a plaintext peer, which the caller
    /// may still tell, in plaintext, why it is refused (see
    /// [`refuse_plaintext`](Self::refuse_plaintext)).
    pub fn receive(
        &mut self,
        now: Instant,
        ciphertext: &[u8],
        conn: &mut Connection,
    ) -> Result<(), TlsError> {
        let fed = self
            .session
            .feed(ciphertext, |plain| conn.handle_input(now, plain));
        match &fed {
            Err(TlsError::NotTls { .. }) => {}
            Err(error) => {
                conn.handle_transport_failed(CloseReason::TransportFailed(format!("TLS: {error}")));
            }
            Ok(()) if self.session.peer_has_closed() => {
                // `close_notify`: the peer sends nothing more.
                conn.handle_transport_closed();
            }
            Ok(()) => {}
        }
        fed
    }

    /// After [`TlsError::NotTls`]: closes `conn` with a close frame saying
    /// TLS is required. Write the connection's output in plaintext (without
    /// this layer), so that a plaintext Veltix peer learns why, instead of
    /// seeing its connection drop.
    pub fn refuse_plaintext(conn: &mut Connection, now: Instant) {
        conn.close(
            now,
            veltix_core::CloseCode::TLS_REQUIRED,
            "this server requires TLS",
        );
    }

    /// The socket's end of stream; the connection learns its transport closed.
    ///
    /// # Errors
    /// [`TlsError::Truncated`] when the peer did not say `close_notify`
    /// first: what it sent last may be incomplete.
    pub fn receive_eof(&mut self, conn: &mut Connection) -> Result<(), TlsError> {
        let clean = self.session.handle_eof();
        match &clean {
            Err(error @ TlsError::Truncated { .. }) => {
                conn.handle_transport_failed(CloseReason::TransportFailed(format!("TLS: {error}")));
            }
            _ => conn.handle_transport_closed(),
        }
        clean
    }

    /// Moves as much of the connection's output into TLS records as the
    /// session's buffer takes; once the connection has closed and nothing of
    /// it is left, queues `close_notify`.
    ///
    /// # Errors
    /// The session's error (the connection has been closed with it).
    pub fn encrypt(&mut self, conn: &mut Connection) -> Result<(), TlsError> {
        if self.session.error().is_some() {
            return Ok(()); // only the alert is left to write
        }
        while let Some(mut transmit) = conn.poll_transmit() {
            match self.session.write_plaintext_buf(&mut transmit) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(TlsError::Closed) => return Ok(()),
                Err(error) => {
                    conn.handle_transport_failed(CloseReason::TransportFailed(format!(
                        "TLS: {error}"
                    )));
                    return Err(error);
                }
            }
        }
        if conn.is_closed() {
            self.session.send_close_notify();
        }
        Ok(())
    }

    /// Whether ciphertext waits to be written.
    pub fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    /// Ciphertext not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.session.pending_tls_bytes()
    }

    /// Writes pending ciphertext to `out` (one vectored write); for a
    /// poll-based socket, an adapter that maps `Pending` to `WouldBlock`.
    ///
    /// # Errors
    /// `out`'s error.
    pub fn write_to(&mut self, out: &mut impl io::Write) -> io::Result<usize> {
        self.session.write_tls(out)
    }

    /// Whether the handshake is done (the peer is verified).
    pub fn is_established(&self) -> bool {
        !self.session.is_handshaking() && self.session.error().is_none()
    }

    /// Who the peer proved to be (see [`TlsSession::peer_identity`]).
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.session.peer_identity()
    }

    /// The session, for what this layer does not surface.
    pub fn session(&self) -> &TlsSession {
        &self.session
    }
}
