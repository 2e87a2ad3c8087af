//! The synchronisation types of the hand-written concurrency: std's in every
//! build, [loom]'s under `--cfg veltix_loom`, so the code the application runs
//! is the code that is model-checked.
//!
//! Modules on this facade: `command_queue` (the queue between handles and
//! the driver), `handle` (the direct lane; its thread-local is loom's under
//! loom, one per model thread), `handlers` (the callback cache), `backlog` and
//! `event_queue`. Everything else uses std directly. `veltix-mio/src/sync.rs`
//! is the event loop's facade.
//!
//! # Model checking
//!
//! Each of those modules has a `loom_tests` module, compiled only with
//! `cfg(all(test, veltix_loom))`, whose models run the module's own code on
//! two to four loom threads and assert the protocol's property. A model that
//! sleeps does so in `model::Task::block_on`: a lost wake-up leaves it
//! waiting, which loom reports as a deadlock. Run them all with
//!
//! ```text
//! RUSTFLAGS="--cfg veltix_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p veltix-driver -p veltix-mio --lib --release loom
//! ```
//!
//! which takes about 45 s on two cores once built (CI runs it, `.ci/run`).
//! Each model sets its own preemption bound (2 to 4, the most that keeps it
//! within a minute); `LOOM_MAX_PREEMPTIONS=N` overrides them all, and
//! `LOOM_LOG=trace` prints a failing run step by step.
//!
//! | model | checks | bound |
//! |---|---|---|
//! | `command_queue`: `loom_a_command_into_an_empty_queue_wakes_the_sleeping_driver` | two senders and a socket wake-up against a driver that takes and sleeps: no lost wake-up | 3 |
//! | `command_queue`: `loom_the_stream_wakes_like_poll_take` | the same through `Stream` | 2 |
//! | `command_queue`: `loom_the_last_sender_leaving_ends_the_queue` | the driver takes the command, then sees the end | 3 |
//! | `command_queue`: `loom_full_exactly_at_the_byte_budget` | racing senders: accepted while below the budget, then `Full`; over by less than one item; room after a take | 4 |
//! | `command_queue`: `loom_the_budget_holds_while_the_driver_takes` | every take under budget + one item, `Full` only when the others filled it, accepted = taken once, in order | 3 |
//! | `handle`: `loom_the_lane_takes_only_its_own_threads_commands_for_its_handle` | lanes per thread and per handle, nested and dropped lanes restore the outer one, the queue still wakes the driver | 4 |
//! | `handle`: `loom_a_closed_queue_refuses_the_lane_too` | after `close`, nothing is accepted by lane or queue; what was accepted is taken | 4 |
//! | `handlers`: `loom_the_cache_never_returns_a_callback_replaced_before_it_looked` | monotonic, never older than a `set` observed complete, with the old callback still running | 4 |
//! | `handlers`: `loom_a_replaced_callback_is_dropped` | the cache keeps no replaced callback alive | 4 |
//! | `backlog`: `loom_a_release_to_the_level_wakes_the_waiting_driver` | two waits, three releasers: no lost wake-up | 3 |
//! | `backlog`: `loom_one_wake_up_per_wait` | at most one wake-up per wait, exactly one if it waited | 4 |
//! | `event_queue`: `loom_the_reader_is_woken_for_every_event_and_for_the_end` | two lanes, a sleeping reader: every event in lane order, the end, backlogs released | 3 |
//!
//! ## Why loom, not shuttle
//!
//! Loom explores every interleaving within a preemption bound, and lets a
//! load see any value the memory model allows (not only the latest), so an
//! ordering that is too weak fails a model: the executor's `scheduled` flag
//! (`veltix-mio`) was cleared with a store that acquired nothing, a bug no
//! sequentially consistent checker can show. Shuttle samples schedules at
//! random under sequential consistency: it scales to larger systems, but
//! would miss that class and says nothing of what it left unexplored. These
//! models are small, where loom is exhaustive in seconds.
//!
//! ## Where loom is approximate, and what the models do about it
//!
//! - Loom treats `SeqCst` accesses as `AcqRel`, so the store-buffering
//!   pairings these protocols rely on ("I set my flag, then look at yours")
//!   would fail spuriously. [`seq_cst_pairing`] marks each one: nothing in
//!   normal builds, a `SeqCst` fence (which loom does model) under loom.
//! - Loom's modification order is partial: a swap may read past a plain
//!   store that happens-before it, which C11 forbids. Flags that are both
//!   stored and swapped are changed under a lock here (`command_queue`'s
//!   `armed`), or stored through `veltix_mio::sync::store_swapped_flag`.
//! - `loom::future::block_on`'s waker fails `will_wake` against its own
//!   clones, and unparking a thread blocked on something else trips loom;
//!   hence `model::Task`.
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
