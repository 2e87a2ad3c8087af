//! The flow-control suite: a peer that reads is never cut off, reordered or
//! starved; one that does not is paused, and closed once its output stalls.
//!
//! The scenarios are blocking functions over raw sockets that only need the
//! address of an echo server, so the same code checks the async servers of
//! every runtime (the generic functions listed in [`flow_tests!`](crate::flow_tests)) and the
//! threaded API of veltix-mio (`tests/tests/flow_mio_threaded.rs`). The raw
//! peers speak the classic wire without a handshake, as an independent
//! client would.
//!
//! The scenarios read the process's RSS, so they run one at a time (see
//! [`one_at_a_time`]); each runner file holds only this suite.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::StreamExt as _;
use futures::channel::mpsc;
use veltix_core::Message;
use veltix_core::frame::Decoder;
use veltix_driver::{CloseReason, FlowControl, Runtime, ServerConfig, ServerEvent};

use crate::raw::frame;
use crate::support::{
    ECHO, STEP, bind, client_config, connect, echo_server, msg, on_thread, server_config, within,
};

/// Expands `$callback! { name, … }` with every flow-control test.
#[macro_export]
macro_rules! flow_tests {
    ($callback:ident) => {
        $callback! {
            pipelined_echo_arrives_whole_and_in_order,
            a_flooder_that_never_reads_is_paused_and_others_are_served,
            a_peer_whose_output_stalls_is_closed,
            a_slow_event_reader_pauses_only_the_peer_it_is_behind_on,
            a_veltix_client_pipelining_while_it_reads_never_deadlocks,
        }
    };
}

/// Longest a well-behaved peer's round trip may take beside a flooder.
pub const GOOD_LATENCY: Duration = Duration::from_secs(1);
/// Most the server's RSS may grow while a peer floods it.
pub const MAX_RSS_GROWTH: usize = 64 * 1024 * 1024;
/// The write-stall timeout of [`stall_config`].
pub const STALL: Duration = Duration::from_millis(1500);

/// The pipelined sizes and counts: small frames, medium, and 1 MiB.
pub const PIPELINES: [(usize, u32); 3] = [(64, 100_000), (4096, 10_000), (1 << 20, 48)];

static HEAVY: OnceLock<futures::lock::Mutex<()>> = OnceLock::new();

/// Taken by every scenario: they measure the process's memory and load the
/// machine, so they must not overlap.
pub async fn one_at_a_time() -> futures::lock::MutexGuard<'static, ()> {
    HEAVY.get_or_init(Default::default).lock().await
}

/// The server settings of this suite: a short write-stall timeout, and an
/// idle timeout shorter still, so a paused peer that were counted as idle
/// would be closed for that first.
pub fn stall_config() -> ServerConfig {
    let mut config = server_config();
    config.flow = FlowControl::default().write_stall_timeout(Some(STALL));
    config.connection.idle_timeout = Some(Duration::from_millis(600));
    config.connection.heartbeat_interval = Some(Duration::from_millis(150));
    config
}

/// The payload of echo request `i`: its number, then filler.
fn payload(i: u32, size: usize) -> Vec<u8> {
    let mut payload = vec![(i % 251) as u8; size.max(4)];
    payload[..4].copy_from_slice(&i.to_be_bytes());
    payload
}

/// A raw reader of frames that skips the server's keep-alive PINGs.
struct Frames {
    stream: TcpStream,
    rx: BytesMut,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl Frames {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            rx: BytesMut::new(),
            decoder: Decoder::default(),
            buf: vec![0; 256 * 1024],
        }
    }

    /// The next application frame; panics on end of stream, an error or
    /// nothing for `STEP`.
    fn next(&mut self, what: &str) -> Message {
        self.stream
            .set_read_timeout(Some(STEP))
            .expect("set a read timeout");
        loop {
            match self.decoder.decode(&mut self.rx) {
                Ok(Some(message)) if message.message_type().code() < 200 => continue,
                Ok(Some(message)) => return message,
                Ok(None) => {}
                Err(err) => panic!("{what}: a frame the decoder refused: {err}"),
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => panic!("{what}: the server closed the connection"),
                Ok(n) => self.rx.extend_from_slice(&self.buf[..n]),
                Err(err) => panic!("{what}: read failed: {err}"),
            }
        }
    }
}

/// Pipelines `count` echo requests of `size` bytes to `addr`, reading the
/// answers on another thread that starts late, so the server's answers pile
/// up and its reads pause. Every echo must arrive, in order, with its
/// payload, and the connection must stay open (a last request is answered).
pub fn pipelined_echo(addr: SocketAddr, size: usize, count: u32) {
    let stream = TcpStream::connect_timeout(&addr, STEP).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader = Frames::new(stream.try_clone().expect("clone the socket"));
    let collect = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        for i in 0..count {
            let echo = reader.next("an echo");
            assert_eq!(echo.message_type(), ECHO);
            assert_eq!(
                echo.request_id().to_u128(),
                u128::from(i),
                "echo {i} of {count} ({size} B) out of order"
            );
            assert_eq!(echo.payload().len(), size.max(4), "echo {i}: its payload");
            assert_eq!(
                echo.payload()[..4],
                i.to_be_bytes(),
                "echo {i}: its payload"
            );
        }
        reader
    });
    let mut writer = stream;
    writer
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("set a write timeout");
    let mut batch = Vec::with_capacity(128 * 1024);
    for i in 0..count {
        batch.extend_from_slice(&frame(ECHO, u128::from(i), &payload(i, size)));
        if batch.len() >= 64 * 1024 || i + 1 == count {
            writer
                .write_all(&batch)
                .expect("the server takes every request");
            batch.clear();
        }
    }
    let mut reader = collect.join().expect("every echo arrived in order");
    writer
        .write_all(&frame(ECHO, u128::from(count), &payload(count, 8)))
        .expect("still open");
    let last = reader.next("the last echo");
    assert_eq!(last.request_id().to_u128(), u128::from(count));
}

/// What [`flood_beside_a_good_peer`] saw.
#[derive(Debug)]
pub struct FloodReport {
    /// Bytes the flooder got into its socket in all.
    pub flooded: usize,
    /// Bytes it got in during the last second (≈ 0 once it is paused).
    pub flooded_last_second: usize,
    /// The good peer's slowest round trip.
    pub worst_round_trip: Duration,
    /// The most the process's RSS grew while the flood went on.
    pub rss_growth: usize,
}

/// A peer floods `addr` with 64 B echo requests for `duration` and never
/// reads; beside it a good peer sends one request every 50 ms and times the
/// answer.
pub fn flood_beside_a_good_peer(addr: SocketAddr, duration: Duration) -> FloodReport {
    let rss_before = rss();
    let flooder = TcpStream::connect_timeout(&addr, STEP).expect("connect the flooder");
    let start = Instant::now();
    let flooding = std::thread::spawn(move || flood_for(flooder, duration));

    let good = TcpStream::connect_timeout(&addr, STEP).expect("connect the good peer");
    good.set_nodelay(true).expect("nodelay");
    let mut reader = Frames::new(good.try_clone().expect("clone the socket"));
    let mut writer = good;
    let mut worst_round_trip = Duration::ZERO;
    let mut rss_growth = 0;
    let mut i = 0u32;
    while start.elapsed() < duration {
        let sent = Instant::now();
        writer
            .write_all(&frame(ECHO, u128::from(i), &payload(i, 16)))
            .expect("the good peer's request goes out");
        let echo = reader.next("the good peer's echo");
        assert_eq!(echo.request_id().to_u128(), u128::from(i));
        worst_round_trip = worst_round_trip.max(sent.elapsed());
        rss_growth = rss_growth.max(rss().saturating_sub(rss_before));
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let (flooded, flooded_last_second) = flooding.join().expect("the flooder ran");
    FloodReport {
        flooded,
        flooded_last_second,
        worst_round_trip,
        rss_growth,
    }
}

/// Writes 64 B echo requests for `duration` (at least a second), never
/// reading; the bytes the socket took in all, and in the last second.
pub fn flood_for(mut stream: TcpStream, duration: Duration) -> (usize, usize) {
    let until = Instant::now() + duration.max(Duration::from_secs(1));
    stream
        .set_write_timeout(Some(Duration::from_millis(50)))
        .expect("set a write timeout");
    let batch: Vec<u8> = (0..1000u32)
        .flat_map(|i| frame(ECHO, u128::from(i), &payload(i, 64)))
        .collect();
    let last_second = until - Duration::from_secs(1);
    let (mut total, mut at_last_second) = (0, None);
    let mut offset = 0;
    while Instant::now() < until {
        if at_last_second.is_none() && Instant::now() >= last_second {
            at_last_second = Some(total);
        }
        match stream.write(&batch[offset..]) {
            Ok(n) => {
                total += n;
                offset = (offset + n) % batch.len();
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) => panic!("the flooder was cut off: {err}"),
        }
    }
    (total, total - at_last_second.unwrap_or(total))
}

/// Checks a [`FloodReport`]: the good peer served promptly, the flooder
/// paused (nothing taken in the last second, little in all), memory bounded.
pub fn check_flood(report: &FloodReport) {
    assert!(
        report.worst_round_trip < GOOD_LATENCY,
        "the good peer waited {:?} beside the flooder: {report:?}",
        report.worst_round_trip
    );
    assert!(
        report.flooded_last_second < 256 * 1024,
        "the flooder is still being read: {report:?}"
    );
    assert!(
        report.flooded < 48 * 1024 * 1024,
        "the flooder was read far past the water marks: {report:?}"
    );
    assert!(
        report.rss_growth < MAX_RSS_GROWTH,
        "the server's memory grew by {} MiB: {report:?}",
        report.rss_growth >> 20
    );
}

/// A peer that sends 64 KiB requests without ever reading, until the
/// server stops taking them. Returns the socket (kept open) and when it
/// connected (the server's output cannot have stalled before).
pub fn stall_output(addr: SocketAddr) -> (TcpStream, Instant) {
    let connected = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, STEP).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_millis(300)))
        .expect("set a write timeout");
    let request = frame(ECHO, 1, &payload(1, 64 * 1024));
    let deadline = Instant::now() + STEP;
    let mut offset = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the server never stopped reading"
        );
        match stream.write(&request[offset..]) {
            Ok(n) => offset = (offset + n) % request.len(),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (stream, connected);
            }
            Err(err) => panic!("closed before it stalled: {err}"),
        }
    }
}

/// The process's resident memory, from `/proc/self/status` (0 elsewhere).
pub fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| {
            kb.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Echo requests pipelined at 64 B, 4 KiB and 1 MiB, read late: every echo
/// arrives, in order, and the connection stays open.
pub async fn pipelined_echo_arrives_whole_and_in_order<R: Runtime + Default>() {
    let _one = one_at_a_time().await;
    let server = echo_server::<R>(server_config()).await;
    let addr = server.local_addr();
    for (size, count) in PIPELINES {
        on_thread::<R, _>(Duration::from_secs(60), "pipelined echo", move || {
            pipelined_echo(addr, size, count);
        })
        .await;
    }
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A flooder that never reads is paused (TCP pushes back), memory stays
/// bounded, and a good peer beside it is answered within [`GOOD_LATENCY`].
pub async fn a_flooder_that_never_reads_is_paused_and_others_are_served<R: Runtime + Default>() {
    let _one = one_at_a_time().await;
    let server = echo_server::<R>(server_config()).await;
    let addr = server.local_addr();
    let report = on_thread::<R, _>(Duration::from_secs(30), "flood", move || {
        flood_beside_a_good_peer(addr, Duration::from_secs(3))
    })
    .await;
    check_flood(&report);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A peer whose output makes no progress is closed after the write-stall
/// timeout, with that reason — not by the shorter idle timeout, which does
/// not run while its reads are paused.
pub async fn a_peer_whose_output_stalls_is_closed<R: Runtime + Default>() {
    let _one = one_at_a_time().await;
    let server = echo_server::<R>(stall_config()).await;
    let (gone_tx, mut gone) = mpsc::unbounded();
    server.on_disconnect(move |_, reason| {
        let _ = gone_tx.unbounded_send(reason.clone());
    });
    let addr = server.local_addr();
    let (stream, connected) =
        on_thread::<R, _>(STEP * 2, "stall", move || stall_output(addr)).await;
    let reason = within::<R, _>(STALL + STEP, "the close", gone.next())
        .await
        .expect("a disconnect");
    assert_eq!(reason, CloseReason::WriteStalled);
    assert!(
        connected.elapsed() >= STALL,
        "closed {:?} after it connected, before the {STALL:?} timeout",
        connected.elapsed()
    );
    drop(stream);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// With the event stream read by a slow application: a flooding peer is
/// paused once its events not taken reach the high-water mark, and a good
/// peer's message is among the first the stream gives when reading resumes
/// (the stream takes from each peer in turn).
pub async fn a_slow_event_reader_pauses_only_the_peer_it_is_behind_on<R: Runtime + Default>() {
    let _one = one_at_a_time().await;
    let server = bind::<R>(server_config()).await;
    let mut events = server.events();
    let addr = server.local_addr();
    let flooding = on_thread::<R, _>(Duration::from_secs(20), "flood", move || {
        let stream = TcpStream::connect_timeout(&addr, STEP).expect("connect the flooder");
        flood_for(stream, Duration::from_secs(3))
    });
    // Nobody reads events while the flood goes on, but for a good peer's one
    // message, sent once the flooder is surely paused.
    let good = Arc::new(Mutex::new(None));
    let holder = good.clone();
    on_thread::<R, _>(STEP, "the good peer", move || {
        std::thread::sleep(Duration::from_millis(2500));
        let mut stream = TcpStream::connect_timeout(&addr, STEP).expect("connect");
        stream
            .write_all(&frame(ECHO, 7, b"good"))
            .expect("the good peer's message goes out");
        *holder.lock().expect("lock") = Some(stream);
    })
    .await;
    let (flooded, flooded_last_second) = flooding.await;
    assert!(
        flooded_last_second < 256 * 1024,
        "the flooder was still read ({flooded_last_second} B in the last second of {flooded} B) \
         although nobody took its events"
    );
    let mut messages = 0;
    loop {
        let event = within::<R, _>(STEP, "an event", events.next())
            .await
            .expect("the stream is open");
        if let ServerEvent::Message { message, .. } = event {
            messages += 1;
            if message.payload().as_ref() == b"good" {
                break;
            }
            assert!(
                messages < 4,
                "the good peer's message waited behind the flooder's backlog"
            );
        }
    }
    drop(good);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A Veltix client that sends as fast as it can (its own output always
/// high) while it takes the echoes from its event stream: its own sends are
/// not answers to anything it read, so they never pause its reading — if
/// they did, both sides would stop reading each other for good.
pub async fn a_veltix_client_pipelining_while_it_reads_never_deadlocks<R: Runtime + Default>() {
    const COUNT: u32 = 200_000;
    let _one = one_at_a_time().await;
    let server = echo_server::<R>(server_config()).await;
    let client = connect::<R>(client_config(server.local_addr())).await;
    let mut events = client.events();
    let reading = crate::support::spawn::<R, _>(async move {
        let mut next = 0u32;
        while next < COUNT {
            match events.next().await {
                Some(veltix_driver::ClientEvent::Message(echo)) => {
                    assert_eq!(echo.payload()[..4], next.to_be_bytes(), "in order");
                    next += 1;
                }
                Some(_) => {}
                None => panic!("the stream ended after {next} echoes"),
            }
        }
        next
    });
    let sending = async {
        for i in 0..COUNT {
            client
                .send(msg(ECHO, payload(i, 64)))
                .await
                .expect("the send is taken");
        }
    };
    within::<R, _>(Duration::from_secs(20), "every send taken", sending).await;
    let echoed = within::<R, _>(Duration::from_secs(20), "every echo back", reading).await;
    assert_eq!(echoed, COUNT);
    within::<R, _>(STEP, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
