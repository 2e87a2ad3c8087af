//! The single-threaded executor of the event loop: a task is a boxed future in
//! an `Arc` that implements [`Wake`]; waking it (from any thread) puts it on
//! the reactor's ready queue as a [`Runnable`], and the loop polls it between
//! two `mio` polls. The executor depends on the reactor (its `Core` and
//! `Runnable`), never the other way round.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::budget;
use super::reactor::{Core, Runnable};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::lock;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One spawned future.
struct Task {
    /// `None` once it has finished (or panicked). Only the loop thread polls
    /// it, so the lock is never contended.
    future: Mutex<Option<BoxFuture>>,
    /// On the ready queue already: further wakes are no-ops.
    scheduled: Scheduled,
    core: Arc<Core>,
}

/// Runs `future` on the loop of `core`.
pub(crate) fn spawn(core: &Arc<Core>, future: impl Future<Output = ()> + Send + 'static) {
    let task = Arc::new(Task {
        future: Mutex::new(Some(Box::pin(future))),
        scheduled: Scheduled::new(true),
        core: core.clone(),
    });
    core.schedule(task);
}

impl Runnable for Task {
    /// Polls the future once.
    fn run(self: Arc<Self>) {
        // Cleared first, so a wake during the poll queues the task again.
        self.scheduled.clear();
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
        if self.scheduled.claim() {
            let core = self.core.clone();
            core.schedule(self);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.claim() {
            self.core.schedule(self.clone());
        }
    }
}

/// Whether a task is on the ready queue: a wake queues it only if it is
/// not, and the loop clears the flag before polling it, so a wake during
/// the poll queues it again.
struct Scheduled(AtomicBool);

impl Scheduled {
    fn new(scheduled: bool) -> Self {
        Self(AtomicBool::new(scheduled))
    }

    /// A wake: true if the caller must put the task on the ready queue.
    fn claim(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }

    /// The loop, before polling the task.
    ///
    /// A swap, not a store: it reads the `true` of the last wake that
    /// found the task queued already (and so did not queue it), and
    /// acquires what that waker wrote before waking — the poll then sees
    /// it. A store acquires nothing, and a future whose state the waker
    /// wrote with `Relaxed` (it may: a wake is followed by a poll) could be
    /// polled without seeing the change, return `Pending`, and never be
    /// woken again: with a store, the model below fails on that
    /// interleaving. On x86 both are the same `xchg`.
    fn clear(&self) {
        self.0.swap(false, Ordering::SeqCst);
    }
}

/// Models of the loop's wake-ups (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use std::collections::VecDeque;

    use loom::sync::atomic::AtomicUsize;
    use loom::sync::{Arc, Mutex, Notify};
    use loom::thread;

    use super::*;
    use crate::rt::reactor::Sleeping;
    use crate::sync::model;

    /// Two spawned tasks on the loop, each with a thread that changes what
    /// the task waits for (with a `Relaxed` store: a future may rely on the
    /// wake alone to make it visible) and wakes it. The loop runs as
    /// `Core::run` does — run the ready tasks, set `sleeping`, look at the
    /// ready queue, block in `poll` (here a `Notify`, which, like the
    /// `mio::Waker`'s eventfd, keeps a write made before the poll) — and the
    /// wakers publish as `Task::wake` and `Core::schedule` do. Each task is
    /// polled after its change and sees it (a wake-up lost by the loop or by
    /// a task's `scheduled` flag deadlocks the model), and the loop's waker
    /// is written at most once per sleep.
    #[test]
    fn loom_a_woken_task_is_polled_and_sees_what_its_waker_saw() {
        model::check(3, || {
            let ready = Arc::new(Mutex::new(VecDeque::from([0, 1])));
            let tasks = Arc::new([Scheduled::new(true), Scheduled::new(true)]);
            let states = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let sleeping = Arc::new(Sleeping::default());
            let poll = Arc::new(Notify::new());
            let writes = Arc::new(AtomicUsize::new(0));
            let wakers: Vec<_> = (0..2)
                .map(|id| {
                    let (ready, tasks, states) = (ready.clone(), tasks.clone(), states.clone());
                    let (sleeping, poll, writes) = (sleeping.clone(), poll.clone(), writes.clone());
                    thread::spawn(move || {
                        states[id].store(1, Ordering::Relaxed);
                        if tasks[id].claim() {
                            ready.lock().unwrap().push_back(id);
                            if sleeping.must_wake() {
                                writes.fetch_add(1, Ordering::Relaxed);
                                poll.notify();
                            }
                        }
                    })
                })
                .collect();
            let mut sleeps = 0;
            let mut done = [false; 2];
            loop {
                let batch: Vec<usize> = ready.lock().unwrap().drain(..).collect();
                for id in batch {
                    tasks[id].clear();
                    done[id] = states[id].load(Ordering::Relaxed) == 1;
                }
                if done == [true; 2] {
                    break;
                }
                sleeping.start();
                sleeps += 1;
                if ready.lock().unwrap().is_empty() {
                    poll.wait();
                }
                sleeping.stop();
            }
            for waker in wakers {
                waker.join().unwrap();
            }
            assert!(
                writes.load(Ordering::Relaxed) <= sleeps,
                "one write per sleep"
            );
        });
    }
}
