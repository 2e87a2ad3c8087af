//! The threaded client: the async client of `veltix-driver` on the mio event
//! loop, with blocking methods and callbacks on a Veltix worker thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak, mpsc};
use std::time::{Duration, Instant};

use veltix_driver::{
    ClientConfig, ClientEvent, ClientEvents as AsyncEvents, CloseReason, Error, Message, PeerInfo,
};

use crate::AsyncClient;
use crate::reactor::lock;
use crate::worker::{Events, Feed, Stoppable, Workers, block_on, forward};

/// The blocking iterator of a threaded client's events (see [`Client::events`]).
pub type ClientEvents = Events<ClientEvent>;

type OnConnect = dyn Fn(PeerInfo) + Send + Sync;
type OnMessage = dyn Fn(&Client, Message) + Send + Sync;
type OnDisconnect = dyn Fn(&CloseReason) + Send + Sync;

#[derive(Default)]
struct Callbacks {
    connect: Option<Arc<OnConnect>>,
    message: Option<Arc<OnMessage>>,
    disconnect: Option<Arc<OnDisconnect>>,
}

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
    callbacks: Arc<RwLock<Callbacks>>,
    /// Whether `events()` was called: until then, overflow is dropped.
    taken: Arc<AtomicBool>,
    events: Mutex<Option<mpsc::Receiver<ClientEvent>>>,
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
        let (to_events, events) = mpsc::sync_channel(capacity);
        let callbacks = Arc::new(RwLock::new(Callbacks::default()));
        let taken = Arc::new(AtomicBool::new(false));
        let mut failed = None;
        let inner = Arc::new_cyclic(|owner| {
            let feed = ClientFeed {
                // Ends when the connection's task does: no stop signal needed.
                events: Stoppable::new(client.events(), None),
                owner: owner.clone(),
                callbacks: callbacks.clone(),
                taken: taken.clone(),
                to_events,
            };
            let workers =
                Workers::start("veltix-mio-worker", workers, feed).unwrap_or_else(|err| {
                    failed = Some(err);
                    Workers::none()
                });
            Inner {
                client,
                callbacks,
                taken,
                events: Mutex::new(Some(events)),
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

    /// The events that have no callback, as a blocking iterator. Can be taken once.
    pub fn events(&self) -> ClientEvents {
        self.inner.taken.store(true, Ordering::Release);
        lock(&self.inner.events)
            .take()
            .map_or_else(Events::ended, Events::new)
    }

    fn set(&self, f: impl FnOnce(&mut Callbacks)) {
        f(&mut self
            .inner
            .callbacks
            .write()
            .unwrap_or_else(|e| e.into_inner()));
    }

    /// Calls `f` on the worker on every later (re)connection. Replaces any
    /// earlier callback. (The first connection is complete when
    /// [`connect`](Self::connect) returns; its event goes to [`events`](Self::events).)
    pub fn on_connect(&self, f: impl Fn(PeerInfo) + Send + Sync + 'static) {
        self.set(|c| c.connect = Some(Arc::new(f)));
    }

    /// Calls `f` on the worker for every application message; `f` gets the
    /// client to answer with. Replaces any earlier callback.
    pub fn on_message(&self, f: impl Fn(&Client, Message) + Send + Sync + 'static) {
        self.set(|c| c.message = Some(Arc::new(f)));
    }

    /// Calls `f` on the worker whenever the connection ends. Replaces any earlier callback.
    pub fn on_disconnect(&self, f: impl Fn(&CloseReason) + Send + Sync + 'static) {
        self.set(|c| c.disconnect = Some(Arc::new(f)));
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

    /// Pings the server; the round-trip time. Times out after the idle timeout (or 10 s).
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`], [`Error::NotConnected`].
    pub fn ping(&self) -> Result<Duration, Error> {
        block_on(self.inner.client.ping())
    }

    /// Closes the connection (flushing what was queued), stops reconnecting,
    /// waits up to 5 s for the connection to end, then as long for the
    /// worker to run the callbacks of the events left (unless called from a callback).
    pub fn close(&self) {
        block_on(self.inner.client.close());
        self.inner.workers.wait(Instant::now() + CLOSE_WAIT);
    }
}

/// What the workers of one client read.
struct ClientFeed {
    events: Stoppable<AsyncEvents>,
    /// Weak, so the workers do not keep the connection open.
    owner: Weak<Inner>,
    callbacks: Arc<RwLock<Callbacks>>,
    taken: Arc<AtomicBool>,
    to_events: mpsc::SyncSender<ClientEvent>,
}

enum ClientJob {
    Connect(Arc<OnConnect>, PeerInfo),
    Message(Arc<OnMessage>, Client, Message),
    Disconnect(Arc<OnDisconnect>, CloseReason),
}

impl Feed for ClientFeed {
    type Job = ClientJob;

    fn next_job(&mut self) -> Option<ClientJob> {
        loop {
            let event = self.events.next()?;
            let callbacks = self.callbacks.read().unwrap_or_else(|e| e.into_inner());
            let job = match &event {
                ClientEvent::Connected(info) => callbacks
                    .connect
                    .clone()
                    .map(|f| ClientJob::Connect(f, *info)),
                // No handle left means the connection is closing: nobody to answer with.
                ClientEvent::Message(message) => callbacks.message.clone().and_then(|f| {
                    let client = Client {
                        inner: self.owner.upgrade()?,
                    };
                    Some(ClientJob::Message(f, client, message.clone()))
                }),
                ClientEvent::Disconnected(reason) => callbacks
                    .disconnect
                    .clone()
                    .map(|f| ClientJob::Disconnect(f, reason.clone())),
                _ => None,
            };
            drop(callbacks);
            match job {
                Some(job) => return Some(job),
                None => {
                    let wait = self.taken.load(Ordering::Acquire) && !self.events.stopping();
                    forward(&self.to_events, event, wait);
                }
            }
        }
    }

    fn run(job: ClientJob) {
        match job {
            ClientJob::Connect(f, info) => f(info),
            ClientJob::Message(f, client, message) => f(&client, message),
            ClientJob::Disconnect(f, reason) => f(&reason),
        }
    }
}
