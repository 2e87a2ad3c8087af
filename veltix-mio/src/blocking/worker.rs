//! The Veltix worker threads behind the threaded API: they take events from
//! the driver's event stream and run the application's callbacks, so the
//! event loop never runs application code and a callback may block.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Instant;

use futures::channel::oneshot;
use futures::future::{Either, select};
use futures::{FutureExt as _, Stream, StreamExt as _};

use super::block_on;
use super::events::{self, EventsSender, EventsSlot};
use crate::sync::lock;

/// Turns one side's events (a server's or a client's) into callback jobs.
pub(crate) trait Dispatch: Send + 'static {
    /// The driver's event.
    type Event: Send + 'static;
    /// A callback with its arguments.
    type Job;
    /// The job of the callback registered for `event`'s kind or, when none
    /// is, the event back (it goes to the iterator). Called in event order.
    fn job(&mut self, event: Self::Event) -> Result<Self::Job, Self::Event>;
    /// Runs a job, outside any lock.
    fn run(job: Self::Job);
    /// An event with no callback, while nobody has taken the iterator:
    /// back to be kept for it (the default), or `None` once the side has
    /// disposed of it (a message no route takes: counted as unrouted).
    fn unclaimed(&mut self, event: Self::Event) -> Option<Self::Event> {
        Some(event)
    }
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
    /// the returned slot's iterator, which holds up to `capacity`.
    pub(crate) fn start<S, D>(
        count: usize,
        capacity: usize,
        stream: S,
        stop: Option<oneshot::Receiver<()>>,
        dispatch: D,
    ) -> io::Result<(Self, EventsSlot<S::Item>)>
    where
        S: Stream + Unpin + Send + 'static,
        S::Item: Send,
        D: Dispatch<Event = S::Item>,
    {
        let (slot, uncalled) = events::slot(capacity);
        // Locked while one job is taken, so jobs are taken in event order;
        // they run after the lock is released.
        let router = Arc::new(Mutex::new(Router {
            events: Stoppable::new(stream, stop),
            dispatch,
            uncalled,
        }));
        let (alive, ended) = mpsc::channel::<()>();
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            let router = router.clone();
            let alive = alive.clone();
            let handle = thread::Builder::new()
                .name("veltix-mio-worker".to_owned())
                .spawn(move || {
                    loop {
                        let Some(job) = lock(&router).next_job() else {
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
        Ok((workers, slot))
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

/// What the workers share: it routes each event, in order, to its callback
/// (as a job for the worker that took it) or to the iterator.
struct Router<S: Stream, D> {
    events: Stoppable<S>,
    dispatch: D,
    /// The iterator's end, for the events without a callback.
    uncalled: EventsSender<S::Item>,
}

impl<S: Stream + Unpin, D: Dispatch<Event = S::Item>> Router<S, D> {
    /// Waits for the next event with a callback; hands the others to the iterator.
    fn next_job(&mut self) -> Option<D::Job> {
        loop {
            let event = self.events.next()?;
            match self.dispatch.job(event) {
                Ok(job) => return Some(job),
                Err(event) => {
                    let event = if self.uncalled.is_taken() {
                        event
                    } else {
                        match self.dispatch.unclaimed(event) {
                            Some(event) => event,
                            None => continue,
                        }
                    };
                    if !self.uncalled.send(event, self.events.stopping) {
                        tracing::debug!(
                            "event dropped: no callback, and its iterator is gone, full or untaken"
                        );
                    }
                }
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
            // An event already there is taken without an executor round
            // (a burst is mostly that); `stop` is looked at only when the
            // stream would wait, as `select` below does too.
            if let Some(item) = self.stream.next().now_or_never() {
                return item;
            }
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
