//! The threaded server: the async server of `veltix-driver` on the mio event
//! loop, with blocking methods and callbacks on Veltix worker threads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use veltix_driver::{
    CloseReason, Error, IntoReply, Message, MessageType, PeerId, PeerInfo, Reply, ServerConfig,
    ServerEvent, Stats,
};

use super::block_on;
use super::callbacks::{Callbacks, Routes, RoutesCache, respond_to, run_route};
use super::events::{Events, EventsSlot};
use super::worker::{Dispatch, Workers};
use crate::sync::lock;
use crate::{AsyncServer, Peer};

/// The blocking iterator of a threaded server's events (see [`Server::events`]).
pub type ServerEvents = Events<ServerEvent>;

type OnConnect = dyn Fn(&Peer, PeerInfo) + Send + Sync;
type OnMessage = dyn Fn(&Peer, Message) + Send + Sync;
type OnDisconnect = dyn Fn(&Peer, &CloseReason) + Send + Sync;
type ServerCallbacks = Callbacks<OnConnect, OnMessage, OnDisconnect>;
type OnRoute = dyn Fn(&Peer, Message) -> Reply + Send + Sync;

/// A Veltix server on a mio event-loop thread, with blocking methods, closest
/// to Python Veltix. Cheap to clone; every clone is the same server.
///
/// Sockets, timers and the protocol run on the event loop (the same driver
/// as `veltix-tokio` and `veltix-smol`). Events go to the callback
/// registered for their kind or, when none is, to the iterator from
/// [`events`](Self::events).
///
/// # Callbacks
/// Callbacks run on a Veltix worker thread, one at a time, in the order the
/// events happened (per peer, and across peers as the loop saw them), never
/// on the event loop. They may block: a callback may call
/// [`request`](Peer::request), [`ping`](Peer::ping), [`send`](Peer::send) or
/// [`broadcast`](Self::broadcast), and the answer arrives even though the
/// callback holds the only worker, because answers do not go through the
/// event queue. While a callback blocks, later events wait in the queue
/// ([`ServerConfig::event_capacity`]); if it fills, connections stop reading
/// until the worker catches up — and an answer a callback is waiting for
/// then waits too, until the request's timeout. So keep blocking calls in
/// callbacks short (every one of them has a timeout), or run several
/// workers with [`bind_with_workers`](Self::bind_with_workers), at the cost
/// of ordering.
///
/// The server runs until [`shutdown`](Self::shutdown), even when every handle is dropped.
///
/// Every method may be called from any thread except the event loop (that
/// is, not from a task of [`AsyncServer`] or [`AsyncClient`](crate::AsyncClient);
/// they panic there rather than deadlock).
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    server: AsyncServer,
    callbacks: Arc<ServerCallbacks>,
    routes: Arc<Routes<OnRoute>>,
    events: EventsSlot<ServerEvent>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    workers: Workers,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Server").field(&self.inner.server).finish()
    }
}

impl Server {
    /// Binds `config.addr` and starts serving, with one worker thread for callbacks.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::InvalidConfig`], the OS's bind error.
    pub fn bind(config: ServerConfig) -> Result<Self, Error> {
        Self::bind_with_workers(config, 1)
    }

    /// Binds with `workers` threads for callbacks. With more than one,
    /// callbacks run concurrently and events may be handled out of order.
    ///
    /// # Errors
    /// As [`bind`](Self::bind); [`Error::InvalidConfig`] for zero workers.
    pub fn bind_with_workers(config: ServerConfig, workers: usize) -> Result<Self, Error> {
        if workers == 0 {
            return Err(Error::InvalidConfig("workers"));
        }
        let capacity = config.event_capacity;
        let shutdown_timeout = config.shutdown_timeout;
        let server = block_on(AsyncServer::bind(config))?;
        let (stop, stop_rx) = oneshot::channel();
        let callbacks = Arc::new(ServerCallbacks::default());
        let routes = Arc::new(Routes::default());
        let dispatch = ServerDispatch {
            server: server.clone(),
            peers: HashMap::new(),
            callbacks: callbacks.clone(),
            routes: routes.clone(),
            cache: RoutesCache::default(),
        };
        let started = Workers::start(workers, capacity, server.events(), Some(stop_rx), dispatch);
        let (workers, events) = match started {
            Ok(started) => started,
            Err(err) => {
                let _ = block_on(server.shutdown());
                return Err(err.into());
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                server,
                callbacks,
                routes,
                events,
                stop: Mutex::new(Some(stop)),
                workers,
                shutdown_timeout,
            }),
        })
    }

    /// The async server underneath, for code that wants to `.await`.
    pub fn as_async(&self) -> &AsyncServer {
        &self.inner.server
    }

    /// The address the server is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.server.local_addr()
    }

    /// The events that have no callback, as a blocking iterator. Can be
    /// taken once; later calls get an iterator that ends at once.
    pub fn events(&self) -> ServerEvents {
        self.inner.events.take()
    }

    /// Calls `f` on the worker when a peer has connected (handshake done).
    /// Replaces any earlier callback.
    pub fn on_connect(&self, f: impl Fn(&Peer, PeerInfo) + Send + Sync + 'static) {
        self.inner.callbacks.connect.set(Arc::new(f));
    }

    /// Calls `f` on the worker for every application message. Replaces any earlier callback.
    pub fn on_message(&self, f: impl Fn(&Peer, Message) + Send + Sync + 'static) {
        self.inner.callbacks.message.set(Arc::new(f));
    }

    /// Calls `f` on the worker for every message of type `kind`, instead of
    /// [`on_message`](Self::on_message): one handler per type, replacing
    /// any earlier one for `kind`. What `f` returns is acted on as
    /// [`IntoReply`] says: a [`Message`] (or `Some`, or `Ok` of one) is the
    /// reply, carrying the request id (queued without waiting, as
    /// [`Peer::try_reply`] does); an `Err` is logged with the peer and
    /// counted in [`Stats::handler_errors`], as is a panic. `f` may block
    /// and make requests, as any callback here. Once any route is set, a
    /// message with neither a route nor `on_message` goes to the iterator
    /// if it has been taken, and is otherwise logged (debug) and counted in
    /// [`Stats::unrouted`].
    pub fn route<T: IntoReply>(
        &self,
        kind: MessageType,
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) {
        self.inner.routes.set(
            kind.code(),
            Arc::new(move |peer: &Peer, message: Message| f(peer, message).into_reply()),
        );
    }

    /// Calls `f` on the worker when a peer's connection has ended, with the
    /// peer (its [`id`](Peer::id), [`addr`](Peer::addr) and final
    /// [`stats`](Peer::stats); sending to it fails) and why it ended. Also
    /// called for a peer refused during the handshake. Replaces any earlier callback.
    pub fn on_disconnect(&self, f: impl Fn(&Peer, &CloseReason) + Send + Sync + 'static) {
        self.inner.callbacks.disconnect.set(Arc::new(f));
    }

    /// What the server's connections have done so far: every peer's
    /// counters, the gauges of those connected now (see
    /// [`AsyncServer::stats`](veltix_driver::Server::stats)); a peer's own
    /// in [`Peer::stats`].
    pub fn stats(&self) -> Stats {
        self.inner.server.stats()
    }

    /// A handle to a connected peer.
    pub fn peer(&self, id: PeerId) -> Option<Peer> {
        self.inner.server.peer(id).map(Peer::new)
    }

    /// The connected peers (handshake done), in order of connection.
    pub fn peers(&self) -> Vec<Peer> {
        self.inner
            .server
            .peers()
            .into_iter()
            .map(Peer::new)
            .collect()
    }

    /// Sends to one peer, waiting while its outbound queue is full.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`], and those of [`Peer::send`].
    pub fn send(&self, peer: PeerId, message: Message) -> Result<(), Error> {
        block_on(self.inner.server.send(peer, message))
    }

    /// Sends to one peer without waiting.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`], and those of [`Peer::try_send`].
    pub fn try_send(&self, peer: PeerId, message: Message) -> Result<(), Error> {
        self.inner.server.try_send(peer, message)
    }

    /// Answers `received` from `peer`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(&self, peer: PeerId, received: &Message, message: Message) -> Result<(), Error> {
        block_on(self.inner.server.reply(peer, received, message))
    }

    /// Sends a request to `peer` and waits up to `timeout` for its answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], [`Error::UnknownPeer`], and those of [`send`](Self::send).
    pub fn request(
        &self,
        peer: PeerId,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, Error> {
        block_on(self.inner.server.request(peer, message, timeout))
    }

    /// Pings `peer` and waits up to `timeout` for its answer; the round-trip time.
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::UnknownPeer`].
    pub fn ping(&self, peer: PeerId, timeout: Duration) -> Result<Duration, Error> {
        block_on(self.inner.server.ping(peer, timeout))
    }

    /// Sends `message` to every connected peer but those in `except`, encoded
    /// once; waits while a recipient's queue is full. Returns how many peers
    /// it was queued for.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload.
    pub fn broadcast(&self, message: Message, except: &[PeerId]) -> Result<usize, Error> {
        block_on(self.inner.server.broadcast(message, except))
    }

    /// Sends `message` to the connected peers in `peers`, encoded once;
    /// ids of peers not connected are skipped, one listed twice is sent to
    /// once. Returns how many peers it was queued for.
    ///
    /// # Errors
    /// [`Error::Send`] for a reserved type or oversized payload.
    pub fn broadcast_to(&self, message: Message, peers: &[PeerId]) -> Result<usize, Error> {
        block_on(self.inner.server.broadcast_to(message, peers))
    }

    /// Closes one peer's connection, telling it `reason`.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`].
    pub fn close_peer(&self, peer: PeerId, reason: &str) -> Result<(), Error> {
        self.inner.server.close_peer(peer, reason)
    }

    /// Stops accepting, tells every peer the server is shutting down, lets
    /// each flush, and waits (up to [`ServerConfig::shutdown_timeout`]) for
    /// the connections to end; then lets the worker run the callbacks of the
    /// events that are left (such as the last `on_disconnect`s) and waits for
    /// it as long again, unless called from a callback. The event iterator
    /// ends after the last event. Later calls return at once.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when some peers, or the worker, had not finished by the deadline.
    pub fn shutdown(&self) -> Result<(), Error> {
        let result = block_on(self.inner.server.shutdown());
        if let Some(stop) = lock(&self.inner.stop).take() {
            let _ = stop.send(());
        }
        let drained = self.inner.workers.is_current()
            || self
                .inner
                .workers
                .wait(Instant::now() + self.inner.shutdown_timeout);
        match result {
            Ok(()) if !drained => Err(Error::TimedOut),
            other => other,
        }
    }
}

/// Turns a server's events into callback jobs, keeping a handle to every
/// connected peer.
struct ServerDispatch {
    server: AsyncServer,
    /// Peers seen connecting, so their messages find a handle even after the
    /// server has dropped them from its list.
    peers: HashMap<PeerId, Peer>,
    callbacks: Arc<ServerCallbacks>,
    routes: Arc<Routes<OnRoute>>,
    cache: RoutesCache<OnRoute>,
}

enum ServerJob {
    Connect(Arc<OnConnect>, Peer, PeerInfo),
    Route(Arc<OnRoute>, Peer, Message),
    Message(Arc<OnMessage>, Peer, Message),
    Disconnect(Arc<OnDisconnect>, Peer, CloseReason),
}

impl ServerDispatch {
    fn peer(&self, id: PeerId, addr: Option<SocketAddr>) -> Peer {
        match self.peers.get(&id) {
            Some(peer) => peer.clone(),
            None => match self.server.peer(id) {
                Some(peer) => Peer::new(peer),
                None => Peer::gone(id, addr.unwrap_or_else(|| self.server.local_addr())),
            },
        }
    }
}

impl Dispatch for ServerDispatch {
    type Event = ServerEvent;
    type Job = ServerJob;

    fn job(&mut self, event: ServerEvent) -> Result<ServerJob, ServerEvent> {
        // The peer table follows the events in order, whoever handles them.
        let callbacks = &self.callbacks;
        match event {
            ServerEvent::Connected { peer, addr, info } => {
                let handle = self.peer(peer, Some(addr));
                self.peers.insert(peer, handle.clone());
                match callbacks.connect.get() {
                    Some(f) => Ok(ServerJob::Connect(f, handle, info)),
                    None => Err(ServerEvent::Connected { peer, addr, info }),
                }
            }
            ServerEvent::Message { peer, message } => {
                let code = message.message_type().code();
                if let Some(f) = self.cache.get(&self.routes, code) {
                    return Ok(ServerJob::Route(f, self.peer(peer, None), message));
                }
                match callbacks.message.get() {
                    Some(f) => Ok(ServerJob::Message(f, self.peer(peer, None), message)),
                    None => Err(ServerEvent::Message { peer, message }),
                }
            }
            ServerEvent::Disconnected { peer, addr, reason } => {
                // A peer refused in its handshake was never in the table.
                let handle = match self.peers.remove(&peer) {
                    Some(handle) => handle,
                    None => self.peer(peer, Some(addr)),
                };
                match callbacks.disconnect.get() {
                    Some(f) => Ok(ServerJob::Disconnect(f, handle, reason)),
                    None => Err(ServerEvent::Disconnected { peer, addr, reason }),
                }
            }
            other => Err(other),
        }
    }

    fn run(job: ServerJob) {
        match job {
            ServerJob::Connect(f, peer, info) => f(&peer, info),
            ServerJob::Route(f, peer, message) => {
                run_route(
                    |message| f(&peer, message),
                    message,
                    |to, reply| {
                        respond_to(peer.as_async(), to, reply);
                    },
                );
            }
            ServerJob::Message(f, peer, message) => f(&peer, message),
            ServerJob::Disconnect(f, peer, reason) => f(&peer, &reason),
        }
    }

    fn unclaimed(&mut self, event: ServerEvent) -> Option<ServerEvent> {
        match event {
            ServerEvent::Message { peer, message } if self.cache.any(&self.routes) => {
                if let Some(driver) = self.peer(peer, None).as_async() {
                    driver.note_unrouted(&message);
                }
                None
            }
            other => Some(other),
        }
    }
}
