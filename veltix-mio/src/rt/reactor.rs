//! The event-loop thread: one `mio::Poll`, the sockets it watches, the timers
//! whose earliest deadline bounds its sleep, and a queue of ready work it
//! runs between polls.
//!
//! The ready queue holds [`Runnable`]s: the reactor runs them and knows
//! nothing else about them. The executor (`executor.rs`) makes its tasks
//! `Runnable` and queues them with [`Core::schedule`] when they are woken;
//! it depends on the reactor, the reactor not on it.
//!
//! # Waking without lost wake-ups
//!
//! mio is edge-triggered: a readiness event is reported once, when the state
//! changes. Each socket direction therefore keeps a *tick* that the loop
//! bumps on every event, and an [`AtomicWaker`]. An operation reads the tick,
//! tries the syscall and, only if that returned `WouldBlock`, registers its
//! waker and reads the tick again: if it moved, an event came in between and
//! the operation is retried at once; otherwise the next event will find the
//! waker. This holds on any thread, so a socket may be polled from the loop
//! (driver tasks) or from a caller blocked in `block_on` (a connect).
//!
//! Timers are entries in a `BTreeMap` ordered by deadline; the first one
//! bounds `Poll::poll`. Anyone who hands the loop work (a task to run, an
//! earlier deadline) while it sleeps writes to its `mio::Waker`; a `sleeping`
//! flag, checked after the work is published, keeps that to one syscall per sleep.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Registry, Token};

use super::budget::{self, Transferred};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use crate::sync::{AtomicWaker, lock};

/// The token of the loop's own `mio::Waker`; sockets use their slot index.
const WAKE: Token = Token(usize::MAX);

thread_local! {
    static ON_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is a veltix-mio event loop (where blocking would deadlock).
pub(crate) fn on_loop_thread() -> bool {
    ON_LOOP.with(Cell::get)
}

/// The process-wide loop, started on first use.
pub(crate) fn global() -> Arc<Core> {
    static GLOBAL: OnceLock<Arc<Core>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| {
            Core::start("veltix-mio")
                .unwrap_or_else(|err| panic!("veltix-mio: cannot start the event loop: {err}"))
        })
        .clone()
}

/// Work the loop runs on its thread between two polls: a task of the
/// executor, whose waker queues it with [`Core::schedule`].
pub(crate) trait Runnable: Send + Sync {
    /// Runs once, on the loop thread.
    fn run(self: Arc<Self>);
}

/// What every handle of one event loop shares with the loop thread.
pub(crate) struct Core {
    registry: Registry,
    waker: mio::Waker,
    /// When whoever publishes work must write to `waker`.
    sleeping: Sleeping,
    ready: Mutex<VecDeque<Arc<dyn Runnable>>>,
    sources: Mutex<Sources>,
    timers: Mutex<Timers>,
}

impl Core {
    /// Creates the poll and starts the loop thread.
    fn start(name: &str) -> io::Result<Arc<Self>> {
        let poll = mio::Poll::new()?;
        let core = Arc::new(Self {
            registry: poll.registry().try_clone()?,
            waker: mio::Waker::new(poll.registry(), WAKE)?,
            sleeping: Sleeping::default(),
            ready: Mutex::new(VecDeque::new()),
            sources: Mutex::new(Sources::default()),
            timers: Mutex::new(Timers::default()),
        });
        let looping = core.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || looping.run(poll))?;
        Ok(core)
    }

    /// The loop: run ready tasks, fire due timers, sleep in `poll` until an
    /// event, a wake-up or the earliest deadline, dispatch events; repeat.
    fn run(&self, mut poll: mio::Poll) {
        ON_LOOP.with(|on| on.set(true));
        let mut events = Events::with_capacity(1024);
        let mut batch = VecDeque::new();
        let mut due = Vec::new();
        loop {
            // Tasks woken by tasks run in the same turn (a request handed from
            // the caller's task to its connection's driver costs no extra
            // epoll_wait), in rounds: one that keeps waking itself gets at
            // most `TASK_POLLS_PER_TURN` polls before I/O is polled again.
            let mut polls = 0;
            while polls < TASK_POLLS_PER_TURN {
                std::mem::swap(&mut *lock(&self.ready), &mut batch);
                if batch.is_empty() {
                    break;
                }
                polls += batch.len();
                for work in batch.drain(..) {
                    work.run();
                }
            }
            self.fire_timers(&mut due);

            self.sleeping.start();
            let timeout = if lock(&self.ready).is_empty() {
                lock(&self.timers)
                    .entries
                    .first_key_value()
                    .map(|((deadline, _), _)| deadline.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(err) = poll.poll(&mut events, timeout)
                && err.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(error = %err, "mio poll failed");
                std::thread::sleep(Duration::from_millis(10));
            }
            self.sleeping.stop();
            self.dispatch(&events);
        }
    }

    fn dispatch(&self, events: &Events) {
        let sources = lock(&self.sources);
        for event in events {
            if event.token() == WAKE {
                continue;
            }
            // A token freed (and maybe reused) since the poll: at worst a spurious wake.
            let Some(Some(readiness)) = sources.slots.get(event.token().0) else {
                continue;
            };
            let error = event.is_error();
            if event.is_read_closed() || error {
                readiness.read_closed.store(true, Ordering::SeqCst);
            }
            if event.is_readable() || event.is_read_closed() || error {
                readiness.read.fire();
            }
            if event.is_writable() || event.is_write_closed() || error {
                readiness.write.fire();
            }
        }
    }

    fn fire_timers(&self, due: &mut Vec<Arc<TimerSlot>>) {
        let now = Instant::now();
        {
            let mut timers = lock(&self.timers);
            while let Some(entry) = timers.entries.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
        }
        for slot in due.drain(..) {
            slot.fired.store(true, Ordering::Release);
            slot.waker.wake();
        }
    }

    /// Makes sure the loop looks at new work: writes to its waker if it sleeps.
    fn notify(&self) {
        if self.sleeping.must_wake()
            && let Err(err) = self.waker.wake()
        {
            tracing::error!(error = %err, "cannot wake the mio event loop");
        }
    }

    /// Queues `work` to be run on the loop thread.
    pub(crate) fn schedule(&self, work: Arc<dyn Runnable>) {
        lock(&self.ready).push_back(work);
        self.notify();
    }

    /// Adds a timer entry, replacing `old`; wakes the loop if it is now the earliest.
    fn insert_timer(
        &self,
        old: Option<TimerKey>,
        deadline: Instant,
        slot: &Arc<TimerSlot>,
    ) -> TimerKey {
        let (key, earliest) = {
            let mut timers = lock(&self.timers);
            if let Some(old) = old {
                timers.entries.remove(&old);
            }
            let key = (deadline, timers.next_id);
            timers.next_id += 1;
            let earliest = timers
                .entries
                .first_key_value()
                .is_none_or(|(first, _)| key < *first);
            timers.entries.insert(key, slot.clone());
            (key, earliest)
        };
        if earliest {
            self.notify();
        }
        key
    }

    fn remove_timer(&self, key: TimerKey) {
        lock(&self.timers).entries.remove(&key);
    }
}

/// Set while the loop is about to block in `poll`: whoever then publishes
/// work for it must write to its `mio::Waker`, once per sleep.
///
/// The loop calls [`start`](Self::start), looks for work (ready tasks,
/// timers) and blocks in `poll` only if it found none, then calls
/// [`stop`](Self::stop); whoever publishes work (under the lock the loop
/// looks under) then calls [`must_wake`](Self::must_wake). Either the loop's
/// look finds the work, or the publisher finds the flag set and wakes it:
/// the fences pair the flag with the work, and the swap makes the write to
/// the waker one per sleep.
#[derive(Default)]
pub(crate) struct Sleeping(AtomicBool);

impl Sleeping {
    /// The loop is about to look for work one last time, then block.
    pub(crate) fn start(&self) {
        crate::sync::store_swapped_flag(&self.0, true);
        fence(Ordering::SeqCst);
    }

    /// The loop is awake.
    pub(crate) fn stop(&self) {
        crate::sync::store_swapped_flag(&self.0, false);
    }

    /// After publishing work: whether to write to the loop's waker (true
    /// for the first publisher of a sleep only).
    pub(crate) fn must_wake(&self) -> bool {
        fence(Ordering::SeqCst);
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// Sockets by token: their readiness, shared with the `Registered` that owns them.
#[derive(Default)]
struct Sources {
    slots: Vec<Option<Arc<Readiness>>>,
    free: Vec<usize>,
}

impl Sources {
    fn insert(&mut self, readiness: Arc<Readiness>) -> usize {
        match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(readiness);
                index
            }
            None => {
                self.slots.push(Some(readiness));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, index: usize) {
        if self.slots.get_mut(index).and_then(Option::take).is_some() {
            self.free.push(index);
        }
    }
}

#[derive(Default)]
struct Readiness {
    read: Edge,
    write: Edge,
    /// Sticky: the peer has shut its side (or the socket failed). A short
    /// read then does not mean "nothing more to read" — the end of stream
    /// may be waiting, and no new event will announce it.
    read_closed: AtomicBool,
}

/// One direction of one socket: events seen so far, and who waits for the next.
#[derive(Default)]
struct Edge {
    tick: AtomicU64,
    waker: AtomicWaker,
}

impl Edge {
    fn fire(&self) {
        self.tick.fetch_add(1, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Runs `op` until it does not return `WouldBlock`; when it does,
    /// leaves the waker for the next event and returns `Pending` — unless an
    /// event came in since the attempt (the tick moved), which would
    /// otherwise be lost (edge-triggered: it is not reported again).
    fn poll<T: Transferred>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            if !budget::take() {
                // This task has had its share of the loop: come back next round.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let seen = self.tick.load(Ordering::SeqCst);
            let result = op();
            budget::charge(&result);
            match result {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.waker.register(cx.waker());
                    if self.tick.load(Ordering::SeqCst) == seen {
                        return Poll::Pending;
                    }
                    // An event arrived since the attempt: try again now.
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

impl Readiness {
    /// Reads with `read` (into a buffer of `len` bytes) like [`Edge::poll`],
    /// but without a syscall when the last read came back short at the read
    /// tick recorded in `drained_at` and no event has come in since.
    fn poll_read(
        &self,
        drained_at: &AtomicU64,
        cx: &mut Context<'_>,
        len: usize,
        read: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let edge = &self.read;
        let drained = drained_at.load(Ordering::Relaxed);
        if drained != NOT_DRAINED {
            if edge.tick.load(Ordering::SeqCst) == drained {
                edge.waker.register(cx.waker());
                if edge.tick.load(Ordering::SeqCst) == drained {
                    return Poll::Pending;
                }
            }
            drained_at.store(NOT_DRAINED, Ordering::Relaxed);
        }
        // Read before the attempt: an event during it leaves the mark stale,
        // so the next poll reads again (never misses data).
        let before = edge.tick.load(Ordering::SeqCst);
        let result = edge.poll(cx, read);
        if let Poll::Ready(Ok(n)) = result
            && n > 0
            && n < len
            && !self.read_closed.load(Ordering::SeqCst)
        {
            drained_at.store(before, Ordering::Relaxed);
        }
        result
    }
}

/// Which readiness an operation waits for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// A mio source registered (readable and writable, edge-triggered) with a
/// loop; deregistered when dropped.
pub(crate) struct Registered<S: Source> {
    source: S,
    token: Token,
    readiness: Arc<Readiness>,
    core: Arc<Core>,
    /// The read tick at which a read came back short (the socket's receive
    /// queue was emptied), or `NOT_DRAINED`. Until the tick moves, another
    /// read could only fail with `WouldBlock`: skipping it saves a syscall
    /// per poll (edge-triggered epoll reports every new arrival of data).
    read_drained_at: AtomicU64,
}

/// Task polls per loop turn before the loop polls for I/O again.
const TASK_POLLS_PER_TURN: usize = 256;

/// No short read recorded.
const NOT_DRAINED: u64 = u64::MAX;

impl<S: Source> Registered<S> {
    pub(crate) fn new(core: &Arc<Core>, mut source: S) -> io::Result<Self> {
        let readiness = Arc::new(Readiness::default());
        // In the table before the registration, so no event finds an empty slot.
        let token = Token(lock(&core.sources).insert(readiness.clone()));
        if let Err(err) =
            core.registry
                .register(&mut source, token, Interest::READABLE | Interest::WRITABLE)
        {
            lock(&core.sources).remove(token.0);
            return Err(err);
        }
        Ok(Self {
            source,
            token,
            readiness,
            core: core.clone(),
            read_drained_at: AtomicU64::new(NOT_DRAINED),
        })
    }

    /// Reads into `buf` with `read`, like [`poll_io`](Self::poll_io), but
    /// without a syscall when the last read emptied the socket and no event
    /// has come in since.
    pub(crate) fn poll_read_into(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        mut read: impl FnMut(&S, &mut [u8]) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.readiness
            .poll_read(&self.read_drained_at, cx, len, || read(&self.source, buf))
    }

    pub(crate) fn get(&self) -> &S {
        &self.source
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Runs `op` until it does not return `WouldBlock`; when it does, leaves
    /// the waker for the next readiness event in `direction` and returns `Pending`.
    pub(crate) fn poll_io<T: Transferred>(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let edge = match direction {
            Direction::Read => &self.readiness.read,
            Direction::Write => &self.readiness.write,
        };
        edge.poll(cx, || op(&self.source))
    }
}

impl<S: Source> Drop for Registered<S> {
    fn drop(&mut self) {
        if let Err(err) = self.core.registry.deregister(&mut self.source) {
            tracing::debug!(error = %err, "deregister failed");
        }
        lock(&self.core.sources).remove(self.token.0);
    }
}

/// A timer entry: deadline, then a sequence number that makes it unique.
type TimerKey = (Instant, u64);

#[derive(Default)]
struct Timers {
    entries: BTreeMap<TimerKey, Arc<TimerSlot>>,
    next_id: u64,
}

/// What the loop wakes when a timer entry is due.
#[derive(Default)]
struct TimerSlot {
    fired: AtomicBool,
    waker: AtomicWaker,
}

/// A resettable deadline on a loop.
///
/// Moving the deadline later leaves the earlier entry in place: it fires,
/// the timer sees it is not due yet and files a new entry. So a deadline
/// pushed back on every message (idle, heartbeat) costs no lock per message.
pub(crate) struct Deadline {
    core: Arc<Core>,
    deadline: Instant,
    slot: Arc<TimerSlot>,
    key: Option<TimerKey>,
}

impl Deadline {
    pub(crate) fn new(core: Arc<Core>, deadline: Instant) -> Self {
        Self {
            core,
            deadline,
            slot: Arc::new(TimerSlot::default()),
            key: None,
        }
    }

    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        // An entry later than the new deadline would wake us too late.
        if self.key.is_some_and(|(at, _)| at > deadline) {
            self.cancel();
        }
    }

    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        if self.key.is_some() {
            self.slot.waker.register(cx.waker());
            if !self.slot.fired.load(Ordering::Acquire) {
                return Poll::Pending; // the entry in place will wake us
            }
        }
        self.slot.fired.store(false, Ordering::Release);
        self.slot.waker.register(cx.waker());
        self.key = Some(self.core.insert_timer(self.key, self.deadline, &self.slot));
        Poll::Pending
    }

    fn cancel(&mut self) {
        // A fired entry is out of the table already.
        if let Some(key) = self.key.take()
            && !self.slot.fired.load(Ordering::Acquire)
        {
            self.core.remove_timer(key);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Models of the edge protocol (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use std::future::poll_fn;

    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::sync::model::{self, Task};

    /// The end of stream, behind the bytes in [`Socket`].
    const FIN: u64 = 1 << 63;

    /// A socket buffer: bytes waiting (to read, or room to write) and, for
    /// reads, the peer's FIN behind them — one word, so a read sees data
    /// and end of stream in the order they came.
    #[derive(Default)]
    struct Socket(AtomicU64);

    impl Socket {
        fn add(&self, n: u64) {
            self.0.fetch_add(n, Ordering::SeqCst);
        }

        fn fin(&self) {
            self.0.fetch_or(FIN, Ordering::SeqCst);
        }

        /// Takes everything there is (the models move fewer bytes than a
        /// buffer holds): `WouldBlock` when empty and not at the end.
        fn take(&self) -> io::Result<usize> {
            let before = self.0.fetch_and(FIN, Ordering::SeqCst);
            match before & !FIN {
                0 if before & FIN != 0 => Ok(0),
                0 => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(usize::try_from(n).unwrap()),
            }
        }
    }

    /// The kernel and the loop on one thread: bytes arrive and the loop
    /// dispatches an event for them — once per arrival, then once for the
    /// last byte and the FIN together (edge-triggered events coalesce).
    /// The reader, which skips the syscall while its last short read's
    /// tick is current, gets every byte and then the end of stream: no
    /// event is lost between an attempt and the registration.
    #[test]
    fn loom_a_reader_sees_every_edge() {
        model::check(4, || {
            let readiness = Arc::new(Readiness::default());
            let socket = Arc::new(Socket::default());
            let peer = {
                let (readiness, socket) = (readiness.clone(), socket.clone());
                thread::spawn(move || {
                    socket.add(1);
                    readiness.read.fire();
                    socket.add(1);
                    socket.fin();
                    readiness.read_closed.store(true, Ordering::SeqCst);
                    readiness.read.fire();
                })
            };
            let drained_at = AtomicU64::new(NOT_DRAINED);
            let task = Task::new();
            let mut total = 0;
            loop {
                let read = poll_fn(|cx| readiness.poll_read(&drained_at, cx, 64, || socket.take()));
                match task.block_on(read).unwrap() {
                    0 => break,
                    n => total += n,
                }
            }
            assert_eq!(total, 2, "every byte before the end of stream");
            peer.join().unwrap();
        });
    }

    /// A writer facing a full send buffer: room comes in twice, each with
    /// its event; the writer gets all the room it waits for.
    #[test]
    fn loom_a_writer_sees_every_edge() {
        model::check(4, || {
            let readiness = Arc::new(Readiness::default());
            let room = Arc::new(Socket::default());
            let peer = {
                let (readiness, room) = (readiness.clone(), room.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        room.add(1);
                        readiness.write.fire();
                    }
                })
            };
            let task = Task::new();
            let mut written = 0;
            while written < 2 {
                written += task
                    .block_on(poll_fn(|cx| readiness.write.poll(cx, || room.take())))
                    .unwrap();
            }
            peer.join().unwrap();
        });
    }
}
