//! One OS thread per task, blocking waits: the shape of a program written
//! against a blocking API such as `veltix_mio::{Server, Client}`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use futures::channel::oneshot;

use super::BenchRuntime;

/// Runs each spawned future on a thread of its own, and sleeps by blocking
/// that thread. With a blocking client every `.await` in a scenario is a
/// blocking call that has already finished when it returns, so the
/// scenario's code runs as the straight-line thread code a user of the
/// blocking API writes: `stress-100conn` is 100 threads, each doing its
/// requests in turn.
pub(crate) struct Threads;

impl BenchRuntime for Threads {
    fn block_on<F>(future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run(future)
    }

    fn spawn<F>(future: F) -> oneshot::Receiver<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let spawned = thread::Builder::new()
            .name("bench-thread".to_owned())
            .spawn(move || {
                let _ = tx.send(run(future));
            });
        if let Err(err) = spawned {
            // The receiver is cancelled (the sender went with the closure):
            // the scenario fails with "a client task ended without an answer".
            eprintln!("veltix-bench: cannot start a client thread: {err}");
        }
        rx
    }

    async fn sleep_until(deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            thread::sleep(left);
        }
    }
}

/// Polls `future` on this thread, parking between polls until woken.
///
/// Not `futures::executor::block_on`: that one marks the thread as inside an
/// executor, and the blocking API's own calls (which use it too) would then
/// panic as a nested executor.
fn run<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A spurious return (an unpark meant for a nested executor) only
        // means one more poll.
        thread::park();
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn spawned_futures_run_on_their_own_threads_and_may_block() {
        let here = thread::current().id();
        let out = Threads::block_on(async move {
            let a = Threads::spawn(async { thread::current().id() });
            // A blocking executor inside one of ours is fine.
            let b = Threads::spawn(async { futures::executor::block_on(async { 7 }) });
            (a.await.unwrap(), b.await.unwrap())
        });
        assert_ne!(out.0, here);
        assert_eq!(out.1, 7);
    }

    #[test]
    fn a_future_woken_from_another_thread_completes() {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(5).unwrap();
        });
        assert_eq!(Threads::block_on(rx), Ok(5));
        sender.join().unwrap();
    }

    #[test]
    fn sleep_until_waits_for_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(30);
        Threads::block_on(Threads::sleep_until(deadline));
        assert!(Instant::now() >= deadline);
    }
}
