//! The Veltix worker threads behind the threaded API: they take events from
//! the driver's event stream and run the application's callbacks, so the
//! event loop never runs application code and a callback may block.

use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{Either, select};
use futures::{FutureExt as _, Stream, StreamExt as _};

use crate::reactor::{lock, on_loop_thread};

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

/// Where workers take their jobs from. It is locked while one job is taken,
/// so jobs are taken in event order; they run after the lock is released.
pub(crate) trait Feed: Send + 'static {
    /// A callback with its arguments.
    type Job;
    /// Waits for the next job; `None` once no more will come.
    fn next_job(&mut self) -> Option<Self::Job>;
    /// Runs a job.
    fn run(job: Self::Job);
}

/// The worker threads of one server or client.
pub(crate) struct Workers {
    threads: Vec<ThreadId>,
    /// Every worker holds a sender; the channel disconnects when the last ends.
    ended: Mutex<mpsc::Receiver<()>>,
}

impl Workers {
    /// Starts `count` threads serving `feed`.
    pub(crate) fn start<F: Feed>(name: &str, count: usize, feed: F) -> io::Result<Self> {
        let feed = Arc::new(Mutex::new(feed));
        let (alive, ended) = mpsc::channel::<()>();
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            let feed = feed.clone();
            let alive = alive.clone();
            let handle = thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    loop {
                        let Some(job) = lock(&feed).next_job() else {
                            break;
                        };
                        if catch_unwind(AssertUnwindSafe(|| F::run(job))).is_err() {
                            tracing::error!("a Veltix callback panicked; the worker goes on");
                        }
                    }
                    drop(alive);
                })?;
            threads.push(handle.thread().id());
        }
        Ok(Self {
            threads,
            ended: Mutex::new(ended),
        })
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
pub(crate) struct Stoppable<S> {
    stream: S,
    stop: Option<oneshot::Receiver<()>>,
    stopping: bool,
}

impl<S: Stream + Unpin> Stoppable<S> {
    /// `stop`: fires when the stream should end early. If its sender is
    /// dropped unused, the stream simply runs to its own end.
    pub(crate) fn new(stream: S, stop: Option<oneshot::Receiver<()>>) -> Self {
        Self {
            stream,
            stop,
            stopping: false,
        }
    }

    /// Whether a stop was requested (the queue is being drained).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping
    }

    /// The next event, waiting for it unless stopping.
    pub(crate) fn next(&mut self) -> Option<S::Item> {
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
    pub(crate) fn new(rx: mpsc::Receiver<E>) -> Self {
        Self { rx }
    }

    /// An iterator that ends at once (what a second `events()` call gets).
    pub(crate) fn ended() -> Self {
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

/// Hands an event nobody has a callback for to the [`Events`] iterator.
///
/// Waits while the iterator is full only if it was taken and the server or
/// client is not stopping: an iterator nobody took (or nobody is left to
/// read) would stall every connection, so its overflow is dropped instead,
/// as the async event stream does.
pub(crate) fn forward<E>(to: &mpsc::SyncSender<E>, event: E, wait: bool) {
    let result = if wait {
        to.send(event).map_err(drop)
    } else {
        to.try_send(event).map_err(drop)
    };
    if result.is_err() {
        tracing::debug!("event dropped: no callback, and its iterator is gone, full or untaken");
    }
}
