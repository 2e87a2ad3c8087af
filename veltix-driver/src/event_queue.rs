//! The bounded event stream behind `Server::events` and `Client::events`:
//! one bound for the whole stream, however many connections feed it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use futures::{Stream, StreamExt as _};

/// The sending side: held by whatever produces events (connections, a
/// client's task), so the stream ends once they are all gone.
pub(crate) struct EventQueue<T> {
    tx: async_channel::Sender<T>,
    taken: Arc<AtomicBool>,
}

/// The receiving side, kept by the server or client until the application takes it.
pub(crate) struct EventInbox<T> {
    rx: Mutex<Option<async_channel::Receiver<T>>>,
    taken: Arc<AtomicBool>,
}

impl<T: Send + 'static> EventQueue<T> {
    pub(crate) fn new(capacity: usize) -> (Arc<Self>, EventInbox<T>) {
        let (tx, rx) = async_channel::bounded(capacity);
        let taken = Arc::new(AtomicBool::new(false));
        let inbox = EventInbox {
            rx: Mutex::new(Some(rx)),
            taken: taken.clone(),
        };
        (Arc::new(Self { tx, taken }), inbox)
    }

    /// A connection's handle for feeding the queue.
    pub(crate) fn sender(self: &Arc<Self>) -> EventSender<T> {
        EventSender {
            queue: self.clone(),
            blocked: None,
        }
    }
}

impl<T> EventInbox<T> {
    /// The receiving end, once; later calls get a stream that ends at once.
    pub(crate) fn take(&self) -> EventStream<T> {
        self.taken.store(true, Ordering::Release);
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| async_channel::bounded(1).1);
        EventStream { rx: Box::pin(rx) }
    }
}

/// One connection's way into the queue, keeping its events in order.
pub(crate) struct EventSender<T> {
    queue: Arc<EventQueue<T>>,
    /// An event accepted while the queue was full, waiting for room.
    blocked: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<T: Send + 'static> EventSender<T> {
    /// Ready once every event sent earlier is in the queue.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(blocked) = self.blocked.as_mut() {
            ready!(blocked.as_mut().poll(cx));
            self.blocked = None;
        }
        Poll::Ready(())
    }

    /// Queues `event` (call after `poll_ready` was ready). When the queue is
    /// full the event waits for room and `poll_ready` is pending until then —
    /// unless the stream was never taken: nobody will ever read it, so the
    /// event is dropped rather than stalling the connection. A dropped
    /// stream discards events.
    pub(crate) fn send(&mut self, cx: &mut Context<'_>, event: T) {
        let event = match self.queue.tx.try_send(event) {
            Ok(()) | Err(async_channel::TrySendError::Closed(_)) => return,
            Err(async_channel::TrySendError::Full(event)) => event,
        };
        if !self.queue.taken.load(Ordering::Acquire) {
            tracing::debug!("event dropped: no callback, and the event stream was never taken");
            return;
        }
        let tx = self.queue.tx.clone();
        let mut wait: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = tx.send(event).await;
        });
        if wait.as_mut().poll(cx).is_pending() {
            self.blocked = Some(wait);
        }
    }
}

/// The receiving end of an [`EventQueue`].
pub(crate) struct EventStream<T> {
    rx: Pin<Box<async_channel::Receiver<T>>>,
}

impl<T> EventStream<T> {
    pub(crate) async fn next(&mut self) -> Option<T> {
        self.rx.next().await
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl<T> Stream for EventStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_next_unpin(cx)
    }
}
