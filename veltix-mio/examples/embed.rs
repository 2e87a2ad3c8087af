//! Veltix connections in your own `mio::Poll`: one thread, one `Poll`,
//! serving a listener and the connections it accepts (an echo server) and,
//! in the same `Poll`, four clients that each send requests, one request
//! nobody answers (so its deadline fires through `poll_timeout`), and a
//! ping. Ends by itself once every connection has closed (or after 10 s).
//!
//! `cargo run --release -p veltix-mio --example embed`

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use veltix_mio::{CloseCode, ConnectionConfig, Event, Message, MessageType, MioConnection};

const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("200 is a user type"),
};
/// Requests of this type get no answer: their deadline fires.
const SILENT: MessageType = match MessageType::new(201) {
    Ok(t) => t,
    Err(_) => panic!("201 is a user type"),
};

const LISTENER: Token = Token(0);
const CLIENTS: usize = 4;
const REQUESTS: usize = 5;
const LIMIT: Duration = Duration::from_secs(10);

/// What a connection is to this program.
enum Role {
    /// The server's side of an accepted peer: echoes ECHO, ignores SILENT.
    Served,
    /// One of our clients, and how far it got.
    Client {
        number: usize,
        echoes: usize,
        timed_out: bool,
        rtt: Option<Duration>,
    },
}

struct Slot {
    conn: MioConnection,
    role: Role,
}

// `pub(crate)`: tests/examples.rs runs it.
pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    let mut listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {addr}");

    let config = ConnectionConfig::default();
    let mut slots: HashMap<Token, Slot> = HashMap::new();
    let mut next_token = 1;
    for number in 0..CLIENTS {
        let mut conn = MioConnection::connect(addr, config.clone(), Instant::now())?;
        let token = Token(next_token);
        next_token += 1;
        conn.register(poll.registry(), token)?;
        let role = Role::Client {
            number,
            echoes: 0,
            timed_out: false,
            rtt: None,
        };
        slots.insert(token, Slot { conn, role });
    }

    let mut clients_done = 0;
    while !slots.is_empty() {
        // Sleep until the earliest connection deadline (or the overall limit).
        let now = Instant::now();
        let limit = started + LIMIT;
        if now >= limit {
            return Err(io::Error::other("did not finish within 10 s").into());
        }
        let deadline = slots
            .values()
            .filter_map(|slot| slot.conn.poll_timeout())
            .fold(limit, Instant::min);
        poll.poll(&mut events, Some(deadline.saturating_duration_since(now)))?;

        let now = Instant::now();
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &config, &mut slots, &mut next_token, now)?;
            } else if let Some(slot) = slots.get_mut(&event.token()) {
                slot.conn.handle_event(now, event);
            }
        }
        // Timers, then every connection's events. (A big server would keep
        // its deadlines in a heap and only visit connections that had
        // events; a handful of connections can simply be scanned.)
        for slot in slots.values_mut() {
            if slot.conn.poll_timeout().is_some_and(|at| at <= now) {
                slot.conn.handle_timeout(now);
            }
            clients_done += usize::from(serve(slot, now));
        }
        slots.retain(|_, slot| {
            let finished = slot.conn.is_finished();
            if finished {
                let _ = slot.conn.deregister(poll.registry());
            }
            !finished
        });
    }
    println!(
        "{clients_done} clients done, every connection closed, in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

/// Accepts every pending connection (edge-triggered: until `WouldBlock`).
fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    config: &ConnectionConfig,
    slots: &mut HashMap<Token, Slot>,
    next_token: &mut usize,
    now: Instant,
) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut conn =
            MioConnection::accept(stream, config.clone(), now).map_err(io::Error::from)?;
        let token = Token(*next_token);
        *next_token += 1;
        conn.register(poll.registry(), token)?;
        slots.insert(
            token,
            Slot {
                conn,
                role: Role::Served,
            },
        );
    }
}

/// Drains one connection's events and acts on them; true when a client
/// has just finished its work.
fn serve(slot: &mut Slot, now: Instant) -> bool {
    let mut finished = false;
    while let Some(event) = slot.conn.poll_event() {
        match (&mut slot.role, event) {
            (Role::Served, Event::Message(message)) if message.message_type() == ECHO => {
                let answer = Message::new(ECHO, message.payload().clone());
                if let Err(err) = slot.conn.reply(now, &message, answer) {
                    eprintln!("echo failed: {err}");
                }
            }
            (Role::Client { number, .. }, Event::Connected(_)) => {
                for i in 0..REQUESTS {
                    let text = format!("client {number} request {i}");
                    let _ =
                        slot.conn
                            .request(now, Message::new(ECHO, text), Duration::from_secs(5));
                }
                let silent = Message::new(SILENT, "anyone?");
                let _ = slot.conn.request(now, silent, Duration::from_millis(200));
                let _ = slot.conn.ping(now, Duration::from_secs(5));
            }
            (Role::Client { echoes, .. }, Event::Response { message, .. }) => {
                println!("  reply: {}", String::from_utf8_lossy(message.payload()));
                *echoes += 1;
            }
            (Role::Client { rtt, .. }, Event::Pong { rtt: measured, .. }) => *rtt = Some(measured),
            (Role::Client { timed_out, .. }, Event::RequestFailed { error, .. }) => {
                println!("  unanswered request failed: {error}");
                *timed_out = true;
            }
            (_, Event::Closed(reason)) => {
                if matches!(slot.role, Role::Served) {
                    println!("  server side: peer left ({reason})");
                }
            }
            _ => {}
        }
        if let Role::Client {
            number,
            echoes,
            timed_out: true,
            rtt: Some(rtt),
        } = slot.role
            && echoes == REQUESTS
            && !slot.conn.connection().is_closed()
        {
            println!("client {number}: {echoes} echoes, ping {rtt:?}, closing");
            slot.conn.close(now, CloseCode::NORMAL, "done");
            finished = true;
        }
    }
    finished
}
