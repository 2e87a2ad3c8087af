//! The events that have no callback: the blocking iterator the application
//! takes once with `events()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::sync::lock;

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

/// Where a server's or client's [`Events`] waits until `events()` takes it,
/// once; the workers send into it from the other end (an [`EventsSender`]).
pub(crate) struct EventsSlot<E> {
    taken: Arc<AtomicBool>,
    rx: Mutex<Option<mpsc::Receiver<E>>>,
}

/// The workers' end of an [`EventsSlot`].
pub(crate) struct EventsSender<E> {
    /// Whether the iterator was taken: until then, overflow is dropped.
    taken: Arc<AtomicBool>,
    tx: mpsc::SyncSender<E>,
}

/// A slot holding an iterator of up to `capacity` events, and its sender.
pub(crate) fn slot<E>(capacity: usize) -> (EventsSlot<E>, EventsSender<E>) {
    let (tx, rx) = mpsc::sync_channel(capacity);
    let taken = Arc::new(AtomicBool::new(false));
    let slot = EventsSlot {
        taken: taken.clone(),
        rx: Mutex::new(Some(rx)),
    };
    (slot, EventsSender { taken, tx })
}

impl<E> EventsSlot<E> {
    /// A slot that never receives anything (what a failed start leaves).
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

impl<E> EventsSender<E> {
    /// Whether the application has taken the iterator.
    pub(crate) fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    /// Hands `event` to the iterator; whether it was kept. Waits for room
    /// only in an iterator someone took, and not once `stopping`: an
    /// iterator nobody took would stall every connection, and so would a
    /// wait at shutdown, so their overflow is dropped, as the async stream
    /// does. A dropped iterator refuses at once.
    pub(crate) fn send(&self, event: E, stopping: bool) -> bool {
        let result = if self.taken.load(Ordering::Acquire) && !stopping {
            self.tx.send(event).map_err(drop)
        } else {
            self.tx.try_send(event).map_err(drop)
        };
        result.is_ok()
    }
}
