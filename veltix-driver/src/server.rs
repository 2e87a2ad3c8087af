//! The server: accepts peers, drives each on its own task, and offers send,
//! broadcast, request, ping, peer listing and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{Either, join_all, select};
use futures::{Stream, StreamExt as _};
use tracing::Instrument as _;
use veltix_core::wire::Wire;
use veltix_core::{CloseCode, CloseReason, Connection, Message, MessageType, PeerInfo, Role};

use crate::backlog::Backlog;
use crate::driver::{Driver, ReadSettings, Sink, SinkEvent};
use crate::event_queue::{EventQueue, EventSender, EventStream};
use crate::handle::{DriverHandle, command_budget};
use crate::handlers::Slot;
use crate::meters::Meters;
use crate::routes::{self, Dispatch, Handler, HandlerEnv, LaneTask, MessageHandlers};
use crate::runtime::{Listener, Runtime, sleep_until, wall_ms};
use crate::stats::StatsCell;
use crate::{Error, Incoming, IntoReply, Peer, PeerId, ServerConfig, ServerEvent, Stats, os};

type OnConnect = dyn Fn(&Peer, PeerInfo) + Send + Sync;
type OnDisconnect = dyn Fn(&Peer, &CloseReason) + Send + Sync;
type OnAccept = dyn Fn(&Incoming) -> Result<(), String> + Send + Sync;

/// A Veltix server on runtime `R`. Cheap to clone; every clone is the same server.
///
/// Events go to the callback registered for their kind
/// ([`on_connect`](Self::on_connect), [`on_message`](Self::on_message),
/// [`on_disconnect`](Self::on_disconnect)) or, when none is, to the stream
/// from [`events`](Self::events). Callbacks run on the connection's task
/// and must not block; use the `try_` methods or spawn from them.
///
/// # Flow control
/// Each peer's socket is read only while that peer's pending output — what
/// is queued to be written to it, and its events the application has not
/// taken from the stream yet — is below
/// [`FlowControl::high_water`](crate::FlowControl::high_water); reading
/// resumes at or below the low-water mark. So a peer that does not read its
/// replies, or whose messages the application handles more slowly than they
/// come, is paused by TCP instead of growing the server's memory, while the
/// other peers are served as before. In particular a `try_reply` from
/// `on_message`, once per message received and no larger than it, never
/// returns [`SendError::Full`](crate::SendError::Full) for a peer that reads
/// its replies: the reads that bring the messages stop first. The one case
/// where it can: callbacks that answer with much more than they receive
/// (several or larger messages per message) can fill the peer's command
/// budget — the larger of
/// [`ConnectionConfig::max_outbound_bytes`](crate::ConnectionConfig::max_outbound_bytes)
/// and `high_water` plus one read — before the reads pause. Send those with
/// [`Peer::send`] awaited on a spawned task, which waits for room instead.
///
/// The server runs until [`shutdown`](Self::shutdown), even when every handle
/// is dropped.
pub struct Server<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for Server<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local_addr)
            .field("peers", &self.shared.count.load(Ordering::Relaxed))
            .finish()
    }
}

struct PeerSlot {
    peer: Peer,
    /// Its handshake is done: it is listed by `peers()`.
    established: AtomicBool,
}

struct Shared<R: Runtime> {
    runtime: R,
    config: ServerConfig,
    local_addr: SocketAddr,
    /// Every peer with a running connection, by id. Read on every
    /// `send(peer_id, …)`: a lock-free map, so sends to different peers (and
    /// connects and disconnects) never wait on one another.
    peers: papaya::HashMap<PeerId, PeerSlot>,
    /// How many peers `peers` holds: what `max_connections` bounds.
    count: AtomicUsize,
    next_peer: AtomicU64,
    /// Every peer's counters added up, those gone included.
    totals: Arc<StatsCell>,
    /// The same through the `metrics` facade (feature `metrics`).
    meters: Option<Arc<Meters>>,
    events: EventQueue<ServerEvent>,
    on_connect: Slot<OnConnect>,
    messages: MessageHandlers,
    on_disconnect: Slot<OnDisconnect>,
    on_accept: Slot<OnAccept>,
    stop_accept: Mutex<Option<oneshot::Sender<()>>>,
    /// Cloned into every connection task; dropped at shutdown, so `all_done`
    /// ends once the last task has.
    live: Mutex<Option<mpsc::Sender<()>>>,
    all_done: Mutex<Option<mpsc::Receiver<()>>>,
}

/// Locks, recovering from poisoning: every critical section here leaves the
/// map consistent even if a thread panicked inside it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<R: Runtime + Default> Server<R> {
    /// Binds `config.addr` and starts accepting peers on the default runtime handle.
    ///
    /// # Errors
    /// Invalid settings, an unresolvable address, or the OS's bind error.
    pub async fn bind(config: ServerConfig) -> Result<Self, Error> {
        Self::bind_on(R::default(), config).await
    }
}

impl<R: Runtime> Server<R> {
    /// Binds on a given runtime handle.
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    pub async fn bind_on(runtime: R, config: ServerConfig) -> Result<Self, Error> {
        config.validate()?;
        let addr = os::resolve(&config.addr)?;
        let listener = runtime.bind(addr)?;
        let local_addr = listener.local_addr()?;
        let events = EventQueue::new(config.event_capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (live, all_done) = mpsc::channel(0);
        let shared = Arc::new(Shared {
            runtime,
            config,
            local_addr,
            peers: papaya::HashMap::new(),
            count: AtomicUsize::new(0),
            next_peer: AtomicU64::new(1),
            totals: Arc::default(),
            meters: Meters::register("server", local_addr),
            events,
            on_connect: Slot::default(),
            messages: MessageHandlers::default(),
            on_disconnect: Slot::default(),
            on_accept: Slot::default(),
            stop_accept: Mutex::new(Some(stop_tx)),
            live: Mutex::new(Some(live)),
            all_done: Mutex::new(Some(all_done)),
        });
        tracing::info!(%local_addr, "listening");
        let accepting = shared.clone();
        shared.runtime.spawn(
            accept_loop(accepting, listener, stop_rx)
                .instrument(tracing::info_span!("server", %local_addr)),
        );
        Ok(Self { shared })
    }

    /// The address the server is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The stream of events that have no callback. Can be taken once; later
    /// calls get a stream that ends at once.
    ///
    /// It takes one event from each peer in turn, so a busy peer does not
    /// hold up the others' events, and each peer's events not taken yet
    /// count towards its flow control (see [`Server`]): a slow reader of the
    /// stream pauses the peers it is behind on. Until the stream is taken,
    /// up to [`ServerConfig::event_capacity`] events are kept for it and
    /// later ones dropped.
    pub fn events(&self) -> ServerEvents {
        ServerEvents {
            inner: self.shared.events.take(),
        }
    }

    /// Calls `f` when a peer has connected (handshake done). Replaces any earlier callback.
    pub fn on_connect(&self, f: impl Fn(&Peer, PeerInfo) + Send + Sync + 'static) {
        self.shared.on_connect.set(Arc::new(f));
    }

    /// Calls `f` for every application message that has no
    /// [`route`](Self::route). Replaces any earlier message handler (sync or
    /// async). What `f` returns is acted on as [`IntoReply`] says: `()` for
    /// nothing, a [`Message`] (or `Option`, or `Result<_, E: Display>`) to
    /// reply with. `f` runs on the connection's task and must not block; a
    /// panic in it is logged and counted, and the peer is served on.
    pub fn on_message<T: IntoReply>(
        &self,
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) {
        self.shared.messages.on_message(Handler::sync(f));
    }

    /// As [`on_message`](Self::on_message), with an async handler: the
    /// future may await anything (a database, a [`Peer::request`]). A peer's
    /// messages are handed to it in arrival order, up to
    /// [`ServerConfig::handler_concurrency`] at once (one by default, so
    /// one after the other), on a task of the peer's own, not on its
    /// connection's task. While a peer's messages wait for their handlers,
    /// they count towards its flow control: past the high-water mark its
    /// socket is not read until handlers catch up (see [`Server`]). A
    /// handler that panics or returns an `Err` is logged and counted
    /// ([`Stats::handler_errors`]); the peer and the server live on. Its
    /// reply waits for room in the peer's queue.
    ///
    /// Ordering holds among a peer's async handlers; sync routes run as
    /// messages arrive, possibly before an earlier message's async handler
    /// is done. `on_disconnect` may run before the handlers of the peer's
    /// last messages have; those still run, and their replies are dropped.
    /// [`shutdown`](Self::shutdown) waits for running handlers as it waits
    /// for connections, up to [`ServerConfig::shutdown_timeout`].
    pub fn on_message_async<F, Fut>(&self, f: F)
    where
        F: Fn(Peer, Message) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoReply,
    {
        self.shared.messages.on_message(Handler::asynchronous(f));
    }

    /// Calls `f` for every message of type `kind`, instead of
    /// [`on_message`](Self::on_message): one handler per type, replacing any
    /// earlier one for `kind`. Its return value is the reply, as for
    /// `on_message` (see [`IntoReply`]). Once any route is set, a message
    /// with neither a route nor `on_message` goes to the event stream if it
    /// has been taken, and is otherwise logged (debug) and counted in
    /// [`Stats::unrouted`].
    pub fn route<T: IntoReply>(
        &self,
        kind: MessageType,
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) {
        self.shared.messages.route(kind.code(), Handler::sync(f));
    }

    /// As [`route`](Self::route), with an async handler, run as
    /// [`on_message_async`](Self::on_message_async) says.
    pub fn route_async<F, Fut>(&self, kind: MessageType, f: F)
    where
        F: Fn(Peer, Message) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoReply,
    {
        self.shared
            .messages
            .route(kind.code(), Handler::asynchronous(f));
    }

    /// Calls `f` when a peer's connection has ended, with the peer (its
    /// [`id`](Peer::id), [`addr`](Peer::addr), identity and final
    /// [`stats`](Peer::stats); sending to it fails with [`Error::Closed`])
    /// and why it ended. Also called for a peer refused during the
    /// handshake, which never reached `on_connect`. Replaces any earlier callback.
    pub fn on_disconnect(&self, f: impl Fn(&Peer, &CloseReason) + Send + Sync + 'static) {
        self.shared.on_disconnect.set(Arc::new(f));
    }

    /// Decides who may come in: `f` sees each peer once its handshake has
    /// proved who it is (address, TLS identity, client id) and returns
    /// `Err(reason)` to refuse it. A refused peer is told the reason (close
    /// code 9, refused) and closed; it never reaches `on_connect`, the peer
    /// list or the events as connected (its disconnect is reported, as for
    /// a failed handshake). Runs on the connection's task: keep it quick.
    /// Replaces any earlier hook.
    pub fn accept_with(&self, f: impl Fn(&Incoming) -> Result<(), String> + Send + Sync + 'static) {
        self.shared.on_accept.set(Arc::new(f));
    }

    /// A handle to a connected peer.
    pub fn peer(&self, id: PeerId) -> Option<Peer> {
        self.shared
            .peers
            .pin()
            .get(&id)
            .map(|slot| slot.peer.clone())
    }

    /// The connected peers (handshake done), in order of connection.
    pub fn peers(&self) -> Vec<Peer> {
        let mut peers: Vec<Peer> = self
            .shared
            .peers
            .pin()
            .values()
            .filter(|slot| slot.established.load(Ordering::Acquire))
            .map(|slot| slot.peer.clone())
            .collect();
        peers.sort_by_key(Peer::id);
        peers
    }

    /// What the server's connections have done so far (see [`Stats`]): the
    /// counters of every peer it has had, those gone included and those
    /// refused; the gauges (`requests_pending`, `queued_bytes`) of the peers
    /// connected now; the RTTs last measured with any of them. A peer's own
    /// figures are in [`Peer::stats`].
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.totals.snapshot();
        for slot in self.shared.peers.pin().values() {
            let peer = slot.peer.handle.stats.snapshot();
            stats.requests_pending += peer.requests_pending;
            stats.queued_bytes += peer.queued_bytes;
        }
        stats
    }

    fn require(&self, id: PeerId) -> Result<Peer, Error> {
        self.peer(id).ok_or(Error::UnknownPeer(id))
    }

    /// Sends to one peer, waiting while its outbound queue is full.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`], and those of [`Peer::send`].
    pub async fn send(&self, peer: PeerId, message: Message) -> Result<(), Error> {
        // Found and queued in place, without a handle to clone and drop;
        // only a full queue takes the slow way, waiting on a handle.
        let full = match self.shared.peers.pin().get(&peer) {
            Some(slot) => slot.peer.handle.try_send_or_back(message)?,
            None => return Err(Error::UnknownPeer(peer)),
        };
        match full {
            None => Ok(()),
            Some(message) => self.require(peer)?.send(message).await,
        }
    }

    /// Sends to one peer without waiting.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`], and those of [`Peer::try_send`].
    pub fn try_send(&self, peer: PeerId, message: Message) -> Result<(), Error> {
        match self.shared.peers.pin().get(&peer) {
            Some(slot) => slot.peer.try_send(message),
            None => Err(Error::UnknownPeer(peer)),
        }
    }

    /// Answers `received` from `peer`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn reply(
        &self,
        peer: PeerId,
        received: &Message,
        message: Message,
    ) -> Result<(), Error> {
        self.require(peer)?.reply(received, message).await
    }

    /// Sends a request to `peer` and waits up to `timeout` for its answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], [`Error::UnknownPeer`], and those of [`send`](Self::send).
    pub async fn request(
        &self,
        peer: PeerId,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, Error> {
        self.require(peer)?.request(message, timeout).await
    }

    /// Pings `peer` and waits up to `timeout` for its answer; the
    /// round-trip time. (Python Veltix's `ping_client` waits 2 s.)
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::UnknownPeer`].
    pub async fn ping(&self, peer: PeerId, timeout: Duration) -> Result<Duration, Error> {
        self.require(peer)?.ping(timeout).await
    }

    /// Sends `message` to every connected peer but those in `except`. The frame
    /// is encoded and hashed once and shared by all. Waits while any
    /// recipient's queue is full (recipients are served concurrently, so one
    /// slow peer does not delay the others). Returns how many peers it was queued for.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload.
    pub async fn broadcast(&self, message: Message, except: &[PeerId]) -> Result<usize, Error> {
        let recipients = self
            .peers()
            .into_iter()
            .filter(|p| !except.contains(&p.id))
            .collect();
        self.fan_out(message, recipients).await
    }

    /// Sends `message` to the connected peers in `peers`, encoded and hashed
    /// once as [`broadcast`](Self::broadcast) does. Ids of peers that are not
    /// connected (gone, or still in their handshake) are skipped, and an id
    /// listed twice is sent to once. Returns how many peers it was queued for.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload.
    pub async fn broadcast_to(&self, message: Message, peers: &[PeerId]) -> Result<usize, Error> {
        let mut ids = peers.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let recipients = {
            let listed = self.shared.peers.pin();
            ids.iter()
                .filter_map(|id| listed.get(id))
                .filter(|slot| slot.established.load(Ordering::Acquire))
                .map(|slot| slot.peer.clone())
                .collect()
        };
        self.fan_out(message, recipients).await
    }

    /// The one path of both broadcasts: encodes `message` once for the
    /// server's wire and queues the shared frame for every recipient.
    async fn fan_out(&self, message: Message, recipients: Vec<Peer>) -> Result<usize, Error> {
        veltix_core::MessageType::new(message.message_type().code())
            .map_err(|e| Error::Send(e.into()))?;
        let wire = self.shared.config.connection.wire();
        // A compact frame's 16-bit id is one the connection hands out (each
        // recipient gives the shared frame its own, rewriting the header
        // only); a classic frame carries a random one, as Python's do.
        let id = match wire {
            Wire::Compact => veltix_core::RequestId::NIL,
            _ => os::random_request_id()?,
        };
        let message = message
            .with_request_id(id)
            .with_timestamp_ms(wall_ms(&self.shared.runtime));
        let frame = wire.encode(&message).map_err(|e| Error::Send(e.into()))?;
        let sends = recipients
            .iter()
            .map(|peer| peer.handle.send_frame(frame.clone()));
        Ok(join_all(sends)
            .await
            .into_iter()
            .filter(Result::is_ok)
            .count())
    }

    /// Closes one peer's connection, telling it `reason`.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`].
    pub fn close_peer(&self, peer: PeerId, reason: &str) -> Result<(), Error> {
        self.require(peer)?.close(reason);
        Ok(())
    }

    /// Stops accepting, tells every peer the server is shutting down, lets
    /// each flush what was queued, and waits for all connections to end, up to
    /// [`ServerConfig::shutdown_timeout`]. Later calls return at once.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when some peers had not finished by the deadline.
    pub async fn shutdown(&self) -> Result<(), Error> {
        if let Some(stop) = lock(&self.shared.stop_accept).take() {
            let _ = stop.send(());
        }
        drop(lock(&self.shared.live).take());
        for slot in self.shared.peers.pin().values() {
            slot.peer
                .handle
                .close(CloseCode::SHUTDOWN, "server shutting down");
        }
        let Some(mut all_done) = lock(&self.shared.all_done).take() else {
            return Ok(());
        };
        let deadline = self.shared.runtime.now() + self.shared.config.shutdown_timeout;
        let sleep = pin!(sleep_until(&self.shared.runtime, deadline));
        match select(all_done.next(), sleep).await {
            Either::Left(_) => {
                tracing::info!("shut down");
                Ok(())
            }
            Either::Right(_) => {
                tracing::warn!(
                    remaining = self.shared.count.load(Ordering::Relaxed),
                    "shutdown deadline passed"
                );
                Err(Error::TimedOut)
            }
        }
    }
}

impl<R: Runtime> Shared<R> {
    /// Lists `peer` if there is room under `max_connections`.
    fn admit(&self, peer: &Peer) -> bool {
        let taken = self.count.fetch_add(1, Ordering::AcqRel);
        if taken >= self.config.max_connections {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        self.peers.pin().insert(
            peer.id,
            PeerSlot {
                peer: peer.clone(),
                established: AtomicBool::new(false),
            },
        );
        true
    }

    /// Unlists the peer `id`, if it is listed.
    fn forget(&self, id: PeerId) {
        if self.peers.pin().remove(&id).is_some() {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

async fn accept_loop<R: Runtime>(
    shared: Arc<Shared<R>>,
    mut listener: R::Listener,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let accept = pin!(std::future::poll_fn(|cx| listener.poll_accept(cx)));
        match select(accept, &mut stop).await {
            Either::Left((Ok((socket, addr)), _)) => start_peer(&shared, socket, addr),
            Either::Left((Err(err), _)) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                let retry = shared.runtime.now() + Duration::from_millis(50);
                sleep_until(&shared.runtime, retry).await;
            }
            Either::Right(_) => break,
        }
    }
    tracing::debug!("stopped accepting");
}

fn start_peer<R: Runtime>(
    shared: &Arc<Shared<R>>,
    socket: <R as Runtime>::Socket,
    addr: SocketAddr,
) {
    let Some(live) = lock(&shared.live).clone() else {
        return; // shutting down
    };
    let now = shared.runtime.now();
    let seed = match os::random_seed() {
        Ok(seed) => seed,
        Err(err) => {
            tracing::error!(error = %err, "no OS randomness; refusing the connection");
            return;
        }
    };
    let mut conn = match Connection::new(
        Role::Server,
        shared.config.connection_settings(),
        now,
        wall_ms(&shared.runtime),
        seed,
    ) {
        Ok(conn) => conn,
        Err(err) => {
            tracing::error!(error = %err, "invalid connection settings");
            return;
        }
    };
    let id = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
    let config = &shared.config;
    let (handle, ends) = DriverHandle::counted(
        command_budget(
            config.connection.max_outbound_bytes,
            &config.flow,
            config.read_chunk,
        ),
        Some(shared.totals.clone()),
        shared.meters.clone(),
    );
    let peer = Peer { id, addr, handle };
    let admitted = shared.admit(&peer);
    let read = ReadSettings {
        chunk: config.read_chunk,
        flow: config.flow,
        handshake_timeout: config.connection.handshake_timeout,
    };
    let tls = match config.tls.as_ref().map(veltix_tls::TlsSession::server) {
        None => None,
        Some(Ok(session)) => Some(session),
        Some(Err(err)) => {
            tracing::error!(error = %err, "cannot start a TLS session; refusing the connection");
            shared.forget(id);
            return;
        }
    };
    let span = tracing::debug_span!("peer", id = id.0, %addr, role = "server");
    if admitted {
        tracing::debug!(parent: &span, "accepted");
        let sink = ServerSink {
            peer,
            shared: shared.clone(),
            events: shared.events.sender(),
            dispatch: Dispatch::default(),
        };
        let driver = Driver::new(conn, shared.runtime.clone(), socket, ends, sink, read, tls);
        shared.runtime.spawn(
            async move {
                driver.await;
                drop(live);
            }
            .instrument(span),
        );
    } else {
        tracing::warn!(parent: &span, max = shared.config.max_connections, "server full; refusing peer");
        conn.close(now, CloseCode::SERVER_FULL, "server is full");
        let driver = Driver::new(
            conn,
            shared.runtime.clone(),
            socket,
            ends,
            Discard,
            read,
            tls,
        );
        shared.runtime.spawn(
            async move {
                driver.await;
                drop(live);
            }
            .instrument(span),
        );
    }
}

/// Routes one server peer's events to callbacks or the event stream.
struct ServerSink<R: Runtime> {
    peer: Peer,
    shared: Arc<Shared<R>>,
    events: EventSender<ServerEvent>,
    dispatch: Dispatch,
}

impl<R: Runtime> Sink for ServerSink<R> {
    fn round_done(&mut self) {
        self.dispatch.round_done();
        self.events.flush();
    }

    fn deliver(&mut self, event: SinkEvent) {
        let id = self.peer.id;
        let weight = event.weight();
        match &event {
            SinkEvent::Connected(_) => {
                if let Some(slot) = self.shared.peers.pin().get(&id) {
                    slot.established.store(true, Ordering::Release);
                }
            }
            // Gone from the peer list before anyone hears it left.
            SinkEvent::Closed(_) => self.shared.forget(id),
            SinkEvent::Message(_) => {}
        }
        let event = match event {
            SinkEvent::Connected(info) => match self.shared.on_connect.get() {
                Some(f) => {
                    // Callbacks run after the reader hears of this round's events.
                    self.events.flush();
                    return f(&self.peer, info);
                }
                None => ServerEvent::Connected {
                    peer: id,
                    addr: self.peer.addr,
                    info,
                },
            },
            SinkEvent::Message(message) => {
                let shared = &self.shared;
                let env = HandlerEnv {
                    peer: &self.peer,
                    backlog: self.events.shared_backlog(),
                    concurrency: shared.config.handler_concurrency,
                    spawn: &|task| spawn_handlers(shared, task),
                    before_sync: &|| self.events.flush(),
                };
                match self
                    .dispatch
                    .message(&shared.messages, &env, message, weight)
                {
                    Ok(()) => return,
                    Err(unhandled) if unhandled.routed && !self.events.has_reader() => {
                        return routes::unrouted(&self.peer, &unhandled.message);
                    }
                    Err(unhandled) => ServerEvent::Message {
                        peer: id,
                        message: unhandled.message,
                    },
                }
            }
            SinkEvent::Closed(reason) => match self.shared.on_disconnect.get() {
                Some(f) => {
                    self.events.flush();
                    return f(&self.peer, &reason);
                }
                None => ServerEvent::Disconnected {
                    peer: id,
                    addr: self.peer.addr,
                    reason,
                },
            },
        };
        self.events.send(event, weight);
    }

    fn backlog(&self) -> Option<&Backlog> {
        Some(self.events.backlog())
    }

    fn admit(&mut self) -> Result<(), String> {
        let Some(hook) = self.shared.on_accept.get() else {
            return Ok(());
        };
        hook(&Incoming {
            addr: self.peer.addr,
            tls_identity: self.peer.tls_identity(),
            client_id: self.peer.client_id(),
        })
    }
}

/// Starts a peer's handler task, in the peer's span; shutdown waits for it
/// as for the connections.
fn spawn_handlers<R: Runtime>(shared: &Shared<R>, task: LaneTask) {
    let live = lock(&shared.live).clone();
    shared.runtime.spawn(
        async move {
            task.await;
            drop(live);
        }
        .instrument(tracing::Span::current()),
    );
}

/// For a peer refused because the server is full: nothing reaches the application.
struct Discard;

impl Sink for Discard {
    fn deliver(&mut self, _: SinkEvent) {}
}

/// The server's event stream (see [`Server::events`]).
pub struct ServerEvents {
    inner: EventStream<ServerEvent>,
}

impl std::fmt::Debug for ServerEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerEvents")
    }
}

impl ServerEvents {
    /// The next event; `None` once the server is gone.
    pub async fn next(&mut self) -> Option<ServerEvent> {
        self.inner.next().await
    }
}

impl Stream for ServerEvents {
    type Item = ServerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerEvent>> {
        self.inner.poll_next(cx)
    }
}
