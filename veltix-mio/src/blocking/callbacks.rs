//! The threaded API's one callback registry, for a server and a client alike.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use veltix_driver::{Message, Reply, RequestId};

use crate::AsyncPeer;
use crate::sync::lock;

/// The callbacks of a threaded [`Server`](crate::Server) or
/// [`Client`](crate::Client): one per event kind, `C` when a connection is
/// up, `M` for a message, `D` when a connection has ended. The two differ
/// only in these signatures (a server's callbacks are told which peer).
pub(crate) struct Callbacks<C: ?Sized, M: ?Sized, D: ?Sized> {
    pub(crate) connect: Callback<C>,
    pub(crate) message: Callback<M>,
    pub(crate) disconnect: Callback<D>,
}

impl<C: ?Sized, M: ?Sized, D: ?Sized> Default for Callbacks<C, M, D> {
    fn default() -> Self {
        Self {
            connect: Callback::default(),
            message: Callback::default(),
            disconnect: Callback::default(),
        }
    }
}

/// One callback, set or replaced at any time from any thread.
///
/// A job takes its own `Arc` of the callback ([`get`](Self::get)) and runs it
/// outside the lock: replacing a callback never waits for a running one,
/// and a replaced callback finishes the jobs that already took it.
pub(crate) struct Callback<F: ?Sized>(Mutex<Option<Arc<F>>>);

impl<F: ?Sized> Default for Callback<F> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<F: ?Sized> Callback<F> {
    /// Registers `f`, replacing any earlier callback.
    pub(crate) fn set(&self, f: Arc<F>) {
        let replaced = lock(&self.0).replace(f);
        // Dropped outside the lock: what the old callback holds may run code.
        drop(replaced);
    }

    /// The callback registered now, if any.
    pub(crate) fn get(&self) -> Option<Arc<F>> {
        lock(&self.0).clone()
    }
}

/// Handlers by message type code, for a threaded server's or client's
/// routes. The table is replaced whole on each change (rare); the dispatch
/// reads it through a [`RoutesCache`], one atomic load per message while
/// nothing changed, instead of a lock.
pub(crate) struct Routes<F: ?Sized> {
    table: Mutex<Arc<HashMap<u16, Arc<F>>>>,
    /// Bumped by every change, after the table is replaced.
    generation: AtomicU64,
}

impl<F: ?Sized> Default for Routes<F> {
    fn default() -> Self {
        Self {
            table: Mutex::new(Arc::new(HashMap::new())),
            generation: AtomicU64::new(0),
        }
    }
}

impl<F: ?Sized> Routes<F> {
    /// Routes type `code` to `f`, replacing any earlier route for it.
    pub(crate) fn set(&self, code: u16, f: Arc<F>) {
        let replaced = {
            let mut table = lock(&self.table);
            let mut next = HashMap::clone(&table);
            next.insert(code, f);
            std::mem::replace(&mut *table, Arc::new(next))
        };
        self.generation.fetch_add(1, Ordering::Release);
        // Dropped outside the lock: what the old handlers hold may run code.
        drop(replaced);
    }
}

/// The dispatch's copy of a [`Routes`] table, refreshed when it changes.
pub(crate) struct RoutesCache<F: ?Sized> {
    /// The generation `table` was read at; `u64::MAX` before the first read.
    generation: u64,
    table: Arc<HashMap<u16, Arc<F>>>,
}

impl<F: ?Sized> Default for RoutesCache<F> {
    fn default() -> Self {
        Self {
            generation: u64::MAX,
            table: Arc::new(HashMap::new()),
        }
    }
}

impl<F: ?Sized> RoutesCache<F> {
    /// The route for type `code`, if any.
    pub(crate) fn get(&mut self, routes: &Routes<F>, code: u16) -> Option<Arc<F>> {
        self.refresh(routes);
        self.table.get(&code).cloned()
    }

    /// Whether any route is set.
    pub(crate) fn any(&mut self, routes: &Routes<F>) -> bool {
        self.refresh(routes);
        !self.table.is_empty()
    }

    fn refresh(&mut self, routes: &Routes<F>) {
        let generation = routes.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.table = lock(&routes.table).clone();
            self.generation = generation;
        }
    }
}

/// Runs a route's handler for `message` on a worker and hands what it
/// returned to `respond` (the driver's, which sends the reply or logs and
/// counts the error); a panic is a failed handler too.
pub(crate) fn run_route(
    handler: impl FnOnce(Message) -> Reply,
    message: Message,
    respond: impl FnOnce(RequestId, Reply),
) {
    let to = message.request_id();
    let reply = catch_unwind(AssertUnwindSafe(|| handler(message)))
        .unwrap_or_else(|_| Reply::Failed("the handler panicked".to_owned()));
    respond(to, reply);
}

/// A server peer's `respond`: the driver's, if the peer is still known.
pub(crate) fn respond_to(peer: Option<&AsyncPeer>, to: RequestId, reply: Reply) {
    match peer {
        Some(peer) => peer.respond(to, reply),
        None => tracing::debug!("a route's result dropped: the peer is gone"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Counter = dyn Fn() -> u32 + Send + Sync;

    #[test]
    fn a_replaced_callback_finishes_what_took_it() {
        let callbacks: Callbacks<Counter, Counter, Counter> = Callbacks::default();
        assert!(callbacks.message.get().is_none());
        callbacks.message.set(Arc::new(|| 1));
        let taken = callbacks.message.get().expect("set");
        callbacks.message.set(Arc::new(|| 2));
        assert_eq!(taken(), 1);
        assert_eq!(callbacks.message.get().expect("replaced")(), 2);
        assert!(callbacks.connect.get().is_none() && callbacks.disconnect.get().is_none());
    }

    #[test]
    fn the_routes_cache_follows_every_change() {
        let routes: Routes<Counter> = Routes::default();
        let mut cache = RoutesCache::default();
        assert!(!cache.any(&routes));
        routes.set(200, Arc::new(|| 1));
        assert_eq!(cache.get(&routes, 200).map(|f| f()), Some(1));
        assert!(cache.get(&routes, 201).is_none());
        routes.set(200, Arc::new(|| 2));
        routes.set(201, Arc::new(|| 3));
        assert_eq!(cache.get(&routes, 200).map(|f| f()), Some(2));
        assert_eq!(cache.get(&routes, 201).map(|f| f()), Some(3));
    }
}
