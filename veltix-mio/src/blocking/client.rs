//! The threaded client: the async client of `veltix-driver` on the mio event
//! loop, with blocking methods and callbacks on a Veltix worker thread.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use veltix_driver::{
    ClientConfig, ClientEvent, CloseReason, Error, IntoReply, Message, MessageType, PeerInfo,
    Reply, Stats,
};

use super::block_on;
use super::callbacks::{Callbacks, Routes, RoutesCache, run_route};
use super::events::{Events, EventsSlot};
use super::worker::{Dispatch, Workers};
use crate::AsyncClient;

/// The blocking iterator of a threaded client's events (see [`Client::events`]).
pub type ClientEvents = Events<ClientEvent>;

type OnConnect = dyn Fn(PeerInfo) + Send + Sync;
type OnMessage = dyn Fn(&Client, Message) + Send + Sync;
type OnDisconnect = dyn Fn(SocketAddr, &CloseReason) + Send + Sync;
type ClientCallbacks = Callbacks<OnConnect, OnMessage, OnDisconnect>;
type OnRoute = dyn Fn(&Client, Message) -> Reply + Send + Sync;

/// How long [`Client::close`] waits for the connection, then for the worker.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A Veltix client on a mio event-loop thread, with blocking methods. Cheap
/// to clone; every clone is the same connection. Dropping the last clone
/// closes the connection.
///
/// Events go to the callback registered for their kind or, when none is, to
/// the iterator from [`events`](Self::events). Callbacks run on a Veltix
/// worker thread, one at a time, in order, never on the event loop; they may
/// block, and may call [`request`](Self::request) or [`ping`](Self::ping)
/// (the message callback gets the client to do so) without deadlock: answers
/// do not wait behind the callback. See [`Server`](crate::Server) for the details.
///
/// Every method may be called from any thread except the event loop.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    client: AsyncClient,
    callbacks: Arc<ClientCallbacks>,
    routes: Arc<Routes<OnRoute>>,
    events: EventsSlot<ClientEvent>,
    workers: Workers,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Client").field(&self.inner.client).finish()
    }
}

impl Client {
    /// Connects to `config.addr` and completes the handshake, with one worker
    /// thread for callbacks.
    ///
    /// # Errors
    /// [`Error::ConnectTimeout`], the OS's connect error, or [`Error::Closed`]
    /// when the handshake fails (version mismatch, wrong key, server full…).
    pub fn connect(config: ClientConfig) -> Result<Self, Error> {
        Self::connect_with_workers(config, 1)
    }

    /// Connects with `workers` threads for callbacks (more than one gives up ordering).
    ///
    /// # Errors
    /// As [`connect`](Self::connect); [`Error::InvalidConfig`] for zero workers.
    pub fn connect_with_workers(config: ClientConfig, workers: usize) -> Result<Self, Error> {
        if workers == 0 {
            return Err(Error::InvalidConfig("workers"));
        }
        let capacity = config.event_capacity;
        let client = block_on(AsyncClient::connect(config))?;
        let callbacks = Arc::new(ClientCallbacks::default());
        let routes = Arc::new(Routes::default());
        let mut failed = None;
        let inner = Arc::new_cyclic(|owner| {
            let dispatch = ClientDispatch {
                owner: owner.clone(),
                server: client.server_addr(),
                callbacks: callbacks.clone(),
                routes: routes.clone(),
                cache: RoutesCache::default(),
            };
            // The stream ends when the connection's task does: no stop signal needed.
            let started = Workers::start(workers, capacity, client.events(), None, dispatch);
            let (workers, events) = started.unwrap_or_else(|err| {
                failed = Some(err);
                (Workers::none(), EventsSlot::empty())
            });
            Inner {
                client,
                callbacks,
                routes,
                events,
                workers,
            }
        });
        match failed {
            Some(err) => Err(err.into()),
            None => Ok(Self { inner }),
        }
    }

    /// The async client underneath, for code that wants to `.await`.
    pub fn as_async(&self) -> &AsyncClient {
        &self.inner.client
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.inner.client.server_addr()
    }

    /// Whether the client is connected now (false while reconnecting or after close).
    pub fn is_connected(&self) -> bool {
        self.inner.client.is_connected()
    }

    /// What the client has done so far, over all its connections (see
    /// [`Stats`]; counters add up across reconnections).
    pub fn stats(&self) -> Stats {
        self.inner.client.stats()
    }

    /// The events that have no callback, as a blocking iterator. Can be taken once.
    pub fn events(&self) -> ClientEvents {
        self.inner.events.take()
    }

    /// Calls `f` on the worker on every later (re)connection. Replaces any
    /// earlier callback. (The first connection is complete when
    /// [`connect`](Self::connect) returns; its event goes to [`events`](Self::events).)
    pub fn on_connect(&self, f: impl Fn(PeerInfo) + Send + Sync + 'static) {
        self.inner.callbacks.connect.set(Arc::new(f));
    }

    /// Calls `f` on the worker for every application message; `f` gets the
    /// client to answer with. Replaces any earlier callback.
    pub fn on_message(&self, f: impl Fn(&Client, Message) + Send + Sync + 'static) {
        self.inner.callbacks.message.set(Arc::new(f));
    }

    /// Calls `f` on the worker for every message of type `kind`, instead of
    /// [`on_message`](Self::on_message), as
    /// [`Server::route`](crate::Server::route) does; `f` gets the client
    /// to make requests with, and what it returns is the reply (see
    /// [`IntoReply`]).
    pub fn route<T: IntoReply>(
        &self,
        kind: MessageType,
        f: impl Fn(&Client, Message) -> T + Send + Sync + 'static,
    ) {
        self.inner.routes.set(
            kind.code(),
            Arc::new(move |client: &Client, message: Message| f(client, message).into_reply()),
        );
    }

    /// Calls `f` on the worker whenever the connection ends, with the
    /// address of the server it was connected to and why it ended.
    /// Replaces any earlier callback.
    pub fn on_disconnect(&self, f: impl Fn(SocketAddr, &CloseReason) + Send + Sync + 'static) {
        self.inner.callbacks.disconnect.set(Arc::new(f));
    }

    /// Sends a message, waiting while the outbound queue is full.
    ///
    /// # Errors
    /// [`Error::NotConnected`], [`Error::Closed`], [`Error::Send`].
    pub fn send(&self, message: Message) -> Result<(), Error> {
        block_on(self.inner.client.send(message))
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// `Error::Send(SendError::Full)`, and those of [`send`](Self::send).
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.inner.client.try_send(message)
    }

    /// Answers `received`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(&self, received: &Message, message: Message) -> Result<(), Error> {
        block_on(self.inner.client.reply(received, message))
    }

    /// Sends a request and waits up to `timeout` for the answer.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`] (the connection ended first), and those of [`send`](Self::send).
    pub fn request(&self, message: Message, timeout: Duration) -> Result<Message, Error> {
        block_on(self.inner.client.request(message, timeout))
    }

    /// Pings the server and waits up to `timeout` for its answer; the round-trip time.
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::NotConnected`].
    pub fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        block_on(self.inner.client.ping(timeout))
    }

    /// Closes the connection (flushing what was queued), stops reconnecting,
    /// waits up to 5 s for the connection to end, then as long for the
    /// worker to run the callbacks of the events left (unless called from a callback).
    ///
    /// # Errors
    /// [`Error::TimedOut`] when the connection, or the worker, had not
    /// finished in that time.
    pub fn close(&self) -> Result<(), Error> {
        let closed = block_on(self.inner.client.close());
        let drained =
            self.inner.workers.is_current() || self.inner.workers.wait(Instant::now() + CLOSE_WAIT);
        match closed {
            Ok(()) if !drained => Err(Error::TimedOut),
            other => other,
        }
    }
}

/// Turns a client's events into callback jobs.
struct ClientDispatch {
    /// Weak, so the workers do not keep the connection open.
    owner: Weak<Inner>,
    /// The server's address, for `on_disconnect`.
    server: SocketAddr,
    callbacks: Arc<ClientCallbacks>,
    routes: Arc<Routes<OnRoute>>,
    cache: RoutesCache<OnRoute>,
}

enum ClientJob {
    Connect(Arc<OnConnect>, PeerInfo),
    Route(Arc<OnRoute>, Client, Message),
    Message(Arc<OnMessage>, Client, Message),
    Disconnect(Arc<OnDisconnect>, SocketAddr, CloseReason),
}

impl Dispatch for ClientDispatch {
    type Event = ClientEvent;
    type Job = ClientJob;

    fn job(&mut self, event: ClientEvent) -> Result<ClientJob, ClientEvent> {
        let callbacks = &self.callbacks;
        match event {
            ClientEvent::Connected(info) => match callbacks.connect.get() {
                Some(f) => Ok(ClientJob::Connect(f, info)),
                None => Err(ClientEvent::Connected(info)),
            },
            ClientEvent::Message(message) => {
                let code = message.message_type().code();
                if let Some(f) = self.cache.get(&self.routes, code)
                    && let Some(inner) = self.owner.upgrade()
                {
                    return Ok(ClientJob::Route(f, Client { inner }, message));
                }
                // No handle left means the connection is closing: nobody to answer with.
                let answer = |f| {
                    Some((
                        f,
                        Client {
                            inner: self.owner.upgrade()?,
                        },
                    ))
                };
                match callbacks.message.get().and_then(answer) {
                    Some((f, client)) => Ok(ClientJob::Message(f, client, message)),
                    None => Err(ClientEvent::Message(message)),
                }
            }
            ClientEvent::Disconnected(reason) => match callbacks.disconnect.get() {
                Some(f) => Ok(ClientJob::Disconnect(f, self.server, reason)),
                None => Err(ClientEvent::Disconnected(reason)),
            },
            other => Err(other),
        }
    }

    fn run(job: ClientJob) {
        match job {
            ClientJob::Connect(f, info) => f(info),
            ClientJob::Route(f, client, message) => {
                run_route(
                    |message| f(&client, message),
                    message,
                    |to, reply| {
                        client.inner.client.respond(to, reply);
                    },
                );
            }
            ClientJob::Message(f, client, message) => f(&client, message),
            ClientJob::Disconnect(f, server, reason) => f(server, &reason),
        }
    }

    fn unclaimed(&mut self, event: ClientEvent) -> Option<ClientEvent> {
        match event {
            ClientEvent::Message(message) if self.cache.any(&self.routes) => {
                if let Some(inner) = self.owner.upgrade() {
                    inner.client.note_unrouted(&message);
                }
                None
            }
            other => Some(other),
        }
    }
}
