//! Routes and message handlers: one handler per message type, `on_message`
//! for the rest, each sync or async, and what a handler's return value does.
//!
//! A server's (or client's) handlers live in one [`MessageHandlers`]. The
//! route table is a sorted list behind a [`Slot`], replaced whole when a
//! route is added (rare), so a connection reads it through a [`SlotCache`]:
//! an atomic load per message, no lock, and a weak-reference upgrade per
//! round of deliveries.
//!
//! Sync handlers run on the connection's task, as `on_message` always did.
//! Async handlers run on one task per connection (its [`AsyncLane`]), up to
//! `handler_concurrency` at once, started in the order the messages arrived.
//! A message waiting for its async handler or inside it counts, by its
//! frame's bytes, in the same [`Backlog`] as the connection's events not
//! taken from the stream: the driver's flow control pauses the peer's reads
//! while that count is above the high-water mark and resumes them at the
//! low-water mark, as handlers finish. So the lane's queue has no bound of
//! its own; the paused reads bound it, as they bound the event lanes.

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use veltix_core::{Message, RequestId};

use crate::Peer;
use crate::backlog::Backlog;
use crate::handlers::{Slot, SlotCache};
use crate::stats::Handled;

/// What a handler's return value asks the connection to do (see [`IntoReply`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// Nothing to send.
    Nothing,
    /// Send this as the reply: it goes out with the request id of the
    /// message handled, so the peer's `request` gets it.
    Message(Message),
    /// The handler failed: logged (warn) with the peer, counted in
    /// [`Stats::handler_errors`](crate::Stats::handler_errors); nothing is
    /// sent and the peer is served on.
    Failed(String),
}

/// What a route or message handler may return.
///
/// - `()`: nothing is sent;
/// - a [`Message`]: sent as the reply (it carries the request id of the
///   message handled);
/// - `Option<T>`: `None` sends nothing, `Some(t)` is `t`;
/// - `Result<T, E>` with `E:` [`Display`]: `Ok(t)` is `t`; `Err(e)` is logged
///   (warn) with the peer and counted in
///   [`Stats::handler_errors`](crate::Stats::handler_errors);
/// - a [`Reply`], as it says.
///
/// A reply from a sync handler is queued without waiting, as
/// [`Peer::try_reply`] does; one that cannot be (the peer's queue is full,
/// or it is gone) is logged and counted in
/// [`Stats::replies_dropped`](crate::Stats::replies_dropped). An async
/// handler's reply waits for room, as [`Peer::reply`] does.
pub trait IntoReply {
    /// The reply this value stands for.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::Nothing
    }
}

impl IntoReply for Message {
    fn into_reply(self) -> Reply {
        Reply::Message(self)
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Reply {
        self.map_or(Reply::Nothing, IntoReply::into_reply)
    }
}

impl<T: IntoReply, E: Display> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => value.into_reply(),
            Err(error) => Reply::Failed(error.to_string()),
        }
    }
}

type SyncHandler = dyn Fn(&Peer, Message) -> Reply + Send + Sync;
type HandlerFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
type AsyncHandler = dyn Fn(Peer, Message) -> HandlerFuture + Send + Sync;

/// A route's or `on_message`'s handler.
#[derive(Clone)]
pub(crate) enum Handler {
    /// Runs on the connection's task.
    Sync(Arc<SyncHandler>),
    /// Runs on the connection's handler task (its [`AsyncLane`]).
    Async(Arc<AsyncHandler>),
}

impl Handler {
    pub(crate) fn sync<T: IntoReply>(
        f: impl Fn(&Peer, Message) -> T + Send + Sync + 'static,
    ) -> Self {
        Self::Sync(Arc::new(move |peer: &Peer, message: Message| {
            f(peer, message).into_reply()
        }))
    }

    pub(crate) fn asynchronous<F, Fut>(f: F) -> Self
    where
        F: Fn(Peer, Message) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoReply,
    {
        Self::Async(Arc::new(move |peer: Peer, message: Message| {
            Box::pin(f(peer, message).map(IntoReply::into_reply)) as HandlerFuture
        }))
    }
}

/// Routes by message type code, sorted by code: a binary search over a
/// handful of entries costs less per message than hashing.
type RouteTable = Vec<(u16, Handler)>;

/// A server's or a client's message handlers, set at any time.
#[derive(Default)]
pub(crate) struct MessageHandlers {
    routes: Slot<RouteTable>,
    /// Serialises route changes (copy the table, add, publish): rare.
    editing: Mutex<()>,
    on_message: Slot<Handler>,
}

impl MessageHandlers {
    /// Routes messages of type `code` to `handler`, replacing any earlier route for it.
    pub(crate) fn route(&self, code: u16, handler: Handler) {
        let _editing = lock(&self.editing);
        let mut table = self
            .routes
            .get()
            .map(|table| (*table).clone())
            .unwrap_or_default();
        match table.binary_search_by_key(&code, |(code, _)| *code) {
            Ok(at) => table[at].1 = handler,
            Err(at) => table.insert(at, (code, handler)),
        }
        self.routes.set(Arc::new(table));
    }

    pub(crate) fn on_message(&self, handler: Handler) {
        self.on_message.set(Arc::new(handler));
    }
}

/// A future run on the runtime: a connection's handler task.
pub(crate) type LaneTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a connection hands [`Dispatch::message`] to run a handler.
pub(crate) struct HandlerEnv<'a> {
    pub(crate) peer: &'a Peer,
    /// The connection's held bytes, which its flow control counts.
    pub(crate) backlog: &'a crate::sync::Arc<Backlog>,
    /// Async handlers run at once for this peer, at most.
    pub(crate) concurrency: usize,
    /// Starts the connection's handler task.
    pub(crate) spawn: &'a dyn Fn(LaneTask),
    /// Runs before a sync handler: wakes the event stream's reader for
    /// what this round already gave it, so a handler that blocks (it
    /// should not) holds back no other connection's events.
    pub(crate) before_sync: &'a dyn Fn(),
}

/// A message no handler took.
pub(crate) struct Unhandled {
    pub(crate) message: Message,
    /// Whether any route is registered: then a message nobody takes is
    /// counted as unrouted rather than kept for an event stream nobody reads.
    pub(crate) routed: bool,
}

/// One connection's view of the handlers, and its async lane.
#[derive(Default)]
pub(crate) struct Dispatch {
    routes: SlotCache<RouteTable>,
    on_message: SlotCache<Handler>,
    lane: Option<Arc<AsyncLane>>,
}

impl Dispatch {
    /// Runs `message`'s route, or `on_message`; the message back when there
    /// is neither. `weight`: what it counts as while an async handler has it.
    pub(crate) fn message(
        &mut self,
        handlers: &MessageHandlers,
        env: &HandlerEnv<'_>,
        message: Message,
        weight: usize,
    ) -> Result<(), Unhandled> {
        let table = self.routes.get(&handlers.routes);
        let code = message.message_type().code();
        let fallback;
        let route = table.and_then(|table| {
            let at = table.binary_search_by_key(&code, |(code, _)| *code).ok()?;
            Some(&table[at].1)
        });
        let handler = match route {
            Some(handler) => handler,
            None => {
                fallback = self.on_message.get(&handlers.on_message);
                match fallback.map(Arc::as_ref) {
                    Some(handler) => handler,
                    None => {
                        return Err(Unhandled {
                            message,
                            routed: table.is_some(),
                        });
                    }
                }
            }
        };
        match handler {
            Handler::Sync(f) => {
                (env.before_sync)();
                run_sync(f.as_ref(), env.peer, message);
            }
            Handler::Async(f) => {
                let job = Job {
                    handler: f.clone(),
                    message,
                    weight,
                };
                self.lane
                    .get_or_insert_with(|| AsyncLane::start(env))
                    .push(job);
            }
        }
        Ok(())
    }
}

impl Dispatch {
    /// The connection's round of deliveries is over: handlers replaced
    /// meanwhile may go (see [`SlotCache::release`]).
    pub(crate) fn round_done(&mut self) {
        self.routes.release();
        self.on_message.release();
    }
}

impl Drop for Dispatch {
    fn drop(&mut self) {
        // The connection has ended: the handler task finishes what it
        // holds (their replies fail, the peer being gone) and ends.
        if let Some(lane) = &self.lane {
            lane.close();
        }
    }
}

/// Logs and counts a message nobody handles.
pub(crate) fn unrouted(peer: &Peer, message: &Message) {
    tracing::debug!(
        kind = message.message_type().code(),
        "message dropped: no route for its type and no on_message"
    );
    peer.handle.handled(Handled::Unrouted);
}

fn run_sync(f: &SyncHandler, peer: &Peer, message: Message) {
    let to = message.request_id();
    match catch_unwind(AssertUnwindSafe(|| f(peer, message))) {
        Ok(reply) => respond(peer, to, reply),
        Err(_) => panicked(peer),
    }
}

/// Acts on a handler's `reply` to the message with request id `to`, without waiting.
pub(crate) fn respond(peer: &Peer, to: RequestId, reply: Reply) {
    match reply {
        Reply::Nothing => {}
        Reply::Message(answer) => {
            if let Err(error) = peer.handle.try_reply_id(to, answer) {
                reply_dropped(peer, &error);
            }
        }
        Reply::Failed(error) => {
            tracing::warn!(peer = peer.id.0, addr = %peer.addr, %error, "a message handler failed");
            peer.handle.handled(Handled::HandlerError);
        }
    }
}

fn reply_dropped(peer: &Peer, error: &crate::Error) {
    if peer.handle.is_gone() {
        tracing::debug!(peer = peer.id.0, %error, "a handler's reply was dropped: the peer is gone");
    } else {
        tracing::warn!(peer = peer.id.0, addr = %peer.addr, %error, "a handler's reply was dropped");
    }
    peer.handle.handled(Handled::ReplyDropped);
}

fn panicked(peer: &Peer) {
    tracing::error!(peer = peer.id.0, addr = %peer.addr, "a message handler panicked; the peer is served on");
    peer.handle.handled(Handled::HandlerError);
}

/// A message for an async handler.
struct Job {
    handler: Arc<AsyncHandler>,
    message: Message,
    /// What it counts as in the backlog until its handler is done.
    weight: usize,
}

/// One connection's messages for async handlers, in arrival order, and the
/// waker of the task that runs them.
pub(crate) struct AsyncLane {
    state: Mutex<LaneState>,
    backlog: crate::sync::Arc<Backlog>,
}

#[derive(Default)]
struct LaneState {
    jobs: VecDeque<Job>,
    waker: Option<Waker>,
    /// The connection has ended: no more jobs come.
    closed: bool,
}

enum Next {
    Job(Job),
    /// None now; the task is woken by the next.
    Empty,
    /// None now or later.
    Done,
}

impl AsyncLane {
    /// A lane for the connection of `env`, and its task, started.
    fn start(env: &HandlerEnv<'_>) -> Arc<Self> {
        let lane = Arc::new(Self {
            state: Mutex::new(LaneState::default()),
            backlog: env.backlog.clone(),
        });
        (env.spawn)(Box::pin(run_lane(
            lane.clone(),
            env.peer.clone(),
            env.concurrency.max(1),
        )));
        lane
    }

    fn push(&self, job: Job) {
        // Counted before the task can see it, so its release never comes first.
        self.backlog.add(job.weight);
        let waker = {
            let mut state = self.lock();
            state.jobs.push_back(job);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn close(&self) {
        let waker = {
            let mut state = self.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn next(&self, cx: &mut Context<'_>) -> Next {
        let mut state = self.lock();
        match state.jobs.pop_front() {
            Some(job) => Next::Job(job),
            None if state.closed => Next::Done,
            None => {
                match &mut state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    waker => *waker = Some(cx.waker().clone()),
                }
                Next::Empty
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        // Nothing panics while it is held: queue operations only.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's handler task: starts its lane's jobs in order, runs up
/// to `concurrency` at once, and ends once the lane is closed and empty
/// and every handler is done.
async fn run_lane(lane: Arc<AsyncLane>, peer: Peer, concurrency: usize) {
    let mut running = FuturesUnordered::new();
    poll_fn(|cx| {
        loop {
            while running.len() < concurrency {
                match lane.next(cx) {
                    Next::Job(job) => {
                        running.push(run_async(job, peer.clone(), lane.backlog.clone()));
                    }
                    Next::Empty => break,
                    Next::Done if running.is_empty() => return Poll::Ready(()),
                    Next::Done => break,
                }
            }
            match running.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => {}
                // Empty (woken by the lane) or all busy (woken by them).
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
}

async fn run_async(job: Job, peer: Peer, backlog: crate::sync::Arc<Backlog>) {
    // Released however the handler ends: done, failed, panicked, or
    // dropped with the runtime.
    let _held = Held {
        backlog,
        bytes: job.weight,
    };
    let Job {
        handler, message, ..
    } = job;
    let to = message.request_id();
    // The call as well as its future inside `catch_unwind`: either may panic.
    let run = AssertUnwindSafe(async { handler(peer.clone(), message).await }).catch_unwind();
    match run.await {
        // Queued before the bytes are released: the reply counts as the
        // peer's pending output from then on, so the count never dips.
        Ok(Reply::Message(answer)) => {
            if let Err(error) = peer.handle.reply_id(to, answer).await {
                reply_dropped(&peer, &error);
            }
        }
        Ok(reply) => respond(&peer, to, reply),
        Err(_) => panicked(&peer),
    }
}

/// Bytes a message holds in the backlog while its handler has it.
struct Held {
    backlog: crate::sync::Arc<Backlog>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.backlog.release(self.bytes);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(test, not(veltix_loom)))]
mod tests;
