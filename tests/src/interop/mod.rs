//! Interop scenarios against the real Python Veltix 1.6.1 and 3.3.0
//! packages (1.3.0 has its own in `tests/tests/python_interop.rs`), run by
//! `tests/tests/python_interop_1_6.rs` and `python_interop_3_3.rs` with our
//! side on each runtime.
//!
//! The Python peers are `tests/python/echo_server_{1_6,3_3}.py` and
//! `client_{1_6,3_3}.py` (see their docstrings), under the interpreter
//! [`crate::python`] finds or installs. Both directions do the same work:
//! requests of every size (payloads checked), pings both ways, a 1 MiB
//! request echoed, a burst of 500 plain messages echoed in order (and a
//! broadcast from our async server); and the Python 3.x refusal of a full
//! server both ways.
//!
//! Message types shared with the scripts: 200 is echoed as a reply, 201 is
//! the burst (echoed too), 210 asks the other side to ping its sender and
//! answer with 211 carrying the round trip in ms as text (`None` on failure);
//! 212 asks our server to broadcast a message of type 213 to every peer.

use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use veltix_driver::{
    Client, ClientConfig, ClientEvent, ClientEvents, Dialect, Message, MessageType, Runtime,
    Server, ServerConfig, ServerEvent,
};

use crate::python::{Py, Release, STEP, listening_addr, within};
use crate::support::{seq_of, seq_payload};

mod closing;
mod json;
mod threaded;

pub use closing::{
    full_python_3_3_server_refuses_our_client, full_server_refuses_python_3_3_client,
    our_closes_reach_the_python_client,
};
pub use json::{Sample, our_json_to_python_server, python_json_to_our_server, sample};
pub use threaded::python_client_to_threaded_mio_server;

/// Requests a client sends one after the other.
pub const REQUESTS: usize = 60;
/// Size of the big request: 1 MiB.
pub const BIG: usize = 1 << 20;
/// Plain messages sent back to back.
pub const BURST: u32 = 500;

const ECHO: MessageType = user_type(200);
const PLAIN: MessageType = user_type(201);
const PING_ME: MessageType = user_type(210);
const PING_RESULT: MessageType = user_type(211);
const BROADCAST_ME: MessageType = user_type(212);
const BROADCAST: MessageType = user_type(213);
/// The text of the broadcast our server sends when asked.
const BROADCAST_TEXT: &str = "broadcast by rust";

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type"),
    }
}

/// Payload sizes cycled through by the requests, as in the client scripts:
/// empty, tiny, and larger than Python's reads and our 64 KiB ones.
const SIZES: [usize; 6] = [0, 1, 64, 1000, 5000, 70_000];

/// Request `i`'s payload, byte for byte what the scripts' `payload(i)` makes.
pub fn payload(i: usize) -> Vec<u8> {
    let size = SIZES[i % SIZES.len()];
    (0..size).map(|j| ((i * 7 + j) % 256) as u8).collect()
}

/// The big payload, byte for byte what the client scripts send.
pub fn big_payload() -> Vec<u8> {
    (0..BIG).map(|j| ((j * 31 + 7) % 251) as u8).collect()
}

/// The dialect that speaks to `release`, and its server and client scripts.
fn peer_of(release: Release) -> (Dialect, &'static str, &'static str) {
    match release {
        Release::V1_6_1 => (Dialect::Python14, "echo_server_1_6.py", "client_1_6.py"),
        Release::V3_3_0 => (Dialect::Python3, "echo_server_3_3.py", "client_3_3.py"),
        Release::V1_3_0 => panic!("1.3.0 has its own scenarios (python_interop.rs)"),
    }
}

/// Whether a message read from `dialect`'s wire carries its sender's
/// timestamp: the compact wire has none (0).
fn check_timestamp(dialect: Dialect, message: &Message, what: &str) {
    if dialect == Dialect::Python3 {
        assert_eq!(
            message.timestamp_ms(),
            0,
            "{what}: compact frames carry no timestamp"
        );
    } else {
        assert_ne!(
            message.timestamp_ms(),
            0,
            "{what}: Python's header timestamp"
        );
    }
}

/// The next application message, which must be of type `kind`; skips
/// `Connected`, fails on anything else.
async fn next_message(events: &mut ClientEvents, kind: MessageType, py: &Py) -> Message {
    loop {
        match within(STEP, events.next()).await {
            Some(ClientEvent::Message(m)) if m.message_type() == kind => return m,
            Some(ClientEvent::Connected(_)) => {}
            other => panic!(
                "expected a message of type {}, got {other:?}{}",
                kind.code(),
                py.stderr()
            ),
        }
    }
}

/// Our client (on `R`, in `release`'s dialect) against the Python echo server.
pub async fn our_client_to_python_server<R: Runtime + Default>(python: &Path, release: Release) {
    let (dialect, server_script, _) = peer_of(release);
    let mut py = Py::spawn(python, server_script, &["--port", "0"]);
    let line = py.line().await;
    let addr = listening_addr(&line, &py);

    // Keep-alive is exercised too: after 300 ms without sending our client
    // PINGs (Python answers PONG), which keeps it within its 1 s idle timeout.
    let mut config = ClientConfig::new(addr).dialect(dialect);
    config.connection.heartbeat_interval = Some(Duration::from_millis(300));
    config.connection.idle_timeout = Some(Duration::from_secs(1));
    let client = within(STEP, Client::<R>::connect(config))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "connect to Python {}: {e}{}",
                release.version(),
                py.stderr()
            )
        });
    let mut events = client.events();
    match within(STEP, events.next()).await {
        Some(ClientEvent::Connected(info)) => assert_eq!(info.dialect, dialect),
        other => panic!("expected Connected first, got {other:?}"),
    }

    // Sequential requests of every size.
    for i in 0..REQUESTS {
        let sent = payload(i);
        let reply = within(STEP, client.request(Message::new(ECHO, sent.clone()), STEP))
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}{}", py.stderr()));
        assert_eq!(reply.message_type(), ECHO, "request {i}");
        assert!(reply.payload() == &sent[..], "request {i}: payload differs");
        check_timestamp(dialect, &reply, "a reply");
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
    for (sent, reply) in within(STEP, join_all(concurrent)).await {
        let reply = reply.unwrap_or_else(|e| panic!("concurrent request: {e}{}", py.stderr()));
        assert!(
            reply.payload() == &sent[..],
            "a reply reached the wrong request"
        );
    }

    // We ping Python: it answers PONG with our request id.
    let rtt = within(STEP, client.ping(STEP))
        .await
        .unwrap_or_else(|e| panic!("Python left our PING unanswered: {e}{}", py.stderr()));
    assert!(rtt < STEP);

    // 1 MiB each way.
    let big = big_payload();
    let reply = within(STEP, client.request(Message::new(ECHO, big.clone()), STEP))
        .await
        .unwrap_or_else(|e| panic!("1 MiB request: {e}{}", py.stderr()));
    assert!(reply.payload() == &big[..], "the 1 MiB echo differs");

    // A burst of plain messages: every echo arrives, in order, as an
    // ordinary message (it answers no request).
    for i in 0..BURST {
        within(STEP, client.send(Message::new(PLAIN, seq_payload(i))))
            .await
            .unwrap_or_else(|e| panic!("burst send {i}: {e}"));
    }
    for i in 0..BURST {
        let echo = next_message(&mut events, PLAIN, &py).await;
        assert_eq!(seq_of(&echo), i, "burst echoes arrive in order");
        assert!(
            echo.payload() == &seq_payload(i)[..],
            "burst echo {i} differs"
        );
        check_timestamp(dialect, &echo, "a burst echo");
        if let Some(id) = echo.request_id().to_compact() {
            assert!(
                id < 0x8000,
                "our plain sends take ids of the client's half: {id}"
            );
        }
    }

    // Python pings us (`ping_client_async`); our client answers PONG.
    within(STEP, client.send(Message::new(PING_ME, "")))
        .await
        .unwrap();
    let result = next_message(&mut events, PING_RESULT, &py).await;
    let latency = String::from_utf8_lossy(result.payload()).into_owned();
    assert!(
        latency.parse::<f64>().is_ok(),
        "Python's ping of our client got {latency:?} (None means it timed out){}",
        py.stderr()
    );

    // Idle for well over the idle timeout: only keep-alive PINGs flow.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(client.is_connected(), "the idle connection was closed");
    let reply = within(
        STEP,
        client.request(Message::new(ECHO, "still there"), STEP),
    )
    .await
    .expect("request after the idle period");
    assert_eq!(&reply.payload()[..], b"still there");

    within(STEP, client.close()).await.expect("close");
    assert!(
        !py.refused_frames(),
        "Python refused some of our frames:{}",
        py.stderr()
    );
}

/// What our server saw of a Python client.
#[derive(Debug, Default)]
struct Seen {
    /// The dialect of each connection.
    connected: Vec<Dialect>,
    /// Echo requests, the big one included.
    requests: usize,
    /// Index of the first request whose payload was not the expected one.
    bad_request: Option<usize>,
    big: usize,
    /// Sequence numbers of the burst, in arrival order.
    burst: Vec<u32>,
    /// A message whose timestamp or request id did not fit the wire.
    bad_header: Option<String>,
    /// Our ping of the Python client.
    ping: Option<Result<Duration, String>>,
    /// Peers each broadcast our server sent on request reached.
    broadcasts: Vec<usize>,
    /// The first reply our server could not queue.
    failed_reply: Option<String>,
    disconnected: bool,
}

impl Seen {
    fn message(&mut self, dialect: Dialect, message: &Message) {
        let compact = dialect == Dialect::Python3;
        let id = message.request_id();
        let header_ok = if compact {
            // Python 3.x clients allocate ids in [0, 32768).
            message.timestamp_ms() == 0 && id.to_compact().is_some_and(|n| n < 0x8000)
        } else {
            // Python 1.6 sends its wall clock and random UUID v4 ids.
            message.timestamp_ms() != 0 && id.as_bytes()[6] >> 4 == 4
        };
        if !header_ok && self.bad_header.is_none() {
            self.bad_header = Some(format!(
                "type {} timestamp {} id {id:?}",
                message.message_type().code(),
                message.timestamp_ms()
            ));
        }
        if message.message_type() == ECHO {
            let expected = if message.payload().len() == BIG {
                self.big += 1;
                big_payload()
            } else {
                payload(self.requests - self.big)
            };
            if self.bad_request.is_none() && message.payload()[..] != expected {
                self.bad_request = Some(self.requests);
            }
            self.requests += 1;
        } else if message.message_type() == PLAIN {
            self.burst.push(seq_of(message));
        }
    }

    fn check(&self, dialect: Dialect, broadcast: bool) {
        let broadcasts: &[usize] = if broadcast { &[1] } else { &[] };
        assert_eq!(
            self.broadcasts, broadcasts,
            "broadcasts sent and peers reached"
        );
        assert_eq!(self.connected, [dialect], "one connection, in the dialect");
        assert_eq!(
            self.requests,
            REQUESTS + 1,
            "every request, the 1 MiB one included"
        );
        assert_eq!(self.big, 1);
        assert_eq!(self.bad_request, None, "a request arrived altered");
        assert_eq!(self.bad_header, None, "a header did not fit the wire");
        assert_eq!(self.failed_reply, None, "our server could not reply");
        assert!(
            self.burst.iter().copied().eq(0..BURST),
            "the burst arrived complete and in order: {} messages",
            self.burst.len()
        );
        match &self.ping {
            Some(Ok(rtt)) => assert!(*rtt < STEP),
            other => panic!("our ping of the Python client: {other:?}"),
        }
        assert!(self.disconnected);
    }
}

/// The lines the client scripts must print after a full run (`--broadcast`
/// if `broadcast`).
fn check_client_report(
    status: std::process::ExitStatus,
    lines: &[String],
    py: &Py,
    broadcast: bool,
) {
    let report = format!("Python printed {lines:#?}{}", py.stderr());
    assert!(
        status.success(),
        "the Python client failed ({status}); {report}"
    );
    let expected = [
        format!("requests ok {REQUESTS}"),
        "requests failed 0".to_owned(),
        format!("big ok {BIG}"),
        format!("burst ok {BURST}"),
        "done".to_owned(),
    ];
    if broadcast {
        let line = format!("broadcast {BROADCAST_TEXT}");
        assert!(lines.contains(&line), "missing {line:?}; {report}");
    }
    for line in &expected {
        assert!(lines.contains(line), "missing {line:?}; {report}");
    }
    let pings: Vec<&String> = lines.iter().filter(|l| l.starts_with("ping ")).collect();
    assert_eq!(pings.len(), 2, "{report}");
    for ping in pings {
        assert!(
            ping["ping ".len()..].parse::<f64>().is_ok(),
            "our server left a ping unanswered; {report}"
        );
    }
    let pinged = lines.iter().find(|l| l.starts_with("pinged "));
    assert!(
        pinged.is_some_and(|l| l["pinged ".len()..].parse::<f64>().is_ok()),
        "our server's ping result did not reach Python; {report}"
    );
    assert!(
        !py.refused_frames(),
        "Python refused some of our frames; {report}"
    );
}

/// The arguments of a full client run.
fn client_args(port: &str, broadcast: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        port,
        "--requests",
        &REQUESTS.to_string(),
        "--big",
        &BIG.to_string(),
        "--burst",
        &BURST.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    if broadcast {
        args.push("--broadcast".to_owned());
    }
    args
}

/// The Python client against our server (on `R`, in `release`'s dialect).
pub async fn python_client_to_our_server<R: Runtime + Default>(python: &Path, release: Release) {
    let (dialect, _, client_script) = peer_of(release);
    let config = ServerConfig::new("127.0.0.1:0").dialect(dialect);
    let server = within(STEP, Server::<R>::bind(config)).await.expect("bind");
    let port = server.local_addr().port().to_string();
    let mut events = server.events();
    let serving = server.clone();
    let seen = tokio::spawn(async move {
        let mut seen = Seen::default();
        while let Some(event) = events.next().await {
            match event {
                ServerEvent::Connected { info, .. } => seen.connected.push(info.dialect),
                ServerEvent::Message { peer, message } if message.message_type() == PING_ME => {
                    let rtt = serving.ping(peer, STEP).await.map_err(|e| e.to_string());
                    let text = match &rtt {
                        Ok(rtt) => format!("{}", rtt.as_secs_f64() * 1000.0),
                        Err(_) => "None".to_owned(),
                    };
                    seen.ping = Some(rtt);
                    if let Err(e) = serving.send(peer, Message::new(PING_RESULT, text)).await {
                        seen.failed_reply.get_or_insert(e.to_string());
                    }
                }
                ServerEvent::Message { message, .. } if message.message_type() == BROADCAST_ME => {
                    let broadcast = Message::new(BROADCAST, BROADCAST_TEXT);
                    match serving.broadcast(broadcast, &[]).await {
                        Ok(reached) => seen.broadcasts.push(reached),
                        Err(e) => {
                            seen.failed_reply.get_or_insert(e.to_string());
                        }
                    }
                }
                ServerEvent::Message { peer, message } => {
                    seen.message(dialect, &message);
                    let echo = Message::new(message.message_type(), message.payload().clone());
                    if let Err(e) = serving.reply(peer, &message, echo).await {
                        seen.failed_reply.get_or_insert(e.to_string());
                    }
                }
                ServerEvent::Disconnected { .. } => {
                    seen.disconnected = true;
                    break;
                }
                _ => {}
            }
        }
        seen
    });

    let args = client_args(&port, true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut py = Py::spawn(python, client_script, &args);
    let (status, lines) = py.finish().await;
    check_client_report(status, &lines, &py, true);
    let seen = within(STEP, seen).await.expect("server event task");
    seen.check(dialect, true);
    within(STEP, server.shutdown()).await.expect("shutdown");
}
