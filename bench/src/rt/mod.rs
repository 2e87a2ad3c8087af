//! The runtimes the bench's client side runs on, behind one small trait:
//! run a future to completion from a plain thread, spawn one, wait until a
//! deadline. The scenarios are written once against it.
//!
//! tokio, smol and mio are the async runtimes Veltix runs on; [`Threads`]
//! is for the blocking API of `veltix-mio`, whose users write one thread per
//! connection rather than tasks.

use std::future::Future;
use std::time::Instant;

use futures::channel::oneshot;
use veltix_driver::{Runtime, Timer as _};

mod threads;

pub(crate) use threads::Threads;

/// Where a scenario's client side runs.
pub(crate) trait BenchRuntime: 'static {
    /// Runs `future` to completion and returns its output.
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Runs `future` concurrently with the caller; the receiver gets its
    /// output (or is cancelled if it could not run to the end).
    fn spawn<F>(future: F) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Resolves at `deadline`.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;
}

impl BenchRuntime for veltix_tokio::Tokio {
    /// A fresh multi-threaded runtime (one worker per core, tokio's default)
    /// per call, so nothing is left over from the previous run. `future` is
    /// spawned as a task, as tokio programs do their work: a task that wakes
    /// another on the same worker hands over through the worker's LIFO slot
    /// instead of a cross-thread wake-up (the same for every implementation).
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime
            .block_on(runtime.spawn(future))
            .expect("the bench task did not panic")
    }

    fn spawn<F>(future: F) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on::<Self, F>(future)
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        sleep_on::<Self>(deadline)
    }
}

impl BenchRuntime for veltix_smol::Smol {
    /// `future` is spawned on smol's global executor (`SMOL_THREADS`,
    /// default one thread), where the connection tasks run too.
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol::block_on(smol::spawn(future))
    }

    fn spawn<F>(future: F) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on::<Self, F>(future)
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        sleep_on::<Self>(deadline)
    }
}

impl BenchRuntime for veltix_mio::Mio {
    /// Everything, `future` included, runs on the one mio event-loop thread.
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        futures::executor::block_on(spawn_on::<Self, F>(future))
            .expect("the mio loop ran the future")
    }

    fn spawn<F>(future: F) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on::<Self, F>(future)
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        sleep_on::<Self>(deadline)
    }
}

/// Spawns `future` on Veltix runtime `R`; a receiver for its output.
fn spawn_on<R, F>(future: F) -> oneshot::Receiver<F::Output>
where
    R: Runtime + Default,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    R::default().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx
}

/// Sleeps until `deadline` on Veltix runtime `R`'s timers.
async fn sleep_on<R: Runtime + Default>(deadline: Instant) {
    let mut timer = R::default().timer(deadline);
    std::future::poll_fn(|cx| timer.poll_expired(cx)).await;
}
