//! Every dialect, against a library server speaking it.

use std::time::Duration;

use veltix_tokio::{Client, ClientConfig, Dialect, Message};

use crate::support::{InProcess, KIND, Listener, local, runtime, veltix};

#[test]
fn python3_request_and_ping_against_a_python3_server() {
    let server = InProcess::echo(local().dialect(Dialect::Python3));
    let reply = veltix(&[
        "request",
        &server.addr,
        "--dialect",
        "python3",
        "--data",
        "compact",
    ]);
    assert_eq!(reply.ok(), "compact");
    let ping = veltix(&[
        "ping",
        &server.addr,
        "--dialect",
        "python3",
        "-c",
        "2",
        "-i",
        "10ms",
    ]);
    assert!(
        ping.ok().contains("2 sent, 2 received, 0% loss"),
        "{ping:?}"
    );
}

#[test]
fn python14_send_and_request_against_a_python14_server() {
    let server = InProcess::echo(local().dialect(Dialect::Python14));
    veltix(&[
        "send",
        &server.addr,
        "--dialect",
        "python1.4",
        "--data",
        "hello 1.4",
    ])
    .ok();
    assert_eq!(&server.received().payload()[..], b"hello 1.4");
    let reply = veltix(&[
        "request",
        &server.addr,
        "--dialect",
        "python14",
        "--data",
        "again",
    ]);
    assert_eq!(reply.ok(), "again");
}

#[test]
fn a_legacy_client_is_served_by_a_native_server() {
    let server = InProcess::echo(local());
    let reply = veltix(&[
        "request",
        &server.addr,
        "--dialect",
        "legacy",
        "--data",
        "old",
    ]);
    assert_eq!(reply.ok(), "old");
}

#[test]
fn listen_python3_serves_a_python3_library_client() {
    let listener = Listener::start(&["--dialect", "python3"]);
    let rt = runtime();
    let reply = rt.block_on(async {
        let config = ClientConfig::new(listener.addr.clone()).dialect(Dialect::Python3);
        let client = Client::connect(config).await.expect("a python3 handshake");
        let reply = client
            .request(Message::new(KIND, "vx"), Duration::from_secs(30))
            .await
            .expect("an echo");
        client.close().await.expect("close");
        reply
    });
    assert_eq!(&reply.payload()[..], b"vx");
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn a_dialect_mismatch_fails_with_a_hint() {
    let server = InProcess::echo(local());
    let run = veltix(&[
        "request",
        &server.addr,
        "--dialect",
        "python3",
        "--connect-timeout",
        "300ms",
    ]);
    let line = run.fails(1);
    assert!(
        line.ends_with("(does the server speak this --dialect?)"),
        "{line}"
    );
}
