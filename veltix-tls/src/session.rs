//! One TLS session: ciphertext in and out on one side, plaintext on the other.

use std::io::{self, BufRead as _, IoSlice, Write as _};

use bytes::Buf;
use rustls::pki_types::ServerName;

use crate::identity::PeerIdentity;
use crate::provider::{Cipher, KeyExchange};
use crate::sniff::FirstBytes;
use crate::{TlsClientConfig, TlsError, TlsServerConfig};

/// Which end of the handshake a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Connected out; verifies the server.
    Client,
    /// Accepted; proves itself, and verifies clients in mutual TLS.
    Server,
}

/// Slices handed to rustls in one vectored write: it packs them into
/// records together, so many small frames do not cost a record each.
const MAX_SLICES: usize = 64;

/// One TLS 1.3 session, as a state machine with no I/O: the layer between
/// the socket and the plaintext consumer (a `veltix_core::Connection`).
///
/// # Calling contract
///
/// The session never touches a socket and never blocks; it has no timers
/// (the core's handshake timeout, which starts when the connection is
/// made, covers the TLS handshake too).
///
/// 1. **Inputs.** Bytes read from the socket go to [`feed`](Self::feed)
///    (or [`read_tls`](Self::read_tls) and the plaintext pair below). At
///    end of stream call [`handle_eof`](Self::handle_eof): it says whether
///    the peer closed cleanly or the stream was truncated.
/// 2. **Mutators**, any time: [`write_plaintext`](Self::write_plaintext) /
///    [`write_plaintext_buf`](Self::write_plaintext_buf) encrypt outbound
///    plaintext (what is written before the handshake completes is held and
///    sent after it); [`send_close_notify`](Self::send_close_notify).
/// 3. **Outputs**, after every input or mutator, in this order:
///    - received plaintext: [`plaintext`](Self::plaintext) then
///      [`consume_plaintext`](Self::consume_plaintext) until it is empty
///      (`feed` does this for you, through its callback);
///    - ciphertext for the socket: [`write_tls`](Self::write_tls) or
///      [`write_tls_into`](Self::write_tls_into) while
///      [`wants_write`](Self::wants_write). **Also after an input**: the
///      handshake answers the peer from inside `feed`.
///
/// An error from an input is final; the session may still hold an alert
/// telling the peer why: write it out, then close the socket. Plaintext
/// authenticated before the failure is still handed out; nothing after it.
///
/// # Flow control
///
/// Outbound ciphertext is bounded: once [`pending_tls_bytes`](Self::pending_tls_bytes)
/// reaches the configured buffer limit, `write_plaintext` accepts nothing
/// (returns `Ok(0)`) until the driver has written some out. Inbound, `feed`
/// decrypts at most one record ahead of the callback, so memory is bounded
/// by the plaintext consumer, not by this layer.
#[derive(Debug)]
pub struct TlsSession {
    conn: rustls::Connection,
    side: Side,
    first_bytes: FirstBytes,
    /// The final error, returned again by every later input.
    failed: Option<TlsError>,
    /// Ciphertext still to write when rustls could not count it for us
    /// (after a failure): served by `write_tls` before anything else.
    tail: Vec<u8>,
    /// rustls' outbound TLS bytes as of the last call that changed them.
    tls_pending: usize,
    peer_closed: bool,
    local_closed: bool,
    handshake_done: bool,
    identity: Option<PeerIdentity>,
}

impl TlsSession {
    /// A client session to `server_name`: a DNS name or an IP address,
    /// checked against the certificate in [`ServerTrust::Ca`](crate::ServerTrust::Ca)
    /// mode, only sent as SNI in pinned mode. Its ClientHello is ready to
    /// write at once.
    ///
    /// # Errors
    /// [`TlsError::Config`] when `server_name` is neither a DNS name nor an IP address.
    pub fn client(config: &TlsClientConfig, server_name: &str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TlsError::Config(format!("bad server name {server_name:?}: {e}")))?;
        let conn = rustls::ClientConnection::new(config.rustls.clone(), name)
            .map_err(|e| TlsError::from_rustls(e, Side::Client))?;
        Ok(Self::new(conn.into(), Side::Client, config.buffer_limit))
    }

    /// A server session for one accepted connection.
    ///
    /// # Errors
    /// [`TlsError::Protocol`] if rustls refuses the configuration (not
    /// expected for one built by [`TlsServerConfig`]'s builder).
    pub fn server(config: &TlsServerConfig) -> Result<Self, TlsError> {
        let conn = rustls::ServerConnection::new(config.rustls.clone())
            .map_err(|e| TlsError::from_rustls(e, Side::Server))?;
        Ok(Self::new(conn.into(), Side::Server, config.buffer_limit))
    }

    fn new(mut conn: rustls::Connection, side: Side, buffer_limit: usize) -> Self {
        conn.set_buffer_limit(Some(buffer_limit));
        let mut session = Self {
            conn,
            side,
            first_bytes: FirstBytes::default(),
            failed: None,
            tail: Vec::new(),
            tls_pending: 0,
            peer_closed: false,
            local_closed: false,
            handshake_done: false,
            identity: None,
        };
        // Counts the client's ClientHello.
        let _ = session.refresh();
        session
    }

    /// Feeds bytes read from the socket and hands every byte of plaintext
    /// they complete to `on_plaintext`, in order, straight from rustls'
    /// buffer (no copy here). All of `ciphertext` is taken.
    ///
    /// # Errors
    /// The session's final error (see [`TlsError`]); plaintext decrypted
    /// before the failing record has been handed out first.
    pub fn feed(
        &mut self,
        mut ciphertext: &[u8],
        mut on_plaintext: impl FnMut(&[u8]),
    ) -> Result<(), TlsError> {
        loop {
            let read = self.read_tls(ciphertext);
            let delivered = self.drain_plaintext(&mut on_plaintext);
            let taken = read?;
            ciphertext = &ciphertext[taken..];
            if ciphertext.is_empty() {
                return Ok(());
            }
            if taken == 0 && delivered == 0 {
                // read_tls only takes nothing while plaintext waits, and
                // none did: a bug, reported rather than looped on.
                let error = rustls::Error::General("TLS input made no progress".to_owned());
                return Err(self.fail(TlsError::Protocol(error)));
            }
        }
    }

    fn drain_plaintext(&mut self, on_plaintext: &mut impl FnMut(&[u8])) -> usize {
        let mut delivered = 0;
        loop {
            let chunk = self.plaintext();
            if chunk.is_empty() {
                return delivered;
            }
            let len = chunk.len();
            on_plaintext(chunk);
            self.consume_plaintext(len);
            delivered += len;
        }
    }

    /// Feeds bytes read from the socket; returns how many were taken. Takes
    /// fewer than given only while decrypted plaintext waits to be read:
    /// drain [`plaintext`](Self::plaintext), then feed the rest. After the
    /// peer's `close_notify`, input is taken and ignored, as TLS requires.
    ///
    /// # Errors
    /// The session's final error (see [`TlsError`]).
    pub fn read_tls(&mut self, ciphertext: &[u8]) -> Result<usize, TlsError> {
        self.check()?;
        if self.peer_closed || ciphertext.is_empty() {
            return Ok(ciphertext.len());
        }
        if let Err(error) = self.first_bytes.check(self.side, ciphertext) {
            return Err(self.fail(error));
        }
        let mut rest = ciphertext;
        while !rest.is_empty() && !self.peer_closed {
            match self.conn.read_tls(&mut rest) {
                Ok(_) => self.process()?,
                // "received plaintext buffer full": the caller drains first.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => {
                    let error = rustls::Error::General(e.to_string());
                    return Err(self.fail(TlsError::BadRecord(error)));
                }
            }
        }
        if self.peer_closed {
            rest = &[];
        }
        Ok(ciphertext.len() - rest.len())
    }

    /// The next run of decrypted plaintext, borrowed from rustls' buffer;
    /// empty when there is none. Mark what was used with
    /// [`consume_plaintext`](Self::consume_plaintext).
    #[must_use]
    pub fn plaintext(&mut self) -> &[u8] {
        // Empty with WouldBlock or UnexpectedEof: nothing to read either way.
        self.conn.reader().into_first_chunk().unwrap_or_default()
    }

    /// Marks `len` bytes of [`plaintext`](Self::plaintext) as read (at most
    /// the length of the slice it returned).
    pub fn consume_plaintext(&mut self, len: usize) {
        self.conn.reader().consume(len);
    }

    /// The socket reached end of stream. `Ok` when the handshake completed
    /// and the peer sent its `close_notify` before the end: everything it
    /// sent arrived. Otherwise [`TlsError::Truncated`]: the stream was cut
    /// (a crash, a reset, or an attacker dropping the tail), and whatever
    /// the application was told last may be incomplete; or it ended during
    /// the handshake (`during_handshake`, even after a `close_notify`,
    /// which is not authenticated then).
    ///
    /// # Errors
    /// [`TlsError::Truncated`], or the session's earlier final error.
    pub fn handle_eof(&mut self) -> Result<(), TlsError> {
        self.check()?;
        if self.peer_closed && self.handshake_done {
            return Ok(());
        }
        // Tell rustls too, so its reader agrees.
        let _ = self.conn.read_tls(&mut io::empty());
        let during_handshake = self.conn.is_handshaking();
        Err(self.fail(TlsError::Truncated { during_handshake }))
    }

    /// Encrypts as much of `plaintext` as the buffer limit allows; returns
    /// how much was taken (`0`: full, write ciphertext out first). Before
    /// the handshake completes, the plaintext is held (within the same
    /// limit) and sent right after it.
    ///
    /// # Errors
    /// The session's final error, or [`TlsError::Closed`] after
    /// [`send_close_notify`](Self::send_close_notify).
    pub fn write_plaintext(&mut self, plaintext: &[u8]) -> Result<usize, TlsError> {
        self.check_writable()?;
        let taken = self.conn.writer().write(plaintext).map_err(io_to_tls)?;
        self.refresh()?;
        Ok(taken)
    }

    /// [`write_plaintext`](Self::write_plaintext) from a [`Buf`] such as the
    /// core's `Transmit`: encrypts as much as fits, advancing `plaintext`
    /// past it (what is left stays there for next time). Frames in separate
    /// chunks share records.
    ///
    /// # Errors
    /// As [`write_plaintext`](Self::write_plaintext).
    pub fn write_plaintext_buf(&mut self, plaintext: &mut impl Buf) -> Result<usize, TlsError> {
        self.check_writable()?;
        let mut total = 0;
        while plaintext.has_remaining() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = plaintext.chunks_vectored(&mut slices);
            let offered: usize = slices[..count].iter().map(|s| s.len()).sum();
            let taken = self
                .conn
                .writer()
                .write_vectored(&slices[..count])
                .map_err(io_to_tls)?;
            plaintext.advance(taken);
            total += taken;
            if taken < offered || taken == 0 {
                break;
            }
        }
        self.refresh()?;
        Ok(total)
    }

    /// Queues a `close_notify` alert: this side sends nothing more. Write it
    /// out ([`wants_write`](Self::wants_write)) before shutting the socket's
    /// write half, so the peer can tell a clean close from a truncation.
    /// Does nothing after a failure (the alert sent then says it all).
    pub fn send_close_notify(&mut self) {
        if self.failed.is_some() || self.local_closed {
            return;
        }
        self.local_closed = true;
        self.conn.send_close_notify();
        let _ = self.refresh();
    }

    /// Writes pending ciphertext to `out` with one (vectored) write; returns
    /// the bytes written. For a poll-based socket, an adapter whose `write`
    /// maps `Pending` to [`io::ErrorKind::WouldBlock`] works: nothing is
    /// lost on `WouldBlock`.
    ///
    /// # Errors
    /// `out`'s error.
    pub fn write_tls(&mut self, out: &mut impl io::Write) -> io::Result<usize> {
        if !self.tail.is_empty() {
            let written = out.write(&self.tail)?;
            self.tail.drain(..written);
            return Ok(written);
        }
        let written = self.conn.write_tls(out)?;
        self.tls_pending = self.tls_pending.saturating_sub(written);
        Ok(written)
    }

    /// Moves pending ciphertext into `buf`; returns how many bytes it now
    /// holds (`0`: nothing pending). The caller owns those bytes: what it
    /// cannot send at once it must keep.
    pub fn write_tls_into(&mut self, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < buf.len() && self.wants_write() {
            let mut cursor = &mut buf[filled..];
            match self.write_tls(&mut cursor) {
                Ok(0) | Err(_) => break,
                Ok(written) => filled += written,
            }
        }
        filled
    }

    /// Ciphertext waiting for [`write_tls`](Self::write_tls): what flow
    /// control weighs. Before the handshake completes, plaintext written
    /// early is held apart (within the same limit) and not counted here.
    pub fn pending_tls_bytes(&self) -> usize {
        if self.failed.is_some() {
            self.tail.len()
        } else {
            self.tls_pending
        }
    }

    /// Whether ciphertext waits to be written.
    pub fn wants_write(&self) -> bool {
        !self.tail.is_empty() || self.conn.wants_write()
    }

    /// Whether more input is useful: false after a failure, after the peer's
    /// `close_notify` and after end of stream.
    pub fn wants_read(&self) -> bool {
        self.failed.is_none() && !self.peer_closed
    }

    /// Whether the handshake is still under way. Plaintext never flows in
    /// before it completes, so nothing from an unverified peer is delivered.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the peer sent `close_notify`: no more plaintext will come;
    /// treat it as the end of the peer's stream.
    pub fn peer_has_closed(&self) -> bool {
        self.peer_closed
    }

    /// Who the peer proved to be, once the handshake completed: the server
    /// on a client session; the client on a server session that requires
    /// client certificates; otherwise `None`.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.identity.as_ref()
    }

    /// The cipher suite agreed on, once known.
    pub fn cipher(&self) -> Option<Cipher> {
        Cipher::from_rustls(self.conn.negotiated_cipher_suite()?.suite())
    }

    /// The key exchange group agreed on, once known.
    pub fn key_exchange(&self) -> Option<KeyExchange> {
        KeyExchange::from_rustls(self.conn.negotiated_key_exchange_group()?.name())
    }

    /// Client or server.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The final error, if the session failed.
    pub fn error(&self) -> Option<&TlsError> {
        self.failed.as_ref()
    }

    fn check(&self) -> Result<(), TlsError> {
        match &self.failed {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn check_writable(&self) -> Result<(), TlsError> {
        self.check()?;
        if self.local_closed {
            return Err(TlsError::Closed);
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), TlsError> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.note(&state);
                Ok(())
            }
            Err(error) => Err(self.fail(TlsError::from_rustls(error, self.side))),
        }
    }

    /// Re-reads rustls' counters after something changed its output. With
    /// no new input buffered this processes nothing: every input was
    /// processed when it was fed.
    fn refresh(&mut self) -> Result<(), TlsError> {
        self.process()
    }

    fn note(&mut self, state: &rustls::IoState) {
        self.tls_pending = state.tls_bytes_to_write();
        self.peer_closed |= state.peer_has_closed();
        if !self.handshake_done && !self.conn.is_handshaking() {
            self.handshake_done = true;
            self.identity = self
                .conn
                .peer_certificates()
                .and_then(PeerIdentity::from_chain);
            tracing::debug!(
                side = ?self.side,
                cipher = ?self.cipher(),
                key_exchange = ?self.key_exchange(),
                peer = self.identity.as_ref().map(|id| id.subject()),
                "TLS handshake complete"
            );
        }
    }

    /// Records the final error. What rustls still holds for the peer (its
    /// alert) moves to `tail`, where it can be counted.
    fn fail(&mut self, error: TlsError) -> TlsError {
        tracing::debug!(side = ?self.side, %error, "TLS session failed");
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tail) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.failed = Some(error.clone());
        error
    }
}

/// rustls' writer fails only with the connection's earlier error, which
/// `check` reports first; this is for completeness.
fn io_to_tls(error: io::Error) -> TlsError {
    TlsError::Protocol(rustls::Error::General(error.to_string()))
}
