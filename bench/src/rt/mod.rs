//! The runtimes the bench runs on, behind one small trait: how to run a
//! future to completion from a plain thread, and how to wait on a timer.

use std::future::Future;
use std::time::Instant;

use futures::channel::oneshot;
use veltix_driver::{Runtime, Timer as _};

/// A Veltix runtime the bench can start work on from `main`.
pub(crate) trait BenchRuntime: Runtime + Default {
    /// Runs `future` to completion and returns its output.
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
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
}

impl BenchRuntime for veltix_mio::Mio {
    /// Everything, `future` included, runs on the one mio event-loop thread.
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        Self::default().spawn(async move {
            let _ = tx.send(future.await);
        });
        futures::executor::block_on(rx).expect("the mio loop ran the future")
    }
}

/// Spawns `future` on `R` and returns a receiver for its output.
pub(crate) fn spawn<R, F>(future: F) -> oneshot::Receiver<F::Output>
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

/// Sleeps until `deadline` on `R`'s timers.
pub(crate) async fn sleep_until<R: Runtime + Default>(deadline: Instant) {
    let mut timer = R::default().timer(deadline);
    std::future::poll_fn(|cx| timer.poll_expired(cx)).await;
}
