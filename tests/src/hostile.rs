//! The hostile-peer suite: raw sockets that send what no well-behaved peer
//! would, against a server whose echo is an `on_message` callback with
//! `try_reply`. Each test checks what happens to the hostile peer (closed,
//! with which code, how soon) and that a well-behaved client next to it keeps
//! getting its replies.
//!
//! Like the conformance suite, every function is generic over the runtime
//! and listed in [`hostile_tests!`](crate::hostile_tests); the hostile
//! behaviours themselves are blocking functions on plain threads
//! (see [`crate::raw`]), so they are the same whatever runtime the server
//! runs on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::join_all;
use veltix_core::MessageType;
use veltix_driver::{
    Client, ClientConfig, CloseCode, CloseReason, ConnectionConfig, PeerId, Runtime, Server,
    ServerConfig,
};

use crate::raw::{self, Ending, RawPeer};
use crate::support::{DATA, ECHO, STEP, bind, connect, eventually, msg, on_thread, spawn, within};

/// Expands `$callback! { name, name, … }` with the name of every hostile-peer
/// test, so each runtime's runner runs the same list.
#[macro_export]
macro_rules! hostile_tests {
    ($callback:ident) => {
        $callback! {
            oversized_length_is_refused_with_code_5,
            corrupt_frame_is_dropped_and_the_next_is_echoed,
            random_garbage_is_cut_off,
            half_frame_then_silence_is_closed_by_idle_timeout,
            trickling_peer_is_closed_by_idle_timeout,
            reset_mid_frame_is_noticed,
            two_hundred_concurrent_clients,
            ping_flood_from_a_peer_that_never_reads,
            hostile_mix_leaves_a_good_client_alone,
        }
    };
}

/// The idle timeout of the hostile suite's server: short, so stalling
/// peers are cut off within the test.
pub const IDLE: Duration = Duration::from_secs(1);

/// Longest a well-behaved client's request may take while hostile peers
/// are at work (generous: a loaded 2-core machine running a debug build).
pub const GOOD_LATENCY: Duration = Duration::from_secs(1);

/// Protocol settings of the hostile suite: 1 s idle timeout, 300 ms heartbeat.
pub fn hostile_connection() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.idle_timeout = Some(IDLE);
    c.heartbeat_interval = Some(Duration::from_millis(300));
    c.handshake_timeout = Duration::from_secs(1);
    c.legacy_wait = Duration::from_millis(300);
    c.max_outbound_bytes = 64 * 1024;
    c
}

/// An echo server, the peers it has seen come and go, and a well-behaved client.
pub struct Fixture<R: Runtime + Default> {
    /// The server under attack.
    pub server: Server<R>,
    /// Its address.
    pub addr: SocketAddr,
    /// A well-behaved client of it.
    pub good: Client<R>,
    connects: mpsc::UnboundedReceiver<(PeerId, SocketAddr)>,
    disconnects: mpsc::UnboundedReceiver<(PeerId, CloseReason)>,
}

impl<R: Runtime + Default> Fixture<R> {
    /// A server with [`hostile_connection`] settings and a connected good client.
    pub async fn new() -> Self {
        Self::with(hostile_connection()).await
    }

    /// The same with other protocol settings.
    pub async fn with(connection: ConnectionConfig) -> Self {
        let mut config = ServerConfig::new("127.0.0.1:0").connection(connection.clone());
        config.shutdown_timeout = Duration::from_secs(3);
        let server = bind::<R>(config).await;
        server.on_message(|peer, message| {
            let answer = msg(message.message_type(), message.payload().clone());
            // A peer that does not read may have a full queue: its loss.
            let _ = peer.try_reply(&message, answer);
        });
        let (connect_tx, connects) = mpsc::unbounded();
        server.on_connect(move |peer, _| {
            let _ = connect_tx.unbounded_send((peer.id(), peer.addr()));
        });
        let (disconnect_tx, disconnects) = mpsc::unbounded();
        server.on_disconnect(move |peer, reason| {
            let _ = disconnect_tx.unbounded_send((peer, reason.clone()));
        });
        let addr = server.local_addr();
        let good = connect::<R>(good_config(addr, connection)).await;
        let mut fixture = Self {
            server,
            addr,
            good,
            connects,
            disconnects,
        };
        fixture.check_good().await;
        fixture.connects.next().await; // the good client's own connect
        fixture
    }

    /// Three requests from the good client, each answered within [`GOOD_LATENCY`].
    pub async fn check_good(&self) {
        for i in 0..3 {
            let text = format!("good {i}");
            let reply = within::<R, _>(
                GOOD_LATENCY,
                "the good client's request",
                self.good.request(msg(ECHO, text.clone()), STEP),
            )
            .await
            .expect("the good client is answered");
            assert_eq!(reply.payload().as_ref(), text.as_bytes());
        }
    }

    /// The id of the peer connected from `addr` (waits for its connect).
    pub async fn peer_at(&mut self, addr: SocketAddr) -> PeerId {
        loop {
            let (peer, at) = within::<R, _>(STEP, "a connect", self.connects.next())
                .await
                .expect("connect channel open");
            if at == addr {
                return peer;
            }
        }
    }

    /// Why `peer` was disconnected (waits for it).
    pub async fn disconnect_of(&mut self, peer: PeerId) -> CloseReason {
        loop {
            let (gone, reason) = within::<R, _>(STEP, "a disconnect", self.disconnects.next())
                .await
                .expect("disconnect channel open");
            if gone == peer {
                return reason;
            }
        }
    }

    /// Closes the good client and shuts the server down.
    pub async fn finish(self) {
        self.check_good().await;
        within::<R, _>(STEP, "good client close", self.good.close()).await;
        within::<R, _>(STEP, "shutdown", self.server.shutdown())
            .await
            .expect("shutdown");
    }
}

fn good_config(addr: SocketAddr, connection: ConnectionConfig) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string()).connection(connection);
    c.connect_timeout = Duration::from_secs(3);
    c
}

/// Runs the good client's requests back to back until `stop` is set;
/// returns how many it made and the slowest one.
async fn keep_asking<R: Runtime + Default>(
    client: Client<R>,
    stop: Arc<AtomicBool>,
) -> (u32, Duration) {
    let mut count = 0;
    let mut slowest = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let text = format!("steady {count}");
        let reply = within::<R, _>(
            GOOD_LATENCY,
            "a steady request during the attack",
            client.request(msg(ECHO, text.clone()), STEP),
        )
        .await
        .expect("the good client is answered during the attack");
        assert_eq!(reply.payload().as_ref(), text.as_bytes());
        slowest = slowest.max(started.elapsed());
        count += 1;
    }
    (count, slowest)
}

/// Runs `attack` (blocking, on a thread) while the good client keeps asking;
/// returns the attack's result once both are done.
async fn during_attack<R: Runtime + Default, T: Send + 'static>(
    fixture: &Fixture<R>,
    limit: Duration,
    what: &str,
    attack: impl FnOnce() -> T + Send + 'static,
) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let asking = spawn::<R, _>(keep_asking(fixture.good.clone(), stop.clone()));
    let result = on_thread::<R, _>(limit, what, attack).await;
    stop.store(true, Ordering::SeqCst);
    let (count, slowest) = within::<R, _>(STEP, "the steady client", asking).await;
    assert!(count > 0, "the good client made no request during {what}");
    assert!(
        slowest < GOOD_LATENCY,
        "slowest reply {slowest:?} during {what}"
    );
    result
}

// ----- the hostile behaviours (blocking; each asserts its own outcome) -----

/// A header announcing 4 GiB-1 bytes: the server answers ERROR code 5 and
/// closes, before or after the handshake.
pub fn oversized_peer(addr: SocketAddr, handshake: bool) -> SocketAddr {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    raw.write(&raw::header_only(DATA, u32::MAX))
        .expect("write the header");
    let started = Instant::now();
    let closed = raw.read_until_closed(Duration::from_secs(3));
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::PAYLOAD_TOO_LARGE.0),
        "frames: {:?}",
        closed.frames
    );
    assert_eq!(
        closed.app_frames().len(),
        1,
        "only the ERROR frame: {:?}",
        closed.frames
    );
    assert_eq!(
        closed.ending,
        Ending::Eof,
        "an orderly close after the ERROR frame"
    );
    assert!(
        closed.at - started < IDLE,
        "refused on the header at once, not by a timeout ({:?})",
        closed.at - started
    );
    raw.local_addr()
}

/// A frame with a bad hash, then a good one: the first is dropped, the second
/// echoed, and the connection lives on.
pub fn corrupt_then_good_peer(addr: SocketAddr, handshake: bool) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    let mut burst = raw::corrupt_frame(ECHO, 100, b"bad payload");
    burst.extend(raw::frame(ECHO, 101, b"good payload"));
    raw.write(&burst).expect("write");
    let echo = raw
        .next_app_frame(Duration::from_secs(3))
        .expect("read")
        .expect("still open");
    assert_eq!(
        echo.request_id().to_u128(),
        101,
        "the corrupt frame was not echoed"
    );
    assert_eq!(&echo.payload()[..], b"good payload");

    // Once more, with the corrupt frame alone in its own write.
    raw.write(&raw::corrupt_frame(ECHO, 102, b"bad again"))
        .expect("write");
    raw.write(&raw::frame(ECHO, 103, b"good again"))
        .expect("write");
    let echo = raw
        .next_app_frame(Duration::from_secs(3))
        .expect("read")
        .expect("still open");
    assert_eq!(echo.request_id().to_u128(), 103);
    assert_eq!(&echo.payload()[..], b"good again");
}

/// 8 KiB of seeded random bytes: the server cuts the peer off, at the latest
/// by the idle timeout, and never echoes anything.
pub fn garbage_peer(addr: SocketAddr, seed: u64, handshake: bool) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    // The server may close while we write: that is the point.
    let _ = raw.write(&raw::garbage(seed, 8 * 1024));
    let closed = raw.read_until_closed(IDLE * 3);
    if let Some(code) = closed.close_code() {
        assert!(
            [
                CloseCode::PROTOCOL_VIOLATION.0,
                CloseCode::PAYLOAD_TOO_LARGE.0,
                CloseCode::IDLE_TIMEOUT.0,
                CloseCode::HANDSHAKE_TIMEOUT.0,
            ]
            .contains(&code),
            "seed {seed}: closed with code {code}"
        );
    }
    assert!(
        closed
            .app_frames()
            .iter()
            .all(|m| m.message_type() == MessageType::ERROR),
        "seed {seed}: garbage was echoed: {:?}",
        closed.frames
    );
}

/// Half a frame, then silence: the idle timeout closes the peer with code 7,
/// about [`IDLE`] after its last whole frame. `bytes_sent` bytes of a
/// 1000-byte frame are sent (under 62 stops inside the header).
pub fn half_frame_peer(addr: SocketAddr, bytes_sent: usize) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let last_whole_frame = Instant::now();
    let frame = raw::frame(ECHO, 5, &[7; 1000]);
    raw.write(&frame[..bytes_sent]).expect("write half a frame");
    let closed = raw.read_until_closed(IDLE * 4);
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::IDLE_TIMEOUT.0),
        "{:?}",
        closed.frames
    );
    let after = closed.at - last_whole_frame;
    assert!(
        after >= IDLE - Duration::from_millis(100),
        "closed early, after {after:?}"
    );
    assert!(after < IDLE * 3, "closed late, after {after:?}");
}

/// One byte every 50 ms of a frame that would take 10 s to finish: cut off
/// by the idle timeout all the same.
pub fn trickling_peer(addr: SocketAddr) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let last_whole_frame = Instant::now();
    let frame = raw::frame(ECHO, 9, &[1; 138]);
    for byte in frame.chunks(1) {
        if raw.write(byte).is_err() {
            break; // reset by the server
        }
        match raw.next_frame(Duration::from_millis(50)) {
            Ok(Some(m)) if m.message_type() == MessageType::ERROR => {
                let (code, _) = raw::parse_close(m.payload()).expect("close payload");
                assert_eq!(code, CloseCode::IDLE_TIMEOUT.0);
                let after = last_whole_frame.elapsed();
                assert!(
                    after >= IDLE - Duration::from_millis(100),
                    "closed early: {after:?}"
                );
                assert!(after < IDLE * 3, "closed late: {after:?}");
                return;
            }
            Ok(Some(m)) => assert!(
                m.message_type() == MessageType::HEARTBEAT,
                "unexpected {m:?}"
            ),
            Ok(None) => panic!("closed without saying why"),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    panic!("the trickle was never cut off");
}

/// Half a frame, then a reset (`SO_LINGER` 0): returns the peer's address.
pub fn resetting_peer(addr: SocketAddr) -> SocketAddr {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let local = raw.local_addr();
    let frame = raw::frame(ECHO, 11, &[3; 500]);
    raw.write(&frame[..200]).expect("write part of a frame");
    raw.reset();
    local
}

// ----- the tests -----

/// A 4 GiB-1 length is refused with ERROR code 5, before and after the handshake.
pub async fn oversized_length_is_refused_with_code_5<R: Runtime + Default>() {
    let mut fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let legacy = on_thread::<R, _>(STEP, "oversized legacy peer", move || {
        oversized_peer(addr, false)
    })
    .await;
    let negotiated = on_thread::<R, _>(STEP, "oversized negotiated peer", move || {
        oversized_peer(addr, true)
    })
    .await;
    let peer = fixture.peer_at(negotiated).await;
    let reason = fixture.disconnect_of(peer).await;
    assert_eq!(reason.code(), CloseCode::PAYLOAD_TOO_LARGE, "{reason:?}");
    assert!(
        fixture
            .server
            .peers()
            .iter()
            .all(|p| p.addr() != legacy && p.addr() != negotiated)
    );
    fixture.finish().await;
}

/// A frame whose hash does not match is dropped; the good frame after it is echoed.
pub async fn corrupt_frame_is_dropped_and_the_next_is_echoed<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    on_thread::<R, _>(STEP, "corrupt frame after handshake", move || {
        corrupt_then_good_peer(addr, true)
    })
    .await;
    on_thread::<R, _>(STEP, "corrupt first frame (legacy)", move || {
        corrupt_then_good_peer(addr, false)
    })
    .await;
    fixture.finish().await;
}

/// Random bytes, before or after the handshake, get the peer cut off.
pub async fn random_garbage_is_cut_off<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let peers = (1..=8u64).map(|seed| {
        on_thread::<R, _>(IDLE * 4, "garbage peer", move || {
            garbage_peer(addr, seed, seed % 2 == 0)
        })
    });
    join_all(peers).await;
    fixture.finish().await;
}

/// Half a frame (inside the header, or inside the payload) then silence:
/// closed by the idle timeout, while the good client is served throughout.
pub async fn half_frame_then_silence_is_closed_by_idle_timeout<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    during_attack(&fixture, IDLE * 5, "half frames", move || {
        let inside_header = std::thread::spawn(move || half_frame_peer(addr, 30));
        half_frame_peer(addr, 62 + 10);
        inside_header.join().expect("the other half-frame peer");
    })
    .await;
    fixture.finish().await;
}

/// A peer trickling one byte at a time is closed by the idle timeout.
pub async fn trickling_peer_is_closed_by_idle_timeout<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    during_attack(&fixture, IDLE * 5, "trickle", move || trickling_peer(addr)).await;
    fixture.finish().await;
}

/// A reset in the middle of a frame ends that peer (transport closed) and
/// nothing else.
pub async fn reset_mid_frame_is_noticed<R: Runtime + Default>() {
    let mut fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let local = on_thread::<R, _>(STEP, "resetting peer", move || resetting_peer(addr)).await;
    let peer = fixture.peer_at(local).await;
    let reason = fixture.disconnect_of(peer).await;
    assert_eq!(reason, CloseReason::TransportClosed);
    assert!(fixture.server.peer(peer).is_none());
    assert_eq!(
        fixture.server.peers().len(),
        1,
        "only the good client is left"
    );
    fixture.finish().await;
}

/// 200 clients connect at once and each makes requests; all are answered.
pub async fn two_hundred_concurrent_clients<R: Runtime + Default>() {
    const CLIENTS: usize = 200;
    const REQUESTS: usize = 5;
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let clients = (0..CLIENTS).map(|i| {
        spawn::<R, _>(async move {
            let mut config = good_config(addr, hostile_connection());
            config.connect_timeout = STEP;
            let client = within::<R, _>(STEP * 2, "connect", Client::<R>::connect(config))
                .await
                .unwrap_or_else(|e| panic!("client {i} could not connect: {e}"));
            for j in 0..REQUESTS {
                let text = format!("client {i} request {j}");
                let reply = within::<R, _>(
                    STEP,
                    "request",
                    client.request(msg(ECHO, text.clone()), STEP),
                )
                .await
                .unwrap_or_else(|e| panic!("client {i} request {j}: {e}"));
                assert_eq!(reply.payload().as_ref(), text.as_bytes());
            }
            client
        })
    });
    let clients = within::<R, _>(STEP * 3, "200 clients", join_all(clients)).await;
    assert_eq!(fixture.server.peers().len(), CLIENTS + 1);
    fixture.check_good().await;
    let closing = clients.iter().map(Client::close);
    within::<R, _>(STEP, "200 closes", join_all(closing)).await;
    fixture.finish().await;
}

/// The most a kernel may buffer for one loopback connection's sending side
/// (`tcp_wmem`'s maximum on Linux; 4 MiB where it cannot be read).
fn kernel_send_buffer_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * 1024 * 1024)
}

/// A peer that floods PINGs and never reads: the PONGs it is owed are
/// dropped once its outbound queue is full (its memory on the server stays
/// bounded), the server keeps serving others meanwhile, and the peer is
/// answered again once it reads.
///
/// The PINGs are numbered, and each PONG carries its PING's number. An
/// unbounded server would answer every one; a bounded one answers the first
/// PINGs until the queue and the kernel's buffers are full, then drops. So
/// the first unanswered PING must come within what those can hold, whatever
/// the server answers later (once the peer reads again it catches up on
/// PINGs still waiting in its receive buffer, which says nothing about memory).
pub async fn ping_flood_from_a_peer_that_never_reads<R: Runtime + Default>() {
    const FIRST_ID: u128 = 1_000_000;
    let mut connection = hostile_connection();
    // The peer reads nothing for a while on purpose; only its PINGs feed the idle timer.
    connection.idle_timeout = Some(Duration::from_secs(5));
    let max_outbound = connection.max_outbound_bytes;
    let frame_len = raw::frame(MessageType::PING, 0, b"").len();
    // What can be owed to the peer if the server bounds its queue: the
    // server's queue, the kernel's buffers (the peer's receive buffer is
    // pinned small) and some slack. The flood is three times as large, so
    // that only an unbounded server answers all of it.
    let bound = max_outbound + kernel_send_buffer_max() + 256 * 1024;
    let pings = (bound * 3 / frame_len).min(600_000);
    let fixture = Fixture::<R>::with(connection).await;
    let addr = fixture.addr;
    let answered = during_attack(&fixture, Duration::from_secs(20), "ping flood", move || {
        let mut raw = RawPeer::connect_with_recv_buffer(addr, 4096).expect("connect");
        raw.handshake();
        let mut batch = Vec::with_capacity(1000 * frame_len);
        for i in 0..pings {
            batch.extend(raw::frame(MessageType::PING, FIRST_ID + i as u128, b""));
            if batch.len() >= 1000 * frame_len {
                raw.write(&batch)
                    .expect("the server keeps reading the flood");
                batch.clear();
            }
        }
        raw.write(&batch).expect("write");
        let frames = raw.drain(
            MessageType::PONG,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        assert!(
            frames
                .iter()
                .all(|m| m.message_type() != MessageType::ERROR),
            "the flooding peer was closed: {:?}",
            frames.last()
        );
        // Reading again: a fresh PING is answered.
        raw.send(MessageType::PING, 42, b"").expect("write");
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = raw
                .next_frame(left)
                .expect("the PONG to a fresh PING")
                .expect("still open");
            if m.message_type() == MessageType::PONG && m.request_id().to_u128() == 42 {
                break;
            }
        }
        frames
            .iter()
            .filter(|m| m.message_type() == MessageType::PONG)
            .map(|m| {
                let index = m.request_id().to_u128() - FIRST_ID;
                usize::try_from(index).expect("a PING of ours")
            })
            .collect::<Vec<usize>>()
    })
    .await;
    assert!(
        answered.windows(2).all(|w| w[0] < w[1]),
        "PONGs come back in the order of their PINGs"
    );
    let first_unanswered = answered
        .iter()
        .enumerate()
        .find(|&(position, &index)| position != index)
        .map_or(answered.len(), |(position, _)| position);
    assert!(first_unanswered > 0, "PONGs are sent until the queue fills");
    assert!(
        first_unanswered < pings,
        "all {pings} PINGs were answered: no PONG was ever dropped"
    );
    let owed = first_unanswered * frame_len;
    assert!(
        owed <= bound,
        "the first PONG was dropped only after {owed} bytes of PONGs: more than the \
         server's {max_outbound}-byte queue and the kernel's buffers can hold ({bound})"
    );
    fixture.finish().await;
}

/// Every hostile behaviour at once, plus 50 ordinary clients, while the good
/// client keeps asking: its replies keep coming, and every hostile peer gets
/// the treatment the individual tests expect.
pub async fn hostile_mix_leaves_a_good_client_alone<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let crowd = (0..50).map(|i| {
        spawn::<R, _>(async move {
            let client = within::<R, _>(
                STEP,
                "connect",
                Client::<R>::connect(good_config(addr, hostile_connection())),
            )
            .await
            .expect("connect");
            for j in 0..10 {
                let text = format!("{i}:{j}");
                let reply = within::<R, _>(
                    STEP,
                    "request",
                    client.request(msg(DATA, text.clone()), STEP),
                )
                .await
                .expect("request");
                assert_eq!(reply.payload().as_ref(), text.as_bytes());
            }
            within::<R, _>(STEP, "close", client.close()).await;
        })
    });
    let crowd = spawn::<R, _>(join_all(crowd));
    let resets = during_attack(
        &fixture,
        Duration::from_secs(15),
        "hostile mix",
        move || {
            let attacks: Vec<std::thread::JoinHandle<()>> = vec![
                std::thread::spawn(move || {
                    oversized_peer(addr, true);
                }),
                std::thread::spawn(move || {
                    oversized_peer(addr, false);
                }),
                std::thread::spawn(move || corrupt_then_good_peer(addr, true)),
                std::thread::spawn(move || garbage_peer(addr, 77, true)),
                std::thread::spawn(move || garbage_peer(addr, 78, false)),
                std::thread::spawn(move || half_frame_peer(addr, 40)),
                std::thread::spawn(move || trickling_peer(addr)),
            ];
            let resets: Vec<SocketAddr> = (0..5).map(|_| resetting_peer(addr)).collect();
            for attack in attacks {
                attack
                    .join()
                    .expect("a hostile peer got an unexpected treatment");
            }
            resets
        },
    )
    .await;
    within::<R, _>(STEP, "the crowd of clients", crowd).await;
    eventually::<R>(STEP, "reset peers are gone", || {
        fixture
            .server
            .peers()
            .iter()
            .all(|p| !resets.contains(&p.addr()))
    })
    .await;
    fixture.finish().await;
}
