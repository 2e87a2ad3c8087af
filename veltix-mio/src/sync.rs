//! The synchronisation of the `runtime` feature (the `rt` and `blocking`
//! wings): std's (and `futures`') in every build, [loom]'s under
//! `--cfg veltix_loom` for the event loop's wake-up protocols, so the code
//! the loop runs is the code that is model-checked.
//!
//! On loom's types under loom: `rt/reactor.rs` (each socket direction's tick
//! and waker, the loop's `sleeping` flag) and `rt/executor.rs` (a task's
//! `scheduled` flag). The loop's queues and tables, and everything in
//! `blocking`, stay on std's `Mutex` and `Arc`, locked with [`lock`], the
//! crate's one lock helper.
//!
//! # Model checking
//!
//! `rt/reactor.rs` and `rt/executor.rs` have `loom_tests` modules, compiled only
//! with `cfg(all(test, veltix_loom))`; they run with the driver's models
//! (`veltix-driver/src/sync.rs` says how, why loom, and where loom is
//! approximate):
//!
//! ```text
//! RUSTFLAGS="--cfg veltix_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p veltix-driver -p veltix-mio --lib --release loom
//! ```
//!
//! | model | checks | bound |
//! |---|---|---|
//! | `rt::reactor`: `loom_a_reader_sees_every_edge` | through the drained-mark fast path, with one event per arrival and then data + FIN in one event: every byte, then the end | 4 |
//! | `rt::reactor`: `loom_a_writer_sees_every_edge` | room arriving in two events: the writer gets it all | 4 |
//! | `rt::executor`: `loom_a_woken_task_is_polled_and_sees_what_its_waker_saw` | the loop (`Core::run`'s order, `Sleeping`, a stand-in for the `mio::Waker`) and two tasks woken from two threads: each is polled and sees its waker's `Relaxed` write; the waker is written once per sleep at most | 3 |
//!
//! [loom]: https://docs.rs/loom

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking a poisoned one as it is: every critical section
/// in this crate leaves its data consistent (pushes, swaps and takes), and
/// the one that runs code not its own, a task's poll, catches the panic
/// inside it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Atomics, as `std::sync::atomic`.
pub(crate) mod atomic {
    #[cfg(not(veltix_loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

    #[cfg(veltix_loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
}

/// Stores `value` (`SeqCst`) in a flag that other threads swap.
///
/// In normal builds, exactly `flag.store(value, SeqCst)`. Under loom, a
/// swap with `Release` (a store's own ordering: it acquires nothing): loom
/// keeps a partial modification order in which a later swap may read a
/// value older than a store that happens-before it, which no execution
/// can do once every other write is itself a swap; as a swap, the store
/// joins that total order. With a plain store, the models that use
/// `Sleeping` (`rt/reactor.rs`, `rt/executor.rs`) report this false alarm.
#[inline(always)]
pub(crate) fn store_swapped_flag(flag: &atomic::AtomicBool, value: bool) {
    #[cfg(not(veltix_loom))]
    flag.store(value, atomic::Ordering::SeqCst);
    #[cfg(veltix_loom)]
    flag.swap(value, atomic::Ordering::Release);
}

#[cfg(not(veltix_loom))]
pub(crate) use futures::task::AtomicWaker;

#[cfg(veltix_loom)]
pub(crate) use stand_in::AtomicWaker;

/// `futures::task::AtomicWaker` is made of std atomics, which loom cannot
/// see; under loom, this stand-in with its API and its contract takes its
/// place: a `wake` that begins after a `register` has returned wakes that
/// waker (or one registered later), and each registration is woken at most
/// once. A lock gives exactly that and no more, so a model that passes
/// with it relies on nothing `futures`' lock-free version does not promise.
#[cfg(veltix_loom)]
mod stand_in {
    use std::task::Waker;

    #[derive(Default)]
    pub(crate) struct AtomicWaker(loom::sync::Mutex<Option<Waker>>);

    impl AtomicWaker {
        pub(crate) fn register(&self, waker: &Waker) {
            let mut slot = self.0.lock().unwrap();
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }

        pub(crate) fn wake(&self) {
            let waker = self.0.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// What the models share (as `veltix-driver`'s, which explains `Task`).
#[cfg(all(test, veltix_loom))]
pub(crate) mod model {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Wake, Waker};

    /// Runs `model` in every interleaving loom explores within `preemptions`
    /// preemptions (or `LOOM_MAX_PREEMPTIONS`, when set).
    pub(crate) fn check(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(preemptions);
        }
        let log = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("LOOM_LOG"))
            .with_test_writer()
            .without_time()
            .finish();
        tracing::subscriber::with_default(log, || builder.check(model));
    }

    /// A task on the current model thread, woken through a std `Wake`
    /// waker; a wake-up that never comes deadlocks the model, and loom may
    /// end one wait spuriously.
    pub(crate) struct Task(loom::sync::Notify);

    impl Task {
        pub(crate) fn new() -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self(loom::sync::Notify::new()))
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
