//! Callback slots, settable at any time, read by connection tasks.

// Callbacks are std `Arc`s in every build (the server hands them in; loom's
// `Arc` has no `Weak` and no unsizing), and loom sees their count changes
// as plain steps, which is all the cache's protocol needs of them.
use std::sync::{Arc, Weak};

use crate::sync::RwLock;
use crate::sync::atomic::{AtomicU64, Ordering};

/// One optional callback. Reading clones an `Arc` under a read lock that is
/// never held while the callback runs, so a callback may replace itself.
pub(crate) struct Slot<F: ?Sized> {
    callback: RwLock<Option<Arc<F>>>,
    /// Bumped by every `set`, so readers can keep a copy and check one
    /// atomic per message instead of taking the lock (see [`SlotCache`]).
    generation: AtomicU64,
}

impl<F: ?Sized> Default for Slot<F> {
    fn default() -> Self {
        Self {
            callback: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }
}

impl<F: ?Sized> Slot<F> {
    pub(crate) fn set(&self, f: Arc<F>) {
        // A poisoned lock only means a callback panicked while another thread
        // replaced it; the slot's content is still a valid Option.
        *self.callback.write().unwrap_or_else(|e| e.into_inner()) = Some(f);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Option<Arc<F>> {
        self.callback
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A connection's reference to one slot's callback, refreshed when the slot
/// changes: the per-message path reads one atomic instead of taking the
/// slot's lock. Within a round of deliveries the callback is held strongly,
/// so a message costs no reference-count traffic; between rounds
/// ([`release`](Self::release)) only a weak reference is kept, so a callback
/// that is replaced is dropped (with what it captured) by the end of each
/// connection's round, not kept alive by every idle connection until its
/// next message.
pub(crate) struct SlotCache<F: ?Sized> {
    /// The generation `callback` was read at; `u64::MAX` before the first read.
    generation: u64,
    callback: Option<Weak<F>>,
    /// `callback`, upgraded, until the round ends.
    held: Option<Arc<F>>,
}

impl<F: ?Sized> Default for SlotCache<F> {
    fn default() -> Self {
        Self {
            generation: u64::MAX,
            callback: None,
            held: None,
        }
    }
}

impl<F: ?Sized> SlotCache<F> {
    /// The slot's current callback, held until [`release`](Self::release).
    pub(crate) fn get(&mut self, slot: &Slot<F>) -> Option<&Arc<F>> {
        // Read before the callback: a `set` racing with this is seen on the
        // next call at the latest.
        let generation = slot.generation.load(Ordering::Acquire);
        if generation != self.generation || !self.hold_cached() {
            // Changed, or replaced between `set`'s store and its generation
            // bump: read the slot.
            self.held = slot.get();
            self.callback = self.held.as_ref().map(Arc::downgrade);
            self.generation = generation;
        }
        self.held.as_ref()
    }

    /// Whether the callback read last is in `held` (or there is none).
    fn hold_cached(&mut self) -> bool {
        if self.held.is_some() {
            return true;
        }
        match &self.callback {
            None => true,
            Some(weak) => {
                self.held = weak.upgrade();
                self.held.is_some()
            }
        }
    }

    /// The round of deliveries is over: keep only the weak reference.
    pub(crate) fn release(&mut self) {
        self.held = None;
    }
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_cache_follows_every_set() {
        let slot: Slot<dyn Fn() -> u32 + Send + Sync> = Slot::default();
        let mut cache = SlotCache::default();
        assert!(cache.get(&slot).is_none());
        slot.set(Arc::new(|| 1));
        assert_eq!(cache.get(&slot).map(|f| f()), Some(1));
        slot.set(Arc::new(|| 2));
        assert_eq!(cache.get(&slot).map(|f| f()), Some(2));
        assert_eq!(cache.get(&slot).map(|f| f()), Some(2));
    }

    #[test]
    fn a_replaced_callback_is_not_kept_alive_by_a_cache() {
        let slot: Slot<dyn Fn() -> u32 + Send + Sync> = Slot::default();
        let mut cache = SlotCache::default();
        let captured = Arc::new(());
        let held = captured.clone();
        slot.set(Arc::new(move || {
            let _ = &held;
            1
        }));
        assert_eq!(cache.get(&slot).map(|f| f()), Some(1));
        slot.set(Arc::new(|| 2));
        assert_eq!(Arc::strong_count(&captured), 2, "held through the round");
        cache.release();
        assert_eq!(Arc::strong_count(&captured), 1, "the old callback is gone");
        assert_eq!(cache.get(&slot).map(|f| f()), Some(2));
    }
}

/// Models of the cache (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use loom::sync::atomic::AtomicU32;
    use loom::thread;

    use super::*;
    use crate::sync::model;

    type Callback = dyn Fn() -> u32 + Send + Sync;

    fn callback(n: u32) -> Arc<Callback> {
        Arc::new(move || n)
    }

    /// A connection reads a slot through its cache while another thread
    /// replaces the callback twice and another connection is still running
    /// the first one (so a weak reference to it still upgrades): the cache
    /// never goes back to an older callback, and never returns one older
    /// than a `set` the reader has observed complete (through a count the
    /// setter raises after each).
    #[test]
    fn loom_the_cache_never_returns_a_callback_replaced_before_it_looked() {
        model::check(4, || {
            let slot = loom::sync::Arc::new(Slot::<Callback>::default());
            slot.set(callback(1));
            // Another connection running the first callback keeps it alive.
            let running = slot.get().unwrap();
            let mut cache = SlotCache::default();
            let sets_done = loom::sync::Arc::new(AtomicU32::new(0));
            let setter = {
                let (slot, sets_done) = (slot.clone(), sets_done.clone());
                thread::spawn(move || {
                    slot.set(callback(2));
                    sets_done.store(1, Ordering::Release);
                    slot.set(callback(3));
                    sets_done.store(2, Ordering::Release);
                })
            };
            let mut last = 1;
            for _ in 0..3 {
                let observed = sets_done.load(Ordering::Acquire);
                let now = cache.get(&slot).expect("a callback is always set")();
                assert!(now >= last, "went back from {last} to {now}");
                assert!(
                    now > observed,
                    "{now} returned after set {} completed",
                    observed + 1
                );
                last = now;
            }
            setter.join().unwrap();
            drop(running);
            assert_eq!(cache.get(&slot).unwrap()(), 3);
        });
    }

    /// Between rounds the cache keeps only a weak reference: once replaced,
    /// no longer running and the reader's round over, a callback (and what
    /// it captured) is gone, whatever the interleaving of the reader and
    /// the setter.
    #[test]
    fn loom_a_replaced_callback_is_dropped() {
        model::check(4, || {
            let slot = loom::sync::Arc::new(Slot::<Callback>::default());
            let captured = Arc::new(());
            let held = captured.clone();
            slot.set(Arc::new(move || {
                let _ = &held;
                1
            }));
            let setter = {
                let slot = slot.clone();
                thread::spawn(move || slot.set(callback(2)))
            };
            let mut cache = SlotCache::default();
            let seen = cache.get(&slot).unwrap()();
            assert!(seen == 1 || seen == 2);
            cache.release();
            setter.join().unwrap();
            assert_eq!(Arc::strong_count(&captured), 1, "the old callback is gone");
            assert_eq!(cache.get(&slot).unwrap()(), 2);
        });
    }
}
