//! The Veltix worker threads behind the threaded API: they take events from
//! the driver's event stream and run the application's callbacks, so the
//! event loop never runs application code and a callback may block.

use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{Either, select};
use futures::{FutureExt as _, Stream, StreamExt as _};

use crate::rt::on_loop_thread;
use crate::sync::lock;

/// Runs `future` to completion on the calling thread.
///
/// # Panics
/// On the event-loop thread, which would wait for itself for ever.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    assert!(
        !on_loop_thread(),
        "a blocking veltix-mio call on the event-loop thread would deadlock: \
         use AsyncServer/AsyncClient there (blocking calls are fine in the \
         callbacks of veltix_mio::Server and Client, which run on a worker thread)"
    );
    futures::executor::block_on(future)
}

/// Turns one kind of event (a server's or a client's) into callback jobs.
pub(crate) trait Dispatch: Send + 'static {
    /// The driver's event.
    type Event: Send + 'static;
    /// A callback with its arguments.
    type Job;
    /// The job of the callback registered for `event`'s kind, or `None`
    /// (then the event goes to the iterator). Called in event order.
    fn job(&mut self, event: &Self::Event) -> Option<Self::Job>;
    /// Runs a job, outside any lock.
    fn run(job: Self::Job);
}

/// The worker threads of one server or client.
pub(crate) struct Workers {
    threads: Vec<ThreadId>,
    /// Every worker holds a sender; the channel disconnects when the last ends.
    ended: Mutex<mpsc::Receiver<()>>,
}

impl Workers {
    /// Starts `count` threads that take the events of `stream` one at a time
    /// (until it ends, or `stop` fires and what is queued has been taken) and
    /// run `dispatch`'s callbacks for them. Events without a callback go to
    /// the returned inbox, which holds up to `capacity`.
    pub(crate) fn start<S, D>(
        count: usize,
        capacity: usize,
        stream: S,
        stop: Option<oneshot::Receiver<()>>,
        dispatch: D,
    ) -> io::Result<(Self, Inbox<S::Item>)>
    where
        S: Stream + Unpin + Send + 'static,
        S::Item: Send,
        D: Dispatch<Event = S::Item>,
    {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let taken = Arc::new(AtomicBool::new(false));
        let inbox = Inbox {
            taken: taken.clone(),
            rx: Mutex::new(Some(rx)),
        };
        // Locked while one job is taken, so jobs are taken in event order;
        // they run after the lock is released.
        let feed = Arc::new(Mutex::new(Feed {
            events: Stoppable::new(stream, stop),
            dispatch,
            taken,
            tx,
        }));
        let (alive, ended) = mpsc::channel::<()>();
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            let feed = feed.clone();
            let alive = alive.clone();
            let handle = thread::Builder::new()
                .name("veltix-mio-worker".to_owned())
                .spawn(move || {
                    loop {
                        let Some(job) = lock(&feed).next_job() else {
                            break;
                        };
                        if catch_unwind(AssertUnwindSafe(|| D::run(job))).is_err() {
                            tracing::error!("a Veltix callback panicked; the worker goes on");
                        }
                    }
                    drop(alive);
                })?;
            threads.push(handle.thread().id());
        }
        let workers = Self {
            threads,
            ended: Mutex::new(ended),
        };
        Ok((workers, inbox))
    }

    /// No workers (what a failed start leaves).
    pub(crate) fn none() -> Self {
        Self {
            threads: Vec::new(),
            ended: Mutex::new(mpsc::channel().1),
        }
    }

    /// Whether the calling thread is one of these workers.
    pub(crate) fn is_current(&self) -> bool {
        self.threads.contains(&thread::current().id())
    }

    /// Waits until every worker has ended or `deadline` has passed; whether they all ended.
    pub(crate) fn wait(&self, deadline: Instant) -> bool {
        if self.is_current() {
            return false; // it would wait for itself
        }
        let ended = lock(&self.ended);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ended.recv_timeout(left) {
                Err(mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(mpsc::RecvTimeoutError::Timeout) => return false,
                Ok(()) => {}
            }
        }
    }
}

/// An event stream that can be told to stop: it then yields only the events
/// already queued, and ends.
struct Stoppable<S> {
    stream: S,
    stop: Option<oneshot::Receiver<()>>,
    stopping: bool,
}

impl<S: Stream + Unpin> Stoppable<S> {
    /// `stop`: fires when the stream should end early. If its sender is
    /// dropped unused, the stream simply runs to its own end.
    fn new(stream: S, stop: Option<oneshot::Receiver<()>>) -> Self {
        Self {
            stream,
            stop,
            stopping: false,
        }
    }

    /// The next event, waiting for it unless stopping.
    fn next(&mut self) -> Option<S::Item> {
        while !self.stopping {
            let Some(stop) = self.stop.as_mut() else {
                return block_on(self.stream.next());
            };
            match block_on(select(self.stream.next(), stop)) {
                Either::Left((item, _)) => return item,
                Either::Right((Ok(()), _)) => self.stopping = true,
                Either::Right((Err(oneshot::Canceled), _)) => self.stop = None,
            }
        }
        self.stream.next().now_or_never().flatten()
    }
}

/// The blocking event iterator of a threaded [`Server`](crate::Server) or
/// [`Client`](crate::Client): the events that have no callback, in order.
///
/// Bounded like the async stream: once taken, when it is full the worker
/// waits, the event stream behind it fills, and connections stop reading
/// from their peers until the application takes events again. Until it is
/// taken, events are kept up to its capacity and further ones dropped.
/// Dropping it discards later events that have no callback.
#[derive(Debug)]
pub struct Events<E> {
    rx: mpsc::Receiver<E>,
}

impl<E> Events<E> {
    /// An iterator that ends at once (what a second `events()` call gets).
    fn ended() -> Self {
        Self {
            rx: mpsc::channel().1,
        }
    }

    /// The next event, waiting up to `timeout`; `None` on timeout or once
    /// the server or client is gone.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<E> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<E> {
        self.rx.try_recv().ok()
    }
}

impl<E> Iterator for Events<E> {
    type Item = E;

    /// Waits for the next event; `None` once the server or client is gone.
    fn next(&mut self) -> Option<E> {
        self.rx.recv().ok()
    }
}

/// What the workers share: the event stream, the callbacks, the inbox's sender.
struct Feed<S: Stream, D> {
    events: Stoppable<S>,
    dispatch: D,
    taken: Arc<AtomicBool>,
    tx: mpsc::SyncSender<S::Item>,
}

impl<S: Stream + Unpin, D: Dispatch<Event = S::Item>> Feed<S, D> {
    /// Waits for the next event with a callback; hands the others to the inbox.
    fn next_job(&mut self) -> Option<D::Job> {
        loop {
            let event = self.events.next()?;
            if let Some(job) = self.dispatch.job(&event) {
                return Some(job);
            }
            // Wait for room only in an iterator someone took and still reads:
            // one nobody took (or nobody is left to read) would stall every
            // connection, so its overflow is dropped, as the async stream does.
            let result = if self.taken.load(Ordering::Acquire) && !self.events.stopping {
                self.tx.send(event).map_err(drop)
            } else {
                self.tx.try_send(event).map_err(drop)
            };
            if result.is_err() {
                tracing::debug!(
                    "event dropped: no callback, and its iterator is gone, full or untaken"
                );
            }
        }
    }
}

/// The iterator side of the events without a callback.
pub(crate) struct Inbox<E> {
    /// Set once [`take`](Self::take) is called: until then, overflow is dropped.
    taken: Arc<AtomicBool>,
    rx: Mutex<Option<mpsc::Receiver<E>>>,
}

impl<E> Inbox<E> {
    /// An inbox that never receives anything (what a failed start leaves).
    pub(crate) fn empty() -> Self {
        Self {
            taken: Arc::new(AtomicBool::new(true)),
            rx: Mutex::new(None),
        }
    }

    /// The iterator; later calls get one that ends at once.
    pub(crate) fn take(&self) -> Events<E> {
        self.taken.store(true, Ordering::Release);
        lock(&self.rx)
            .take()
            .map_or_else(Events::ended, |rx| Events { rx })
    }
}
