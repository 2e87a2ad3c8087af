//! Shared by the integration tests: a deadline for every test body, message types.

#![allow(dead_code)] // each test file uses part of it

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use veltix_mio::MessageType;

/// Echoed by the test servers.
pub(crate) const ECHO: MessageType = user_type(200);
/// A question one side asks the other from inside a callback.
pub(crate) const QUESTION: MessageType = user_type(201);
/// Asks the server to do something from inside its callback.
pub(crate) const ASK: MessageType = user_type(202);
/// Never answered.
pub(crate) const SILENT: MessageType = user_type(203);
/// A notification that makes a client act from inside its callback.
pub(crate) const NOTIFY: MessageType = user_type(204);
/// Broadcast content.
pub(crate) const CHAT: MessageType = user_type(205);

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type"),
    }
}

/// Runs `body` on its own thread and fails the test if it has not finished
/// within `limit` (a hang fails, it does not stall the suite).
pub(crate) fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => worker.join().expect("test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("body ended without reporting"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish within {limit:?}"),
    }
}

/// Receives from `rx` or fails after `limit`.
pub(crate) fn recv<T>(rx: &mpsc::Receiver<T>, limit: Duration, what: &str) -> T {
    rx.recv_timeout(limit)
        .unwrap_or_else(|err| panic!("no {what} within {limit:?}: {err}"))
}
