//! The threaded API's one callback registry, for a server and a client alike.

use std::sync::{Arc, Mutex};

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
}
