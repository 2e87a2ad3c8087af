//! A server and two clients over blocking `std::net`, one thread per
//! connection, no async runtime: the crate docs' "Run loop" with threads.
//! Each client makes 1 000 request round trips and a ping, then closes.
//!
//! A connection has two threads: a reader that only reads, handing the bytes
//! over a bounded channel, and the owner, which holds the `Connection` and
//! the write half and loops: write every `poll_transmit`, handle every
//! `poll_event`, wait for bytes or `poll_timeout`, feed what came.
//!
//! `cargo run -p veltix-core --example std_threads`

use std::error::Error;
use std::hash::{BuildHasher as _, RandomState};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf as _;
use veltix_core::flow::FlowControl;
use veltix_core::{CloseCode, Connection, ConnectionConfig, Event, Message, MessageType, Role};

type Result<T = ()> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const ROUNDS: u32 = 1_000;
const TIMEOUT: Duration = Duration::from_secs(5);

/// The reader: hands each read to the owner, then `None` once the stream
/// has ended (or failed).
fn read_into(mut stream: TcpStream, owner: SyncSender<Option<Vec<u8>>>) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if owner.send(Some(buf[..n].to_vec())).is_err() {
            return; // the owner is done
        }
    }
    let _ = owner.send(None);
}

/// Runs one connection to its end on this thread, its owner. `app` sees
/// every event, with the owner's `now`, and may call the mutators.
fn drive(
    role: Role,
    mut writer: TcpStream,
    mut app: impl FnMut(&mut Connection, Instant, Event),
) -> Result {
    // A request must not wait for the ACK of the previous one (Nagle).
    writer.set_nodelay(true)?;
    // Bounded: when the owner falls behind, the reader waits and TCP pushes
    // back on the peer (the flow control of `veltix_core::flow`, by blocking).
    let (to_owner, inputs) = sync_channel(16);
    let reader = thread::spawn({
        let stream = writer.try_clone()?;
        move || read_into(stream, to_owner)
    });
    writer.set_write_timeout(FlowControl::default().write_stall_timeout)?;
    let wall_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let config = ConnectionConfig::default();
    let mut conn = Connection::new(role, config, Instant::now(), wall_ms, random())?;
    loop {
        // Outputs, in the documented order: bytes, then events.
        while let Some(mut transmit) = conn.poll_transmit() {
            match writer.write(transmit.chunk()) {
                Ok(n) => transmit.advance(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Nothing written for the write-stall timeout: the peer does not read.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    conn.handle_write_stalled();
                }
                Err(_) => conn.handle_transport_closed(),
            }
        }
        let now = Instant::now();
        while let Some(event) = conn.poll_event() {
            app(&mut conn, now, event);
        }
        if conn.poll_transmit().is_some() {
            continue; // the application queued more
        }
        if conn.is_closed() {
            break;
        }
        // Inputs: wait for bytes, or until the connection's next deadline.
        let input = match conn.poll_timeout() {
            Some(at) => inputs.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => inputs.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = Instant::now();
        match input {
            Ok(Some(bytes)) => conn.handle_input(now, &bytes),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => conn.handle_transport_closed(),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if conn.poll_timeout().is_some_and(|at| at <= now) {
            conn.handle_timeout(now);
        }
    }
    // Our side ends; the reader stops at the peer's end of stream.
    let _ = writer.shutdown(Shutdown::Write);
    drop(inputs);
    reader.join().map_err(|_| "the reader panicked")?;
    Ok(())
}

/// The 32 random bytes `Connection::new` takes. std has no secure random
/// source; `RandomState`'s keys come from the OS, enough for a demo. A real
/// driver asks the OS (the `getrandom` crate).
fn random() -> [u8; 32] {
    let mut out = [0; 32];
    for (i, bytes) in out.chunks_mut(8).enumerate() {
        bytes.copy_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
    }
    out
}

/// The server's application: echo every message.
fn echo(conn: &mut Connection, now: Instant, event: Event) {
    match event {
        Event::Message(m) => {
            let answer = Message::new(m.message_type(), m.payload().clone());
            conn.reply(now, &m, answer).expect("room for a reply");
        }
        Event::Closed(reason) => println!("server: a peer left: {reason}"),
        _ => {}
    }
}

/// `ROUNDS` requests one after the other, then a ping, then a close.
fn client(n: usize, addr: SocketAddr) -> Result {
    let kind = MessageType::new(200)?;
    let ask = |conn: &mut Connection, now, i: u32| {
        let request = Message::new(kind, i.to_be_bytes().to_vec());
        conn.request(now, request, TIMEOUT)
            .expect("room for a request");
    };
    let (mut answered, started) = (0u32, Instant::now());
    let stream = TcpStream::connect(addr)?;
    drive(Role::Client, stream, |conn, now, event| match event {
        Event::Connected(_) => ask(conn, now, 0),
        Event::Response { message, .. } => {
            assert_eq!(message.payload()[..], answered.to_be_bytes(), "in order");
            answered += 1;
            if answered < ROUNDS {
                return ask(conn, now, answered);
            }
            let took = started.elapsed();
            println!("client {n}: {ROUNDS} round trips in {took:.1?}");
            conn.ping(now, TIMEOUT).expect("room for a ping");
        }
        Event::Pong { rtt, .. } => {
            println!("client {n}: ping round trip {rtt:.1?}");
            conn.close(now, CloseCode::NORMAL, "done");
        }
        Event::Closed(reason) => println!("client {n}: {reason}"),
        other => panic!("client {n}: unexpected {other:?}"),
    })
}

fn main() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("server listening on {addr}");
    let mut threads = Vec::new();
    for n in 1..=2 {
        threads.push(thread::spawn(move || client(n, addr)));
        // The server side: a thread per connection too.
        let (stream, _) = listener.accept()?;
        threads.push(thread::spawn(move || drive(Role::Server, stream, echo)));
    }
    for thread in threads {
        thread.join().map_err(|_| "a thread panicked")??;
    }
    Ok(())
}
