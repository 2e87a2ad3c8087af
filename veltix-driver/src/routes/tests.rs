//! Unit tests of the handler dispatch and the async lane.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use futures::channel::oneshot;
use veltix_core::MessageType;

use super::*;
use crate::PeerId;
use crate::handle::{Command, DriverEnds, DriverHandle};

fn peer() -> (Peer, DriverEnds) {
    let (handle, ends) = DriverHandle::new(1 << 20);
    let addr = "127.0.0.1:1".parse().expect("an address");
    (
        Peer {
            id: PeerId(1),
            addr,
            handle,
        },
        ends,
    )
}

fn message(text: &'static str, id: u128) -> Message {
    Message::new(
        MessageType::new(200).unwrap(),
        Bytes::from_static(text.as_bytes()),
    )
    .with_request_id(RequestId::from_u128(id))
}

/// Gates the handlers wait on, by payload.
type Gates = Arc<Mutex<HashMap<String, oneshot::Receiver<()>>>>;

/// Messages for a stuck async handler hold their bytes in the backlog
/// until each handler is done (answered, or panicked); handlers start
/// one at a time in arrival order; a closed lane finishes what it holds.
#[test]
fn async_messages_hold_the_backlog_until_their_handlers_finish() {
    let (peer, ends) = peer();
    let gates: Gates = Arc::default();
    let mut open = HashMap::new();
    for name in ["a", "panic", "c"] {
        let (tx, rx) = oneshot::channel();
        gates.lock().unwrap().insert(name.to_owned(), rx);
        open.insert(name, tx);
    }
    let handlers = MessageHandlers::default();
    let started = Arc::new(Mutex::new(Vec::new()));
    let (waits, seen) = (gates.clone(), started.clone());
    handlers.on_message(Handler::asynchronous(move |_, message: Message| {
        let name = String::from_utf8_lossy(message.payload()).into_owned();
        seen.lock().unwrap().push(name.clone());
        let gate = waits.lock().unwrap().remove(&name).expect("a gate");
        async move {
            let _ = gate.await;
            assert_ne!(name, "panic", "a handler panicked on purpose");
            Some(message)
        }
    }));
    let backlog = crate::sync::Arc::new(Backlog::default());
    let task: RefCell<Option<LaneTask>> = RefCell::new(None);
    let spawn = |t| *task.borrow_mut() = Some(t);
    let env = HandlerEnv {
        peer: &peer,
        backlog: &backlog,
        concurrency: 1,
        spawn: &spawn,
        before_sync: &|| {},
    };
    let mut dispatch = Dispatch::default();
    for (i, (name, weight)) in [("a", 10), ("panic", 20), ("c", 30)]
        .into_iter()
        .enumerate()
    {
        assert!(
            dispatch
                .message(&handlers, &env, message(name, i as u128 + 1), weight)
                .is_ok()
        );
    }
    assert_eq!(backlog.bytes(), 60);
    let mut task = task.borrow_mut().take().expect("the lane's task started");
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut poll = || task.as_mut().poll(&mut cx);

    assert!(poll().is_pending());
    assert_eq!(*started.lock().unwrap(), ["a"], "one at a time");
    let _ = open.remove("a").unwrap().send(());
    assert!(poll().is_pending());
    assert_eq!(backlog.bytes(), 50, "a's bytes released");
    match ends.commands.try_recv() {
        Some(Command::Reply(id, _)) => assert_eq!(id, RequestId::from_u128(1)),
        _ => panic!("a's reply queued"),
    }
    assert_eq!(*started.lock().unwrap(), ["a", "panic"]);
    let _ = open.remove("panic").unwrap().send(());
    assert!(poll().is_pending());
    assert_eq!(backlog.bytes(), 30, "released by the panic too");
    assert_eq!(peer.stats().handler_errors, 1);
    assert!(ends.commands.try_recv().is_none(), "no reply for the panic");
    // The connection ends: the lane finishes what it holds, then ends.
    drop(dispatch);
    assert!(poll().is_pending());
    let _ = open.remove("c").unwrap().send(());
    assert!(poll().is_ready());
    assert_eq!(backlog.bytes(), 0);
}

#[test]
fn return_values_become_replies_errors_or_nothing() {
    assert!(matches!(().into_reply(), Reply::Nothing));
    assert!(matches!(None::<Message>.into_reply(), Reply::Nothing));
    let ok: Result<Message, String> = Ok(message("x", 1));
    assert!(matches!(ok.into_reply(), Reply::Message(_)));
    let failed: Result<(), &str> = Err("no such user");
    assert!(matches!(failed.into_reply(), Reply::Failed(e) if e == "no such user"));
}

/// A sync route answers through the direct path at once, after the
/// connection's `before_sync` (which wakes the event reader); a type with
/// no route and no `on_message` comes back, marked as routed, without it.
#[test]
fn sync_routes_answer_and_the_rest_comes_back() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static BEFORE: AtomicUsize = AtomicUsize::new(0);
    let (peer, ends) = peer();
    let handlers = MessageHandlers::default();
    handlers.route(
        200,
        Handler::sync(|_, message: Message| {
            assert_eq!(BEFORE.load(Ordering::SeqCst), 1, "before_sync ran first");
            message
        }),
    );
    let backlog = crate::sync::Arc::new(Backlog::default());
    let env = HandlerEnv {
        peer: &peer,
        backlog: &backlog,
        concurrency: 1,
        spawn: &|_| panic!("no async handler here"),
        before_sync: &|| {
            BEFORE.fetch_add(1, Ordering::SeqCst);
        },
    };
    let mut dispatch = Dispatch::default();
    assert!(
        dispatch
            .message(&handlers, &env, message("x", 7), 10)
            .is_ok()
    );
    assert!(matches!(
        ends.commands.try_recv(),
        Some(Command::Reply(id, _)) if id == RequestId::from_u128(7)
    ));
    let other = Message::new(MessageType::new(201).unwrap(), Bytes::new());
    match dispatch.message(&handlers, &env, other, 10) {
        Err(unhandled) => assert!(unhandled.routed),
        Ok(()) => panic!("nothing handles type 201"),
    }
    assert_eq!(
        BEFORE.load(Ordering::SeqCst),
        1,
        "not for an unhandled message"
    );
    assert_eq!(backlog.bytes(), 0);
}
