//! `MioConnection` driven by a test's own `mio::Poll`: handshake, requests,
//! ping, a deadline from `poll_timeout`, close; and against the threaded server.

mod common;

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use common::{ECHO, SILENT, within};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use veltix_mio::{
    CloseCode, CloseReason, ConnectionConfig, Event, Message, MioConnection, RequestError,
    RequestId, Server, ServerConfig,
};

const LIMIT: Duration = Duration::from_secs(30);
const LISTENER: Token = Token(0);
const CLIENT: Token = Token(1);
const SERVED: Token = Token(2);

/// One `Poll`, an optional listener, and the connections registered in it.
struct Harness {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    conns: HashMap<Token, MioConnection>,
    deadline: Instant,
}

impl Harness {
    fn new() -> Self {
        Self {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(64),
            listener: None,
            conns: HashMap::new(),
            deadline: Instant::now() + Duration::from_secs(10),
        }
    }

    fn listen(&mut self) -> std::net::SocketAddr {
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .expect("register listener");
        let addr = listener.local_addr().expect("local addr");
        self.listener = Some(listener);
        addr
    }

    fn add(&mut self, token: Token, mut conn: MioConnection) {
        conn.register(self.poll.registry(), token)
            .expect("register");
        self.conns.insert(token, conn);
    }

    fn conn(&mut self, token: Token) -> &mut MioConnection {
        self.conns.get_mut(&token).expect("connection")
    }

    /// One turn of the loop: sleep until an event or the earliest deadline,
    /// handle events and due timers, and return every connection event.
    fn turn(&mut self) -> Vec<(Token, Event)> {
        let now = Instant::now();
        assert!(now < self.deadline, "the exchange did not finish in time");
        let wake = self
            .conns
            .values()
            .filter_map(MioConnection::poll_timeout)
            .fold(self.deadline, Instant::min);
        self.poll
            .poll(&mut self.events, Some(wake.saturating_duration_since(now)))
            .expect("poll");
        let now = Instant::now();
        let mut accepted = Vec::new();
        for event in &self.events {
            if event.token() == LISTENER {
                let listener = self.listener.as_ref().expect("listener");
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => accepted.push(stream),
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => panic!("accept: {err}"),
                    }
                }
            } else if let Some(conn) = self.conns.get_mut(&event.token()) {
                conn.handle_event(now, event);
            }
        }
        for stream in accepted {
            let conn =
                MioConnection::accept(stream, ConnectionConfig::default(), now).expect("accept");
            self.add(SERVED, conn);
        }
        let mut out = Vec::new();
        for (token, conn) in &mut self.conns {
            if conn.poll_timeout().is_some_and(|at| at <= now) {
                conn.handle_timeout(now);
            }
            while let Some(event) = conn.poll_event() {
                out.push((*token, event));
            }
        }
        out
    }
}

#[test]
fn two_connections_in_one_poll() {
    within(LIMIT, || {
        let mut h = Harness::new();
        let addr = h.listen();
        let client = MioConnection::connect(addr, ConnectionConfig::default(), Instant::now())
            .expect("connect");
        h.add(CLIENT, client);

        // Handshake: both sides report Connected.
        let mut connected = 0;
        while connected < 2 {
            for (_, event) in h.turn() {
                if matches!(event, Event::Connected(_)) {
                    connected += 1;
                }
            }
        }

        // Requests answered by the served side; one request nobody answers;
        // a ping.
        let now = Instant::now();
        let mut expected: HashMap<RequestId, String> = HashMap::new();
        for i in 0..20 {
            let text = format!("request {i}");
            let id = h
                .conn(CLIENT)
                .request(
                    now,
                    Message::new(ECHO, text.clone()),
                    Duration::from_secs(5),
                )
                .expect("request");
            expected.insert(id, text);
        }
        let silent_timeout = Duration::from_millis(100);
        let silent = h
            .conn(CLIENT)
            .request(now, Message::new(SILENT, "?"), silent_timeout)
            .expect("request");
        let ping = h
            .conn(CLIENT)
            .ping(now, Duration::from_secs(5))
            .expect("ping");
        let (mut rtt, mut timed_out_after) = (None, None);
        while !expected.is_empty() || rtt.is_none() || timed_out_after.is_none() {
            for (token, event) in h.turn() {
                match (token, event) {
                    (SERVED, Event::Message(message)) => {
                        if message.message_type() == ECHO {
                            let answer = Message::new(ECHO, message.payload().clone());
                            h.conn(SERVED)
                                .reply(Instant::now(), &message, answer)
                                .expect("reply");
                        }
                    }
                    (
                        CLIENT,
                        Event::Response {
                            request_id,
                            message,
                        },
                    ) => {
                        let text = expected.remove(&request_id).expect("an expected id");
                        assert_eq!(message.payload(), text.as_bytes());
                    }
                    (
                        CLIENT,
                        Event::Pong {
                            request_id,
                            rtt: measured,
                        },
                    ) => {
                        assert_eq!(request_id, ping);
                        rtt = Some(measured);
                    }
                    (CLIENT, Event::RequestFailed { request_id, error }) => {
                        assert_eq!(request_id, silent);
                        assert_eq!(error, RequestError::TimedOut);
                        timed_out_after = Some(now.elapsed());
                    }
                    (token, event) => panic!("unexpected {event:?} on {token:?}"),
                }
            }
        }
        assert!(rtt.is_some_and(|rtt| rtt < Duration::from_secs(5)));
        // The deadline came from poll_timeout: not before it, and not much after.
        let waited = timed_out_after.expect("timed out");
        assert!(waited >= silent_timeout, "{waited:?}");
        assert!(
            waited < silent_timeout + Duration::from_secs(2),
            "{waited:?}"
        );

        // Close: both sides end and finish.
        h.conn(CLIENT)
            .close(Instant::now(), CloseCode::NORMAL, "done");
        let mut reasons = HashMap::new();
        while reasons.len() < 2 || h.conns.values().any(|c| !c.is_finished()) {
            for (token, event) in h.turn() {
                if let Event::Closed(reason) = event {
                    reasons.insert(token, reason);
                }
            }
        }
        assert!(matches!(reasons[&CLIENT], CloseReason::Local { .. }));
        assert!(
            matches!(&reasons[&SERVED], CloseReason::Peer { code, reason } if *code == CloseCode::NORMAL && reason == "done"),
            "{:?}",
            reasons[&SERVED]
        );
        let registry = h.poll.registry();
        for conn in h.conns.values_mut() {
            conn.deregister(registry).expect("deregister");
        }
    });
}

#[test]
fn embedded_client_talks_to_the_threaded_server() {
    within(LIMIT, || {
        let server = Server::bind(ServerConfig::new("127.0.0.1:0")).expect("bind");
        server.on_message(|peer, message| {
            let answer = Message::new(ECHO, message.payload().clone());
            peer.reply(&message, answer).expect("reply queued");
        });
        let mut h = Harness::new();
        let client = MioConnection::connect(
            server.local_addr(),
            ConnectionConfig::default(),
            Instant::now(),
        )
        .expect("connect");
        h.add(CLIENT, client);
        // Sent before the handshake completes: held, then released.
        let id = h
            .conn(CLIENT)
            .request(
                Instant::now(),
                Message::new(ECHO, "early"),
                Duration::from_secs(5),
            )
            .expect("request");
        let mut answer = None;
        while answer.is_none() {
            for (_, event) in h.turn() {
                if let Event::Response {
                    request_id,
                    message,
                } = event
                {
                    assert_eq!(request_id, id);
                    answer = Some(message);
                }
            }
        }
        assert_eq!(&answer.expect("answer").payload()[..], b"early");
        // The server's shutdown reaches the embedded client, which keeps
        // being served meanwhile (the server lingers until its peer has closed).
        let stopping = std::thread::spawn(move || server.shutdown());
        let mut reason = None;
        while reason.is_none() || !h.conn(CLIENT).is_finished() {
            for (_, event) in h.turn() {
                if let Event::Closed(r) = event {
                    reason = Some(r);
                }
            }
        }
        assert!(
            matches!(reason, Some(CloseReason::Peer { code, .. }) if code == CloseCode::SHUTDOWN),
            "{reason:?}"
        );
        stopping
            .join()
            .expect("shutdown thread")
            .expect("clean shutdown");
    });
}

/// The embedded connection over TLS (the same layer as the async API's)
/// to the threaded server over TLS: the server's key is pinned, a request is
/// answered, the server's identity is visible, the close is clean.
#[test]
fn embedded_client_talks_tls_to_the_threaded_server() {
    within(LIMIT, || {
        let made = veltix_tls::self_signed(vec!["veltix.test".to_owned()]).expect("a certificate");
        let tls = made
            .server_config()
            .build()
            .expect("a server configuration");
        let server = Server::bind(ServerConfig::new("127.0.0.1:0").tls(tls)).expect("bind");
        server.on_message(|peer, message| {
            let answer = Message::new(ECHO, message.payload().clone());
            peer.reply(&message, answer).expect("reply queued");
        });
        let trust = veltix_tls::ServerTrust::Pinned(vec![made.pin()]);
        let client_tls = veltix_tls::TlsClientConfig::builder(trust)
            .build()
            .expect("a client configuration");
        let session =
            veltix_tls::TlsSession::client(&client_tls, "veltix.test").expect("a session");
        let client = MioConnection::connect(
            server.local_addr(),
            ConnectionConfig::default(),
            Instant::now(),
        )
        .expect("connect")
        .with_tls(session);
        let mut h = Harness::new();
        h.add(CLIENT, client);
        let id = h
            .conn(CLIENT)
            .request(
                Instant::now(),
                Message::new(ECHO, "sealed"),
                Duration::from_secs(5),
            )
            .expect("request");
        let mut answer = None;
        while answer.is_none() {
            for (_, event) in h.turn() {
                if let Event::Response {
                    request_id,
                    message,
                } = event
                {
                    assert_eq!(request_id, id);
                    answer = Some(message);
                }
            }
        }
        assert_eq!(&answer.expect("answer").payload()[..], b"sealed");
        assert_eq!(
            h.conn(CLIENT)
                .tls_identity()
                .map(veltix_tls::PeerIdentity::pin),
            Some(made.pin()),
            "the server proved the pinned key"
        );
        let stopping = std::thread::spawn(move || server.shutdown());
        while !h.conn(CLIENT).is_finished() {
            h.turn();
        }
        stopping
            .join()
            .expect("shutdown thread")
            .expect("clean shutdown");
    });
}

#[test]
fn a_refused_connect_ends_the_connection() {
    within(LIMIT, || {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind");
        let mut h = Harness::new();
        let client = MioConnection::connect(addr, ConnectionConfig::default(), Instant::now())
            .expect("connect");
        h.add(CLIENT, client);
        let mut reason = None;
        while reason.is_none() {
            for (_, event) in h.turn() {
                if let Event::Closed(r) = event {
                    reason = Some(r);
                }
            }
        }
        assert_eq!(reason, Some(CloseReason::TransportClosed));
        assert!(h.conn(CLIENT).is_finished());
    });
}

#[test]
fn closing_right_after_connect_finishes_at_once() {
    within(LIMIT, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut conn = MioConnection::connect(addr, ConnectionConfig::default(), Instant::now())
            .expect("connect");
        conn.close(Instant::now(), CloseCode::NORMAL, "changed my mind");
        assert!(conn.is_finished());
        assert!(matches!(
            conn.poll_event(),
            Some(Event::Closed(CloseReason::Local { .. }))
        ));
        assert_eq!(conn.poll_timeout(), None);
    });
}

/// A raw peer pipelines echo requests and starts reading its answers only
/// later: the embedded server stops reading it once its queued answers reach
/// the high-water mark (so they never pile up past it, and no reply is
/// refused), then serves every echo, in order, once the peer reads.
#[test]
fn a_peer_that_reads_late_is_paused_then_served_in_order() {
    use std::io::{Read as _, Write as _};

    const COUNT: u32 = 4000;
    const SIZE: usize = 4096;
    within(LIMIT, || {
        let mut h = Harness::new();
        h.deadline = Instant::now() + Duration::from_secs(25);
        let addr = h.listen();
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        let mut writer = stream.try_clone().expect("clone");
        let sending = std::thread::spawn(move || {
            for i in 0..COUNT {
                let mut payload = vec![0; SIZE];
                payload[..4].copy_from_slice(&i.to_be_bytes());
                let message =
                    Message::new(ECHO, payload).with_request_id(RequestId::from_u128(i.into()));
                let frame = veltix_core::frame::EncodedFrame::new(&message).expect("frame");
                writer
                    .write_all(&frame.to_bytes())
                    .expect("the server takes every request");
            }
        });
        let reading = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let mut stream = stream;
            let mut decoder = veltix_core::frame::Decoder::default();
            let mut rx = bytes::BytesMut::new();
            let mut buf = vec![0; 64 * 1024];
            let mut next = 0u32;
            while next < COUNT {
                match decoder.decode(&mut rx).expect("a valid frame") {
                    Some(echo) if echo.message_type() == ECHO => {
                        assert_eq!(
                            echo.request_id(),
                            RequestId::from_u128(next.into()),
                            "in order"
                        );
                        assert_eq!(echo.payload()[..4], next.to_be_bytes());
                        next += 1;
                    }
                    Some(_) => {} // a keep-alive
                    None => {
                        let n = stream.read(&mut buf).expect("read");
                        assert!(n > 0, "the server closed after {next} echoes");
                        rx.extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        let flow = veltix_core::flow::FlowControl::default();
        let mut most_queued = 0;
        let mut configured = false;
        while !reading.is_finished() {
            for (token, event) in h.turn() {
                if let (SERVED, Event::Message(request)) = (token, event) {
                    let answer = Message::new(ECHO, request.payload().clone());
                    h.conn(SERVED)
                        .reply(Instant::now(), &request, answer)
                        .expect("room for every answer");
                }
            }
            if let Some(conn) = h.conns.get_mut(&SERVED) {
                if !configured {
                    conn.set_flow_control(flow);
                    configured = true;
                }
                most_queued = most_queued.max(conn.connection().queued_bytes());
            }
        }
        reading.join().expect("every echo, in order");
        sending.join().expect("every request sent");
        // A call reads at most 256 KiB while below the mark, and the answers
        // to it are queued only after the call; a turn of this loop makes up
        // to two calls (an event, then the timeout that resumes reading).
        let bound = flow.high_water + 2 * 256 * 1024 + SIZE + 64;
        assert!(
            most_queued <= bound,
            "{most_queued} bytes queued for a peer that did not read, above {bound}"
        );
        assert!(
            most_queued >= flow.high_water,
            "the test never filled the server's output ({most_queued} bytes)"
        );
    });
}
