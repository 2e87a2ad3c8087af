//! Closes and refusals between our side and Python clients and servers:
//! our `close_peer` and `shutdown` as Python sees them, and a full server
//! refusing the other side's client, both ways (Python 3.3.0).

use std::path::Path;

use veltix_driver::{
    Client, ClientConfig, CloseCode, CloseReason, Dialect, Error, Message, Runtime, Server,
    ServerConfig, ServerEvent,
};

use super::{ECHO, peer_of};
use crate::python::{Py, Release, STEP, listening_addr, within};

/// Our server (on `R`, in `release`'s dialect) ends a Python client's
/// connection twice, with `close_peer` and with `shutdown`: each time the
/// Python client notices at once, and reads nothing it cannot parse on the
/// way (the Python dialects send no ERROR frame for an orderly close).
pub async fn our_closes_reach_the_python_client<R: Runtime + Default>(
    python: &Path,
    release: Release,
) {
    let (dialect, _, client_script) = peer_of(release);
    for shutdown in [false, true] {
        let config = ServerConfig::new("127.0.0.1:0").dialect(dialect);
        let server = within(STEP, Server::<R>::bind(config)).await.expect("bind");
        let mut events = server.events();
        let port = server.local_addr().port().to_string();
        let mut py = Py::spawn(python, client_script, &["--port", &port, "--hold"]);
        assert_eq!(py.line().await, "connected", "{}", py.stderr());
        let peer = loop {
            match within(STEP, events.next()).await {
                Some(ServerEvent::Connected { peer, .. }) => break peer,
                Some(_) => {}
                None => panic!("the server's events ended"),
            }
        };
        if shutdown {
            within(STEP, server.shutdown()).await.expect("shutdown");
        } else {
            server.close_peer(peer, "goodbye").expect("close the peer");
        }
        let (status, lines) = py.finish().await;
        let report = format!("Python printed {lines:#?}{}", py.stderr());
        let how = if shutdown { "shutdown" } else { "close_peer" };
        assert!(status.success(), "{how}: not noticed; {report}");
        assert_eq!(lines, ["disconnected"], "{how}: {report}");
        assert!(
            !py.refused_frames(),
            "{how}: Python refused a frame; {report}"
        );
        if !shutdown {
            within(STEP, server.shutdown()).await.expect("shutdown");
        }
    }
}

/// A full server of ours (Python 3.x dialect, `max_connections` 1, the slot
/// taken by a client of ours) refuses the Python 3.3.0 client, which raises
/// `ServerFullError("server_full")`. The connected client is still served.
pub async fn full_server_refuses_python_3_3_client<R: Runtime + Default>(python: &Path) {
    let config = ServerConfig::new("127.0.0.1:0")
        .dialect(Dialect::Python3)
        .max_connections(1);
    let server = within(STEP, Server::<R>::bind(config)).await.expect("bind");
    server.on_message(|peer, message| {
        let _ = peer.try_reply(&message, Message::new(ECHO, message.payload().clone()));
    });
    let addr = server.local_addr();
    let holder = ClientConfig::new(addr.to_string()).dialect(Dialect::Python3);
    let holder = within(STEP, Client::<R>::connect(holder))
        .await
        .expect("the first client takes the only slot");

    let port = addr.port().to_string();
    let mut py = Py::spawn(python, "client_3_3.py", &["--port", &port, "--expect-full"]);
    let (status, lines) = py.finish().await;
    let report = format!("Python printed {lines:#?}{}", py.stderr());
    assert!(
        status.success(),
        "the Python client was not refused as full; {report}"
    );
    assert_eq!(lines, ["server_full server_full"], "{report}");
    assert_eq!(
        server.peers().len(),
        1,
        "the refused client was never listed"
    );

    let reply = within(
        STEP,
        holder.request(Message::new(ECHO, "still served"), STEP),
    )
    .await
    .expect("the first client is still served");
    assert_eq!(&reply.payload()[..], b"still served");
    within(STEP, holder.close()).await.expect("close");
    within(STEP, server.shutdown()).await.expect("shutdown");
}

/// A full Python 3.3.0 server (`max_connection` 1) refuses a second client of
/// ours: its `connect` fails with the peer's close, `SERVER_FULL`
/// "server_full". The first is still served.
pub async fn full_python_3_3_server_refuses_our_client<R: Runtime + Default>(python: &Path) {
    let mut py = Py::spawn(
        python,
        "echo_server_3_3.py",
        &["--port", "0", "--max-connections", "1"],
    );
    let line = py.line().await;
    let addr = listening_addr(&line, &py);
    let config = ClientConfig::new(addr).dialect(Dialect::Python3);
    let first = within(STEP, Client::<R>::connect(config.clone()))
        .await
        .unwrap_or_else(|e| panic!("the first client connects: {e}{}", py.stderr()));
    match within(STEP, Client::<R>::connect(config)).await {
        Err(Error::Closed(CloseReason::Peer { code, reason })) => {
            assert_eq!(code, CloseCode::SERVER_FULL);
            assert_eq!(reason, "server_full");
        }
        Ok(_) => panic!("a full Python server accepted a second client"),
        Err(other) => panic!(
            "expected the server-full refusal, got {other}{}",
            py.stderr()
        ),
    }
    let reply = within(
        STEP,
        first.request(Message::new(ECHO, "still served"), STEP),
    )
    .await
    .unwrap_or_else(|e| panic!("the first client is still served: {e}{}", py.stderr()));
    assert_eq!(&reply.payload()[..], b"still served");
    within(STEP, first.close()).await.expect("close");
}
