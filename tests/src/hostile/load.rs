//! Load: many clients at once, a ping flood from a peer that never reads,
//! and every hostile behaviour at once beside a good client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use veltix_core::MessageType;
use veltix_driver::{Client, Runtime};

use super::{
    Fixture, corrupt_then_good_peer, during_attack, garbage_peer, good_config, half_frame_peer,
    hostile_connection, oversized_peer, resetting_peer, trickling_peer,
};
use crate::raw::{self, RawPeer};
use crate::support::{DATA, ECHO, STEP, eventually, msg, spawn, within};

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
            within::<R, _>(STEP, "close", client.close())
                .await
                .expect("close");
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
