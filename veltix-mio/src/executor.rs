//! The single-threaded executor of the event loop: a task is a boxed future in
//! an `Arc` that implements [`Wake`]; waking it (from any thread) puts it on
//! the loop's ready queue, and the loop polls it between two `mio` polls.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::reactor::{Core, budget, lock};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One spawned future.
pub(crate) struct Task {
    /// `None` once it has finished (or panicked). Only the loop thread polls
    /// it, so the lock is never contended.
    future: Mutex<Option<BoxFuture>>,
    /// On the ready queue already: further wakes are no-ops.
    scheduled: AtomicBool,
    core: Arc<Core>,
}

/// Runs `future` on the loop of `core`.
pub(crate) fn spawn(core: &Arc<Core>, future: impl Future<Output = ()> + Send + 'static) {
    let task = Arc::new(Task {
        future: Mutex::new(Some(Box::pin(future))),
        scheduled: AtomicBool::new(true),
        core: core.clone(),
    });
    core.schedule(task);
}

impl Task {
    /// Polls the future once; on the loop thread only.
    pub(crate) fn run(self: Arc<Self>) {
        // Cleared first, so a wake during the poll queues the task again.
        self.scheduled.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = lock(&self.future);
        let Some(future) = slot.as_mut() else {
            return;
        };
        let polled =
            budget::scope(|| catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))));
        match polled {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(())) => *slot = None,
            Err(_) => {
                // One connection's bug must not take the loop, and every other
                // connection, down with it.
                tracing::error!("a task on the veltix-mio event loop panicked; it was dropped");
                *slot = None;
            }
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            let core = self.core.clone();
            core.schedule(self);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            self.core.schedule(self.clone());
        }
    }
}
