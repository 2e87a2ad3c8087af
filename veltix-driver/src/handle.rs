//! The handle side of a connection: commands into its driver, answers back.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use veltix_core::frame::EncodedFrame;
use veltix_core::{CloseCode, CloseReason, Message, MessageType, RequestId, SendError};

use crate::command_queue::{self, Weighed};
use crate::meters::Meters;
use crate::stats::{Handled, StatsCell};
use crate::{Error, FlowControl};

/// Commands taken from the queue or the direct lane, not applied yet.
pub(crate) type Commands = Weighed<Command>;

/// What a handle asks its connection's driver to do. Bounded queue (one
/// shared bound in bytes, however many handles): when the connection's
/// outbound queue is full the driver stops taking commands, the queue fills,
/// async senders wait and `try_` senders get `Full` (backpressure).
pub(crate) enum Command {
    Send(Message),
    Reply(RequestId, Message),
    Frame(EncodedFrame),
    Request {
        token: u64,
        message: Message,
        timeout: Duration,
        reply: oneshot::Sender<Result<Message, Error>>,
    },
    Ping {
        token: u64,
        timeout: Duration,
        reply: oneshot::Sender<Result<Duration, Error>>,
    },
}

impl command_queue::Weigh for Command {
    /// The bytes the command puts on the wire: what pending output counts.
    fn weight(&self) -> usize {
        veltix_core::frame::HEADER_LEN.saturating_add(self.payload_len())
    }

    fn is_answer(&self) -> bool {
        matches!(self, Self::Reply(..))
    }
}

impl Command {
    /// Answers a command that can no longer be carried out.
    pub(crate) fn fail(self, error: impl Fn() -> Error) {
        match self {
            Self::Request { reply, .. } => drop(reply.send(Err(error()))),
            Self::Ping { reply, .. } => drop(reply.send(Err(error()))),
            Self::Send(_) | Self::Reply(..) | Self::Frame(_) => {
                tracing::debug!("message dropped: not connected");
            }
        }
    }

    /// Payload bytes the command will queue (for the outbound bound).
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Self::Send(m) | Self::Reply(_, m) | Self::Request { message: m, .. } => {
                m.payload().len()
            }
            Self::Frame(f) => f.payload().len(),
            Self::Ping { .. } => 0,
        }
    }
}

/// The driver's end of the command queue, with the id of the handle it
/// belongs to.
pub(crate) struct CommandRx {
    rx: command_queue::Receiver<Command>,
    handle_id: u64,
}

impl CommandRx {
    /// An end that belongs to no handle and never yields a command.
    pub(crate) fn detached() -> Self {
        let (_, rx) = command_queue::bounded(0);
        Self { rx, handle_id: 0 }
    }

    /// Opens this handle's direct lane on this thread: until
    /// [`close_direct`](Self::close_direct), `try_` commands made for this
    /// handle — by the connection's callbacks, running on the driver's task —
    /// are collected into `inbox` instead of queued. A reply made in an
    /// `on_message` callback then costs no queue round and no wake-up of the
    /// very task that is running it (on tokio such a self-wake is scheduled
    /// as a yield, which wakes an idle worker thread for nothing). Opened
    /// once per batch of events, not per event.
    ///
    /// The lane takes commands while `inbox` holds less than the queue's
    /// byte bound (see [`command_budget`]).
    pub(crate) fn open_direct(&self, inbox: &mut Commands) -> DirectLane {
        let lane = Direct {
            handle_id: self.handle_id,
            max_bytes: self.rx.max_bytes(),
            inbox: std::mem::take(inbox),
        };
        DirectLane {
            outer: DIRECT.with(|direct| direct.replace(Some(lane))),
            closed: false,
        }
    }

    /// Closes the lane [`open_direct`](Self::open_direct) opened; what was
    /// collected goes back to `inbox`.
    pub(crate) fn close_direct(mut lane: DirectLane, inbox: &mut Commands) {
        lane.closed = true;
        let outer = lane.outer.take();
        if let Some(lane) = DIRECT.with(|direct| direct.replace(outer)) {
            *inbox = lane.inbox;
        }
    }
}

/// An open direct lane; whichever lane was open before comes back on close,
/// or on drop if a callback panicked (its commands are then lost with the
/// connection's task, but the thread's next callbacks are not misrouted).
pub(crate) struct DirectLane {
    outer: Option<Direct>,
    closed: bool,
}

impl Drop for DirectLane {
    fn drop(&mut self) {
        if !self.closed {
            let outer = self.outer.take();
            // `try_with`: the thread may be exiting.
            let _ = DIRECT.try_with(|direct| direct.replace(outer));
        }
    }
}

impl std::ops::Deref for CommandRx {
    type Target = command_queue::Receiver<Command>;

    fn deref(&self) -> &Self::Target {
        &self.rx
    }
}

impl std::ops::DerefMut for CommandRx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rx
    }
}

/// The direct lane of the driver whose callbacks are running on this thread.
struct Direct {
    handle_id: u64,
    max_bytes: usize,
    inbox: Commands,
}

#[cfg(not(veltix_loom))]
thread_local! {
    static DIRECT: std::cell::RefCell<Option<Direct>> = const { std::cell::RefCell::new(None) };
}

// Under loom, each model thread has its own lane (std's thread-locals are
// one per OS thread, and loom runs a model's threads on one).
#[cfg(veltix_loom)]
loom::thread_local! {
    static DIRECT: std::cell::RefCell<Option<Direct>> = std::cell::RefCell::new(None);
}

/// The bytes of commands a connection takes before senders wait (or get
/// `Full`): the connection's outbound bound, but at least the high-water
/// mark plus one read. The driver reads only while its pending output is
/// below the high-water mark, so answers no larger than the messages one
/// read brought in always fit, whoever sends them (callbacks on the
/// driver's task or worker threads).
pub(crate) fn command_budget(
    max_outbound_bytes: usize,
    flow: &FlowControl,
    read_chunk: usize,
) -> usize {
    max_outbound_bytes.max(flow.high_water.saturating_add(read_chunk))
}

/// The future of a command put into the queue: it queues at its first poll
/// and, only when the queue is full, waits in a boxed future. A send is one
/// of the hottest paths of the library, and a future that held the waiting
/// state inline made every `send` (and every async wrapper around it) move
/// several hundred bytes.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Queueing<'a> {
    handle: &'a DriverHandle,
    state: QueueingState<'a>,
}

enum QueueingState<'a> {
    /// Not polled yet.
    Start(Option<Command>),
    /// Refused before queueing (a reserved type, an oversized payload).
    Failed(Option<Error>),
    /// The queue was full.
    Waiting(Pin<Box<dyn Future<Output = Result<(), Command>> + Send + 'a>>),
}

impl Future for Queueing<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle = this.handle;
        match &mut this.state {
            QueueingState::Start(command) => {
                let Some(command) = command.take() else {
                    panic!("`Queueing` polled after completion");
                };
                if handle.down.load(Ordering::Acquire) {
                    return Poll::Ready(Err(handle.gone_error()));
                }
                match handle.commands.try_send(command) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(command_queue::TrySendError::Closed(_)) => {
                        Poll::Ready(Err(handle.gone_error()))
                    }
                    Err(command_queue::TrySendError::Full(command)) => {
                        let mut waiting = Box::pin(handle.commands.send(command));
                        let poll = waiting.as_mut().poll(cx);
                        this.state = QueueingState::Waiting(waiting);
                        poll.map_err(|_| handle.gone_error())
                    }
                }
            }
            QueueingState::Failed(error) => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("`Queueing` polled after completion"),
            },
            QueueingState::Waiting(waiting) => {
                waiting.as_mut().poll(cx).map_err(|_| handle.gone_error())
            }
        }
    }
}

/// Why [`DriverHandle::offer`] did not queue a command.
enum Refused {
    /// No room now: the command comes back.
    Full(Command),
    Error(Error),
}

/// DriverHandle ids start at 1 (0 is [`CommandRx::detached`]).
static NEXT_HANDLE_ID: AtomicU64 = AtomicU64::new(1);

/// Rare, must-get-through messages: unbounded, but each one is tied to a
/// request already accepted or to a close, so their number stays small.
pub(crate) enum Control {
    Cancel(u64),
    Close(CloseCode, String),
}

/// What a connection's TLS session established or why it failed, written
/// by its driver, read by the handles (rarely: a lock is fine). A client
/// starts afresh on every reconnection.
#[derive(Debug, Default)]
pub(crate) struct Security {
    /// Who the peer proved to be, once the TLS handshake completed.
    identity: Mutex<Option<veltix_tls::PeerIdentity>>,
    /// Why the TLS session failed, if it did.
    failure: Mutex<Option<veltix_tls::TlsError>>,
    /// The client id the peer proved with its own key (native handshake).
    client_id: Mutex<Option<String>>,
}

impl Security {
    pub(crate) fn identity(&self) -> Option<veltix_tls::PeerIdentity> {
        lock(&self.identity).clone()
    }

    pub(crate) fn failure(&self) -> Option<veltix_tls::TlsError> {
        lock(&self.failure).clone()
    }

    pub(crate) fn client_id(&self) -> Option<String> {
        lock(&self.client_id).clone()
    }

    pub(crate) fn proved_client_id(&self, id: Option<&str>) {
        *lock(&self.client_id) = id.map(str::to_owned);
    }

    pub(crate) fn verified(&self, identity: Option<veltix_tls::PeerIdentity>) {
        *lock(&self.identity) = identity;
    }

    pub(crate) fn failed(&self, error: veltix_tls::TlsError) {
        lock(&self.failure).get_or_insert(error);
    }

    /// A new connection: nothing established, nothing failed.
    pub(crate) fn reset(&self) {
        *lock(&self.identity) = None;
        *lock(&self.failure) = None;
        *lock(&self.client_id) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A cloneable handle to one connection's driver: one reference count to
/// clone, however many parts it shares with the driver (peers are cloned
/// for every async handler's message, every listing and every broadcast).
#[derive(Clone)]
pub(crate) struct DriverHandle(Arc<HandleParts>);

impl std::ops::Deref for DriverHandle {
    type Target = HandleParts;

    fn deref(&self) -> &HandleParts {
        &self.0
    }
}

/// What a [`DriverHandle`] holds.
pub(crate) struct HandleParts {
    id: u64,
    commands: command_queue::Sender<Command>,
    control: mpsc::UnboundedSender<Control>,
    tokens: Arc<AtomicU64>,
    /// Set by the driver when the connection ends, so later calls can say why.
    gone: Arc<OnceLock<CloseReason>>,
    /// Set while a client is between connections: calls fail at once.
    down: Arc<AtomicBool>,
    pub(crate) security: Arc<Security>,
    /// What the connection has done, published by its driver.
    pub(crate) stats: Arc<StatsCell>,
    /// A server's totals, which the handlers' counts go to as well.
    pub(crate) totals: Option<Arc<StatsCell>>,
    /// The server's or client's metrics, which the handlers' counts go to
    /// as well (feature `metrics`).
    pub(crate) meters: Option<Arc<Meters>>,
}

pub(crate) struct DriverEnds {
    pub(crate) commands: CommandRx,
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) gone: Arc<OnceLock<CloseReason>>,
    pub(crate) security: Arc<Security>,
    pub(crate) stats: Arc<StatsCell>,
    /// A server's totals, which the driver adds its counts to as well.
    pub(crate) totals: Option<Arc<StatsCell>>,
    /// The server's or client's metrics (feature `metrics`).
    pub(crate) meters: Option<Arc<Meters>>,
}

impl DriverHandle {
    /// A handle whose queue takes commands while it holds less than
    /// `max_bytes` (wire bytes, headers included); then senders wait.
    #[cfg(test)]
    pub(crate) fn new(max_bytes: usize) -> (Self, DriverEnds) {
        Self::counted(max_bytes, None, None)
    }

    /// As [`new`](Self::new), for a connection whose counts also go to a
    /// server's `totals` and to `meters` (the handlers' counts from the
    /// handle, the driver's from its ends).
    pub(crate) fn counted(
        max_bytes: usize,
        totals: Option<Arc<StatsCell>>,
        meters: Option<Arc<Meters>>,
    ) -> (Self, DriverEnds) {
        let (commands, commands_rx) = command_queue::bounded(max_bytes);
        let (control, control_rx) = mpsc::unbounded();
        let gone = Arc::new(OnceLock::new());
        let security = Arc::new(Security::default());
        let stats = Arc::new(StatsCell::default());
        let id = NEXT_HANDLE_ID.fetch_add(1, Ordering::Relaxed);
        (
            Self(Arc::new(HandleParts {
                id,
                commands,
                control,
                tokens: Arc::new(AtomicU64::new(0)),
                gone: gone.clone(),
                down: Arc::new(AtomicBool::new(false)),
                security: security.clone(),
                stats: stats.clone(),
                totals: totals.clone(),
                meters: meters.clone(),
            })),
            DriverEnds {
                commands: CommandRx {
                    rx: commands_rx,
                    handle_id: id,
                },
                control: control_rx,
                gone,
                security,
                stats,
                totals,
                meters,
            },
        )
    }

    fn gone_error(&self) -> Error {
        if let Some(failure) = self.security.failure() {
            return Error::Tls(failure);
        }
        match self.gone.get() {
            Some(reason) => Error::Closed(reason.clone()),
            None => Error::NotConnected,
        }
    }

    /// The error for a connection that closed with `reason`: the TLS
    /// failure behind it when there is one, typed.
    pub(crate) fn closed_error(&self, reason: CloseReason) -> Error {
        match self.security.failure() {
            Some(failure) => Error::Tls(failure),
            None => Error::Closed(reason),
        }
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
    }

    pub(crate) fn set_gone(&self, reason: CloseReason) {
        let _ = self.gone.set(reason);
    }

    /// Queues `command`, waiting while the queue is full (see [`Queueing`]).
    fn command(&self, command: Command) -> Queueing<'_> {
        Queueing {
            handle: self,
            state: QueueingState::Start(Some(command)),
        }
    }

    fn try_command(&self, command: Command) -> Result<(), Error> {
        self.offer(command).map_err(|refused| match refused {
            Refused::Full(_) => Error::Send(SendError::Full),
            Refused::Error(err) => err,
        })
    }

    /// Queues `command` without waiting; a full queue hands it back.
    fn offer(&self, command: Command) -> Result<(), Refused> {
        if self.down.load(Ordering::Acquire) {
            return Err(Refused::Error(self.gone_error()));
        }
        // From a callback of this handle's own connection: straight to its driver.
        let command = DIRECT.with(|direct| match &mut *direct.borrow_mut() {
            Some(lane) if lane.handle_id == self.id && !self.commands.is_closed() => {
                if lane.inbox.bytes() >= lane.max_bytes {
                    Err(Refused::Full(command))
                } else {
                    lane.inbox.push_back(command);
                    Ok(None)
                }
            }
            _ => Ok(Some(command)),
        })?;
        let Some(command) = command else {
            return Ok(());
        };
        self.commands.try_send(command).map_err(|e| match e {
            command_queue::TrySendError::Full(command) => Refused::Full(command),
            command_queue::TrySendError::Closed(_) => Refused::Error(self.gone_error()),
        })
    }

    /// Sends without waiting; a full queue hands the message back (for a
    /// caller that then waits with [`send`](Self::send)).
    pub(crate) fn try_send_or_back(&self, message: Message) -> Result<Option<Message>, Error> {
        check_sendable(&message)?;
        match self.offer(Command::Send(message)) {
            Ok(()) => Ok(None),
            Err(Refused::Full(Command::Send(message))) => Ok(Some(message)),
            Err(Refused::Full(_)) => unreachable!("the command offered comes back"),
            Err(Refused::Error(err)) => Err(err),
        }
    }

    /// Sends `message`, waiting while the queue is full.
    pub(crate) fn send(&self, message: Message) -> Queueing<'_> {
        self.checked(message, Command::Send)
    }

    /// `message` as a command if it may be sent, the refusal otherwise.
    fn checked(&self, message: Message, command: impl FnOnce(Message) -> Command) -> Queueing<'_> {
        match check_sendable(&message) {
            Ok(()) => self.command(command(message)),
            Err(error) => Queueing {
                handle: self,
                state: QueueingState::Failed(Some(error)),
            },
        }
    }

    pub(crate) fn try_send(&self, message: Message) -> Result<(), Error> {
        check_sendable(&message)?;
        self.try_command(Command::Send(message))
    }

    pub(crate) fn reply(&self, to: &Message, message: Message) -> Queueing<'_> {
        self.reply_id(to.request_id(), message)
    }

    pub(crate) fn try_reply(&self, to: &Message, message: Message) -> Result<(), Error> {
        self.try_reply_id(to.request_id(), message)
    }

    /// Answers the message whose request id is `to`, waiting for room.
    pub(crate) fn reply_id(&self, to: RequestId, message: Message) -> Queueing<'_> {
        self.checked(message, |message| Command::Reply(to, message))
    }

    /// Answers the message whose request id is `to`, without waiting.
    pub(crate) fn try_reply_id(&self, to: RequestId, message: Message) -> Result<(), Error> {
        check_sendable(&message)?;
        self.try_command(Command::Reply(to, message))
    }

    /// Counts what a handler did, here and in the server's totals.
    pub(crate) fn handled(&self, what: Handled) {
        self.stats.handled(what, self.totals.as_deref());
        if let Some(meters) = &self.meters {
            meters.handled(what);
        }
    }

    pub(crate) fn send_frame(&self, frame: EncodedFrame) -> Queueing<'_> {
        self.command(Command::Frame(frame))
    }

    pub(crate) async fn request(
        &self,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, Error> {
        check_sendable(&message)?;
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.command(Command::Request {
            token,
            message,
            timeout,
            reply,
        })
        .await?;
        self.await_answer(token, answer).await
    }

    pub(crate) async fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.command(Command::Ping {
            token,
            timeout,
            reply,
        })
        .await?;
        self.await_answer(token, answer).await
    }

    async fn await_answer<T>(
        &self,
        token: u64,
        answer: oneshot::Receiver<Result<T, Error>>,
    ) -> Result<T, Error> {
        let guard = CancelOnDrop {
            token,
            control: &self.control,
            answer,
            done: false,
        };
        match guard.await {
            Ok(result) => result,
            Err(oneshot::Canceled) => Err(self.gone_error()),
        }
    }

    pub(crate) fn close(&self, code: CloseCode, reason: &str) {
        // A closed channel means the connection is already gone: nothing to do.
        let _ = self
            .control
            .unbounded_send(Control::Close(code, reason.to_owned()));
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone.get().is_some() || self.commands.is_closed()
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire) || self.is_gone()
    }
}

/// The answer future of a request; dropping it before the answer tells the
/// driver to forget the pending request at once.
struct CancelOnDrop<'a, T> {
    token: u64,
    control: &'a mpsc::UnboundedSender<Control>,
    answer: oneshot::Receiver<T>,
    done: bool,
}

impl<T> Future for CancelOnDrop<'_, T> {
    type Output = Result<T, oneshot::Canceled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = Pin::new(&mut self.answer).poll(cx);
        if result.is_ready() {
            self.done = true;
        }
        result
    }
}

impl<T> Drop for CancelOnDrop<'_, T> {
    fn drop(&mut self) {
        // Answered, or the driver is gone: nothing pending to cancel.
        if !self.done && matches!(self.answer.try_recv(), Ok(None)) {
            let _ = self.control.unbounded_send(Control::Cancel(self.token));
        }
    }
}

/// Refuses what the connection would refuse, before it is queued, so
/// fire-and-forget sends still report these errors.
fn check_sendable(message: &Message) -> Result<(), Error> {
    MessageType::new(message.message_type().code()).map_err(|e| Error::Send(e.into()))?;
    if u32::try_from(message.payload().len()).is_err() {
        return Err(Error::Send(SendError::PayloadTooLong(
            veltix_core::frame::PayloadTooLongError {
                len: message.payload().len(),
            },
        )));
    }
    Ok(())
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use bytes::Bytes;
    use veltix_core::{Message, MessageType};

    use super::*;

    fn message() -> Message {
        Message::new(MessageType::new(200).unwrap(), Bytes::from_static(b"x"))
    }

    #[test]
    fn try_commands_in_an_open_lane_go_to_the_inbox_in_order() {
        let (handle, ends) = DriverHandle::new(1 << 20);
        let mut inbox = Commands::default();
        let lane = ends.commands.open_direct(&mut inbox);
        handle.try_send(message()).unwrap();
        handle.try_reply(&message(), message()).unwrap();
        CommandRx::close_direct(lane, &mut inbox);
        let kinds: Vec<_> = inbox.iter().collect();
        assert!(matches!(kinds[..], [Command::Send(_), Command::Reply(..)]));
        let header = veltix_core::frame::HEADER_LEN;
        assert_eq!(inbox.bytes(), 2 * (header + 1), "weighed as wire bytes");
        // Closed: the next one goes through the queue.
        handle.try_send(message()).unwrap();
        assert!(matches!(ends.commands.try_recv(), Some(Command::Send(_))));
    }

    #[test]
    fn a_lane_says_full_once_it_holds_the_byte_bound() {
        // Room for one command below the bound: the second goes past it.
        let (handle, ends) = DriverHandle::new(veltix_core::frame::HEADER_LEN + 2);
        let mut inbox = Commands::default();
        let lane = ends.commands.open_direct(&mut inbox);
        handle.try_send(message()).unwrap();
        handle.try_send(message()).unwrap();
        assert!(matches!(
            handle.try_send(message()),
            Err(Error::Send(SendError::Full))
        ));
        CommandRx::close_direct(lane, &mut inbox);
        assert_eq!(inbox.len(), 2);
    }

    #[test]
    fn a_send_queues_at_its_first_poll_and_waits_only_while_full() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // Room for one command below the bound.
        let (handle, ends) = DriverHandle::new(veltix_core::frame::HEADER_LEN + 2);
        let mut send = handle.send(message());
        assert!(ends.commands.try_recv().is_none(), "nothing before a poll");
        assert!(matches!(
            Pin::new(&mut send).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert!(matches!(ends.commands.try_recv(), Some(Command::Send(_))));

        handle.try_send(message()).unwrap();
        handle.try_send(message()).unwrap();
        let mut waiting = handle.send(message());
        assert!(Pin::new(&mut waiting).poll(&mut cx).is_pending(), "full");
        assert!(ends.commands.try_recv().is_some());
        assert!(matches!(
            Pin::new(&mut waiting).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(
            ends.commands.len_for_tests(),
            2,
            "queued once room was made"
        );

        // Refused before queueing: a system type.
        let ping = Message::new(MessageType::PING, Bytes::new());
        assert!(matches!(
            Pin::new(&mut handle.send(ping)).poll(&mut cx),
            Poll::Ready(Err(Error::Send(SendError::ReservedType(_))))
        ));
        // A gone connection.
        drop(ends);
        assert!(matches!(
            Pin::new(&mut handle.send(message())).poll(&mut cx),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn a_send_future_stays_small() {
        // The waiting state is boxed: a send is a command and a reference.
        let (handle, _ends) = DriverHandle::new(1 << 20);
        let size = std::mem::size_of_val(&handle.send(message()));
        let bound = std::mem::size_of::<Command>().max(std::mem::size_of::<Error>()) + 24;
        assert!(size <= bound, "{size} bytes > {bound}");
    }

    #[test]
    fn a_lane_dropped_by_a_panic_is_closed() {
        let (handle, ends) = DriverHandle::new(1 << 20);
        let mut inbox = Commands::default();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _lane = ends.commands.open_direct(&mut inbox);
            panic!("a callback panicked");
        }));
        assert!(unwound.is_err());
        assert!(DIRECT.with(|d| d.borrow().is_none()), "no lane left open");
        handle.try_send(message()).unwrap();
        assert!(
            ends.commands.try_recv().is_some(),
            "queued, not lost in a stale lane"
        );
    }
}

/// Models of the direct lane (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use std::future::poll_fn;

    use bytes::Bytes;
    use loom::thread;
    use veltix_core::{Message, MessageType};

    use super::*;
    use crate::sync::model::{self, Task};

    fn message(text: &'static str) -> Message {
        Message::new(
            MessageType::new(200).unwrap(),
            Bytes::from_static(text.as_bytes()),
        )
    }

    fn text(command: &Command) -> String {
        match command {
            Command::Send(message) => String::from_utf8(message.payload().to_vec()).unwrap(),
            _ => unreachable!("the models send only"),
        }
    }

    fn texts(commands: &Commands) -> Vec<String> {
        commands.iter().map(text).collect()
    }

    fn queued(rx: &CommandRx) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|command| text(&command))
            .collect()
    }

    fn no_lane_open() -> bool {
        DIRECT.with(|direct| direct.borrow().is_none())
    }

    /// While the driver's thread has its handle's lane open, another thread
    /// sends on the same handle: that command goes through the queue, the
    /// driver's own go to its inbox, a lane opened inside for another handle
    /// (a callback of that connection) takes only that handle's commands and,
    /// closed or dropped by a panic, gives the outer lane back.
    #[test]
    fn loom_the_lane_takes_only_its_own_threads_commands_for_its_handle() {
        model::check(4, || {
            let (handle, ends) = DriverHandle::new(1 << 20);
            let theirs = handle.clone();
            let elsewhere = thread::spawn(move || {
                theirs.try_send(message("other thread")).unwrap();
                assert!(no_lane_open(), "lanes are per thread");
            });
            let mut inbox = Commands::default();
            let lane = ends.commands.open_direct(&mut inbox);
            handle.try_send(message("lane 1")).unwrap();
            let (other, other_ends) = DriverHandle::new(1 << 20);
            let mut other_inbox = Commands::default();
            let inner = other_ends.commands.open_direct(&mut other_inbox);
            handle.try_send(message("queued")).unwrap();
            other.try_send(message("other handle")).unwrap();
            CommandRx::close_direct(inner, &mut other_inbox);
            handle.try_send(message("lane 2")).unwrap();
            let panicked = other_ends.commands.open_direct(&mut Commands::default());
            drop(panicked);
            handle.try_send(message("lane 3")).unwrap();
            CommandRx::close_direct(lane, &mut inbox);
            assert!(no_lane_open());
            assert_eq!(texts(&inbox), ["lane 1", "lane 2", "lane 3"]);
            assert_eq!(texts(&other_inbox), ["other handle"]);
            // The driver's next round: the queue, sleeping until the other
            // thread's command is in.
            let mut commands = ends.commands;
            let mut through_the_queue = Commands::default();
            Task::new().block_on(poll_fn(|cx| {
                while through_the_queue.len() < 2 {
                    match commands.poll_take(cx, &mut through_the_queue) {
                        Poll::Ready(true) => {}
                        Poll::Ready(false) => panic!("the queue ended early"),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Poll::Ready(())
            }));
            elsewhere.join().unwrap();
            let mut through_the_queue = texts(&through_the_queue);
            through_the_queue.sort_unstable();
            assert_eq!(through_the_queue, ["other thread", "queued"]);
        });
    }

    /// The driver closes the queue (a close request) while its lane is open
    /// and another thread sends: once closed, nothing is accepted, through
    /// the lane or the queue, and whatever was accepted before is taken.
    #[test]
    fn loom_a_closed_queue_refuses_the_lane_too() {
        model::check(4, || {
            let (handle, ends) = DriverHandle::new(1 << 20);
            let theirs = handle.clone();
            let elsewhere = thread::spawn(move || theirs.try_send(message("other thread")).is_ok());
            let mut inbox = Commands::default();
            let lane = ends.commands.open_direct(&mut inbox);
            handle.try_send(message("before")).unwrap();
            ends.commands.close();
            assert!(handle.try_send(message("after")).is_err());
            CommandRx::close_direct(lane, &mut inbox);
            let accepted = elsewhere.join().unwrap();
            let mut taken = texts(&inbox);
            taken.extend(queued(&ends.commands));
            let mut expected = vec!["before"];
            if accepted {
                expected.push("other thread");
            }
            assert_eq!(taken, expected, "accepted means taken, refused means not");
        });
    }
}
