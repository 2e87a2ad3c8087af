//! The per-peer protocol state machine.

mod config;
mod dialect;
mod error;
mod event;
mod handshake;
mod ids;
mod pending;
mod python14;
mod python3;
mod transmit;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use config::{
    ConfigError, ConnectionConfig, HandshakeMode, KeyStore, MAX_CLIENT_ID_LEN, PROTOCOL_VERSION,
    PreSharedKey, Role,
};
pub use dialect::Dialect;
pub use error::{CloseCode, CloseReason, HandshakeError, RequestError, SendError};
pub use event::{Event, PeerInfo};
pub use transmit::Transmit;

use crate::compression::Algorithm;
use crate::frame::{self, FrameOptions};
use crate::wire::{DecodeError, Decoder, EncodedFrame, Wire};
use crate::{Message, MessageType, RequestId};
use handshake::{Claim, Hello, NONCE_LEN, feature};
use ids::{CompactIds, IdGenerator, RequestIds};
use pending::{Awaiting, PendingTable};
use transmit::OutboundQueue;

/// Handshake proof sent by the client after HELLO_ACK when a key is in use.
/// A system code of ours (`docs/protocol.md` §2: 0–199 belong to the library).
pub(crate) const AUTH: MessageType = MessageType::from_code(12);

/// The codes of the types the connection handles itself, for `match`
/// patterns (a `MessageType` compares by code but cannot be a pattern).
pub(crate) mod code {
    use super::MessageType;

    pub(crate) const PING: u16 = MessageType::PING.code();
    pub(crate) const PONG: u16 = MessageType::PONG.code();
    pub(crate) const HEARTBEAT: u16 = MessageType::HEARTBEAT.code();
    pub(crate) const HELLO: u16 = MessageType::HELLO.code();
    pub(crate) const HELLO_ACK: u16 = MessageType::HELLO_ACK.code();
    pub(crate) const ERROR: u16 = MessageType::ERROR.code();
    pub(crate) const AUTH: u16 = super::AUTH.code();
}

/// One Veltix connection, as a deterministic state machine with no I/O.
///
/// # Calling contract
///
/// A driver owns one `Connection` per peer and the transport (a TCP socket, a
/// pipe, a test harness). The connection never reads a clock: every call that
/// can produce a frame or move a timer takes `now`, the driver's monotonic
/// time, which must never go backwards between calls. Header timestamps are
/// wall-clock milliseconds derived from the `(now, wall_ms)` pair given to
/// [`Connection::new`].
///
/// 1. **Inputs.** Feed bytes read from the transport to
///    [`handle_input`](Self::handle_input); call
///    [`handle_timeout`](Self::handle_timeout) when the deadline from
///    `poll_timeout` passes; call
///    [`handle_transport_closed`](Self::handle_transport_closed) on end of
///    stream or a transport error. Flow control (see [`crate::flow`]) adds
///    three: [`set_reading_paused`](Self::set_reading_paused) when the
///    driver stops or resumes reading because output piles up (the idle
///    timeout then waits), [`handle_write_stalled`](Self::handle_write_stalled)
///    when the transport has taken none of the output for the write-stall
///    timeout, and [`handle_transport_failed`](Self::handle_transport_failed)
///    when a layer below (TLS) fails. Calling `handle_timeout` early, or
///    when nothing is due, is harmless: it runs only what is due at `now`.
/// 2. **Mutators**, any time: [`send`](Self::send), [`reply`](Self::reply),
///    [`request`](Self::request), [`ping`](Self::ping),
///    [`send_frame`](Self::send_frame) (a frame encoded once for many peers),
///    [`cancel`](Self::cancel), [`close`](Self::close). Before the handshake
///    completes, sends are held back and released when it does.
/// 3. **Outputs**, after every input or mutator, in this order:
///    - [`poll_transmit`](Self::poll_transmit) until it returns `None` or the
///      transport accepts no more (what is not advanced stays queued);
///    - [`poll_event`](Self::poll_event) until `None`;
///    - [`poll_timeout`](Self::poll_timeout): the single earliest instant at
///      which `handle_timeout` must be called (handshake, idle, heartbeat and
///      every request deadline are folded into it). `None`: no timer.
///
/// The connection is finished when [`is_closed`](Self::is_closed) is true and
/// `poll_transmit` returns `None`: the driver then closes the transport.
///
/// Over TCP, turn Nagle's algorithm off (`TCP_NODELAY`): a request and its
/// reply are small writes each waiting on the other, and with Nagle's delay
/// combined with delayed ACKs every round trip costs tens of milliseconds.
/// The `random` given to [`Connection::new`] must come from the OS's secure
/// source (a crate such as `getrandom`): it is the handshake nonce.
/// [`Event::Closed`] is reported exactly once, after a
/// [`Event::RequestFailed`] for every request still pending.
///
/// # Dialects
///
/// [`ConnectionConfig::dialect`] fixes the handshake and the wire
/// ([`Dialect`]): the driver loop is the same for all of them. In the
/// dialects where the server speaks first (Python 1.4 – 1.6, Python 3.x) a
/// server queues its greeting in [`new`](Self::new). To refuse a peer
/// because the server is full, call
/// [`close`](Self::close)`(now, CloseCode::SERVER_FULL, ..)` right after
/// `new`, before writing anything: the unsent greeting is withdrawn, and the
/// peer gets what its dialect understands — an ERROR frame (native, legacy,
/// Python 1.4 – 1.6) or exactly `{"error": "server_full"}` (Python 3.x).
///
/// # Policies
/// - A frame whose payload hash (SHA-256) or checksum (CRC-32) does not
///   match is dropped, counted and reported as [`Event::FrameDropped`]; the
///   connection lives on. On the compact wire, bytes that do not start with
///   the magic are skipped to the next frame and reported the same way.
/// - A length above [`ConnectionConfig::max_payload`] closes the connection
///   (decided on the header, before reserving memory), on either wire.
/// - Between two native peers that both offer them, payloads of at least a
///   threshold are compressed ([`ConnectionConfig::compression`]) and, under
///   an authenticated transport, payload hashes are left out
///   ([`ConnectionConfig::transport_authenticated`]); see
///   [`PeerInfo::compression`] and [`PeerInfo::hash_skipped`]. A compressed
///   payload that declares more than `max_payload`, or does not decompress
///   to what it declares, closes the connection
///   ([`DecodeError::Decompress`](crate::wire::DecodeError::Decompress));
///   never more than `max_payload` is reserved for it. Every other peer is
///   sent exactly the frames it would be sent without these settings.
/// - A reply that arrives after its request timed out is delivered as an
///   ordinary [`Event::Message`] (as Python Veltix does).
/// - Outbound bytes are bounded: past [`ConnectionConfig::max_outbound_bytes`]
///   sends return [`SendError::Full`]. PONGs owed to a peer that floods PINGs
///   while not reading are dropped and counted once the bound is reached.
///
/// # Example
///
/// The [crate documentation](crate#run-loop) drives two connections against
/// each other in memory.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: ConnectionConfig,
    /// The dialect in effect ([`ConnectionConfig::effective_dialect`]).
    dialect: Dialect,
    state: State,
    decoder: Decoder,
    /// Classic frames: written with the options the handshake agreed
    /// (plain until then, and always with non-native peers).
    encoder: frame::Encoder,
    rx: BytesMut,
    outbound: OutboundQueue,
    /// What only the handshake needs; `None` once it is over.
    handshake: Option<Box<Handshake>>,
    events: VecDeque<Event>,
    pending: PendingTable,
    ids: RequestIds,
    nonce: [u8; NONCE_LEN],
    /// Server: the client id whose key the peer proved.
    peer_client_id: Option<Box<str>>,
    wall_anchor: (Instant, u64),
    peer: Option<PeerInfo>,
    /// Handshake, or (server with legacy allowed) the wait for a silent peer.
    handshake_deadline: Option<Instant>,
    last_rx: Instant,
    last_tx: Instant,
    /// Legacy mode was entered because the peer stayed silent; a HELLO may still come.
    legacy_by_silence: bool,
    /// The peer's idle timeout, learned in the handshake.
    peer_idle: Option<Duration>,
    /// The driver holds the peer's input back (flow control): not idle.
    reading_paused: bool,
    /// The version a Python peer announced.
    peer_version: Option<Box<str>>,
    /// Boxed: set once, at the end; an open connection only asks whether
    /// it is set.
    close_reason: Option<Box<CloseReason>>,
    stats: ConnectionStats,
}

/// The parts of a connection that only its handshake uses, in one box
/// dropped when the handshake is over: an established connection (there
/// may be 100 000 of them on a server) keeps none of it.
#[derive(Debug)]
struct Handshake {
    /// Application frames sent before the handshake completed.
    held: OutboundQueue,
    /// Server with a key store: the key an unknown client id is answered
    /// with, derived from the secret random bytes (never sent, and not
    /// derivable from anything that is).
    decoy_key: Option<PreSharedKey>,
    /// Server: the key the peer must prove, from its HELLO until its AUTH.
    claim: Option<Claim>,
    /// Server: what the proof must cover, from its HELLO until its AUTH.
    transcript: Option<TranscriptKey>,
}

impl Default for Handshake {
    fn default() -> Self {
        Self {
            held: OutboundQueue::keeping_frames(),
            decoy_key: None,
            claim: None,
            transcript: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client: HELLO sent, waiting for HELLO_ACK.
    AwaitAck,
    /// Server: waiting for the peer's first frame.
    AwaitHello,
    /// Server: HELLO_ACK sent, waiting for the client's AUTH proof (what
    /// it must cover is in [`Handshake::transcript`]).
    AwaitProof,
    Established,
    Closed,
    /// Python 1.4 – 1.6 server: HELLO sent with this id, awaiting HELLO_ACK.
    AwaitPyHelloAck(RequestId),
    /// Python 1.4 – 1.6 client: awaiting the server's HELLO.
    AwaitPyHello,
    /// Python 3.x client: awaiting the server's JSON greeting.
    AwaitJsonGreeting,
    /// Python 3.x client: our JSON sent, awaiting `{"result": "ok"}`.
    AwaitJsonResult,
    /// Python 3.x server: greeting sent, awaiting the client's JSON.
    AwaitJsonReply,
}

impl State {
    /// Whether incoming bytes are JSON handshake messages, not frames.
    fn reads_json(self) -> bool {
        matches!(
            self,
            Self::AwaitJsonGreeting | Self::AwaitJsonResult | Self::AwaitJsonReply
        )
    }
}

/// The parts of the transcript the server keeps while awaiting the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TranscriptKey {
    client_nonce: [u8; NONCE_LEN],
    version: u16,
    features: u32,
    /// The agreed compression algorithm's bit.
    compression: Option<u8>,
}

/// Counters a driver can log or export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Whole frames received (including dropped ones).
    pub frames_received: u64,
    /// Frames queued for sending.
    pub frames_sent: u64,
    /// Bytes fed to `handle_input`.
    pub bytes_received: u64,
    /// Frames dropped for a payload hash (classic) or checksum (compact) mismatch.
    pub hash_mismatches: u64,
    /// Compact wire: times bytes without the frame magic were skipped to
    /// find the next frame.
    pub resyncs: u64,
    /// Compact wire: bytes skipped by those resynchronisations.
    pub bytes_skipped: u64,
    /// Frames given to [`send_frame`](Connection::send_frame) encoded for
    /// the other wire, which had to be encoded again.
    pub frames_reencoded: u64,
    /// PONGs not queued because the outbound queue was full.
    pub pongs_dropped: u64,
    /// PONGs that matched no pending ping (keep-alive answers, late pongs).
    pub unmatched_pongs: u64,
    /// Frames queued with a compressed payload (compression agreed).
    pub frames_compressed: u64,
    /// Frames received with a compressed payload, decompressed.
    pub frames_decompressed: u64,
}

impl Connection {
    /// A connection for one peer.
    ///
    /// `now` and `wall_ms` (milliseconds since the Unix epoch) read at the same
    /// moment anchor the header timestamps. `random` must come from the OS's
    /// secure random source: it is the handshake nonce, and it seeds request
    /// ids (a server with a [`key_store`](ConnectionConfig::key_store) keeps
    /// it secret: it sends a nonce derived from it, and derives from it the
    /// decoy key unknown client ids are answered with).
    /// Whichever side speaks first in the dialect queues its greeting at once
    /// (a native client; a Python 1.4 – 1.6 or 3.x server).
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration cannot work
    /// ([`ConnectionConfig::validate_for`] the role).
    pub fn new(
        role: Role,
        config: ConnectionConfig,
        now: Instant,
        wall_ms: u64,
        random: [u8; 32],
    ) -> Result<Self, ConfigError> {
        config.validate_for(role)?;
        let dialect = config.effective_dialect();
        let ids = match dialect.wire() {
            Wire::Classic => RequestIds::Classic(IdGenerator::new(&random)),
            Wire::Compact => RequestIds::Compact(CompactIds::new(role)),
        };
        // A server with a key store must answer unknown client ids with a
        // decoy proof nobody can check, so it needs a secret: `random` is
        // that secret, and its nonce (which is sent) is derived from it
        // one-way. Everyone else sends `random` itself as the nonce.
        let key_store_server = role == Role::Server && config.key_store.is_some();
        let (nonce, decoy_key) = if key_store_server {
            (
                handshake::derive(&random, b"veltix server nonce"),
                Some(PreSharedKey::new(handshake::derive(
                    &random,
                    b"veltix decoy key",
                ))),
            )
        } else {
            (random, None)
        };
        let mut conn = Self {
            role,
            dialect,
            decoder: dialect.wire().decoder(config.max_payload),
            encoder: frame::Encoder::default(),
            state: State::Closed,
            rx: BytesMut::new(),
            outbound: OutboundQueue::default(),
            handshake: Some(Box::new(Handshake {
                decoy_key,
                ..Handshake::default()
            })),
            events: VecDeque::new(),
            pending: PendingTable::default(),
            ids,
            nonce,
            peer_client_id: None,
            wall_anchor: (now, wall_ms),
            peer: None,
            handshake_deadline: None,
            last_rx: now,
            last_tx: now,
            legacy_by_silence: false,
            peer_idle: None,
            reading_paused: false,
            peer_version: None,
            close_reason: None,
            stats: ConnectionStats::default(),
            config,
        };
        let mode = conn.config.handshake;
        match (dialect, role) {
            (Dialect::Legacy, _) => conn.establish(now, None),
            (Dialect::Python14, _) => conn.start_python14(now),
            (Dialect::Python3, _) => conn.start_python3(now),
            (Dialect::Native, Role::Client) => {
                conn.state = State::AwaitAck;
                conn.handshake_deadline = now.checked_add(conn.config.handshake_timeout);
                let client_id = conn.config.client_id.clone();
                let hello = Hello {
                    min_version: *conn.config.protocol_versions.start(),
                    max_version: *conn.config.protocol_versions.end(),
                    features: conn.our_features()
                        | if client_id.is_some() {
                            feature::CLIENT_ID
                        } else {
                            0
                        },
                    nonce: conn.nonce,
                    idle_ms: conn.idle_ms(),
                    client_id,
                    compression: conn.config.compression.map(|_| Algorithm::SUPPORTED),
                };
                conn.queue_control(
                    now,
                    MessageType::HELLO,
                    RequestId::NIL,
                    hello.encode().into(),
                );
            }
            (Dialect::Native, Role::Server) => {
                conn.state = State::AwaitHello;
                let wait = match mode {
                    HandshakeMode::AcceptLegacy => conn.config.legacy_wait,
                    _ => conn.config.handshake_timeout,
                };
                conn.handshake_deadline = now.checked_add(wait);
            }
        }
        Ok(conn)
    }

    // ----- inputs -------------------------------------------------------

    /// Feeds bytes read from the transport. Frames may be split or packed in
    /// any way; every whole frame is processed before this returns.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.stats.bytes_received += data.len() as u64;
        self.rx.extend_from_slice(data);
        if self.state.reads_json() {
            self.read_json_handshake(now);
        }
        if self.state != State::Closed && !self.state.reads_json() {
            self.read_frames(now);
        }
        if self.state == State::Closed {
            self.rx = BytesMut::new();
        }
    }

    /// Decodes and handles every whole frame in `rx`.
    fn read_frames(&mut self, now: Instant) {
        loop {
            match self.decoder.decode(&mut self.rx) {
                Ok(Some(message)) => {
                    self.last_rx = now;
                    self.stats.frames_received += 1;
                    self.stats.frames_decompressed = self.decoder.frames_decompressed();
                    self.on_frame(now, message);
                    if self.state == State::Closed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(DecodeError::BadMagic { skipped }) => {
                    // Skipped noise completes no frame: the idle timer is
                    // not fed, so a peer streaming garbage is still closed.
                    self.stats.resyncs += 1;
                    self.stats.bytes_skipped += skipped;
                    tracing::debug!(skipped, "skipped bytes to find the next frame");
                    self.events
                        .push_back(Event::FrameDropped(DecodeError::BadMagic { skipped }));
                }
                Err(err) if !err.is_fatal() => {
                    self.last_rx = now;
                    self.stats.frames_received += 1;
                    self.stats.hash_mismatches += 1;
                    tracing::debug!(error = %err, "dropped a corrupt frame");
                    self.events.push_back(Event::FrameDropped(err));
                }
                Err(err) => {
                    self.fail(now, CloseReason::Decode(err));
                    break;
                }
            }
        }
    }

    /// Runs every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.handshake_deadline.is_some_and(|d| now >= d) {
            self.handshake_deadline = None;
            if self.state == State::AwaitHello
                && self.config.handshake == HandshakeMode::AcceptLegacy
            {
                if self.config.requires_auth() {
                    self.fail(now, CloseReason::HandshakeTimeout);
                    return;
                }
                self.legacy_by_silence = true;
                self.establish(now, None);
            } else {
                self.fail(now, CloseReason::HandshakeTimeout);
                return;
            }
        }
        if self.idle_deadline().is_some_and(|d| now >= d) {
            self.fail(now, CloseReason::IdleTimeout);
            return;
        }
        while let Some(request_id) = self.pending.pop_expired(now) {
            self.events.push_back(Event::RequestFailed {
                request_id,
                error: RequestError::TimedOut,
            });
        }
        if self.heartbeat_deadline().is_some_and(|d| now >= d) {
            if self.peer.is_some_and(|p| p.heartbeat) {
                self.queue_control(now, MessageType::HEARTBEAT, RequestId::NIL, Bytes::new());
            } else if let Some(id) = self.next_request_id() {
                // Legacy and Python peers answer a PING with a PONG, which keeps
                // both sides' idle timers fed; the PONG matches nothing and is
                // just counted.
                self.queue_control(now, MessageType::PING, id, Bytes::new());
            }
        }
    }

    /// The transport ended (end of stream, reset or I/O error). Pending requests fail.
    pub fn handle_transport_closed(&mut self) {
        self.abandon(CloseReason::TransportClosed);
    }

    /// The transport has accepted none of our output for the driver's
    /// write-stall timeout: the peer does not read. The connection ends with
    /// [`CloseReason::WriteStalled`]; what is queued is dropped (nothing
    /// more can reach the peer).
    pub fn handle_write_stalled(&mut self) {
        self.abandon(CloseReason::WriteStalled);
    }

    /// A layer between the transport and this connection (TLS) failed, or
    /// did not get going in time: nothing more can be read or written
    /// through it. The connection ends with `reason` (typically
    /// [`CloseReason::TransportFailed`], or
    /// [`CloseReason::HandshakeTimeout`] for a TLS handshake that took too
    /// long); what is queued is dropped.
    pub fn handle_transport_failed(&mut self, reason: CloseReason) {
        self.abandon(reason);
    }

    /// The driver stops (`true`) or resumes (`false`) reading from the
    /// transport because of its own backlog (flow control). While paused the
    /// idle timeout does not run: the peer's data is waiting for us, not the
    /// other way round. It runs again from `now` on resume.
    pub fn set_reading_paused(&mut self, now: Instant, paused: bool) {
        if self.reading_paused && !paused {
            self.last_rx = now;
        }
        self.reading_paused = paused;
    }

    // ----- mutators -----------------------------------------------------

    /// Queues an application message with a fresh request id, which is returned.
    ///
    /// # Errors
    /// [`SendError`]: reserved type, queue full, payload too long, closed.
    pub fn send(&mut self, now: Instant, message: Message) -> Result<RequestId, SendError> {
        let id = self.fresh_id()?;
        self.send_with_id(now, message, id)?;
        Ok(id)
    }

    /// Answers `received` with `message`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(
        &mut self,
        now: Instant,
        received: &Message,
        message: Message,
    ) -> Result<(), SendError> {
        self.send_with_id(now, message, received.request_id())
    }

    /// Answers the request with id `request_id` (what [`reply`](Self::reply)
    /// does when the received message is no longer at hand).
    ///
    /// # Errors
    /// As [`send`](Self::send); on the compact wire also
    /// [`SendError::RequestIdNotCompact`] for an id wider than 16 bits (ids
    /// received on that wire always fit).
    pub fn reply_to(
        &mut self,
        now: Instant,
        request_id: RequestId,
        message: Message,
    ) -> Result<(), SendError> {
        self.send_with_id(now, message, request_id)
    }

    /// Sends `message` and awaits the peer's answer for up to `timeout`. Exactly
    /// one of [`Event::Response`] or [`Event::RequestFailed`] follows for the
    /// returned id (unless [`cancel`](Self::cancel)led).
    ///
    /// # Errors
    /// [`SendError::TooManyPending`], and those of [`send`](Self::send).
    pub fn request(
        &mut self,
        now: Instant,
        message: Message,
        timeout: Duration,
    ) -> Result<RequestId, SendError> {
        self.check_pending_room()?;
        let id = self.send(now, message)?;
        self.pending
            .insert(id, Awaiting::Reply, now.checked_add(timeout));
        Ok(id)
    }

    /// Sends a PING; [`Event::Pong`] with the round-trip time or
    /// [`Event::RequestFailed`] follows for the returned id.
    ///
    /// # Errors
    /// [`SendError::TooManyPending`], [`SendError::Full`], [`SendError::Closed`].
    pub fn ping(&mut self, now: Instant, timeout: Duration) -> Result<RequestId, SendError> {
        self.check_pending_room()?;
        let id = self.fresh_id()?;
        let frame = self.encode(now, MessageType::PING, id, Bytes::new())?;
        self.queue_app(now, frame)?;
        self.pending.insert(
            id,
            Awaiting::Pong { sent_at: now },
            now.checked_add(timeout),
        );
        Ok(id)
    }

    /// Queues a frame encoded once for many peers (a broadcast): no re-hashing
    /// when it is encoded for this connection's wire
    /// ([`ConnectionConfig::wire`]). A frame for the other wire is encoded
    /// again (counted in [`ConnectionStats::frames_reencoded`]).
    ///
    /// On the compact wire a frame whose request id is nil gets a fresh id,
    /// as every message [`send`](Self::send) queues does, so that a Python
    /// peer can never take it for the answer to one of its requests (only
    /// the header is rewritten; the checksum covers the payload alone). To
    /// answer a request use [`reply`](Self::reply).
    ///
    /// # Errors
    /// [`SendError::ReservedType`] for system types, [`SendError::Full`],
    /// [`SendError::Closed`], [`SendError::RequestIdNotCompact`].
    pub fn send_frame(&mut self, now: Instant, frame: EncodedFrame) -> Result<(), SendError> {
        MessageType::new(frame.message_type().code())?;
        let wire = self.dialect.wire();
        let mut frame = frame;
        if frame.wire() != wire {
            frame = frame.to_wire(wire, self.wall_ms(now))?;
            self.stats.frames_reencoded += 1;
        }
        if wire == Wire::Compact && frame.request_id().is_nil() {
            frame = frame.with_request_id(self.fresh_id()?)?;
        }
        // Sent as encoded (not compressed per peer); with compression
        // agreed, a timestamp with bit 63 set would read as the flag, so
        // it is cleared. Held frames are adapted when the handshake ends.
        let frame = self.encoder.adapt(frame, false);
        self.queue_app(now, frame)
    }

    /// Forgets a pending request or ping: no event will be reported for it.
    /// Returns whether it was pending.
    pub fn cancel(&mut self, request_id: RequestId) -> bool {
        self.pending.remove(request_id).is_some()
    }

    /// Gives back the memory of the buffers and queues that are empty now
    /// (the outbound queue, the events, the input buffer, the pending
    /// requests): they keep their capacity from one message to the next,
    /// and a connection that then falls silent would keep it for good.
    /// Call it when the connection goes quiet — after the handshake, after
    /// a keep-alive — never per message: the next traffic allocates again.
    /// Nothing queued is lost.
    pub fn shrink_to_fit(&mut self) {
        self.outbound.shrink_to_fit();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.rx.is_empty() {
            self.rx = BytesMut::new();
        }
        if self.pending.len() == 0 {
            self.pending = PendingTable::default();
        }
    }

    /// Closes the connection: tells the peer why where its dialect allows
    /// (see [`Connection`]'s "Dialects"), keeps what is queued so it can be
    /// flushed, fails pending requests and reports [`Event::Closed`].
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        if self.state == State::Closed {
            return;
        }
        self.notify_close(now, code, reason);
        self.close_with(CloseReason::Local {
            code,
            reason: reason.to_owned(),
        });
    }

    // ----- outputs ------------------------------------------------------

    /// Bytes to write, if any. See [`Transmit`].
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        Transmit::new(&mut self.outbound)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called, or `None` if no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        [
            self.handshake_deadline,
            self.idle_deadline(),
            self.heartbeat_deadline(),
            self.pending.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- state --------------------------------------------------------

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings this connection runs with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// What the handshake settled, once the connection is established.
    pub fn peer_info(&self) -> Option<PeerInfo> {
        self.peer
    }

    /// Server: the client id the peer named itself with, once it has proven
    /// the key the [`key_store`](ConnectionConfig::key_store) holds for that
    /// id (set before [`Event::Connected`] is reported, and kept after the
    /// connection closes). `None` before that, for a peer that sent no id or
    /// proved the shared key, on a server without a key store (which
    /// ignores ids), and always on a client. Never the id of a peer that
    /// did not prove it.
    pub fn peer_client_id(&self) -> Option<&str> {
        self.peer_client_id.as_deref()
    }

    /// The dialect this connection speaks ([`ConnectionConfig::effective_dialect`]).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The wire this connection's frames use.
    pub fn wire(&self) -> Wire {
        self.dialect.wire()
    }

    /// The version a Python peer announced in its handshake (at most 64
    /// bytes kept), once it has: HELLO / HELLO_ACK for Python 1.4 – 1.6,
    /// `"v"` for Python 3.x. `None` in the other dialects.
    pub fn peer_version(&self) -> Option<&str> {
        self.peer_version.as_deref()
    }

    /// Whether the handshake is complete (or not spoken) and the connection is open.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the connection has ended. Flush `poll_transmit`, then close the transport.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Outbound bytes queued (including messages held until the handshake completes).
    #[inline]
    pub fn queued_bytes(&self) -> usize {
        let held = self.handshake.as_ref().map_or(0, |h| h.held.queued_bytes());
        self.outbound.queued_bytes() + held
    }

    /// Whether a send of `len` payload bytes would be accepted now.
    #[inline]
    pub fn can_send(&self, len: usize) -> bool {
        self.state != State::Closed && self.has_room(self.dialect.wire().header_len() + len)
    }

    /// Requests and pings awaiting an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_deref()
    }

    /// Counters.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// The header timestamp for `now`: wall milliseconds from the anchor given
    /// to [`new`](Self::new).
    pub fn wall_ms(&self, now: Instant) -> u64 {
        let (anchor, wall) = self.wall_anchor;
        let elapsed = now.saturating_duration_since(anchor).as_millis();
        wall.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    // ----- internals ----------------------------------------------------

    fn our_features(&self) -> u32 {
        let mut features = 0;
        if self.config.heartbeat_interval.is_some() {
            features |= feature::HEARTBEAT;
        }
        if self.config.pre_shared_key.is_some() {
            features |= feature::AUTH;
        }
        if self.config.compression.is_some() {
            features |= feature::COMPRESSION;
        }
        if self.config.transport_authenticated {
            features |= feature::UNHASHED;
        }
        features
    }

    /// Reads and writes the next classic frames with what the native
    /// handshake agreed (`features`, and the compression `algorithm`).
    fn set_frame_options(&mut self, features: u32, algorithm: Option<Algorithm>) {
        let compression = algorithm.map(|_| self.config.compression.unwrap_or_default());
        let options = FrameOptions::default()
            .with_compression(compression)
            .with_skip_hash(features & feature::UNHASHED != 0);
        self.encoder.set_options(options);
        self.decoder.set_frame_options(options);
    }

    fn idle_deadline(&self) -> Option<Instant> {
        if self.reading_paused {
            return None;
        }
        self.last_rx.checked_add(self.config.idle_timeout?)
    }

    /// Ends the connection without telling the peer, dropping what is queued.
    fn abandon(&mut self, reason: CloseReason) {
        if self.state != State::Closed {
            self.outbound.clear();
            self.close_with(reason);
        }
    }

    fn heartbeat_deadline(&self) -> Option<Instant> {
        if self.state != State::Established {
            return None;
        }
        self.last_tx.checked_add(self.heartbeat_interval()?)
    }

    /// Our heartbeat interval, shortened so the peer's idle timeout (if it
    /// told us one) sees at least three keep-alives; never below 100 ms, so a
    /// peer cannot make us flood it.
    fn heartbeat_interval(&self) -> Option<Duration> {
        const FLOOR: Duration = Duration::from_millis(100);
        let for_peer = self.peer_idle.map(|idle| (idle / 3).max(FLOOR));
        match (self.config.heartbeat_interval, for_peer) {
            (Some(ours), Some(theirs)) => Some(ours.min(theirs)),
            (ours, theirs) => ours.or(theirs),
        }
    }

    /// Our idle timeout as sent in the handshake (ms, 0 for none).
    fn idle_ms(&self) -> u32 {
        self.config.idle_timeout.map_or(0, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        })
    }

    /// A request id not in use, for this connection's wire.
    fn next_request_id(&mut self) -> Option<RequestId> {
        let pending = &self.pending;
        self.ids.next_id(|id| pending.contains(id))
    }

    /// [`next_request_id`](Self::next_request_id) for a mutator. The
    /// configuration keeps pending requests below the compact id window, so
    /// an id is always free; were none, the caller would be told to wait.
    fn fresh_id(&mut self) -> Result<RequestId, SendError> {
        self.next_request_id().ok_or(SendError::TooManyPending {
            limit: self.config.max_pending_requests,
        })
    }

    fn check_pending_room(&self) -> Result<(), SendError> {
        if self.pending.len() >= self.config.max_pending_requests {
            return Err(SendError::TooManyPending {
                limit: self.config.max_pending_requests,
            });
        }
        Ok(())
    }

    #[inline]
    fn has_room(&self, len: usize) -> bool {
        let queued = self.queued_bytes();
        queued == 0 || queued.saturating_add(len) <= self.config.max_outbound_bytes
    }

    fn encode(
        &mut self,
        now: Instant,
        ty: MessageType,
        id: RequestId,
        payload: Bytes,
    ) -> Result<EncodedFrame, SendError> {
        match self.dialect.wire() {
            Wire::Classic => {
                let timestamp_ms = self.wall_ms(now);
                Ok(self.encoder.encode_parts(ty, id, timestamp_ms, payload)?)
            }
            Wire::Compact => {
                let compact = id
                    .to_compact()
                    .ok_or(SendError::RequestIdNotCompact { request_id: id })?;
                Ok(EncodedFrame::compact_from_parts(ty, compact, payload)?)
            }
        }
    }

    fn send_with_id(
        &mut self,
        now: Instant,
        message: Message,
        id: RequestId,
    ) -> Result<(), SendError> {
        MessageType::new(message.message_type().code())?;
        let frame = self.encode(now, message.message_type(), id, message.into_payload())?;
        self.queue_app(now, frame)?;
        Ok(())
    }

    /// Queues an application frame under the outbound bound; held back until
    /// the handshake completes.
    fn queue_app(&mut self, now: Instant, frame: EncodedFrame) -> Result<(), SendError> {
        if let Some(reason) = self.closed_reason() {
            return Err(SendError::Closed(reason));
        }
        if !self.has_room(frame.wire_len()) {
            return Err(SendError::Full);
        }
        if self.state == State::Established {
            self.last_tx = now;
            self.push_out(frame);
        } else {
            self.handshake_mut().held.push(frame);
        }
        Ok(())
    }

    /// Queues a protocol frame (handshake, PONG, HEARTBEAT, ERROR) now.
    fn queue_control(&mut self, now: Instant, ty: MessageType, id: RequestId, payload: Bytes) {
        if let Ok(frame) = self.encode(now, ty, id, payload) {
            self.last_tx = now;
            self.push_out(frame);
        }
    }

    fn push_out(&mut self, frame: EncodedFrame) {
        self.stats.frames_sent += 1;
        self.count_compressed(&frame);
        self.outbound.push(frame);
    }

    fn count_compressed(&mut self, frame: &EncodedFrame) {
        if self.encoder.options().compression.is_some()
            && frame.timestamp_ms() & frame::TIMESTAMP_COMPRESSED != 0
        {
            self.stats.frames_compressed += 1;
        }
    }

    fn closed_reason(&self) -> Option<CloseReason> {
        self.close_reason.as_deref().cloned()
    }

    /// The handshake's state (made again, empty, should it be asked for
    /// after the handshake: a claim or held frames then simply start over).
    fn handshake_mut(&mut self) -> &mut Handshake {
        self.handshake.get_or_insert_with(Box::default)
    }

    /// Held frames go out now; `last_tx` was set when the handshake frame
    /// that completed the handshake (or nothing, for legacy) was queued.
    fn establish(&mut self, now: Instant, peer: Option<PeerInfo>) {
        self.state = State::Established;
        self.handshake_deadline = None;
        let info = peer.unwrap_or(PeerInfo {
            protocol_version: None,
            authenticated: false,
            heartbeat: false,
            dialect: Dialect::Legacy,
            compression: None,
            hash_skipped: false,
        });
        self.peer = Some(info);
        let held = if self.legacy_by_silence {
            // The peer may still speak the handshake: keep what it needs.
            self.handshake
                .as_mut()
                .map(|h| std::mem::replace(&mut h.held, OutboundQueue::keeping_frames()))
        } else {
            self.handshake.take().map(|h| h.held)
        }
        .unwrap_or_default();
        if held.frames() > 0 {
            self.last_tx = now;
            self.stats.frames_sent += held.frames();
        }
        if self.encoder.options() == FrameOptions::PLAIN {
            self.outbound.append(held);
        } else {
            // Held frames were encoded before anything was agreed: compress
            // them now if that is worth it.
            let (encoder, stats) = (&mut self.encoder, &mut self.stats);
            self.outbound.append_with(held, |frame| {
                let frame = encoder.adapt(frame, true);
                if frame.timestamp_ms() & frame::TIMESTAMP_COMPRESSED != 0 {
                    stats.frames_compressed += 1;
                }
                frame
            });
        }
        self.events.push_back(Event::Connected(info));
    }

    fn on_frame(&mut self, now: Instant, message: Message) {
        match self.state {
            State::AwaitAck => self.on_frame_awaiting_ack(now, message),
            State::AwaitHello => self.on_first_frame(now, message),
            State::AwaitProof => match self.handshake.as_ref().and_then(|h| h.transcript) {
                Some(key) => self.on_frame_awaiting_proof(now, message, key),
                None => self.fail(now, CloseReason::AuthFailed("no handshake to prove")),
            },
            State::Established => self.on_established_frame(now, message),
            State::AwaitPyHello => self.on_python14_hello(now, message),
            State::AwaitPyHelloAck(id) => self.on_python14_ack(now, message, id),
            // No frame is read while the JSON handshake lasts.
            State::AwaitJsonGreeting | State::AwaitJsonResult | State::AwaitJsonReply => {}
            State::Closed => {}
        }
    }

    fn on_established_frame(&mut self, now: Instant, message: Message) {
        let negotiated = self.peer.is_some_and(|p| p.protocol_version.is_some());
        // Python 1.4 – 1.6 peers use HELLO / HELLO_ACK for their handshake only.
        let handshake_over = negotiated || self.dialect == Dialect::Python14;
        let id = message.request_id();
        match message.message_type().code() {
            code::PING => {
                if self.outbound.queued_bytes() < self.config.max_outbound_bytes {
                    self.queue_control(now, MessageType::PONG, id, Bytes::new());
                } else {
                    self.stats.pongs_dropped += 1;
                }
            }
            code::PONG => match self
                .pending
                .take_if(id, |a| matches!(a, Awaiting::Pong { .. }))
            {
                Some(Awaiting::Pong { sent_at }) => self.events.push_back(Event::Pong {
                    request_id: id,
                    rtt: now.saturating_duration_since(sent_at),
                }),
                _ => self.stats.unmatched_pongs += 1,
            },
            code::HEARTBEAT => {}
            code::ERROR if negotiated => self.on_peer_close(message.payload()),
            code::HELLO if self.legacy_by_silence && self.stats.frames_sent == 0 => {
                // The peer was only slow: it speaks the handshake after all.
                self.legacy_by_silence = false;
                self.state = State::AwaitHello;
                self.peer = None;
                self.on_hello(now, &message);
            }
            // Handshake frames are never application messages: after a
            // handshake, or from a peer that spoke none (a dialect mismatch,
            // such as a Python 1.4 server's HELLO to a legacy client), they
            // end the connection rather than reach the application.
            code::HELLO | code::HELLO_ACK | code::AUTH => {
                let why = if handshake_over {
                    "handshake frame after the handshake"
                } else {
                    "handshake frame from a peer that spoke no handshake"
                };
                self.fail(now, CloseReason::ProtocolViolation(why));
            }
            _ => {
                if self.legacy_by_silence {
                    // The peer spoke: it is legacy for good.
                    self.legacy_by_silence = false;
                    self.handshake = None;
                }
                match self.pending.take_if(id, |a| a == Awaiting::Reply) {
                    Some(_) => self.events.push_back(Event::Response {
                        request_id: id,
                        message,
                    }),
                    None => self.events.push_back(Event::Message(message)),
                }
            }
        }
    }

    fn on_peer_close(&mut self, payload: &[u8]) {
        let (code, reason) = handshake::parse_close(payload)
            .unwrap_or((CloseCode::PROTOCOL_VIOLATION.0, String::new()));
        self.outbound.clear();
        self.close_with(CloseReason::Peer {
            code: CloseCode(code),
            reason,
        });
    }

    /// Closes for a protocol failure, telling the peer why where it would
    /// understand. A failed Python handshake is closed without a word, as
    /// Python Veltix does.
    fn fail(&mut self, now: Instant, reason: CloseReason) {
        tracing::debug!(%reason, "closing connection");
        if !(self.dialect.is_python() && self.state != State::Established) {
            self.notify_close(now, reason.code(), &reason.to_string());
        }
        self.close_with(reason);
    }

    /// Queues what announces a close, where the peer understands it:
    /// - native negotiated peers: an ERROR frame, always;
    /// - legacy and Python 1.4 – 1.6 peers: an ERROR frame for errors only (a
    ///   Python peer shows it as a message, which is right for "server full"
    ///   but wrong for an orderly close or a shutdown);
    /// - Python 3.x peers: nothing (they drop every type but PING and PONG),
    ///   except `{"error": "server_full"}` in place of the server's greeting.
    ///
    /// A server-first greeting not yet written is withdrawn: a refused peer
    /// sees no handshake.
    fn notify_close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        // A refusal withdraws what the peer has not seen yet (a HELLO_ACK
        // queued just before the application refused the peer), so the
        // peer's handshake fails with the reason instead of completing first.
        let refusal = code == CloseCode::REFUSED;
        if (refusal
            || matches!(
                self.state,
                State::AwaitPyHelloAck(_) | State::AwaitJsonReply
            ))
            && !self.outbound.has_written()
        {
            self.stats.frames_sent = self
                .stats
                .frames_sent
                .saturating_sub(self.outbound.frames());
            self.outbound.clear();
            // Nothing the handshake agreed reached the peer: it reads this
            // close as a plain frame.
            self.set_frame_options(0, None);
        }
        if self.dialect == Dialect::Python3 {
            if self.state == State::AwaitJsonReply && code == CloseCode::SERVER_FULL {
                self.outbound
                    .push_raw(&python3::framed(python3::SERVER_FULL));
            }
            return;
        }
        let negotiated = self.peer.is_some_and(|p| p.protocol_version.is_some());
        let orderly = code == CloseCode::NORMAL || code == CloseCode::SHUTDOWN;
        if negotiated || !orderly {
            self.queue_control(
                now,
                MessageType::ERROR,
                RequestId::NIL,
                handshake::encode_close(code.0, reason).into(),
            );
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.handshake_deadline = None;
        self.handshake = None;
        for request_id in self.pending.drain() {
            self.events.push_back(Event::RequestFailed {
                request_id,
                error: RequestError::ConnectionClosed(reason.clone()),
            });
        }
        self.close_reason = Some(Box::new(reason.clone()));
        self.events.push_back(Event::Closed(reason));
    }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;

    use super::*;
    use crate::compression::Compression;
    use crate::frame::hash_count;

    fn pair(
        client: ConnectionConfig,
        server: ConnectionConfig,
    ) -> (Connection, Connection, Instant) {
        let now = Instant::now();
        let client = Connection::new(Role::Client, client, now, 1, [1; 32]).expect("valid");
        let server = Connection::new(Role::Server, server, now, 1, [2; 32]).expect("valid");
        (client, server, now)
    }

    fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
        while let Some(mut t) = from.poll_transmit() {
            let bytes = t.copy_to_bytes(t.remaining());
            to.handle_input(now, &bytes);
        }
    }

    /// Payload hashes computed (both sides, this thread) while the client
    /// and the server each send `n` messages of `len` bytes after the
    /// handshake.
    fn hashes_for(client: ConnectionConfig, server: ConnectionConfig, n: usize, len: usize) -> u64 {
        let (mut c, mut s, now) = pair(client, server);
        for _ in 0..3 {
            pump(&mut c, &mut s, now);
            pump(&mut s, &mut c, now);
        }
        assert!(c.is_established() && s.is_established());
        while c.poll_event().is_some() || s.poll_event().is_some() {}
        let before = hash_count::get();
        let chat = MessageType::from_code(200);
        for i in 0..n {
            let payload = vec![i as u8; len];
            c.send(now, Message::new(chat, payload.clone()))
                .expect("queued");
            s.send(now, Message::new(chat, payload)).expect("queued");
        }
        pump(&mut c, &mut s, now);
        pump(&mut s, &mut c, now);
        let received = std::iter::from_fn(|| c.poll_event())
            .chain(std::iter::from_fn(|| s.poll_event()))
            .filter(|e| matches!(e, Event::Message(m) if m.payload().len() == len))
            .count();
        assert_eq!(received, 2 * n);
        hash_count::get() - before
    }

    fn tls(on: bool) -> ConnectionConfig {
        ConnectionConfig {
            transport_authenticated: on,
            ..ConnectionConfig::default()
        }
    }

    #[test]
    fn agreed_hash_skipping_hashes_nothing_and_otherwise_every_frame_twice() {
        assert_eq!(hashes_for(tls(true), tls(true), 50, 4096), 0);
        // One side without an authenticated transport: sender and receiver
        // each hash every frame, as always.
        assert_eq!(hashes_for(tls(true), tls(false), 50, 4096), 200);
        assert_eq!(hashes_for(tls(false), tls(true), 50, 4096), 200);
        assert_eq!(hashes_for(tls(false), tls(false), 50, 4096), 200);
        // With compression as well: still none.
        let mut both = tls(true);
        both.compression = Some(Compression::default());
        assert_eq!(hashes_for(both.clone(), both, 50, 4096), 0);
    }
}
