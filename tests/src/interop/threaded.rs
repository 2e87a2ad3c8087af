//! The Python clients against the threaded (blocking) `veltix_mio::Server`.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use veltix_driver::{Message, ServerConfig};

use super::{PING_ME, PING_RESULT, Seen, check_client_report, client_args, peer_of};
use crate::python::{Py, Release, STEP};

/// The Python client against the threaded (blocking) `veltix_mio::Server`,
/// which answers from its callbacks.
pub async fn python_client_to_threaded_mio_server(python: &Path, release: Release) {
    let (dialect, _, client_script) = peer_of(release);
    let config = ServerConfig::new("127.0.0.1:0").dialect(dialect);
    let server = veltix_mio::Server::bind(config).expect("bind");
    let port = server.local_addr().port().to_string();
    let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
    let state = seen.clone();
    server.on_connect(move |_, info| lock(&state.0).connected.push(info.dialect));
    let state = seen.clone();
    server.on_message(move |peer, message| {
        if message.message_type() == PING_ME {
            // Callbacks may wait for an answer: they run on worker threads.
            let rtt = peer.ping(STEP).map_err(|e| e.to_string());
            let text = match &rtt {
                Ok(rtt) => format!("{}", rtt.as_secs_f64() * 1000.0),
                Err(_) => "None".to_owned(),
            };
            let sent = peer.send(Message::new(PING_RESULT, text));
            let mut seen = lock(&state.0);
            seen.ping = Some(rtt);
            if let Err(e) = sent {
                seen.failed_reply.get_or_insert(e.to_string());
            }
            return;
        }
        lock(&state.0).message(dialect, &message);
        let echo = Message::new(message.message_type(), message.payload().clone());
        if let Err(e) = peer.reply(&message, echo) {
            lock(&state.0).failed_reply.get_or_insert(e.to_string());
        }
    });
    let state = seen.clone();
    server.on_disconnect(move |_, _| {
        lock(&state.0).disconnected = true;
        state.1.notify_all();
    });

    let args = client_args(&port, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut py = Py::spawn(python, client_script, &args);
    let (status, lines) = py.finish().await;
    check_client_report(status, &lines, &py, false);
    tokio::task::spawn_blocking(move || {
        let (mutex, gone) = &*seen;
        let guard = gone
            .wait_timeout_while(lock(mutex), STEP, |s| !s.disconnected)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        guard.check(dialect, false);
        drop(guard);
        server.shutdown().expect("shutdown");
    })
    .await
    .expect("the threaded server's checks");
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
