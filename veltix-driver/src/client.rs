//! The client: connects (with a timeout), optionally reconnects with backoff,
//! and offers send, request, ping and events or callbacks.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use futures::{Stream, StreamExt as _};
use tracing::Instrument as _;
use veltix_core::{
    CloseCode, CloseReason, Connection, Message, MessageType, PeerInfo, RequestId, Role,
};

use crate::backlog::Backlog;
use crate::driver::{Driver, ReadSettings, Sink, SinkEvent};
use crate::event_queue::{EventOutlet, EventQueue, EventSender, EventStream};
use crate::handle::{CommandRx, Control, DriverEnds, DriverHandle, command_budget};
use crate::handlers::Slot;
use crate::meters::Meters;
use crate::routes::{self, Dispatch, Handler, HandlerEnv, MessageHandlers};
use crate::runtime::{Runtime, sleep_until, wall_ms};
use crate::{ClientConfig, ClientEvent, Error, IntoReply, Peer, PeerId, Stats, os};

type OnConnect = dyn Fn(PeerInfo) + Send + Sync;
/// Where the task tells `connect` how the first handshake went.
type FirstOutcome = Arc<Mutex<Option<oneshot::Sender<Result<PeerInfo, Error>>>>>;
type OnDisconnect = dyn Fn(SocketAddr, &CloseReason) + Send + Sync;

/// A Veltix client on runtime `R`. Cheap to clone; every clone is the same
/// connection. Dropping the last clone closes the connection.
///
/// Events go to the callback registered for their kind or, when none is, to
/// the stream from [`events`](Self::events). Flow control works as on the
/// [`Server`](crate::Server): the socket is not read while the output to the
/// server, or the events not taken from the stream yet, are above the
/// high-water mark.
/// Callbacks and handlers are kept across reconnects.
pub struct Client<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.shared.server.addr)
            .field("connected", &self.is_connected())
            .finish()
    }
}

struct Shared<R: Runtime> {
    runtime: R,
    /// The server, as a peer: what callbacks get to answer it.
    server: Peer,
    events: EventOutlet<ClientEvent>,
    handlers: Arc<Handlers>,
    closing: Arc<AtomicBool>,
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl<R: Runtime> Drop for Shared<R> {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        self.server
            .handle
            .close(CloseCode::NORMAL, "client dropped");
    }
}

#[derive(Default)]
struct Handlers {
    on_connect: Slot<OnConnect>,
    messages: MessageHandlers,
    on_disconnect: Slot<OnDisconnect>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<R: Runtime + Default> Client<R> {
    /// Connects to `config.addr` and completes the handshake.
    ///
    /// # Errors
    /// [`Error::ConnectTimeout`], the OS's connect error, or [`Error::Closed`]
    /// when the handshake fails (version mismatch, wrong key, server full…).
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        Self::connect_on(R::default(), config).await
    }
}

impl<R: Runtime> Client<R> {
    /// Connects on a given runtime handle.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_on(runtime: R, config: ClientConfig) -> Result<Self, Error> {
        config.validate()?;
        let addr = os::resolve(&config.addr)?;
        let socket = connect(&runtime, addr, config.connect_timeout).await?;
        let meters = Meters::register("client", addr);
        let (handle, ends) = DriverHandle::counted(
            command_budget(
                config.connection.max_outbound_bytes,
                &config.flow,
                config.read_chunk,
            ),
            None,
            meters.clone(),
        );
        let events = EventQueue::new(config.event_capacity);
        let outlet = events.outlet();
        let (first_tx, first_rx) = oneshot::channel();
        let (live, done) = mpsc::channel(0);
        let server = Peer {
            id: PeerId(0),
            addr,
            handle,
        };
        let handlers = Arc::new(Handlers::default());
        let closing = Arc::new(AtomicBool::new(false));
        let task = Task {
            runtime: runtime.clone(),
            config,
            addr,
            server: server.clone(),
            handlers: handlers.clone(),
            lane: events.sender(),
            first: Arc::new(Mutex::new(Some(first_tx))),
            meters,
            closing: closing.clone(),
            _live: live,
        };
        runtime.spawn(
            task.run(socket, ends.commands, ends.control)
                .instrument(tracing::debug_span!("client", server = %addr, role = "client")),
        );
        let client = Self {
            shared: Arc::new(Shared {
                runtime,
                server,
                events: outlet,
                handlers,
                closing,
                done: Mutex::new(Some(done)),
            }),
        };
        match first_rx.await {
            Ok(Ok(_)) => Ok(client),
            Ok(Err(err)) => Err(err),
            Err(oneshot::Canceled) => Err(Error::NotConnected),
        }
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.shared.server.addr
    }

    /// Who the server proved to be over TLS (its certificate's subject and
    /// key pin), once connected with [`ClientConfig::tls`]; `None` otherwise.
    pub fn tls_identity(&self) -> Option<crate::tls::PeerIdentity> {
        self.shared.server.handle.security.identity()
    }

    /// Whether the client is connected now (false while reconnecting or after close).
    pub fn is_connected(&self) -> bool {
        !self.shared.server.handle.is_down()
    }

    /// What the client has done so far, over all its connections (see
    /// [`Stats`]): counters add up across reconnections, which
    /// [`Stats::reconnects`] counts.
    pub fn stats(&self) -> Stats {
        self.shared.server.handle.stats.snapshot()
    }

    /// The stream of events that have no callback. Can be taken once.
    pub fn events(&self) -> ClientEvents {
        ClientEvents {
            inner: self.shared.events.take(),
        }
    }

    /// Calls `f` on every (re)connection. Replaces any earlier callback.
    pub fn on_connect(&self, f: impl Fn(PeerInfo) + Send + Sync + 'static) {
        self.shared.handlers.on_connect.set(Arc::new(f));
    }

    /// Calls `f` for every application message that has no
    /// [`route`](Self::route); `f` gets the server as a [`Peer`] to answer
    /// with, and what it returns is the reply (see [`IntoReply`]). Replaces
    /// any earlier message handler (sync or async). Runs on the
    /// connection's task: must not block.
    pub fn on_message<T: IntoReply>(
        &self,
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) {
        self.shared.handlers.messages.on_message(Handler::sync(f));
    }

    /// As [`on_message`](Self::on_message), with an async handler, run as
    /// [`Server::on_message_async`](crate::Server::on_message_async) says
    /// (in arrival order, up to [`ClientConfig::handler_concurrency`] at
    /// once; messages waiting for it count towards flow control).
    pub fn on_message_async<F, Fut>(&self, f: F)
    where
        F: Fn(Peer, Message) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoReply,
    {
        self.shared
            .handlers
            .messages
            .on_message(Handler::asynchronous(f));
    }

    /// Calls `f` for every message of type `kind`, instead of
    /// [`on_message`](Self::on_message), as
    /// [`Server::route`](crate::Server::route) does.
    pub fn route<T: IntoReply>(
        &self,
        kind: MessageType,
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) {
        self.shared
            .handlers
            .messages
            .route(kind.code(), Handler::sync(f));
    }

    /// As [`route`](Self::route), with an async handler (see
    /// [`on_message_async`](Self::on_message_async)).
    pub fn route_async<F, Fut>(&self, kind: MessageType, f: F)
    where
        F: Fn(Peer, Message) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoReply,
    {
        self.shared
            .handlers
            .messages
            .route(kind.code(), Handler::asynchronous(f));
    }

    /// As [`Peer::respond`], for a message from the server.
    pub fn respond(&self, request_id: RequestId, value: impl IntoReply) {
        self.shared.server.respond(request_id, value);
    }

    /// As [`Peer::note_unrouted`], for a message from the server.
    pub fn note_unrouted(&self, message: &Message) {
        self.shared.server.note_unrouted(message);
    }

    /// Calls `f` whenever the connection ends, with the address of the
    /// server it was connected to and why it ended. Replaces any earlier callback.
    pub fn on_disconnect(&self, f: impl Fn(SocketAddr, &CloseReason) + Send + Sync + 'static) {
        self.shared.handlers.on_disconnect.set(Arc::new(f));
    }

    /// Sends a message, waiting while the outbound queue is full.
    ///
    /// # Errors
    /// [`Error::NotConnected`], [`Error::Closed`], [`Error::Send`].
    pub fn send(&self, message: Message) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        // The handle's own future, not an async wrapper around it: one
        // future fewer to build and move per message.
        self.shared.server.send(message)
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// `Error::Send(SendError::Full)`, and those of [`send`](Self::send).
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.shared.server.try_send(message)
    }

    /// Answers `received`, copying its request id.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reply(
        &self,
        received: &Message,
        message: Message,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.shared.server.reply(received, message)
    }

    /// Sends a request and waits up to `timeout` for the answer. Dropping the
    /// future forgets the request.
    ///
    /// # Errors
    /// [`Error::TimedOut`], [`Error::Closed`] (the connection ended first), and those of [`send`](Self::send).
    pub async fn request(&self, message: Message, timeout: Duration) -> Result<Message, Error> {
        self.shared.server.request(message, timeout).await
    }

    /// Pings the server and waits up to `timeout` for its answer; the
    /// round-trip time. (Python Veltix's `ping_server` waits 2 s.)
    ///
    /// # Errors
    /// [`Error::TimedOut`] after `timeout`, [`Error::Closed`], [`Error::NotConnected`].
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        self.shared.server.ping(timeout).await
    }

    /// Closes the connection (flushing what was queued), stops reconnecting,
    /// and waits up to 5 s for the connection to end. Later calls return
    /// at once.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when the connection had not ended within 5 s
    /// (the server did not take what was queued, or did not answer the
    /// close): it is still dropped, unflushed, when its driver gives up.
    pub async fn close(&self) -> Result<(), Error> {
        self.shared.closing.store(true, Ordering::Release);
        self.shared
            .server
            .handle
            .close(CloseCode::NORMAL, "client closed");
        let Some(mut done) = lock(&self.shared.done).take() else {
            return Ok(());
        };
        let deadline = self.shared.runtime.now() + CLOSE_WAIT;
        let sleep = pin!(sleep_until(&self.shared.runtime, deadline));
        match select(done.next(), sleep).await {
            Either::Left(_) => Ok(()),
            Either::Right(_) => Err(Error::TimedOut),
        }
    }
}

/// How long [`Client::close`] waits for the connection to end.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

async fn connect<R: Runtime>(
    runtime: &R,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<R::Socket, Error> {
    let attempt = pin!(runtime.connect(addr));
    let sleep = pin!(sleep_until(runtime, runtime.now() + timeout));
    match select(attempt, sleep).await {
        Either::Left((result, _)) => Ok(result?),
        Either::Right(_) => Err(Error::ConnectTimeout),
    }
}

/// The client's background task: drives a connection, then reconnects.
struct Task<R: Runtime> {
    runtime: R,
    config: ClientConfig,
    addr: SocketAddr,
    server: Peer,
    handlers: Arc<Handlers>,
    /// The client's one lane of events, shared by each connection's sink in
    /// turn, so the stream keeps their order across reconnections.
    lane: EventSender<ClientEvent>,
    /// Tells `connect` how the first handshake went.
    first: FirstOutcome,
    /// The client's metrics (feature `metrics`).
    meters: Option<Arc<Meters>>,
    closing: Arc<AtomicBool>,
    /// Dropped when the task ends: `close` waits for that.
    _live: mpsc::Sender<()>,
}

impl<R: Runtime> Task<R> {
    async fn run(
        self,
        socket: R::Socket,
        mut commands: CommandRx,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut socket = Some(socket);
        let mut last_reason = CloseReason::TransportClosed;
        let mut connection: u64 = 0;
        'connections: while let Some(sock) = socket.take() {
            connection += 1;
            let now = self.runtime.now();
            let conn = match os::random_seed().map_err(Error::from).and_then(|seed| {
                Ok(Connection::new(
                    Role::Client,
                    self.config.connection_settings(),
                    now,
                    wall_ms(&self.runtime),
                    seed,
                )?)
            }) {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::error!(error = %err, "cannot start a connection");
                    self.fail_first(err);
                    break;
                }
            };
            let tls = match &self.config.tls {
                None => None,
                Some(tls) => {
                    match veltix_tls::TlsSession::client(
                        &tls.config,
                        tls.server_name(&self.config.addr),
                    ) {
                        Ok(session) => Some(session),
                        Err(err) => {
                            tracing::error!(error = %err, "cannot start a TLS session");
                            self.fail_first(Error::Tls(err));
                            break;
                        }
                    }
                }
            };
            self.server.handle.security.reset();
            self.server.handle.set_down(false);
            let sink = ClientSink {
                server: self.server.clone(),
                handlers: self.handlers.clone(),
                events: self.lane.share(),
                first: self.first.clone(),
                dispatch: Dispatch::default(),
                runtime: self.runtime.clone(),
                concurrency: self.config.handler_concurrency,
            };
            let ends = DriverEnds {
                commands,
                control,
                gone: Arc::new(OnceLock::new()),
                security: self.server.handle.security.clone(),
                stats: self.server.handle.stats.clone(),
                totals: None,
                meters: self.meters.clone(),
            };
            let read = ReadSettings {
                chunk: self.config.read_chunk,
                flow: self.config.flow,
                handshake_timeout: self.config.connection.handshake_timeout,
            };
            let driver = Driver::new(conn, self.runtime.clone(), sock, ends, sink, read, tls);
            // Numbered per client: the first connection is 1, reconnections follow.
            let exit = driver
                .instrument(tracing::debug_span!("connection", id = connection))
                .await;
            self.server.handle.set_down(true);
            (commands, control) = (exit.commands, exit.control);
            let locally_closed = matches!(exit.reason, CloseReason::Local { .. });
            last_reason = exit.reason;
            let Some(reconnect) = self.config.reconnect else {
                break;
            };
            let mut attempt = 0u32;
            loop {
                if locally_closed || self.closing.load(Ordering::Acquire) {
                    break 'connections;
                }
                if reconnect.max_attempts.is_some_and(|max| attempt >= max) {
                    tracing::warn!(attempts = attempt, "giving up reconnecting");
                    break 'connections;
                }
                let delay = reconnect.delay(attempt, os::random_unit());
                attempt += 1;
                let until = self.runtime.now() + delay;
                if !fail_commands_until(&self.runtime, &mut commands, until).await {
                    break 'connections; // every handle is gone
                }
                match connect(&self.runtime, self.addr, self.config.connect_timeout).await {
                    Ok(sock) => {
                        tracing::debug!(attempt, "reconnected");
                        self.server.handle.stats.reconnected();
                        if let Some(meters) = &self.meters {
                            meters.reconnected();
                        }
                        socket = Some(sock);
                        continue 'connections;
                    }
                    Err(err) => tracing::debug!(attempt, error = %err, "reconnect failed"),
                }
            }
        }
        self.server.handle.set_gone(last_reason.clone());
        self.fail_first(Error::Closed(last_reason));
        commands.close();
        while let Some(command) = commands.try_recv() {
            command.fail(|| Error::NotConnected);
        }
    }

    fn fail_first(&self, err: Error) {
        if let Some(tx) = lock(&self.first).take() {
            let _ = tx.send(Err(err));
        }
    }
}

/// Answers commands with "not connected" until `deadline`; false when every
/// handle is gone (nobody will use the client again).
async fn fail_commands_until<R: Runtime>(
    runtime: &R,
    commands: &mut CommandRx,
    deadline: Instant,
) -> bool {
    let mut sleep = pin!(sleep_until(runtime, deadline));
    loop {
        match select(commands.next(), sleep.as_mut()).await {
            Either::Left((Some(command), _)) => command.fail(|| Error::NotConnected),
            Either::Left((None, _)) => return false,
            Either::Right(_) => return true,
        }
    }
}

struct ClientSink<R: Runtime> {
    server: Peer,
    handlers: Arc<Handlers>,
    events: EventSender<ClientEvent>,
    first: FirstOutcome,
    dispatch: Dispatch,
    /// Where the connection's async handlers run, and how many at once.
    runtime: R,
    concurrency: usize,
}

// Nothing in a sink is pinned: the runtime handle is only called through `&`.
impl<R: Runtime> Unpin for ClientSink<R> {}

impl<R: Runtime> Sink for ClientSink<R> {
    fn round_done(&mut self) {
        self.dispatch.round_done();
        self.events.flush();
    }

    fn deliver(&mut self, event: SinkEvent) {
        let weight = event.weight();
        match &event {
            SinkEvent::Connected(info) => {
                if let Some(tx) = lock(&self.first).take() {
                    let _ = tx.send(Ok(*info));
                }
            }
            SinkEvent::Closed(reason) => {
                // Down before anyone hears it left: `is_connected()` is
                // already false in `on_disconnect` and for whoever reads the
                // Disconnected event, though the driver may linger a little
                // to flush its last frames.
                self.server.handle.set_down(true);
                if let Some(tx) = lock(&self.first).take() {
                    let _ = tx.send(Err(self.server.handle.closed_error(reason.clone())));
                }
            }
            SinkEvent::Message(_) => {}
        }
        let event = match event {
            SinkEvent::Connected(info) => match self.handlers.on_connect.get() {
                Some(f) => {
                    // Callbacks run after the reader hears of this round's events.
                    self.events.flush();
                    return f(info);
                }
                None => ClientEvent::Connected(info),
            },
            SinkEvent::Message(message) => {
                let runtime = &self.runtime;
                let env = HandlerEnv {
                    peer: &self.server,
                    backlog: self.events.shared_backlog(),
                    concurrency: self.concurrency,
                    spawn: &|task| {
                        runtime.spawn(tracing::Instrument::instrument(
                            task,
                            tracing::Span::current(),
                        ));
                    },
                    before_sync: &|| self.events.flush(),
                };
                match self
                    .dispatch
                    .message(&self.handlers.messages, &env, message, weight)
                {
                    Ok(()) => return,
                    Err(unhandled) if unhandled.routed && !self.events.has_reader() => {
                        return routes::unrouted(&self.server, &unhandled.message);
                    }
                    Err(unhandled) => ClientEvent::Message(unhandled.message),
                }
            }
            SinkEvent::Closed(reason) => match self.handlers.on_disconnect.get() {
                Some(f) => {
                    self.events.flush();
                    return f(self.server.addr, &reason);
                }
                None => ClientEvent::Disconnected(reason),
            },
        };
        self.events.send(event, weight);
    }

    fn backlog(&self) -> Option<&Backlog> {
        Some(self.events.backlog())
    }
}

/// The client's event stream (see [`Client::events`]).
pub struct ClientEvents {
    inner: EventStream<ClientEvent>,
}

impl std::fmt::Debug for ClientEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientEvents")
    }
}

impl ClientEvents {
    /// The next event; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.inner.next().await
    }
}

impl Stream for ClientEvents {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.inner.poll_next(cx)
    }
}
