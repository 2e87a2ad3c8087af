//! The synchronisation types of the hand-written concurrency: std's in every
//! build, [loom]'s under `--cfg veltix_loom`, so the same code is run by the
//! application and model-checked.
//!
//! Modules that switch to this facade: `command_queue` (the queue between
//! handles and the driver), `link` (the direct lane, whose thread-local is
//! loom's under loom: one per model thread), `handlers` (the callback cache), `backlog`
//! and `event_queue`. Everything else uses std directly.
//!
//! # Model checking
//!
//! Each of those modules has a `loom_tests` module, compiled only with
//! `cfg(all(test, veltix_loom))`, whose models run the module's real code on
//! a few loom threads and assert the protocol's property (no lost wake-up,
//! the byte budget, the cache's freshness…). A model that sleeps waits in
//! `loom::future::block_on`, which loom may also wake spuriously once: a
//! wake-up that is lost shows up as a deadlock of the model. Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg veltix_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p veltix-driver -p veltix-mio --lib --release loom
//! ```
//!
//! (`veltix-mio/src/sync.rs` holds the event loop's models). Each model sets
//! its own preemption bound, chosen so the whole run takes a minute or two on
//! two cores; `LOOM_MAX_PREEMPTIONS=N` explores deeper, and a failing model
//! prints the interleaving with `LOOM_LOG=trace LOOM_LOCATION=1`.
//!
//! Why loom and not shuttle: loom explores every interleaving within a
//! preemption bound and models the C11 memory model (a `Relaxed` load may
//! see an old value), so the `SeqCst` pairings these protocols rely on are
//! checked, not assumed; shuttle samples schedules at random under
//! sequential consistency, which suits large systems but would miss a weak
//! ordering and gives no bound on what it left unexplored. Our models are
//! small (two or three threads, a handful of operations), where loom is
//! exhaustive in seconds.
//!
//! The custom cfg (not loom's usual `--cfg loom`) leaves dependencies
//! untouched: tokio and concurrent-queue would otherwise switch to loom too.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(veltix_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, RwLock};

#[cfg(veltix_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Atomics, as `std::sync::atomic`.
pub(crate) mod atomic {
    #[cfg(not(veltix_loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    #[cfg(veltix_loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
}

/// Marks a `SeqCst` pairing: between this thread's `SeqCst` store (or
/// read-modify-write) of one flag and its `SeqCst` load of another, where
/// another thread does the same with the two flags swapped and the protocol
/// needs one of the two loads to see the other thread's store (store
/// buffering). `SeqCst` accesses guarantee that, so in normal builds this is
/// nothing. Loom models `SeqCst` accesses as `AcqRel` (its README, "not
/// implemented") and would explore the outcome where both loads miss, which
/// no real execution has; it does model `SeqCst` fences, so under loom this
/// is one. Put it only between two `SeqCst` accesses: anywhere else it would
/// hide a real missing ordering.
#[inline(always)]
pub(crate) fn seq_cst_pairing() {
    #[cfg(veltix_loom)]
    loom::sync::atomic::fence(atomic::Ordering::SeqCst);
}

/// Locks `mutex`; a poisoned lock is taken as it is. Every lock of the
/// modelled modules guards data that no panic leaves inconsistent (pushes,
/// swaps and takes only), and none runs user code while held.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the models share.
#[cfg(all(test, veltix_loom))]
pub(crate) mod model {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Wake, Waker};

    use super::atomic::{AtomicUsize, Ordering};

    /// Runs `model` in every interleaving loom explores within `preemptions`
    /// preemptions (or `LOOM_MAX_PREEMPTIONS`, when set).
    pub(crate) fn check(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(preemptions);
        }
        // As `loom::model`: `LOOM_LOG=trace` shows each step of the failing run.
        let log = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("LOOM_LOG"))
            .with_test_writer()
            .without_time()
            .finish();
        tracing::subscriber::with_default(log, || builder.check(model));
    }

    /// A waker that counts its wake-ups.
    pub(crate) struct Counter(AtomicUsize);

    impl Counter {
        pub(crate) fn new() -> (std::sync::Arc<Self>, Waker) {
            let counter = std::sync::Arc::new(Self(AtomicUsize::new(0)));
            (counter.clone(), Waker::from(counter))
        }

        pub(crate) fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Counter {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task on the current model thread: [`block_on`](Self::block_on)
    /// polls a future, and waits while it is pending until its waker is
    /// woken. A wake-up that never comes leaves the thread waiting, which
    /// loom reports as a deadlock; loom may also end one wait spuriously,
    /// like a driver polled again for another reason.
    ///
    /// Not `loom::future::block_on`: its waker's clones do not pass
    /// `will_wake` against the original (the vtable is promoted twice), so
    /// code that skips registering the same waker again would never take
    /// that path in a model. std's `Wake` wakers keep one vtable.
    pub(crate) struct Task(loom::sync::Notify);

    impl Task {
        pub(crate) fn new() -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self(loom::sync::Notify::new()))
        }

        /// Wakes the task once from a new thread, at whatever point loom
        /// chooses: the socket event or timer that makes a real driver poll
        /// everything again.
        pub(crate) fn poke_once(self: &std::sync::Arc<Self>) -> loom::thread::JoinHandle<()> {
            let waker = Waker::from(self.clone());
            loom::thread::spawn(move || waker.wake())
        }

        pub(crate) fn block_on<F: Future>(self: &std::sync::Arc<Self>, future: F) -> F::Output {
            let waker = Waker::from(self.clone());
            let mut cx = Context::from_waker(&waker);
            let mut future = pin!(future);
            loop {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                self.0.wait();
            }
        }
    }

    impl Wake for Task {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.notify();
        }
    }
}
