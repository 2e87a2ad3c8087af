//! C100k: a fleet of 100 000 connections on one server.
//!
//! One process cannot open 100 000 connections to one address from one
//! source address: Linux gives each (source address, port) pair out once,
//! from the ~28 000 ports of `ip_local_port_range`. The fleet therefore binds
//! its sockets to 127.0.0.1, 127.0.0.2, … in turn before connecting (all of
//! 127.0.0.0/8 is loopback), so the server sees 100 000 distinct peers.
//!
//! The fleet's clients are not the row's Veltix clients: the driver's
//! `ClientConfig` has no source address, and what is measured here is the
//! server. Each client is a bare `veltix_core::Connection` (the sans-IO core,
//! native dialect, through the handshake) over a tokio socket, on a
//! current-thread runtime of its own thread, whatever the row's runtime:
//! one task per connection, which answers the server's heartbeats and pings,
//! so the server never takes a fleet client for idle. Dropping the fleet
//! drops that runtime, and with it every connection.
//!
//! [`Fleet::broadcast`] has the fleet's first client cue the server
//! ([`CUE_BROADCAST`]), which broadcasts one 64-byte message to every peer;
//! every client counts the message's arrival, and the time from the cue to
//! the last arrival is the broadcast's. It includes the fleet's own work:
//! one thread reading, hashing and dispatching every copy.

use std::hash::{BuildHasher as _, RandomState};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf as _;
use futures::channel::oneshot;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use veltix_core::{Connection, ConnectionConfig, Dialect, Event, Message, Role};

use crate::client::Target;
use crate::wire::{BROADCAST, CUE_BROADCAST};

/// Source addresses used in turn: 8 × ~28 000 ports is room for 200 000.
const SOURCES: u8 = 8;
/// Connections being opened at once. At 500 the mio and smol servers'
/// accept queues overflow while they run handshakes (TcpExtListenOverflows,
/// failed SYN cookies, resets); tokio's keeps up. 100 does for all.
const WAVE: usize = 100;

/// How long [`Fleet::broadcast`] waits for the last copy.
const BROADCAST_TIMEOUT: Duration = Duration::from_secs(30);

/// The fleet, open: its connections live until it is dropped.
pub(crate) struct Fleet {
    stop: Arc<Notify>,
    thread: Option<thread::JoinHandle<()>>,
    /// The fleet's runtime, for the broadcast's timeout (the bench's own
    /// runtime may sleep by blocking its thread).
    runtime: tokio::runtime::Handle,
    /// Wakes the first client to send a broadcast cue.
    cue: Arc<Notify>,
    arrivals: Arc<Arrivals>,
}

/// The broadcast messages the fleet has received since the last cue, and
/// who is told when the last one is in.
struct Arrivals {
    expected: usize,
    count: AtomicUsize,
    last: Mutex<Option<oneshot::Sender<Instant>>>,
}

impl Arrivals {
    /// One client has the broadcast message.
    fn arrived(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.expected {
            let last = self
                .last
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(last) = last {
                let _ = last.send(Instant::now());
            }
        }
    }
}

/// What one fleet client's task is given.
#[derive(Clone)]
struct Shared {
    /// The first client's cue; `None` for the others.
    cue: Option<Arc<Notify>>,
    arrivals: Arc<Arrivals>,
}

impl Fleet {
    /// Opens `n` connections to `target` through the handshake; resolves
    /// once every one is established (or the first has failed).
    pub(crate) async fn open(target: &Target, n: usize) -> io::Result<Self> {
        if target.tls.is_some() || target.dialect != Dialect::Native || !target.handshake {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the fleet speaks the native dialect in plaintext only",
            ));
        }
        let addr = target.addr;
        let (opened_tx, opened_rx) = oneshot::channel();
        let stop = Arc::new(Notify::new());
        let cue = Arc::new(Notify::new());
        let arrivals = Arc::new(Arrivals {
            expected: n,
            count: AtomicUsize::new(0),
            last: Mutex::new(None),
        });
        let shared = Shared {
            cue: Some(cue.clone()),
            arrivals: arrivals.clone(),
        };
        let thread = thread::Builder::new().name("fleet".into()).spawn({
            let stop = stop.clone();
            move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(opened_tx.send(Err(e))),
                };
                let handle = runtime.handle().clone();
                runtime.block_on(async move {
                    let opened = open_all(addr, n, shared).await;
                    let failed = opened.is_err();
                    let _ = opened_tx.send(opened.map(|()| handle));
                    if !failed {
                        // A permit stored by `notify_one` counts: no race.
                        stop.notified().await;
                    }
                });
            }
        })?;
        let opened = opened_rx
            .await
            .map_err(|_| io::Error::other("the fleet's thread ended early"))?;
        let runtime = opened?;
        Ok(Self {
            stop,
            thread: Some(thread),
            runtime,
            cue,
            arrivals,
        })
    }

    /// Has the first client cue the server's broadcast and waits until
    /// every client of the fleet has received it: the time from the cue
    /// to the last arrival. One broadcast at a time.
    pub(crate) async fn broadcast(&self) -> io::Result<Duration> {
        let (last_tx, last_rx) = oneshot::channel();
        self.arrivals.count.store(0, Ordering::Release);
        *self
            .arrivals
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(last_tx);
        let cued = Instant::now();
        self.cue.notify_one();
        // Gives up by dropping the sender (on the fleet's runtime: the
        // caller's may sleep by blocking its thread).
        let arrivals = self.arrivals.clone();
        let timeout = self.runtime.spawn(async move {
            tokio::time::sleep(BROADCAST_TIMEOUT).await;
            drop(
                arrivals
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take(),
            );
        });
        let last = last_rx.await;
        timeout.abort();
        match last {
            Ok(last) => Ok(last.saturating_duration_since(cued)),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} of {} fleet clients had the broadcast after {} s (or the fleet ended)",
                    self.arrivals.count.load(Ordering::Acquire),
                    self.arrivals.expected,
                    BROADCAST_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The fleet's runtime ends, and drops every connection with it.
        self.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens `n` connections in waves of `WAVE`; each stays served by its task.
async fn open_all(addr: SocketAddr, n: usize, shared: Shared) -> io::Result<()> {
    let mut opened = 0;
    while opened < n {
        let wave: Vec<_> = (opened..n.min(opened + WAVE))
            .map(|i| {
                let (ready_tx, ready_rx) = oneshot::channel();
                let shared = Shared {
                    cue: shared.cue.clone().filter(|_| i == 0),
                    arrivals: shared.arrivals.clone(),
                };
                tokio::spawn(async move {
                    let source = Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(SOURCES)) as u8);
                    match connect(addr, source.into()).await {
                        Ok(stream) => serve(stream, ready_tx, shared).await,
                        Err(e) => drop(ready_tx.send(Err(e))),
                    }
                });
                ready_rx
            })
            .collect();
        for ready in wave {
            ready
                .await
                .map_err(|_| io::Error::other("a fleet client ended before its handshake"))??;
            opened += 1;
        }
    }
    Ok(())
}

async fn connect(addr: SocketAddr, source: IpAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs one fleet connection: the handshake (then says so on `ready`), then
/// reads, answers and waits on the core's timers until the runtime ends;
/// counts each broadcast message, and (the first client) sends the cue
/// for one when told.
async fn serve(mut stream: TcpStream, ready: oneshot::Sender<io::Result<()>>, shared: Shared) {
    let mut ready = Some(ready);
    let mut conn = match new_connection() {
        Ok(conn) => conn,
        Err(e) => return drop(ready.take().map(|r| r.send(Err(e)))),
    };
    let mut buf = vec![0; 4096];
    let outcome: io::Result<()> = async {
        loop {
            while let Some(mut transmit) = conn.poll_transmit() {
                let n = stream.write(transmit.chunk()).await?;
                transmit.advance(n);
            }
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Connected(_) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Ok(()));
                        }
                    }
                    Event::Message(message) if message.message_type() == BROADCAST => {
                        shared.arrivals.arrived();
                    }
                    Event::Closed(reason) => {
                        return Err(io::Error::other(format!("closed: {reason}")));
                    }
                    _ => {}
                }
            }
            let deadline = conn.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let cued = async {
                match &shared.cue {
                    Some(cue) => cue.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = stream.read(&mut buf) => match read? {
                    0 => conn.handle_transport_closed(),
                    n => conn.handle_input(Instant::now(), &buf[..n]),
                },
                () = sleep => conn.handle_timeout(Instant::now()),
                () = cued => {
                    let cue = Message::new(CUE_BROADCAST, bytes::Bytes::new());
                    conn.send(Instant::now(), cue)
                        .map_err(|e| io::Error::other(format!("cue not sent: {e}")))?;
                }
            }
        }
    }
    .await;
    if let (Some(ready), Err(e)) = (ready.take(), outcome) {
        let _ = ready.send(Err(e));
    }
}

fn new_connection() -> io::Result<Connection> {
    let wall_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Request ids only need to differ between connections here.
    let mut random = [0; 32];
    for (i, bytes) in random.chunks_mut(8).enumerate() {
        bytes.copy_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
    }
    Connection::new(
        Role::Client,
        ConnectionConfig::default(),
        Instant::now(),
        wall_ms,
        random,
    )
    .map_err(|e| io::Error::other(e.to_string()))
}
