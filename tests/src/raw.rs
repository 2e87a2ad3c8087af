//! Raw peers and frame builders: how the suites speak to a Veltix server
//! byte by byte, including the bytes no well-behaved peer would send.
//!
//! # Why blocking `std::net::TcpStream`
//!
//! The conformance and hostile suites are generic over the runtime, and a
//! raw peer must not tie them to one. A raw peer is therefore a plain
//! blocking [`std::net::TcpStream`] used from its own OS thread (see
//! [`crate::support::on_thread`], which hands the result back through a
//! runtime-neutral channel). Every read has a deadline, so a thread never
//! outlives its test by more than a few seconds. `socket2` is used only for
//! socket options std does not offer (`SO_LINGER` 0 for a reset,
//! `SO_RCVBUF` for a peer that hardly reads).
//!
//! Frames are built with `veltix_core::frame` ([`EncodedFrame`], [`Header`]),
//! never with the server under test; the handshake payloads are written here
//! from `veltix-core/docs/protocol.md`, independently of the core's own
//! encoder, so a wrong layout in either would show.

use std::io::{self, ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use veltix_core::frame::{Decoder, EncodedFrame, HEADER_LEN, Header, payload_hash};
use veltix_core::{Message, MessageType, RequestId};

/// HELLO feature bit: the side sends HEARTBEAT frames when idle.
pub const FEATURE_HEARTBEAT: u32 = 0x1;
/// HELLO feature bit: the side holds a pre-shared key.
pub const FEATURE_AUTH: u32 = 0x2;

/// The whole frame for a message of any type code (system codes included).
pub fn frame(ty: MessageType, id: u128, payload: &[u8]) -> Vec<u8> {
    let message = Message::new(ty, payload.to_vec()).with_request_id(RequestId::from_u128(id));
    EncodedFrame::new(&message)
        .expect("test payloads are small")
        .to_bytes()
        .to_vec()
}

/// A frame whose last payload byte was flipped after hashing: its hash does
/// not match, but its length is valid. `payload` must not be empty.
pub fn corrupt_frame(ty: MessageType, id: u128, payload: &[u8]) -> Vec<u8> {
    assert!(
        !payload.is_empty(),
        "a corrupt frame needs a payload byte to flip"
    );
    let mut bytes = frame(ty, id, payload);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    bytes
}

/// A lone header announcing a `len`-byte payload (no payload follows).
pub fn header_only(ty: MessageType, len: u32) -> [u8; HEADER_LEN] {
    Header {
        message_type: ty,
        payload_len: len,
        payload_hash: payload_hash(b""),
        timestamp_ms: 0,
        request_id: RequestId::from_u128(1),
    }
    .to_bytes()
}

/// The 45-byte HELLO payload of `docs/protocol.md` §3.1.
pub fn hello_payload(
    min_version: u16,
    max_version: u16,
    features: u32,
    nonce: [u8; 32],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(45);
    out.extend_from_slice(b"VLTX");
    out.push(1);
    out.extend_from_slice(&min_version.to_be_bytes());
    out.extend_from_slice(&max_version.to_be_bytes());
    out.extend_from_slice(&features.to_be_bytes());
    out.extend_from_slice(&nonce);
    out
}

/// An ERROR frame's payload, `[u16 code][utf-8 reason]` (§5), split up.
pub fn parse_close(payload: &[u8]) -> Option<(u16, String)> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    Some((
        u16::from_be_bytes(*code),
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

/// `len` pseudo-random bytes from `seed` (xorshift64*: the same seed gives
/// the same bytes, so a failure can be replayed).
pub fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// How a raw peer's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Orderly end of stream (the server shut its side down).
    Eof,
    /// The connection was reset or aborted.
    Reset,
}

/// What a raw peer saw until its connection ended.
#[derive(Debug)]
pub struct Closed {
    /// Every frame received, in order.
    pub frames: Vec<Message>,
    /// How the stream ended.
    pub ending: Ending,
    /// When the end was noticed.
    pub at: Instant,
}

impl Closed {
    /// The close code of the last ERROR frame received, if any.
    pub fn close_code(&self) -> Option<u16> {
        self.frames
            .iter()
            .rev()
            .find(|m| m.message_type() == MessageType::ERROR)
            .and_then(|m| parse_close(m.payload()))
            .map(|(code, _)| code)
    }

    /// Frames other than keep-alives (HEARTBEAT, PING, PONG).
    pub fn app_frames(&self) -> Vec<&Message> {
        self.frames.iter().filter(|m| !is_keepalive(m)).collect()
    }
}

fn is_keepalive(m: &Message) -> bool {
    [MessageType::HEARTBEAT, MessageType::PING, MessageType::PONG].contains(&m.message_type())
}

/// A blocking raw TCP peer that reads and writes frames by hand.
#[derive(Debug)]
pub struct RawPeer {
    stream: TcpStream,
    rx: BytesMut,
    decoder: Decoder,
    buf: Box<[u8]>,
}

impl RawPeer {
    /// Connects to `addr`.
    ///
    /// # Errors
    /// The OS's connect error.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        Ok(Self::from_stream(stream))
    }

    /// Connects with a receive buffer of about `bytes` (set before connecting,
    /// so the advertised window stays small): a peer that hardly reads.
    ///
    /// # Errors
    /// The OS's socket or connect error.
    pub fn connect_with_recv_buffer(addr: SocketAddr, bytes: usize) -> io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_recv_buffer_size(bytes)?;
        socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
        Ok(Self::from_stream(socket.into()))
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        Self {
            stream,
            rx: BytesMut::new(),
            decoder: Decoder::default(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    /// The local address (what the server sees as the peer's address).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream
            .local_addr()
            .expect("a connected socket has an address")
    }

    /// Writes raw bytes (write timeout 10 s).
    ///
    /// # Errors
    /// The OS's write error (a reset, a broken pipe, a timeout).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes one well-formed frame: type `ty` (any code, system ones too),
    /// request id `id`, `payload`.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn send(&mut self, ty: MessageType, id: u128, payload: &[u8]) -> io::Result<()> {
        self.write(&frame(ty, id, payload))
    }

    /// Speaks the client side of the handshake (versions 1..=1, HEARTBEAT
    /// offered, no key) and returns the server's HELLO_ACK.
    ///
    /// # Panics
    /// When the first frame back is not a HELLO_ACK with the `VLTX` magic.
    pub fn handshake(&mut self) -> Message {
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&0x5eed_u64.to_be_bytes());
        let hello = hello_payload(1, 1, FEATURE_HEARTBEAT, nonce);
        self.send(MessageType::HELLO, 7, &hello)
            .expect("send HELLO");
        let ack = self
            .next_frame(Duration::from_secs(5))
            .expect("read HELLO_ACK")
            .expect("the server closed instead of answering HELLO");
        assert_eq!(
            ack.message_type(),
            MessageType::HELLO_ACK,
            "first frame back"
        );
        assert_eq!(
            ack.request_id(),
            RequestId::from_u128(7),
            "HELLO_ACK echoes the HELLO id"
        );
        assert!(
            ack.payload().len() >= 43,
            "HELLO_ACK payload is 43 bytes or more"
        );
        assert_eq!(
            &ack.payload()[..5],
            b"VLTX\x01",
            "HELLO_ACK magic and layout"
        );
        ack
    }

    /// The next whole frame, waiting up to `timeout`; `Ok(None)` at end of stream.
    ///
    /// # Errors
    /// `TimedOut` when no frame completed in time, `InvalidData` for a frame
    /// the decoder refused, or the OS's read error (a reset).
    pub fn next_frame(&mut self, timeout: Duration) -> io::Result<Option<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.decoder.decode(&mut self.rx) {
                Ok(Some(message)) => return Ok(Some(message)),
                Ok(None) => {}
                Err(err) => return Err(io::Error::new(ErrorKind::InvalidData, err)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.rx.extend_from_slice(&self.buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ErrorKind::TimedOut.into());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next frame that is not a keep-alive, answering PINGs with PONGs on
    /// the way; `Ok(None)` at end of stream.
    ///
    /// # Errors
    /// As [`next_frame`](Self::next_frame).
    pub fn next_app_frame(&mut self, timeout: Duration) -> io::Result<Option<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(message) = self.next_frame(left)? else {
                return Ok(None);
            };
            if message.message_type() == MessageType::PING {
                let id = message.request_id().to_u128();
                self.send(MessageType::PONG, id, b"")?;
            }
            if !is_keepalive(&message) {
                return Ok(Some(message));
            }
        }
    }

    /// Reads (without answering anything) until the server ends the
    /// connection, up to `timeout`.
    ///
    /// # Panics
    /// When the connection is still open after `timeout`, or a frame cannot be decoded.
    pub fn read_until_closed(&mut self, timeout: Duration) -> Closed {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left) {
                Ok(Some(message)) => frames.push(message),
                Ok(None) => {
                    return Closed {
                        frames,
                        ending: Ending::Eof,
                        at: Instant::now(),
                    };
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    panic!("still open after {timeout:?}; frames so far: {frames:?}")
                }
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    panic!("undecodable frame from the server: {e}")
                }
                Err(_) => {
                    return Closed {
                        frames,
                        ending: Ending::Reset,
                        at: Instant::now(),
                    };
                }
            }
        }
    }

    /// Reads until no frame of `type_code` has come for `quiet` (other frames,
    /// such as the server's heartbeats, are read but do not count as
    /// activity), or the stream ends; returns every frame read.
    ///
    /// # Panics
    /// When more than `limit` passes in total, or reading fails.
    pub fn drain(
        &mut self,
        type_code: MessageType,
        quiet: Duration,
        limit: Duration,
    ) -> Vec<Message> {
        let deadline = Instant::now() + limit;
        let mut frames = Vec::new();
        let mut last_activity = Instant::now();
        loop {
            assert!(Instant::now() < deadline, "still receiving after {limit:?}");
            let left = (last_activity + quiet).saturating_duration_since(Instant::now());
            match self.next_frame(left) {
                Ok(Some(message)) => {
                    if message.message_type() == type_code {
                        last_activity = Instant::now();
                    }
                    frames.push(message);
                }
                Ok(None) => return frames,
                Err(e) if e.kind() == ErrorKind::TimedOut => return frames,
                Err(e) => panic!("reading failed: {e}"),
            }
        }
    }

    /// Aborts the connection with a reset (`SO_LINGER` 0, then close).
    pub fn reset(self) {
        let socket = socket2::SockRef::from(&self.stream);
        socket
            .set_linger(Some(Duration::ZERO))
            .expect("set SO_LINGER 0");
        drop(self);
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
