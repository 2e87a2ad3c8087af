//! The driver on an in-memory socket and a manual clock: deterministic
//! scenarios with no threads, no sockets and no sleeps. The peer is a core
//! client `Connection`; bytes move between the two only when a test pumps
//! them, and time moves only when a test advances it.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Buf as _;
use futures::FutureExt as _;
use veltix_core::flow::FlowControl;
use veltix_core::{
    CloseCode, CloseReason, Connection, ConnectionConfig, Event, Message, MessageType, Role,
};

use super::phase::LINGER;
use super::{Driver, DriverExit, ReadSettings, Sink, SinkEvent};
use crate::Error;
use crate::handle::{DriverEnds, DriverHandle};
use crate::runtime::{Listener, Runtime, Socket, Timer};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test's clock: moves only when told to.
#[derive(Clone)]
struct Clock(Arc<Mutex<(Instant, Vec<Waker>)>>);

impl Clock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new((
            crate::runtime::test_clock_origin(),
            Vec::new(),
        ))))
    }

    fn now(&self) -> Instant {
        lock(&self.0).0
    }

    fn advance(&self, by: Duration) {
        let wakers = {
            let mut clock = lock(&self.0);
            clock.0 += by;
            std::mem::take(&mut clock.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// What the socket does, set by the test.
#[derive(Default)]
struct Wire {
    /// Bytes the driver will read.
    inbound: VecDeque<u8>,
    /// After `inbound`: end of stream.
    eof: bool,
    /// Most bytes one read returns (short reads).
    max_read: Option<usize>,
    /// Bytes the driver wrote.
    written: Vec<u8>,
    /// Most bytes one write takes (short writes).
    max_write: Option<usize>,
    /// Writes return `Pending` (the peer does not read).
    blocked: bool,
    /// Writes fail.
    write_error: bool,
    shut: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

#[derive(Clone, Default)]
struct MemSocket(Arc<Mutex<Wire>>);

impl MemSocket {
    fn wire(&self) -> MutexGuard<'_, Wire> {
        lock(&self.0)
    }

    fn push(&self, bytes: &[u8]) {
        let waker = {
            let mut wire = self.wire();
            wire.inbound.extend(bytes);
            wire.reader.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    fn set_blocked(&self, blocked: bool) {
        let waker = {
            let mut wire = self.wire();
            wire.blocked = blocked;
            wire.writer.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    fn take_written(&self) -> Vec<u8> {
        std::mem::take(&mut self.wire().written)
    }
}

impl Socket for MemSocket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut wire = self.wire();
        if wire.inbound.is_empty() {
            if wire.eof {
                return Poll::Ready(Ok(0));
            }
            wire.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf
            .len()
            .min(wire.inbound.len())
            .min(wire.max_read.unwrap_or(usize::MAX));
        for (slot, byte) in buf.iter_mut().zip(wire.inbound.drain(..n)) {
            *slot = byte;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut wire = self.wire();
        if wire.write_error {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if wire.blocked {
            wire.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut room = wire.max_write.unwrap_or(usize::MAX);
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(room);
            wire.written.extend_from_slice(&buf[..take]);
            n += take;
            room -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wire().shut = true;
        Poll::Ready(Ok(()))
    }
}

struct ManualTimer {
    clock: Clock,
    deadline: Instant,
}

impl Timer for ManualTimer {
    fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = lock(&self.clock.0);
        if clock.0 >= self.deadline {
            return Poll::Ready(());
        }
        clock.1.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Never accepts: the driver tests make their sockets themselves.
struct NoListener;

impl Listener for NoListener {
    type Socket = MemSocket;

    fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<io::Result<(MemSocket, SocketAddr)>> {
        Poll::Pending
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// A runtime of one manual clock; tasks and sockets are the test's.
#[derive(Clone)]
struct Manual(Clock);

impl Runtime for Manual {
    type Socket = MemSocket;
    type Listener = NoListener;
    type Timer = ManualTimer;

    fn spawn(&self, _: impl Future<Output = ()> + Send + 'static) {
        unreachable!("the driver spawns nothing");
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn timer(&self, deadline: Instant) -> ManualTimer {
        ManualTimer {
            clock: self.0.clone(),
            deadline,
        }
    }

    fn bind(&self, _: SocketAddr) -> io::Result<NoListener> {
        Err(io::ErrorKind::Unsupported.into())
    }

    async fn connect(&self, _: SocketAddr) -> io::Result<MemSocket> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Records what reaches the application; may be told to panic on a message.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<SinkEvent>>>,
    panic_on_message: bool,
    /// A handle whose `try_reply` answers every message from the callback.
    echo: Option<DriverHandle>,
}

impl Sink for Recorder {
    fn deliver(&mut self, event: SinkEvent) {
        if let (SinkEvent::Message(message), Some(handle)) = (&event, &self.echo) {
            let answer = Message::new(message.message_type(), message.payload().clone());
            handle
                .try_reply(message, answer)
                .expect("room for the echo");
        }
        if self.panic_on_message && matches!(event, SinkEvent::Message(_)) {
            panic!("a callback panicked");
        }
        lock(&self.events).push(event);
    }
}

impl Recorder {
    fn messages(&self) -> Vec<Message> {
        lock(&self.events)
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Option<CloseReason> {
        lock(&self.events).iter().find_map(|e| match e {
            SinkEvent::Closed(reason) => Some(reason.clone()),
            _ => None,
        })
    }
}

const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("a user type"),
};

/// A server-side driver, its peer (a core client) and the wires between.
struct Setup {
    clock: Clock,
    socket: MemSocket,
    handle: DriverHandle,
    recorder: Recorder,
    driver: Driver<Manual, Recorder>,
    peer: Connection,
    exit: Option<DriverExit>,
    wakes: Arc<Counter>,
}

struct Counter(Mutex<usize>);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        *lock(&self.0) += 1;
    }
}

impl Setup {
    fn new(
        tune: impl FnOnce(&mut ConnectionConfig, &mut ReadSettings, &mut Recorder, &DriverHandle),
    ) -> Self {
        let clock = Clock::new();
        let socket = MemSocket::default();
        let mut config = ConnectionConfig::default();
        let mut read = ReadSettings {
            chunk: 64 * 1024,
            flow: FlowControl::default(),
            handshake_timeout: Duration::from_secs(10),
        };
        let (handle, ends): (DriverHandle, DriverEnds) = DriverHandle::new(4 << 20);
        let mut recorder = Recorder::default();
        tune(&mut config, &mut read, &mut recorder, &handle);
        let now = clock.now();
        let conn = Connection::new(Role::Server, config.clone(), now, 0, [7; 32]).expect("config");
        let peer = Connection::new(Role::Client, config, now, 0, [9; 32]).expect("config");
        let driver = Driver::new(
            conn,
            Manual(clock.clone()),
            socket.clone(),
            ends,
            recorder.clone(),
            read,
            None,
        );
        Self {
            clock,
            socket,
            handle,
            recorder,
            driver,
            peer,
            exit: None,
            wakes: Arc::new(Counter(Mutex::new(0))),
        }
    }

    /// Polls the driver once.
    fn poll(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        let waker = Waker::from(self.wakes.clone());
        if let Poll::Ready(exit) = self.driver.poll_unpin(&mut Context::from_waker(&waker)) {
            self.exit = Some(exit);
        }
        self.exit.is_some()
    }

    /// Moves bytes both ways and polls until nothing changes.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let done = self.poll();
            let now = self.clock.now();
            let written = self.socket.take_written();
            if !written.is_empty() {
                self.peer.handle_input(now, &written);
            }
            let mut out = Vec::new();
            while let Some(mut transmit) = self.peer.poll_transmit() {
                let n = transmit.remaining();
                out.extend_from_slice(&transmit.copy_to_bytes(n));
            }
            if !out.is_empty() {
                self.socket.push(&out);
            }
            if done || (written.is_empty() && out.is_empty() && !self.poll()) {
                return;
            }
        }
        panic!("the exchange never settled");
    }

    fn peer_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.peer.poll_event()).collect()
    }

    /// Completes the handshake.
    fn connect(&mut self) {
        self.pump();
        assert!(self.peer.is_established(), "handshake");
        assert!(matches!(self.peer_events()[..], [Event::Connected(_)]));
    }
}

fn echo_setup() -> Setup {
    Setup::new(|_, _, recorder, handle| recorder.echo = Some(handle.clone()))
}

#[test]
fn short_reads_and_writes_still_carry_every_message() {
    let mut s = echo_setup();
    {
        let mut wire = s.socket.wire();
        wire.max_read = Some(7);
        wire.max_write = Some(5);
    }
    s.connect();
    let now = s.clock.now();
    for i in 0..50u32 {
        s.peer
            .send(now, Message::new(ECHO, i.to_be_bytes().to_vec()))
            .expect("room");
    }
    s.pump();
    let echoes: Vec<u32> = s
        .peer_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(u32::from_be_bytes(m.payload()[..].try_into().unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(echoes, (0..50).collect::<Vec<_>>(), "every echo, in order");
    assert_eq!(s.recorder.messages().len(), 50);
}

#[test]
fn pending_writes_wait_for_the_socket_and_resume_where_they_stopped() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    s.socket.set_blocked(true);
    let payload = vec![1u8; 100_000];
    s.handle
        .try_send(Message::new(ECHO, payload.clone()))
        .expect("queued");
    s.pump();
    assert!(s.exit.is_none());
    assert!(
        s.peer_events().is_empty(),
        "nothing got through a blocked socket"
    );
    let wakes = *lock(&s.wakes.0);
    s.socket.set_blocked(false);
    assert!(
        *lock(&s.wakes.0) > wakes,
        "the socket's readiness wakes the driver"
    );
    s.pump();
    let got: Vec<_> = s.peer_events();
    assert!(
        matches!(&got[..], [Event::Message(m)] if m.payload()[..] == payload[..]),
        "{got:?}"
    );
}

#[test]
fn end_of_stream_mid_frame_closes_and_fails_pending_requests() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    let handle = s.handle.clone();
    let mut request = Box::pin(handle.request(Message::new(ECHO, "?"), Duration::from_secs(60)));
    let waker = Waker::from(s.wakes.clone());
    assert!(
        request
            .poll_unpin(&mut Context::from_waker(&waker))
            .is_pending()
    );
    s.pump();
    // Half a frame, then the end of the stream.
    let frame = veltix_core::frame::EncodedFrame::new(&Message::new(ECHO, vec![0; 100]))
        .expect("frame")
        .to_bytes();
    s.socket.push(&frame[..80]);
    s.socket.wire().eof = true;
    s.pump();
    let exit = s.exit.take().expect("the driver ended");
    assert_eq!(exit.reason, CloseReason::TransportClosed);
    assert_eq!(s.recorder.closed(), Some(CloseReason::TransportClosed));
    assert!(
        s.recorder.messages().is_empty(),
        "no half message delivered"
    );
    match request.poll_unpin(&mut Context::from_waker(&waker)) {
        Poll::Ready(Err(Error::Closed(CloseReason::TransportClosed))) => {}
        other => panic!("the pending request should fail with the close: {other:?}"),
    }
}

#[test]
fn a_write_error_ends_the_connection() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    s.socket.wire().write_error = true;
    s.handle.try_send(Message::new(ECHO, "x")).expect("queued");
    s.pump();
    let exit = s.exit.take().expect("the driver ended");
    assert_eq!(exit.reason, CloseReason::TransportClosed);
    assert_eq!(s.recorder.closed(), Some(CloseReason::TransportClosed));
    drop(exit); // what a server's task does as it ends
    assert!(
        s.handle.try_send(Message::new(ECHO, "y")).is_err(),
        "sends fail after"
    );
}

#[test]
fn a_close_flushes_every_command_queued_before_it() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    for i in 0..20u8 {
        s.handle
            .try_send(Message::new(ECHO, vec![i]))
            .expect("queued");
    }
    s.handle.close(CloseCode::NORMAL, "bye");
    s.pump();
    assert!(
        s.handle.try_send(Message::new(ECHO, "late")).is_err(),
        "refused once closing"
    );
    let events = s.peer_events();
    let got: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload()[0]),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        (0..20).collect::<Vec<_>>(),
        "all of them, in order, before the close"
    );
    assert!(matches!(
        events.last(),
        Some(Event::Closed(CloseReason::Peer {
            code: CloseCode::NORMAL,
            ..
        }))
    ));
    assert!(
        s.socket.wire().shut,
        "the write half is shut after the last byte"
    );
    // The peer closes its side too: the driver is done.
    s.socket.wire().eof = true;
    s.pump();
    assert!(matches!(
        s.exit.as_ref().map(|e| &e.reason),
        Some(CloseReason::Local {
            code: CloseCode::NORMAL,
            ..
        })
    ));
}

#[test]
fn lingering_ends_at_its_deadline_for_a_peer_that_never_closes() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    s.handle.close(CloseCode::NORMAL, "bye");
    s.pump();
    assert!(s.exit.is_none(), "lingering: waiting for the peer to close");
    s.clock.advance(LINGER - Duration::from_millis(1));
    s.pump();
    assert!(s.exit.is_none(), "still within the linger");
    s.clock.advance(Duration::from_millis(1));
    s.pump();
    assert!(s.exit.is_some(), "gave up on the peer at the deadline");
}

#[test]
fn a_close_to_a_peer_that_reads_nothing_is_forced_at_its_deadline() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    s.socket.set_blocked(true);
    s.handle
        .try_send(Message::new(ECHO, vec![0; 8 << 20]))
        .expect("queued");
    s.pump();
    s.handle
        .try_send(Message::new(ECHO, "behind"))
        .expect("queued");
    s.handle.close(CloseCode::NORMAL, "bye");
    s.pump();
    assert!(
        s.recorder.closed().is_none(),
        "waits for the queue to drain"
    );
    s.clock.advance(LINGER);
    s.pump();
    assert!(
        matches!(s.recorder.closed(), Some(CloseReason::Local { .. })),
        "closed at the close's deadline"
    );
    s.clock.advance(LINGER);
    s.pump();
    assert!(s.exit.is_some());
}

#[test]
fn a_callback_that_panics_leaves_the_thread_clean() {
    let mut s = Setup::new(|_, _, recorder, _| recorder.panic_on_message = true);
    s.connect();
    s.peer
        .send(s.clock.now(), Message::new(ECHO, "boom"))
        .expect("room");
    let mut out = Vec::new();
    while let Some(mut transmit) = s.peer.poll_transmit() {
        let n = transmit.remaining();
        out.extend_from_slice(&transmit.copy_to_bytes(n));
    }
    s.socket.push(&out);
    let panicked = catch_unwind(AssertUnwindSafe(|| s.poll()));
    assert!(panicked.is_err(), "the callback's panic reaches the task");
    // The thread's next driver works: no direct lane was left open.
    let mut other = echo_setup();
    other.connect();
    other
        .peer
        .send(other.clock.now(), Message::new(ECHO, "fine"))
        .expect("room");
    other.pump();
    assert!(
        other
            .peer_events()
            .iter()
            .any(|e| matches!(e, Event::Message(m) if m.payload()[..] == b"fine"[..]))
    );
}

#[test]
fn a_request_accepted_before_a_shutdown_goes_out_and_fails_with_the_close() {
    let mut s = Setup::new(|_, _, _, _| {});
    s.connect();
    let waker = Waker::from(s.wakes.clone());
    let handle = s.handle.clone();
    let mut request = Box::pin(handle.request(Message::new(ECHO, "?"), Duration::from_secs(60)));
    assert!(
        request
            .poll_unpin(&mut Context::from_waker(&waker))
            .is_pending()
    );
    s.handle.close(CloseCode::SHUTDOWN, "server shutting down");
    s.pump();
    let events = s.peer_events();
    assert!(
        matches!(&events[..], [Event::Message(m), Event::Closed(_)] if m.payload()[..] == b"?"[..]),
        "the request went out before the close: {events:?}"
    );
    match request.poll_unpin(&mut Context::from_waker(&waker)) {
        Poll::Ready(Err(Error::Closed(CloseReason::Local { code, .. }))) => {
            assert_eq!(code, CloseCode::SHUTDOWN);
        }
        other => panic!("the request fails with the close, not a timeout: {other:?}"),
    }
}

#[test]
fn a_peer_that_reads_nothing_is_closed_after_the_write_stall_timeout_not_as_idle() {
    let stall = Duration::from_secs(30);
    let mut s = Setup::new(|config, read, recorder, handle| {
        config.idle_timeout = Some(Duration::from_secs(5));
        config.heartbeat_interval = Some(Duration::from_secs(1));
        read.flow = FlowControl::default()
            .water_marks(1024, 4096)
            .write_stall_timeout(Some(stall));
        recorder.echo = Some(handle.clone());
    });
    s.connect();
    s.socket.set_blocked(true);
    // The peer floods and never reads: reads pause once the echoes pile up.
    let now = s.clock.now();
    for _ in 0..1000 {
        s.peer
            .send(now, Message::new(ECHO, vec![0; 100]))
            .expect("room");
    }
    s.pump();
    assert!(
        !s.socket.wire().inbound.is_empty(),
        "reading paused: input left unread"
    );
    // Far past the idle timeout: a paused peer is not idle.
    s.clock.advance(Duration::from_secs(20));
    s.pump();
    assert!(
        s.recorder.closed().is_none(),
        "not closed as idle while paused"
    );
    s.clock.advance(stall);
    s.pump();
    assert_eq!(s.recorder.closed(), Some(CloseReason::WriteStalled));
}

#[test]
fn stats_count_bytes_frames_and_dropped_frames_through_short_reads_and_writes() {
    use veltix_core::frame::HEADER_LEN;
    let mut s = echo_setup();
    {
        let mut wire = s.socket.wire();
        wire.max_read = Some(7);
        wire.max_write = Some(5);
    }
    s.connect();
    let before = s.handle.stats.snapshot();
    let now = s.clock.now();
    // One corrupt frame, by hand: a message's bytes with the last payload
    // byte flipped (its hash no longer matches).
    s.peer
        .send(now, Message::new(ECHO, vec![1u8; 10]))
        .expect("room");
    let mut corrupt = Vec::new();
    while let Some(mut transmit) = s.peer.poll_transmit() {
        let n = transmit.remaining();
        corrupt.extend_from_slice(&transmit.copy_to_bytes(n));
    }
    *corrupt.last_mut().expect("a frame") ^= 0xff;
    s.socket.push(&corrupt);
    for i in 0..20u32 {
        s.peer
            .send(now, Message::new(ECHO, i.to_be_bytes().to_vec()))
            .expect("room");
    }
    s.pump();
    let after = s.handle.stats.snapshot();
    let frame = |payload: usize| (HEADER_LEN + payload) as u64;
    assert_eq!(after.corrupt_frames - before.corrupt_frames, 1);
    assert_eq!(
        after.frames_in - before.frames_in,
        21,
        "dropped ones count as received"
    );
    assert_eq!(after.bytes_in - before.bytes_in, frame(10) + 20 * frame(4));
    assert_eq!(
        after.frames_out - before.frames_out,
        20,
        "one echo per good frame"
    );
    assert_eq!(after.bytes_out - before.bytes_out, 20 * frame(4));
    assert_eq!((after.requests_pending, after.queued_bytes), (0, 0));
    assert_eq!(s.recorder.messages().len(), 20);
}
