//! The event stream behind `Server::events` and `Client::events`: one lane
//! per connection, taken from in turn.
//!
//! Each connection puts its events into its own lane and counts their bytes
//! in its [`Backlog`]; the driver treats that count as pending output and
//! stops reading the peer while it is high (see `FlowControl`). So the
//! stream is bounded per peer by flow control, not by one shared capacity:
//! a peer that floods fills only its own lane, and the reader takes one
//! event from each lane with events in turn, so a flooding peer delays
//! another peer's event by at most one event per busy peer.
//!
//! A stream nobody has taken yet keeps up to `capacity` events in all (for a
//! reader that comes late) and drops the rest: nobody may ever read it, and
//! waiting for a reader would stall the connections. A dropped stream
//! discards every later event.

use std::cell::Cell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::Stream;

use crate::backlog::Backlog;
use crate::sync::{Arc, Mutex, MutexGuard};

/// The queue, owned by a server or client: makes one sender per connection
/// and hands out the stream once. The stream ends when this and every
/// sender are gone and every lane is empty.
pub(crate) struct EventQueue<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Events kept in all while the stream has not been taken.
    untaken_capacity: usize,
}

struct State<T> {
    lanes: Lanes<T>,
    /// Lanes holding events, in the order they are to be served.
    ready: VecDeque<usize>,
    /// Events in all lanes.
    queued: usize,
    /// The queue itself and every live sender.
    producers: usize,
    taken: bool,
    /// The stream was taken and then dropped: events are discarded.
    discarding: bool,
    /// The reader's waker, when it found nothing to take.
    reader: Option<Waker>,
}

struct Lane<T> {
    events: VecDeque<(T, usize)>,
    backlog: Arc<Backlog>,
    /// Its senders (see [`EventSender::share`]).
    senders: usize,
    /// Its senders are gone: the lane is removed once empty.
    detached: bool,
}

/// The lanes by number, in a slab: every event's send and take finds its
/// lane by index, not by hashing. A number is reused only once its lane is
/// removed, which happens when the lane is empty (so in no `ready` list)
/// and its sender gone (so nobody holds the number).
struct Lanes<T> {
    slots: Vec<Option<Lane<T>>>,
    free: Vec<usize>,
}

impl<T> Lanes<T> {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, lane: Lane<T>) -> usize {
        match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(lane);
                id
            }
            None => {
                self.slots.push(Some(lane));
                self.slots.len() - 1
            }
        }
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut Lane<T>> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    fn remove(&mut self, id: usize) {
        if let Some(slot) = self.slots.get_mut(id)
            && slot.take().is_some()
        {
            self.free.push(id);
        }
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Lane<T>)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(id, slot)| Some((id, slot.as_mut()?)))
    }
}

impl<T> State<T> {
    /// The waker to wake after unlocking, if the reader waits for this.
    fn wake_reader(&mut self) -> Option<Waker> {
        self.reader.take()
    }
}

impl<T: Send + 'static> EventQueue<T> {
    /// A queue whose stream, until taken, keeps `untaken_capacity` events.
    pub(crate) fn new(untaken_capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    lanes: Lanes::new(),
                    ready: VecDeque::new(),
                    queued: 0,
                    producers: 1,
                    taken: false,
                    discarding: false,
                    reader: None,
                }),
                untaken_capacity,
            }),
        }
    }

    /// A connection's sender, with a lane of its own.
    pub(crate) fn sender(&self) -> EventSender<T> {
        let backlog = Arc::new(Backlog::default());
        let mut state = self.shared.lock();
        state.producers += 1;
        let lane = state.lanes.insert(Lane {
            events: VecDeque::new(),
            backlog: backlog.clone(),
            senders: 1,
            detached: false,
        });
        drop(state);
        EventSender {
            shared: self.shared.clone(),
            lane,
            backlog,
            wake: Cell::new(None),
        }
    }

    /// The stream, once; later calls get a stream that ends at once.
    pub(crate) fn take(&self) -> EventStream<T> {
        Shared::take(&self.shared)
    }

    /// A handle that can take the stream without keeping it open (as this
    /// queue and its senders do).
    pub(crate) fn outlet(&self) -> EventOutlet<T> {
        EventOutlet {
            shared: self.shared.clone(),
        }
    }
}

/// Takes an [`EventQueue`]'s stream, without counting as a producer.
pub(crate) struct EventOutlet<T> {
    shared: Arc<Shared<T>>,
}

impl<T> EventOutlet<T> {
    /// As [`EventQueue::take`].
    pub(crate) fn take(&self) -> EventStream<T> {
        Shared::take(&self.shared)
    }
}

impl<T> Drop for EventQueue<T> {
    fn drop(&mut self) {
        self.shared.producer_gone();
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while it is held: queue operations only.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Not `self: &Arc<Self>`: the facade's `Arc` is loom's under loom.
    fn take(this: &Arc<Self>) -> EventStream<T> {
        let mut state = this.lock();
        if state.taken {
            return EventStream { shared: None };
        }
        state.taken = true;
        drop(state);
        EventStream {
            shared: Some(this.clone()),
        }
    }

    fn producer_gone(&self) {
        let waker = {
            let mut state = self.lock();
            state.producers -= 1;
            if state.producers == 0 {
                state.wake_reader()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One connection's way into the queue.
pub(crate) struct EventSender<T> {
    shared: Arc<Shared<T>>,
    lane: usize,
    backlog: Arc<Backlog>,
    /// The reader's waker, taken by a `send` and woken by [`flush`](Self::flush):
    /// one wake-up per round of events, not one per event (a reader on
    /// another thread would otherwise park and be woken for every event).
    wake: Cell<Option<Waker>>,
}

impl<T> EventSender<T> {
    /// Queues `event`, which weighs `weight` bytes of pending output until
    /// the reader takes it. Never waits: the driver bounds what it puts here
    /// by pausing its reads. The reader is woken by the next
    /// [`flush`](Self::flush) (or when the sender is dropped).
    pub(crate) fn send(&self, event: T, weight: usize) {
        let waker = {
            let mut state = self.shared.lock();
            if state.discarding {
                return;
            }
            if !state.taken && state.queued >= self.shared.untaken_capacity {
                tracing::debug!("event dropped: no callback, and the event stream was never taken");
                return;
            }
            let Some(lane) = state.lanes.get_mut(self.lane) else {
                return;
            };
            lane.events.push_back((event, weight));
            self.backlog.add(weight);
            let first_in_lane = lane.events.len() == 1;
            if first_in_lane {
                state.ready.push_back(self.lane);
            }
            state.queued += 1;
            state.wake_reader()
        };
        if waker.is_some() {
            self.wake.set(waker);
        }
    }

    /// Another sender into the same lane, so that what it sends keeps its
    /// order with this one's: a client's successive connections share one
    /// lane, and a reader that falls behind still hears the old
    /// connection's end before the new one's start.
    pub(crate) fn share(&self) -> Self {
        let mut state = self.shared.lock();
        state.producers += 1;
        if let Some(lane) = state.lanes.get_mut(self.lane) {
            lane.senders += 1;
        }
        drop(state);
        Self {
            shared: self.shared.clone(),
            lane: self.lane,
            backlog: self.backlog.clone(),
            wake: Cell::new(None),
        }
    }

    /// Wakes the reader if an event sent since the last flush found it waiting.
    pub(crate) fn flush(&self) {
        if let Some(waker) = self.wake.take() {
            waker.wake();
        }
    }

    /// Bytes of this connection's events not taken yet.
    pub(crate) fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// The same count, shared: what else holds messages for the
    /// application (async handlers) adds to it, so flow control sees both.
    pub(crate) fn shared_backlog(&self) -> &Arc<Backlog> {
        &self.backlog
    }

    /// Whether a reader has taken the stream and not dropped it.
    pub(crate) fn has_reader(&self) -> bool {
        let state = self.shared.lock();
        state.taken && !state.discarding
    }
}

impl<T> Drop for EventSender<T> {
    fn drop(&mut self) {
        self.flush();
        {
            let mut state = self.shared.lock();
            if let Some(lane) = state.lanes.get_mut(self.lane) {
                lane.senders -= 1;
                if lane.senders > 0 {
                    // Others still send into it.
                } else if lane.events.is_empty() {
                    state.lanes.remove(self.lane);
                } else {
                    lane.detached = true;
                }
            }
        }
        self.shared.producer_gone();
    }
}

/// The reading end of an [`EventQueue`].
pub(crate) struct EventStream<T> {
    /// `None` for a stream that ends at once (a second `take`).
    shared: Option<Arc<Shared<T>>>,
}

impl<T> EventStream<T> {
    pub(crate) async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next event, from the lane whose turn it is.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Some(shared) = &self.shared else {
            return Poll::Ready(None);
        };
        let mut state = shared.lock();
        let Some(id) = state.ready.pop_front() else {
            if state.producers == 0 {
                return Poll::Ready(None);
            }
            state.reader = Some(cx.waker().clone());
            return Poll::Pending;
        };
        state.queued -= 1;
        let lane = state.lanes.get_mut(id).expect("a ready lane exists");
        let (event, weight) = lane.events.pop_front().expect("a ready lane has events");
        // Released under the lock rather than through a clone of the
        // backlog's `Arc`: its count shares a cache line with the bytes the
        // driver's thread adds to. A wake-up it causes only schedules the
        // driver, and the backlog's own lock is never held around this one.
        lane.backlog.release(weight);
        if !lane.events.is_empty() {
            state.ready.push_back(id);
        } else if lane.detached {
            state.lanes.remove(id);
        }
        drop(state);
        Poll::Ready(Some(event))
    }
}

impl<T> Drop for EventStream<T> {
    fn drop(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        // Nobody reads any more: let go of every event, and of every driver
        // waiting for its events to be taken.
        let held: Vec<(Arc<Backlog>, usize)> = {
            let mut state = shared.lock();
            state.discarding = true;
            state.ready.clear();
            state.queued = 0;
            let mut held = Vec::new();
            let mut gone = Vec::new();
            for (id, lane) in state.lanes.iter_mut() {
                let weight = lane.events.drain(..).map(|(_, weight)| weight).sum();
                held.push((lane.backlog.clone(), weight));
                if lane.detached {
                    gone.push(id);
                }
            }
            for id in gone {
                state.lanes.remove(id);
            }
            held
        };
        for (backlog, weight) in held {
            backlog.release(weight);
        }
    }
}

impl<T> Stream for EventStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_next(cx)
    }
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn lanes_take_turns_and_each_keeps_its_order() {
        let queue = EventQueue::new(16);
        let mut stream = queue.take();
        let (flooder, good) = (queue.sender(), queue.sender());
        for i in 0..5 {
            flooder.send(("flood", i), 10);
        }
        good.send(("good", 0), 10);
        good.send(("good", 1), 10);
        let order: Vec<_> = (0..7).map(|_| block_on(stream.next()).unwrap()).collect();
        assert_eq!(
            order,
            [
                ("flood", 0),
                ("good", 0),
                ("flood", 1),
                ("good", 1),
                ("flood", 2),
                ("flood", 3),
                ("flood", 4)
            ]
        );
    }

    #[test]
    fn a_lane_counts_its_bytes_until_they_are_taken() {
        let queue = EventQueue::new(16);
        let mut stream = queue.take();
        let sender = queue.sender();
        sender.send(1, 100);
        sender.send(2, 50);
        assert_eq!(sender.backlog().bytes(), 150);
        assert_eq!(block_on(stream.next()), Some(1));
        assert_eq!(sender.backlog().bytes(), 50);
        drop(stream);
        assert_eq!(
            sender.backlog().bytes(),
            0,
            "a dropped stream frees the lane"
        );
        sender.send(3, 10);
        assert_eq!(sender.backlog().bytes(), 0, "and discards what comes later");
    }

    #[test]
    fn an_untaken_stream_keeps_its_capacity_and_drops_the_rest() {
        let queue = EventQueue::new(2);
        let sender = queue.sender();
        for i in 0..5 {
            sender.send(i, 1);
        }
        drop(sender);
        let mut stream = queue.take();
        drop(queue);
        assert_eq!(block_on(stream.next()), Some(0));
        assert_eq!(block_on(stream.next()), Some(1));
        assert_eq!(block_on(stream.next()), None, "ends with its producers");
    }

    /// A waker that counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiting_reader_is_woken_once_per_flush_not_per_event() {
        let queue = EventQueue::new(16);
        let mut stream = queue.take();
        let sender = queue.sender();
        let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(stream.poll_next(&mut cx).is_pending());
        for i in 0..10 {
            sender.send(i, 1);
        }
        let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(woken(), 0, "not before the round's flush");
        sender.flush();
        assert_eq!(woken(), 1);
        sender.flush();
        assert_eq!(woken(), 1, "nothing new to tell");
        for i in 0..10 {
            assert_eq!(stream.poll_next(&mut cx), Poll::Ready(Some(i)));
        }
        assert!(stream.poll_next(&mut cx).is_pending());
        sender.send(10, 1);
        drop(sender);
        assert_eq!(woken(), 2, "a sender going away flushes");
        assert_eq!(stream.poll_next(&mut cx), Poll::Ready(Some(10)));
    }

    #[test]
    fn a_lane_number_is_reused_only_once_its_lane_is_gone() {
        let queue = EventQueue::new(16);
        let mut stream = queue.take();
        let first = queue.sender();
        first.send("first 0", 1);
        drop(first); // detached: its event is still to be taken
        let second = queue.sender();
        assert_ne!(second.lane, 0, "the detached lane keeps its number");
        second.send("second 0", 1);
        assert_eq!(block_on(stream.next()), Some("first 0"));
        assert_eq!(block_on(stream.next()), Some("second 0"));
        let third = queue.sender();
        assert_eq!(
            third.lane, 0,
            "the drained detached lane's number is free again"
        );
        third.send("third 0", 1);
        second.send("second 1", 1);
        assert_eq!(block_on(stream.next()), Some("third 0"));
        assert_eq!(block_on(stream.next()), Some("second 1"));
    }

    #[test]
    fn shared_senders_keep_one_order_and_the_lane_lives_while_one_does() {
        let queue = EventQueue::new(16);
        let mut stream = queue.take();
        let first = queue.sender();
        let other = queue.sender();
        first.send("first: up", 1);
        first.send("first: down", 1);
        let second = first.share();
        drop(first);
        other.send("other", 1);
        second.send("second: up", 1);
        let order: Vec<_> = (0..4).map(|_| block_on(stream.next()).unwrap()).collect();
        assert_eq!(order, ["first: up", "other", "first: down", "second: up"]);
        assert_eq!(second.backlog().bytes(), 0);
        drop(second);
        let third = queue.sender();
        assert_eq!(third.lane, 0, "the shared lane went with its last sender");
    }

    #[test]
    fn the_stream_is_taken_once() {
        let queue = EventQueue::<u8>::new(2);
        let _first = queue.take();
        let mut second = queue.take();
        assert_eq!(block_on(second.next()), None);
    }
}

/// Models of the reader's wake-up (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    use loom::thread;

    use super::*;
    use crate::sync::model::{self, Task};

    /// Two connections send while the reader takes and sleeps, one
    /// flushing after each event, the other only by going away: the reader
    /// is woken for every event and for the end (a lost wake-up deadlocks
    /// the model), gets each lane in order, and every byte it took is
    /// released from its connection's backlog.
    #[test]
    fn loom_the_reader_is_woken_for_every_event_and_for_the_end() {
        model::check(3, || {
            let queue = EventQueue::new(4);
            let mut stream = queue.take();
            let (first, second) = (queue.sender(), queue.sender());
            let backlogs = [first.backlog.clone(), second.backlog.clone()];
            drop(queue);
            let first = thread::spawn(move || {
                first.send(("first", 0), 10);
                first.flush();
                first.send(("first", 1), 10);
                first.flush();
            });
            let second = thread::spawn(move || second.send(("second", 0), 10));
            let task = Task::new();
            let mut taken = Vec::new();
            while let Some(event) = task.block_on(stream.next()) {
                taken.push(event);
            }
            first.join().unwrap();
            second.join().unwrap();
            let lane = |name| {
                taken
                    .iter()
                    .filter(|(from, _)| *from == name)
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
            };
            assert_eq!(lane("first"), [0, 1]);
            assert_eq!(lane("second"), [0]);
            assert!(backlogs.iter().all(|backlog| backlog.bytes() == 0));
        });
    }
}
