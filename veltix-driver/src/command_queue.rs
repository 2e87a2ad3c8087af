//! The queue between a connection's handles and its driver.
//!
//! Many senders (every clone of a [`DriverHandle`](crate::handle::DriverHandle)), one driver.
//! The driver takes everything queued in one step — one lock for a whole
//! burst, not one synchronised pop per message — and senders wake it only
//! when they put the first command into an empty queue: while the queue holds
//! anything, a wake-up is already on its way or the driver is running.
//!
//! Memory follows use: the queue allocates nothing until a command arrives,
//! and the driver gives back large buffers once it has emptied them, so an
//! idle connection holds no command slots (a preallocated bounded channel of
//! 64 commands cost about 7 KiB per connection).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use event_listener::{Event, EventListener};
use futures::Stream;

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex, MutexGuard};

/// Slots an empty buffer keeps when the driver says the connection is
/// quiet ([`Receiver::shrink_to_fit`]); larger ones are freed then, so a
/// burst's buffer does not outlive the burst by more than a timer round.
/// During a burst the two buffers (the senders' and the driver's) trade
/// places whole: refilling one freed at every take would copy every
/// command again as it grows.
const KEEP_SLOTS: usize = 64;

/// What a queued item weighs against the queue's byte bound.
pub(crate) trait Weigh {
    /// Bytes this item stands for (a command: the bytes it will put on the
    /// wire, header included, so that even empty messages count).
    fn weight(&self) -> usize;

    /// Whether the item answers something the connection read (a reply):
    /// such output pauses reading while it piles up; a side's own sends do
    /// not (see `FlowControl`).
    fn is_answer(&self) -> bool {
        false
    }
}

/// Items in order with their summed [`Weigh::weight`]: the queue's contents,
/// and the driver's commands not applied yet.
#[derive(Debug)]
pub(crate) struct Weighed<T> {
    items: VecDeque<T>,
    bytes: usize,
    /// The part of `bytes` that answers ([`Weigh::is_answer`]).
    answers: usize,
}

impl<T> Default for Weighed<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            answers: 0,
        }
    }
}

impl<T: Weigh> Weighed<T> {
    /// The summed weight of the items.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The summed weight of the items that answer.
    pub(crate) fn answer_bytes(&self) -> usize {
        self.answers
    }

    fn count(&mut self, item: &T) {
        let weight = item.weight();
        self.bytes = self.bytes.saturating_add(weight);
        if item.is_answer() {
            self.answers = self.answers.saturating_add(weight);
        }
    }

    fn uncount(&mut self, item: &T) {
        let weight = item.weight();
        self.bytes = self.bytes.saturating_sub(weight);
        if item.is_answer() {
            self.answers = self.answers.saturating_sub(weight);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn push_back(&mut self, item: T) {
        self.count(&item);
        self.items.push_back(item);
    }

    /// Puts back an item just taken from the front.
    pub(crate) fn push_front(&mut self, item: T) {
        self.count(&item);
        self.items.push_front(item);
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.uncount(&item);
        Some(item)
    }

    /// Frees the buffer if it is empty and larger than [`KEEP_SLOTS`].
    pub(crate) fn shrink_to_fit(&mut self) {
        if self.items.is_empty() && self.items.capacity() > KEEP_SLOTS {
            self.items = VecDeque::new();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.answers = 0;
    }

    /// Moves every item of `other` to the back of `self`, leaving `other`
    /// empty (the two buffers swapped when `self` is empty).
    fn take_all(&mut self, other: &mut Self) {
        if self.items.is_empty() {
            std::mem::swap(self, other);
        } else {
            self.items.append(&mut other.items);
            self.bytes = self.bytes.saturating_add(other.bytes);
            self.answers = self.answers.saturating_add(other.answers);
            other.bytes = 0;
            other.answers = 0;
        }
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// Why a command was not queued; the command comes back.
#[derive(Debug)]
pub(crate) enum TrySendError<T> {
    /// The queue holds its capacity; the driver is not taking commands.
    Full(T),
    /// The driver is gone or closed the queue.
    Closed(T),
}

struct State<T> {
    items: Weighed<T>,
    /// Live senders; the queue ends for the driver when the last is dropped.
    senders: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Bytes the queue holds before senders wait. The bound is checked
    /// before an item is added, so an item of any size fits while the queue
    /// holds less than this. Every item weighs at least a frame header, so
    /// the bound also limits how many there are.
    max_bytes: usize,
    /// Set once: later sends fail, queued commands are still taken.
    closed: AtomicBool,
    /// Whether `items` may hold anything: set under the lock by the push
    /// that fills an empty queue, cleared under it by the take that empties
    /// it, read without it by the driver, which polls far more often than
    /// commands arrive (a request/response connection polls a few times per
    /// command, and each look at an empty queue would otherwise cost the
    /// lock twice and a waker registration).
    queued: AtomicBool,
    /// Set when the last sender is dropped, for the same lock-free look.
    no_senders: AtomicBool,
    /// A copy of `items.answer_bytes()`, written under the lock, for the
    /// driver's flow control to read without it (a hint: it may lag a push).
    answers: AtomicUsize,
    /// Whether `driver` holds a waker no sender has taken yet. Changed only
    /// under the `driver` lock, together with `driver`, so a set flag always
    /// means a waker is there to wake. Read without the lock by senders (no
    /// lock when the driver is not waiting) and by the driver (no second
    /// registration while armed with the same waker). Paired (SeqCst) with
    /// `queued` and `no_senders`: the driver sets this and then looks at
    /// those, senders set those and then look at this, so one of the two
    /// always sees the other.
    armed: AtomicBool,
    /// The driver's waker, for the first command into an empty queue and
    /// for the last sender leaving. A lock, not an `AtomicWaker`: the flag
    /// must change with the waker (see `wake_driver`), and both sides take
    /// it at most once per sleep of the driver.
    driver: Mutex<Option<Waker>>,
    /// Senders waiting for room.
    room: Event,
}

impl<T> Shared<T> {
    /// Wakes the driver if it waits on this queue.
    ///
    /// The flag is cleared with the waker taken, under one lock: a sender
    /// that cleared it and was then delayed before waking must not take a
    /// waker the driver registered after that. (With the two apart, the
    /// driver could take the command by other means, arm again, be woken by
    /// the late sender with the new registration, then skip registering
    /// while "armed" — and the next command into the empty queue woke
    /// nobody. The loom model `loom_a_command_into_an_empty_queue_wakes_the_sleeping_driver`
    /// found that interleaving.)
    fn wake_driver(&self) {
        // After the store of `queued` or `no_senders`.
        crate::sync::seq_cst_pairing();
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let waker = {
            let mut driver = crate::sync::lock(&self.driver);
            if self.armed.swap(false, Ordering::SeqCst) {
                driver.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Makes sure `waker` is woken by the next command (or the last sender
    /// leaving); `registered` is the receiver's copy of what it registered.
    fn arm(&self, registered: &mut Option<Waker>, waker: &Waker) {
        let current = self.armed.load(Ordering::SeqCst)
            && registered.as_ref().is_some_and(|w| w.will_wake(waker));
        if !current {
            let mut driver = crate::sync::lock(&self.driver);
            *driver = Some(waker.clone());
            self.armed.store(true, Ordering::SeqCst);
            drop(driver);
            *registered = Some(waker.clone());
        }
        // Before the loads of `queued`, `closed` and `no_senders`.
        crate::sync::seq_cst_pairing();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock (pushes and swaps only), so
        // a poisoned lock still guards a consistent queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A queue that takes commands while it holds less than `max_bytes`.
pub(crate) fn bounded<T: Weigh>(max_bytes: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: Weighed::default(),
            senders: 1,
        }),
        max_bytes,
        closed: AtomicBool::new(false),
        queued: AtomicBool::new(false),
        answers: AtomicUsize::new(0),
        no_senders: AtomicBool::new(false),
        armed: AtomicBool::new(false),
        driver: Mutex::new(None),
        room: Event::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver {
            shared,
            registered: None,
        },
    )
}

/// The sending side; cloning it adds a sender.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.no_senders.store(true, Ordering::SeqCst);
            self.shared.wake_driver();
        }
    }
}

impl<T: Weigh> Sender<T> {
    /// Queues `item` unless the queue is full or closed.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let shared = &*self.shared;
        let was_empty = {
            let mut state = shared.lock();
            // Checked under the lock: the receiver closes under it too, so
            // nothing is pushed after its final drain.
            if shared.closed.load(Ordering::Relaxed) {
                return Err(TrySendError::Closed(item));
            }
            if state.items.bytes() >= shared.max_bytes {
                return Err(TrySendError::Full(item));
            }
            state.items.push_back(item);
            shared
                .answers
                .store(state.items.answer_bytes(), Ordering::Relaxed);
            let was_empty = state.items.len() == 1;
            if was_empty {
                shared.queued.store(true, Ordering::SeqCst);
            }
            was_empty
        };
        if was_empty {
            shared.wake_driver();
        }
        Ok(())
    }

    /// Queues `item`, waiting while the queue is full; gives it back if the
    /// queue is closed.
    pub(crate) async fn send(&self, mut item: T) -> Result<(), T> {
        loop {
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(back),
                Err(TrySendError::Full(back)) => item = back,
            }
            // Listen first, then try again: room made in between is not missed.
            let listener: EventListener = self.shared.room.listen();
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(back),
                Err(TrySendError::Full(back)) => item = back,
            }
            listener.await;
        }
    }

    /// Whether the driver closed the queue or is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// The driver's side.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The waker last registered, to skip registering it again.
    registered: Option<Waker>,
}

impl<T: Weigh> Receiver<T> {
    /// Moves every queued command to the back of `into`. Ready(true) when
    /// at least one was moved, Ready(false) when the queue is empty and will
    /// stay so (closed, or no sender left), Pending otherwise (`cx` is woken
    /// by the next command or by the last sender leaving).
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>, into: &mut Weighed<T>) -> Poll<bool> {
        if let Some(taken) = self.take(into) {
            return Poll::Ready(taken);
        }
        self.shared.arm(&mut self.registered, cx.waker());
        // Again after registering: a command queued in between is not missed.
        match self.take(into) {
            Some(taken) => Poll::Ready(taken),
            None => Poll::Pending,
        }
    }

    /// Some(true) when commands were moved, Some(false) at the end, None
    /// when the queue is empty for now.
    fn take(&self, into: &mut Weighed<T>) -> Option<bool> {
        let shared = &*self.shared;
        // Pairs with the stores of `try_send`, `Sender::drop` and `close`,
        // which change what an empty queue means.
        if !shared.queued.load(Ordering::SeqCst) && !self.may_have_ended() {
            return None;
        }
        let mut state = shared.lock();
        if state.items.is_empty() {
            let ended = state.senders == 0 || shared.closed.load(Ordering::Relaxed);
            return ended.then_some(false);
        }
        shared.queued.store(false, Ordering::Relaxed);
        into.take_all(&mut state.items);
        shared.answers.store(0, Ordering::Relaxed);
        drop(state);
        self.shared.room.notify(usize::MAX);
        Some(true)
    }

    /// Whether the queue may be closed or without senders (checked under
    /// the lock before it is believed).
    fn may_have_ended(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst) || self.shared.no_senders.load(Ordering::SeqCst)
    }

    /// Takes one command without waiting.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let item = {
            let mut state = self.shared.lock();
            let item = state.items.pop_front();
            self.shared
                .answers
                .store(state.items.answer_bytes(), Ordering::Relaxed);
            item
        };
        if item.is_some() {
            self.shared.room.notify(1);
        }
        item
    }

    /// Commands queued now.
    #[cfg(test)]
    pub(crate) fn len_for_tests(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Frees the senders' buffer if it is empty and large (a burst's);
    /// the driver calls it when the connection goes quiet.
    pub(crate) fn shrink_to_fit(&self) {
        self.shared.lock().items.shrink_to_fit();
    }

    /// Refuses later sends; what is queued can still be taken.
    pub(crate) fn close(&self) {
        let _state = self.shared.lock();
        self.shared.closed.store(true, Ordering::Release);
        drop(_state);
        // Waiting senders learn it is closed.
        self.shared.room.notify(usize::MAX);
    }

    /// The bytes of answers queued (read without the lock: may lag a
    /// concurrent push).
    pub(crate) fn queued_answer_bytes(&self) -> usize {
        self.shared.answers.load(Ordering::Relaxed)
    }

    /// The byte bound of the queue.
    pub(crate) fn max_bytes(&self) -> usize {
        self.shared.max_bytes
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // As `close`.
        let state = self.shared.lock();
        self.shared.closed.store(true, Ordering::Release);
        drop(state);
        self.shared.room.notify(usize::MAX);
        // Dropped outside the lock: a command's drop answers its waiter.
        let items = std::mem::take(&mut self.shared.lock().items);
        drop(items);
    }
}

impl<T: Weigh> Stream for Receiver<T> {
    type Item = T;

    /// One command at a time, for the rare loops that want a stream (a
    /// client between connections); the driver uses [`Receiver::poll_take`].
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let next = |this: &Self| {
            let mut state = this.shared.lock();
            match state.items.pop_front() {
                Some(item) => {
                    this.shared
                        .answers
                        .store(state.items.answer_bytes(), Ordering::Relaxed);
                    Some(Some(item))
                }
                None if state.senders == 0 || this.shared.closed.load(Ordering::Relaxed) => {
                    Some(None)
                }
                None => None,
            }
        };
        let polled = next(this).or_else(|| {
            this.shared.arm(&mut this.registered, cx.waker());
            next(this)
        });
        match polled {
            Some(item) => {
                if item.is_some() {
                    this.shared.room.notify(1);
                }
                Poll::Ready(item)
            }
            None => Poll::Pending,
        }
    }
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use futures::StreamExt as _;

    use super::*;

    impl Weigh for i32 {
        fn weight(&self) -> usize {
            1
        }
    }

    impl Weigh for Arc<()> {
        fn weight(&self) -> usize {
            1
        }
    }

    impl Weigh for Vec<u8> {
        fn weight(&self) -> usize {
            self.len()
        }
    }

    /// Counts wake-ups.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn contents(items: &Weighed<i32>) -> Vec<i32> {
        items.iter().copied().collect()
    }

    fn counting() -> (Arc<CountingWaker>, std::task::Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (counter.clone(), counter.into())
    }

    #[test]
    fn takes_everything_queued_in_order_and_wakes_once_per_empty_queue() {
        let (tx, mut rx) = bounded(usize::MAX);
        let (wakes, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut into = Weighed::default();
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Pending);
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "only the first push wakes"
        );
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        assert_eq!(contents(&into), [0, 1, 2, 3, 4]);
        tx.try_send(5).unwrap();
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        assert_eq!(
            contents(&into),
            [0, 1, 2, 3, 4, 5],
            "appended behind what is left"
        );
        assert_eq!(into.bytes(), 6, "weights add up");
    }

    #[test]
    fn the_latest_waker_is_the_one_woken() {
        let (tx, mut rx) = bounded(usize::MAX);
        let (first_wakes, first) = counting();
        let (second_wakes, second) = counting();
        let mut into = Weighed::default();
        for _ in 0..3 {
            assert_eq!(
                rx.poll_take(&mut Context::from_waker(&first), &mut into),
                Poll::Pending
            );
        }
        assert_eq!(
            rx.poll_take(&mut Context::from_waker(&second), &mut into),
            Poll::Pending
        );
        tx.try_send(1).unwrap();
        assert_eq!(second_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(first_wakes.0.load(Ordering::SeqCst), 0);
        // Woken once; the next command into the (still full) queue does not wake again.
        tx.try_send(2).unwrap();
        assert_eq!(second_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            rx.poll_take(&mut Context::from_waker(&second), &mut into),
            Poll::Ready(true)
        );
        assert_eq!(contents(&into), [1, 2]);
    }

    #[test]
    fn full_at_the_byte_bound_and_room_after_a_take() {
        let (tx, mut rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let (_, waker) = counting();
        let mut into = Weighed::default();
        assert_eq!(
            rx.poll_take(&mut Context::from_waker(&waker), &mut into),
            Poll::Ready(true)
        );
        tx.try_send(3).unwrap();
    }

    #[test]
    fn an_item_of_any_size_fits_below_the_bound() {
        let (tx, mut rx) = bounded(10);
        tx.try_send(vec![0; 64]).unwrap();
        assert!(matches!(
            tx.try_send(vec![0; 1]),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(rx.try_recv().map(|v| v.len()), Some(64));
        tx.try_send(vec![0; 6]).unwrap();
        tx.try_send(vec![0; 30]).unwrap();
        assert!(matches!(
            tx.try_send(vec![0; 1]),
            Err(TrySendError::Full(_))
        ));
        let (_, waker) = counting();
        let mut into = Weighed::default();
        assert_eq!(
            rx.poll_take(&mut Context::from_waker(&waker), &mut into),
            Poll::Ready(true)
        );
        assert_eq!(into.bytes(), 36);
        tx.try_send(vec![0; 10]).unwrap();
    }

    #[test]
    fn a_waiting_sender_gets_in_once_the_driver_takes() {
        let (tx, mut rx) = bounded(1);
        tx.try_send(1).unwrap();
        let mut send = Box::pin(tx.send(2));
        let (sender_wakes, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        assert!(send.as_mut().poll(&mut cx).is_pending());
        let mut into = Weighed::default();
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        assert!(
            sender_wakes.0.load(Ordering::SeqCst) >= 1,
            "room wakes the sender"
        );
        assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Some(2));
    }

    #[test]
    fn ends_when_the_last_sender_leaves_after_the_queue_is_drained() {
        let (tx, mut rx) = bounded(usize::MAX);
        let other = tx.clone();
        tx.try_send(1).unwrap();
        drop(tx);
        let (wakes, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut into = Weighed::default();
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Pending);
        drop(other);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the last sender wakes the driver"
        );
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(false));
    }

    #[test]
    fn close_refuses_new_commands_but_keeps_queued_ones() {
        let (tx, mut rx) = bounded(usize::MAX);
        tx.try_send(1).unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Closed(2))));
        assert_eq!(futures::executor::block_on(rx.next()), Some(1));
        assert_eq!(futures::executor::block_on(rx.next()), None);
        assert_eq!(futures::executor::block_on(tx.send(3)), Err(3));
    }

    #[test]
    fn dropping_the_receiver_drops_queued_commands_and_fails_waiting_senders() {
        let (tx, rx) = bounded(1);
        let queued = Arc::new(());
        tx.try_send(queued.clone()).unwrap();
        let mut send = Box::pin(tx.send(Arc::new(())));
        let (_, waker) = counting();
        assert!(
            send.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(rx);
        assert_eq!(
            Arc::strong_count(&queued),
            1,
            "the queued command was dropped"
        );
        assert!(matches!(
            send.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn a_burst_buffer_is_reused_until_the_connection_is_quiet() {
        let (tx, mut rx) = bounded(usize::MAX);
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut into = Weighed::default();
        for i in 0..1000 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        into.clear();
        tx.try_send(0).unwrap();
        // The empty burst-sized buffer goes to the senders, for the next batch…
        assert_eq!(rx.poll_take(&mut cx, &mut into), Poll::Ready(true));
        assert!(rx.shared.lock().items.items.capacity() >= 1000);
        // …until the connection is quiet.
        rx.shrink_to_fit();
        into.clear();
        into.shrink_to_fit();
        assert!(rx.shared.lock().items.items.capacity() <= KEEP_SLOTS);
        assert!(into.items.capacity() <= KEEP_SLOTS);
    }
}

/// Models of the queue's protocol (see `crate::sync` for how to run them).
#[cfg(all(test, veltix_loom))]
mod loom_tests {
    impl<T: Weigh> Receiver<T> {
        /// Every byte queued, answers or not (under the lock).
        fn queued_bytes(&self) -> usize {
            self.shared.lock().items.bytes()
        }
    }

    use std::future::poll_fn;

    use futures::StreamExt as _;
    use loom::thread;

    use super::*;
    use crate::sync::model::{self, Counter, Task};

    /// An id and a weight.
    #[derive(Debug)]
    struct Item(u32, usize);

    impl Weigh for Item {
        fn weight(&self) -> usize {
            self.1
        }
    }

    fn ids(items: &Weighed<Item>) -> Vec<u32> {
        items.items.iter().map(|item| item.0).collect()
    }

    /// The driver: takes until `into` holds `n` items, sleeping whenever
    /// the queue is empty (a lost wake-up deadlocks the model).
    fn take_until(
        task: &std::sync::Arc<Task>,
        rx: &mut Receiver<Item>,
        into: &mut Weighed<Item>,
        n: usize,
    ) {
        task.block_on(poll_fn(|cx| {
            while into.len() < n {
                match rx.poll_take(cx, into) {
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => panic!("the queue ended early"),
                    Poll::Pending => return Poll::Pending,
                }
            }
            Poll::Ready(())
        }));
    }

    /// Two senders put a command each into an empty queue while the driver
    /// takes and sleeps, and something else (a socket) wakes the driver
    /// once: both commands are taken, so every first command into an empty
    /// queue woke a driver that was asleep on it.
    #[test]
    fn loom_a_command_into_an_empty_queue_wakes_the_sleeping_driver() {
        model::check(3, || {
            let (tx, mut rx) = bounded(usize::MAX);
            // Held to the end: the last sender leaving would wake the driver too.
            let (first, second) = (tx.clone(), tx.clone());
            let first = thread::spawn(move || first.try_send(Item(1, 1)).unwrap());
            let second = thread::spawn(move || second.try_send(Item(2, 1)).unwrap());
            let task = Task::new();
            let socket = task.poke_once();
            let mut into = Weighed::default();
            take_until(&task, &mut rx, &mut into, 2);
            first.join().unwrap();
            second.join().unwrap();
            socket.join().unwrap();
            let mut taken = ids(&into);
            taken.sort_unstable();
            assert_eq!(taken, [1, 2]);
            drop(tx);
        });
    }
    /// The same through the `Stream` a client uses between connections.
    #[test]
    fn loom_the_stream_wakes_like_poll_take() {
        model::check(2, || {
            let (tx, mut rx) = bounded(usize::MAX);
            let (first, second) = (tx.clone(), tx.clone());
            let first = thread::spawn(move || first.try_send(Item(1, 1)).unwrap());
            let second = thread::spawn(move || second.try_send(Item(2, 1)).unwrap());
            let task = Task::new();
            let socket = task.poke_once();
            let mut taken = vec![
                task.block_on(rx.next()).unwrap().0,
                task.block_on(rx.next()).unwrap().0,
            ];
            socket.join().unwrap();
            first.join().unwrap();
            second.join().unwrap();
            taken.sort_unstable();
            assert_eq!(taken, [1, 2]);
            drop(tx);
        });
    }

    /// A sender queues and leaves while another leaves: the driver takes
    /// the command, then sees the end (woken by the last one to leave).
    #[test]
    fn loom_the_last_sender_leaving_ends_the_queue() {
        model::check(3, || {
            let (tx, mut rx) = bounded(usize::MAX);
            let other = tx.clone();
            let sending = thread::spawn(move || tx.try_send(Item(1, 1)).unwrap());
            let leaving = thread::spawn(move || drop(other));
            let mut into = Weighed::default();
            Task::new().block_on(poll_fn(|cx| {
                loop {
                    match rx.poll_take(cx, &mut into) {
                        Poll::Ready(true) => {}
                        Poll::Ready(false) => return Poll::Ready(()),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }));
            assert_eq!(ids(&into), [1]);
            sending.join().unwrap();
            leaving.join().unwrap();
        });
    }

    /// Three senders race for a budget of 3 bytes with items of 2: the
    /// first two fit (the second while 2 < 3), the third is `Full` — in
    /// every order — and there is room again once the driver has taken.
    #[test]
    fn loom_full_exactly_at_the_byte_budget() {
        model::check(4, || {
            let (tx, mut rx) = bounded(3);
            let senders: Vec<_> = (0..3)
                .map(|id| {
                    let tx = tx.clone();
                    thread::spawn(move || tx.try_send(Item(id, 2)).is_ok())
                })
                .collect();
            let accepted = senders
                .into_iter()
                .map(|sender| sender.join().unwrap())
                .filter(|&ok| ok)
                .count();
            assert_eq!(accepted, 2, "fits while below the budget, then Full");
            assert_eq!(rx.queued_bytes(), 4, "over by less than one item");
            let (_, waker) = Counter::new();
            let mut into = Weighed::default();
            assert_eq!(
                rx.poll_take(&mut Context::from_waker(&waker), &mut into),
                Poll::Ready(true)
            );
            assert_eq!(into.bytes(), 4);
            assert!(tx.try_send(Item(9, 2)).is_ok(), "room after a take");
        });
    }

    /// Senders fill a 2-byte budget while the driver takes: every take holds
    /// less than the budget plus one item, `Full` comes only when what the
    /// others queued filled the budget, and every accepted command is taken
    /// once, in its sender's order.
    #[test]
    fn loom_the_budget_holds_while_the_driver_takes() {
        model::check(3, || {
            let (tx, mut rx) = bounded(2);
            let other = tx.clone();
            let first = thread::spawn(move || {
                [
                    tx.try_send(Item(1, 1)).is_ok(),
                    tx.try_send(Item(2, 1)).is_ok(),
                ]
            });
            let second = thread::spawn(move || other.try_send(Item(3, 2)).is_ok());
            let (_, waker) = Counter::new();
            let mut cx = Context::from_waker(&waker);
            let mut taken = Vec::new();
            let mut take = |rx: &mut Receiver<Item>| {
                let mut into = Weighed::default();
                if rx.poll_take(&mut cx, &mut into).is_ready() {
                    assert!(into.bytes() < 2 + 2, "the budget plus one item at most");
                    taken.extend(ids(&into));
                }
            };
            take(&mut rx);
            assert!(rx.queued_bytes() < 2 + 2);
            take(&mut rx);
            let [one, two] = first.join().unwrap();
            let three = second.join().unwrap();
            take(&mut rx);
            // Only the others' items can fill the budget.
            assert!(one || three, "1 refused while 3 was not queued");
            assert!(two || three, "2 refused while 3 was not queued");
            assert!(
                three || (one && two),
                "3 refused while 1 and 2 were not both queued"
            );
            let mut accepted: Vec<u32> = [(1, one), (2, two), (3, three)]
                .into_iter()
                .filter_map(|(id, ok)| ok.then_some(id))
                .collect();
            let in_order: Vec<u32> = taken.iter().copied().filter(|&id| id != 3).collect();
            assert!(in_order.is_sorted(), "a sender's commands in order");
            taken.sort_unstable();
            accepted.sort_unstable();
            assert_eq!(taken, accepted, "every accepted command taken once");
            assert_eq!(rx.queued_bytes(), 0);
        });
    }
}
