//! A count of bytes a connection's driver is waiting on someone else to
//! consume (its events not yet taken by the application), with a wake-up
//! for the driver once enough of them are gone.
//!
//! The driver pauses reading a peer while that peer's pending output is
//! above the high-water mark; part of it may be events the application has
//! not taken yet. Whoever takes them calls [`Backlog::release`], which wakes
//! the driver only when it asked to be woken and the count has fallen to the
//! level it named — not once per event.

use std::task::{Context, Poll, Waker};

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};

/// Bytes held for a driver, and the driver's wish to be woken.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    bytes: AtomicUsize,
    /// Whether `waiter` holds a waker: the releaser's lock-free look.
    /// Paired (SeqCst) with `bytes`: the driver sets this and then reads
    /// `bytes`, a releaser lowers `bytes` and then reads this, so one of the
    /// two always sees the other.
    armed: AtomicBool,
    /// The driver's waker, and the level at or below which to wake it.
    waiter: Mutex<Option<(Waker, usize)>>,
}

impl Backlog {
    /// Bytes held now.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Counts `n` more bytes.
    pub(crate) fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
    }

    /// `n` bytes were consumed; wakes the driver if it waits for this level.
    pub(crate) fn release(&self, n: usize) {
        let left = self.bytes.fetch_sub(n, Ordering::SeqCst).saturating_sub(n);
        crate::sync::seq_cst_pairing();
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let waker = {
            let mut waiter = self.lock();
            match waiter.as_ref() {
                Some((_, level)) if left <= *level => {
                    self.armed.store(false, Ordering::SeqCst);
                    waiter.take().map(|(waker, _)| waker)
                }
                _ => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once at most `level` bytes are held; otherwise `cx` is woken
    /// when a release brings the count there.
    pub(crate) fn poll_at_most(&self, cx: &mut Context<'_>, level: usize) -> Poll<()> {
        if self.bytes() <= level {
            return Poll::Ready(());
        }
        *self.lock() = Some((cx.waker().clone(), level));
        self.armed.store(true, Ordering::SeqCst);
        crate::sync::seq_cst_pairing();
        // Again after arming: a release in between is not missed.
        if self.bytes() <= level {
            self.armed.store(false, Ordering::SeqCst);
            *self.lock() = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Waker, usize)>> {
        // Nothing panics while it is held: only a waker is moved.
        self.waiter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_once_when_the_level_is_reached_not_per_release() {
        let backlog = Backlog::default();
        backlog.add(100);
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(backlog.poll_at_most(&mut cx, 40).is_pending());
        backlog.release(30);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "70 left: still above");
        backlog.release(30);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "40 left: woken");
        backlog.release(40);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "not armed again");
        assert!(backlog.poll_at_most(&mut cx, 0).is_ready());
    }

    #[test]
    fn ready_at_once_when_already_low_enough() {
        let backlog = Backlog::default();
        backlog.add(10);
        let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
        assert!(
            backlog
                .poll_at_most(&mut Context::from_waker(&waker), 10)
                .is_ready()
        );
        assert!(!backlog.armed.load(Ordering::SeqCst));
    }
}

/// Models of the wake-up protocol (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use std::future::poll_fn;

    use loom::thread;

    use super::*;
    use crate::sync::Arc;
    use crate::sync::model::{self, Counter, Task};

    fn release(backlog: &Arc<Backlog>, n: usize) -> thread::JoinHandle<()> {
        let backlog = backlog.clone();
        thread::spawn(move || backlog.release(n))
    }

    /// Two readers take events while the driver waits for the count to
    /// fall to 40: the driver is woken (a lost wake-up deadlocks the
    /// model); then it adds more, waits again for a lower level while
    /// another reader releases, and is woken again.
    #[test]
    fn loom_a_release_to_the_level_wakes_the_waiting_driver() {
        model::check(3, || {
            let backlog = Arc::new(Backlog::default());
            backlog.add(100);
            let first = [release(&backlog, 30), release(&backlog, 30)];
            let task = Task::new();
            task.block_on(poll_fn(|cx| backlog.poll_at_most(cx, 40)));
            assert!(backlog.bytes() <= 40);
            backlog.add(50);
            let second = release(&backlog, 60);
            task.block_on(poll_fn(|cx| backlog.poll_at_most(cx, 30)));
            assert!(backlog.bytes() <= 30);
            for reader in first.into_iter().chain([second]) {
                reader.join().unwrap();
            }
            assert_eq!(backlog.bytes(), 30);
        });
    }

    /// A driver that waits is woken exactly once, by the release that
    /// brings the count to its level — not once per release. (A driver
    /// whose second look found the level reached may still get that one
    /// wake-up: harmless.)
    #[test]
    fn loom_one_wake_up_per_wait() {
        model::check(4, || {
            let backlog = Arc::new(Backlog::default());
            backlog.add(100);
            let readers = [release(&backlog, 30), release(&backlog, 30)];
            let (wakes, waker) = Counter::new();
            let waited = backlog
                .poll_at_most(&mut Context::from_waker(&waker), 40)
                .is_pending();
            for reader in readers {
                reader.join().unwrap();
            }
            assert!(wakes.wakes() <= 1, "one wake-up, not one per release");
            if waited {
                assert_eq!(wakes.wakes(), 1, "a pending wait is woken");
            }
        });
    }
}
