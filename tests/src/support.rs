//! Runtime-neutral plumbing for the suites: deadlines, sleeps, blocking work
//! on plain threads, event helpers and the short-timeout configurations every
//! test starts from.
//!
//! Everything here is written against [`veltix_driver::Runtime`] only: time
//! comes from [`Runtime::timer`], background work from [`Runtime::spawn`] or a
//! `std::thread`. No tokio (or smol) type appears, so every adapter's runner
//! calls the same code.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{Either, select};
use veltix_driver::{
    Client, ClientConfig, ClientEvent, ClientEvents, CloseReason, ConnectionConfig, Error, Message,
    MessageType, PeerId, PeerInfo, Runtime, Server, ServerConfig, ServerEvent, ServerEvents,
    Timer as _,
};

/// How long one step of a test (an event, a reply, a connect) may take before
/// the test fails instead of hanging. Generous, for a loaded 2-core machine.
pub const STEP: Duration = Duration::from_secs(5);

/// The limit on a whole suite function, enforced by [`run_suite`].
pub const TEST_LIMIT: Duration = Duration::from_secs(25);

/// An application type the suites use for requests the server echoes.
pub const ECHO: MessageType = user_type(200);
/// An application type for one-way data.
pub const DATA: MessageType = user_type(201);

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type code"),
    }
}

/// Runs `fut`, panicking with `what` if it takes longer than `limit`.
pub async fn within<R: Runtime + Default, F: Future>(
    limit: Duration,
    what: &str,
    fut: F,
) -> F::Output {
    match select(pin!(fut), pin!(sleep::<R>(limit))).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// `Some(output)` if `fut` finishes within `limit`, else `None` (and `fut` is dropped).
pub async fn finishes_within<R: Runtime + Default, F: Future>(
    limit: Duration,
    fut: F,
) -> Option<F::Output> {
    match select(pin!(fut), pin!(sleep::<R>(limit))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Waits for `duration` on the runtime's timer.
pub async fn sleep<R: Runtime + Default>(duration: Duration) {
    let mut timer = R::default().timer(Instant::now() + duration);
    poll_fn(|cx| timer.poll_expired(cx)).await;
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `limit`.
///
/// Only for state that no event reports (such as `Client::is_connected`).
pub async fn eventually<R: Runtime + Default>(
    limit: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "not true after {limit:?}: {what}"
        );
        sleep::<R>(Duration::from_millis(10)).await;
    }
}

/// Runs blocking `work` (raw socket I/O) on a fresh OS thread and awaits its
/// result without blocking the runtime. A panic on the thread is re-raised
/// here; the wait is bounded by `limit`. The thread starts at once.
pub fn on_thread<R: Runtime + Default, T: Send + 'static>(
    limit: Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = T> + Send + 'static {
    // The thread starts now, not when the future is first polled.
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("raw: {what}"))
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(work)));
        })
        .expect("spawn a thread");
    let what = what.to_owned();
    async move {
        match within::<R, _>(limit, &what, rx).await {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(oneshot::Canceled) => panic!("thread for {what} vanished"),
        }
    }
}

/// Spawns `fut` on the runtime; the returned future resolves to its output
/// (wrap it in [`within`] to bound the wait). A panic in `fut` is reported as
/// a panic of the awaiting test.
pub fn spawn<R: Runtime + Default, T: Send + 'static>(
    fut: impl Future<Output = T> + Send + 'static,
) -> impl Future<Output = T> {
    let (tx, rx) = oneshot::channel();
    R::default().spawn(async move {
        // If `fut` panics, `tx` is dropped and the awaiting side panics too.
        let _ = tx.send(fut.await);
    });
    async move { rx.await.expect("a spawned task panicked") }
}

/// Runs one suite function under [`TEST_LIMIT`]: what a runner wraps every test in.
pub async fn run_suite<R: Runtime + Default>(name: &str, test: impl Future<Output = ()>) {
    within::<R, _>(TEST_LIMIT, name, test).await;
}

/// Protocol settings with short timeouts, so timeouts can be tested in
/// well under a second and a hung peer is noticed quickly.
pub fn fast_connection() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.handshake_timeout = Duration::from_secs(2);
    c.legacy_wait = Duration::from_millis(300);
    c.idle_timeout = Some(Duration::from_secs(5));
    c.heartbeat_interval = Some(Duration::from_secs(1));
    c
}

/// A server on an ephemeral loopback port with [`fast_connection`] settings.
pub fn server_config() -> ServerConfig {
    let mut c = ServerConfig::new("127.0.0.1:0").connection(fast_connection());
    c.shutdown_timeout = Duration::from_secs(3);
    c
}

/// A client of `addr` with [`fast_connection`] settings.
pub fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string()).connection(fast_connection());
    c.connect_timeout = Duration::from_secs(3);
    c
}

/// Binds a server, bounded by [`STEP`].
pub async fn bind<R: Runtime + Default>(config: ServerConfig) -> Server<R> {
    within::<R, _>(STEP, "bind", Server::<R>::bind(config))
        .await
        .expect("bind a server")
}

/// Connects a client, bounded by [`STEP`]; panics if the connection fails.
pub async fn connect<R: Runtime + Default>(config: ClientConfig) -> Client<R> {
    within::<R, _>(STEP, "connect", Client::<R>::connect(config))
        .await
        .expect("connect a client")
}

/// A server that echoes every message back as a reply (same type and
/// payload), from its `on_message` callback with `try_reply`, as the
/// examples do. Flow control guarantees room for it while the peer reads:
/// a `Full` here is a bug, and fails the test.
pub async fn echo_server<R: Runtime + Default>(config: ServerConfig) -> Server<R> {
    let server = bind::<R>(config).await;
    server.on_message(|peer, message| {
        let answer = Message::new(message.message_type(), message.payload().clone());
        match peer.try_reply(&message, answer) {
            Ok(()) | Err(Error::Closed(_) | Error::NotConnected) => {}
            Err(err) => panic!("echo reply refused: {err}"),
        }
    });
    server
}

/// A message of type `ty` with `payload`.
pub fn msg(ty: MessageType, payload: impl Into<bytes::Bytes>) -> Message {
    Message::new(ty, payload.into())
}

/// The next server event, bounded by [`STEP`]; panics if the stream ends.
pub async fn next_server_event<R: Runtime + Default>(events: &mut ServerEvents) -> ServerEvent {
    within::<R, _>(STEP, "next server event", events.next())
        .await
        .expect("the server's event stream ended")
}

/// The next client event, bounded by [`STEP`]; panics if the stream ends.
pub async fn next_client_event<R: Runtime + Default>(events: &mut ClientEvents) -> ClientEvent {
    within::<R, _>(STEP, "next client event", events.next())
        .await
        .expect("the client's event stream ended")
}

/// Waits for the next server event and requires it to be `Connected`.
pub async fn expect_connected<R: Runtime + Default>(
    events: &mut ServerEvents,
) -> (PeerId, SocketAddr, PeerInfo) {
    match next_server_event::<R>(events).await {
        ServerEvent::Connected { peer, addr, info } => (peer, addr, info),
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// Waits for the next server event and requires it to be a `Message`.
pub async fn expect_message<R: Runtime + Default>(events: &mut ServerEvents) -> (PeerId, Message) {
    match next_server_event::<R>(events).await {
        ServerEvent::Message { peer, message } => (peer, message),
        other => panic!("expected Message, got {other:?}"),
    }
}

/// Waits for the next server event and requires it to be `Disconnected`.
pub async fn expect_disconnected<R: Runtime + Default>(
    events: &mut ServerEvents,
) -> (PeerId, CloseReason) {
    match next_server_event::<R>(events).await {
        ServerEvent::Disconnected { peer, reason, .. } => (peer, reason),
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// Waits for the next client event and requires it to be a `Message`.
pub async fn expect_client_message<R: Runtime + Default>(events: &mut ClientEvents) -> Message {
    match next_client_event::<R>(events).await {
        ClientEvent::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next message a client receives, past the `Connected` event that may
/// come first; panics on any other event.
pub async fn next_message<R: Runtime + Default>(events: &mut ClientEvents) -> Message {
    loop {
        match next_client_event::<R>(events).await {
            ClientEvent::Message(message) => return message,
            ClientEvent::Connected(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Waits for the next client event and requires it to be `Disconnected`.
pub async fn expect_client_disconnected<R: Runtime + Default>(
    events: &mut ClientEvents,
) -> CloseReason {
    match next_client_event::<R>(events).await {
        ClientEvent::Disconnected(reason) => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// A 32-byte payload that starts with the big-endian sequence number `i`.
pub fn seq_payload(i: u32) -> Vec<u8> {
    let mut p = i.to_be_bytes().to_vec();
    p.extend_from_slice(&[b'x'; 28]);
    p
}

/// The sequence number at the start of a payload made by [`seq_payload`].
pub fn seq_of(message: &Message) -> u32 {
    let bytes: [u8; 4] = message.payload()[..4]
        .try_into()
        .expect("a sequence number");
    u32::from_be_bytes(bytes)
}

/// Size of the payloads [`big_payload`] makes: 16 KiB.
pub const BIG: usize = 16 * 1024;

/// A [`BIG`]-byte payload numbered `i` (readable with [`seq_of`]).
pub fn big_payload(i: u32) -> Vec<u8> {
    let mut p = vec![(i % 251) as u8; BIG];
    p[..4].copy_from_slice(&i.to_be_bytes());
    p
}

/// Reads application frames from a raw peer until `expected` have arrived,
/// checking that they are the [`big_payload`]s `0..expected`, in order.
///
/// # Panics
/// On a gap, a wrong size, a read error or the stream ending early.
pub fn read_numbered(raw: &mut crate::raw::RawPeer, expected: u32) {
    for i in 0..expected {
        let m = raw
            .next_app_frame(Duration::from_secs(5))
            .expect("read")
            .expect("the stream stays open");
        assert_eq!(seq_of(&m), i, "frames arrive complete and in order");
        assert_eq!(m.payload().len(), BIG);
    }
}
