//! Callback slots, settable at any time, read by connection tasks.

use std::sync::{Arc, RwLock};

/// One optional callback. Reading clones an `Arc` under a read lock that is
/// never held while the callback runs, so a callback may replace itself.
pub(crate) struct Slot<F: ?Sized>(RwLock<Option<Arc<F>>>);

impl<F: ?Sized> Default for Slot<F> {
    fn default() -> Self {
        Self(RwLock::new(None))
    }
}

impl<F: ?Sized> Slot<F> {
    pub(crate) fn set(&self, f: Arc<F>) {
        // A poisoned lock only means a callback panicked while another thread
        // replaced it; the slot's content is still a valid Option.
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    pub(crate) fn get(&self) -> Option<Arc<F>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
