//! Interop with a real Python Veltix 1.3.0 peer, in both directions:
//!
//! - our `Client` in legacy mode (no handshake) against the Python echo
//!   server `tests/python/echo_server.py`;
//! - the Python client `tests/python/client.py` against our `Server`
//!   in its default configuration (which accepts legacy peers).
//!
//! Each direction runs with our side on tokio, smol and mio (the test
//! harness itself is tokio, which the other runtimes do not mind).
//!
//! The interpreter is `$VELTIX_PYTHON` when set (it must import veltix 1.3.0);
//! otherwise these tests create, once, a virtualenv at
//! `<target dir>/python-veltix-1.3.0/` with `python3 -m venv` and
//! `pip install veltix==1.3.0` (`veltix_tests::python`, shared with the 1.6.1
//! and 3.3.0 interop tests). If neither works the tests fail: they never
//! pass without having talked to Python.
//!
//! Everything binds 127.0.0.1 on ephemeral ports, every wait is bounded, and
//! Python processes are killed when their handle drops, on every path.

use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use veltix_driver::{Client, Runtime, Server};
use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tests::python::{Py, Release, STEP, within};
use veltix_tokio::{
    ClientConfig, ClientEvent, ClientEvents, Message, MessageType, PeerId, ServerConfig,
    ServerEvent, Tokio,
};

/// Time allowed for one test once Python is available.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// The interpreter with veltix 1.3.0; fails the test if there is none.
fn python() -> &'static Path {
    veltix_tests::python_for!(Release::V1_3_0)
}

const ECHO: MessageType = user_type(200);
const PLAIN: MessageType = user_type(201);
const PUSH: MessageType = user_type(202);
/// Hooks of `echo_server.py`: 210 makes it ping us, 211 carries the latency.
const PING_ME: MessageType = user_type(210);
const PING_RESULT: MessageType = user_type(211);

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type"),
    }
}

/// Payload sizes cycled through by the requests, as in `client.py`: empty,
/// tiny, and larger than both Python's 1024-byte reads and our 64 KiB ones.
const SIZES: [usize; 6] = [0, 1, 64, 1000, 5000, 70_000];

/// Request `i`'s payload, byte for byte what `client.py`'s `payload(i)` makes.
fn payload(i: usize) -> Vec<u8> {
    let size = SIZES[i % SIZES.len()];
    (0..size).map(|j| ((i * 7 + j) % 256) as u8).collect()
}

macro_rules! on_each_runtime {
    ($($name:ident: $runtime:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = python();
                within(TEST_TIMEOUT, legacy_client_to_python_server::<$runtime>(python)).await;
            }
        )*
    };
}

on_each_runtime! {
    our_legacy_client_to_python_server: Tokio,
    our_legacy_smol_client_to_python_server: Smol,
    our_legacy_mio_client_to_python_server: Mio,
}

async fn legacy_client_to_python_server<R: Runtime + Default>(python: &Path) {
    let mut py = Py::spawn(python, "echo_server.py", &["--port", "0"]);
    let line = py.line().await;
    let addr = veltix_tests::python::listening_addr(&line, &py);

    // Keep-alive is exercised too: after 500 ms without sending, our client
    // sends a PING (Python has no HEARTBEAT), and the PONG keeps the
    // connection within its 2 s idle timeout.
    let mut config = ClientConfig::new(addr).legacy();
    config.connection.heartbeat_interval = Some(Duration::from_millis(500));
    config.connection.idle_timeout = Some(Duration::from_secs(2));
    let client = Client::<R>::connect(config)
        .await
        .expect("connect to Python");
    let mut events = client.events();

    // Sequential requests of every size.
    for i in 0..120 {
        let sent = payload(i);
        let reply = client
            .request(Message::new(ECHO, sent.clone()), STEP)
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}{}", py.stderr()));
        assert_eq!(reply.message_type(), ECHO, "request {i}");
        assert!(reply.payload() == &sent[..], "request {i}: payload differs");
    }

    // Many requests pending at once: each answer must reach its own request.
    let concurrent = (0..48).map(|i| {
        let sent = format!("concurrent request {i}").into_bytes();
        let client = client.clone();
        async move {
            let reply = client.request(Message::new(ECHO, sent.clone()), STEP).await;
            (sent, reply)
        }
    });
    for (sent, reply) in join_all(concurrent).await {
        let reply = reply.unwrap_or_else(|e| panic!("concurrent request: {e}"));
        assert!(
            reply.payload() == &sent[..],
            "a reply reached the wrong request"
        );
    }

    // We ping Python: it answers PONG with our request id.
    let rtt = client.ping(STEP).await.expect("Python answers our PING");
    assert!(rtt < STEP);

    // A plain send comes back as an ordinary message (its echo answers no request).
    client
        .send(Message::new(PLAIN, "plain send"))
        .await
        .unwrap();
    let echo = next_message(&mut events, PLAIN).await;
    assert_eq!(&echo.payload()[..], b"plain send");

    // Python pings us (`ping_client_async`); our legacy client answers PONG.
    client.send(Message::new(PING_ME, "")).await.unwrap();
    let result = next_message(&mut events, PING_RESULT).await;
    let latency = String::from_utf8_lossy(result.payload()).into_owned();
    assert!(
        latency.parse::<i64>().is_ok(),
        "Python's ping of our client got {latency:?} (None means it timed out){}",
        py.stderr()
    );

    // Idle for well over the idle timeout: only keep-alive PINGs flow.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(client.is_connected(), "the idle connection was closed");
    let reply = client
        .request(Message::new(ECHO, "still there"), STEP)
        .await
        .expect("request after the idle period");
    assert_eq!(&reply.payload()[..], b"still there");

    client.close().await.expect("close");
    let stderr = py.stderr();
    assert!(
        !stderr.contains("Parse error") && !stderr.contains("Failed to parse"),
        "Python refused some of our frames:{stderr}"
    );
}

macro_rules! on_each_server {
    ($($name:ident: $runtime:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = python();
                within(TEST_TIMEOUT, python_client_to_server::<$runtime>(python)).await;
            }
        )*
    };
}

on_each_server! {
    python_client_to_our_server: Tokio,
    python_client_to_our_smol_server: Smol,
    python_client_to_our_mio_server: Mio,
}

/// What our server saw of the Python client.
#[derive(Debug, Default)]
struct Seen {
    /// `protocol_version` of each connection (`None`: legacy).
    connected: Vec<Option<u16>>,
    /// Index of the first request whose payload was not the expected one.
    bad_request: Option<usize>,
    requests: usize,
    plain: Vec<String>,
    /// Our ping of the Python client.
    ping: Option<Result<Duration, String>>,
    disconnected: bool,
}

async fn python_client_to_server<R: Runtime + Default>(python: &Path) {
    const COUNT: usize = 120;
    let server = Server::<R>::bind(ServerConfig::new("127.0.0.1:0"))
        .await
        .expect("bind");
    let port = server.local_addr().port().to_string();
    let mut events = server.events();
    let serving = server.clone();
    let seen = tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut python_peer: Option<PeerId> = None;
        while let Some(event) = events.next().await {
            match event {
                ServerEvent::Connected { peer, info, .. } => {
                    python_peer = Some(peer);
                    seen.connected.push(info.protocol_version);
                }
                ServerEvent::Message { peer, message } if message.message_type() == ECHO => {
                    if seen.bad_request.is_none() && message.payload()[..] != payload(seen.requests)
                    {
                        seen.bad_request = Some(seen.requests);
                    }
                    seen.requests += 1;
                    let echo = Message::new(ECHO, message.payload().clone());
                    serving.reply(peer, &message, echo).await.unwrap();
                }
                ServerEvent::Message { peer, message } if message.message_type() == PLAIN => {
                    let text = String::from_utf8_lossy(message.payload()).into_owned();
                    let push = Message::new(PUSH, format!("pushed by rust: {text}"));
                    seen.plain.push(text);
                    // Ping before pushing: the Python client disconnects soon
                    // after the push arrives, which must not cut our ping short.
                    seen.ping = Some(serving.ping(peer, STEP).await.map_err(|e| e.to_string()));
                    serving.send(peer, push).await.unwrap();
                }
                ServerEvent::Message { message, .. } => {
                    panic!("unexpected message type {}", message.message_type().code())
                }
                ServerEvent::Disconnected { peer, .. } if Some(peer) == python_peer => {
                    seen.disconnected = true;
                    break;
                }
                _ => {}
            }
        }
        seen
    });

    let mut py = Py::spawn(
        python,
        "client.py",
        &["--port", &port, "--count", &COUNT.to_string()],
    );
    let (status, lines) = py.finish().await;
    let report = format!("Python printed {lines:#?}{}", py.stderr());
    assert!(status.success(), "client.py failed ({status}); {report}");
    let expected = [
        format!("requests ok {COUNT}"),
        "requests failed 0".to_owned(),
        format!("push pushed by rust: done {COUNT}"),
        "done".to_owned(),
    ];
    for line in &expected {
        assert!(lines.contains(line), "missing {line:?}; {report}");
    }
    let pings: Vec<&String> = lines.iter().filter(|l| l.starts_with("ping ")).collect();
    assert_eq!(pings.len(), 2, "{report}");
    for ping in pings {
        // Python reports its one-way "latency" in whole ms, None on timeout.
        assert!(
            ping[5..].parse::<i64>().is_ok(),
            "our server left a ping unanswered; {report}"
        );
    }

    let seen = within(STEP, seen).await.expect("server event task");
    assert_eq!(seen.connected, [None], "one legacy connection");
    assert_eq!(seen.requests, COUNT);
    assert_eq!(seen.bad_request, None, "a request arrived altered");
    assert_eq!(seen.plain, [format!("done {COUNT}")]);
    match &seen.ping {
        Some(Ok(rtt)) => assert!(*rtt < STEP),
        other => panic!("our ping of the Python client: {other:?}"),
    }
    assert!(seen.disconnected);
    within(STEP, server.shutdown()).await.expect("shutdown");
}

/// The next application message, which must be of type `kind`; skips the
/// `Connected` event, fails on anything else.
async fn next_message(events: &mut ClientEvents, kind: MessageType) -> Message {
    loop {
        match within(STEP, events.next()).await {
            Some(ClientEvent::Message(m)) if m.message_type() == kind => return m,
            Some(ClientEvent::Connected(_)) => {}
            other => panic!("expected a message of type {}, got {other:?}", kind.code()),
        }
    }
}
