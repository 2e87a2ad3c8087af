//! `veltix listen`, talked to by the library's client.

use std::time::Duration;

use veltix_tokio::{Client, ClientConfig, Message};

use crate::support::{KIND, Listener, runtime, veltix};

#[test]
fn listen_echoes_to_a_library_client_and_stops_cleanly_on_sigterm() {
    let listener = Listener::start(&[]);
    let rt = runtime();
    let reply = rt.block_on(async {
        let client = Client::connect(ClientConfig::new(listener.addr.clone()))
            .await
            .expect("connects to veltix listen");
        let reply = client
            .request(Message::new(KIND, "hello"), Duration::from_secs(30))
            .await
            .expect("an echo");
        client.close().await.expect("close");
        reply
    });
    assert_eq!(&reply.payload()[..], b"hello");
    assert_eq!(reply.message_type(), KIND);
    let status = listener.terminate();
    assert_eq!(status.code(), Some(0), "a graceful stop: {status:?}");
}

#[test]
fn listen_print_shows_each_message_on_one_line() {
    let listener = Listener::start(&["--print"]);
    veltix(&[
        "send",
        &listener.addr,
        "--type",
        "201",
        "--data",
        "two\nlines",
    ])
    .ok();
    veltix(&["send", &listener.addr, "--type", "202", "--data", "@-"]).ok(); // stdin is empty
    // Each peer's lines come in order; two peers' lines may interleave.
    let lines: Vec<String> = (0..6).map(|_| listener.line()).collect();
    let of = |peer: &str| -> Vec<&String> {
        lines.iter().filter(|line| line.starts_with(peer)).collect()
    };
    let (first, second) = (of("#1 127.0.0.1:"), of("#2 127.0.0.1:"));
    assert_eq!((first.len(), second.len()), (3, 3), "{lines:#?}");
    assert!(first[0].ends_with(" connected (native)"), "{lines:#?}");
    assert!(first[1].contains(" type=201 id="), "{lines:#?}");
    assert!(first[1].ends_with(r#" "two\nlines""#), "{lines:#?}");
    assert!(first[2].contains(" disconnected: "), "{lines:#?}");
    assert!(second[1].contains(" type=202 "), "{lines:#?}");
    assert!(second[1].ends_with(r#" """#), "{lines:#?}");
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn listen_print_json_gives_one_object_per_line() {
    let listener = Listener::start(&["--print", "--json"]);
    let rt = runtime();
    rt.block_on(async {
        let client = Client::connect(ClientConfig::new(listener.addr.clone()))
            .await
            .expect("connects");
        client
            .send(Message::new(KIND, vec![0xff, 0x00, 0x41]))
            .await
            .expect("sent");
        client.close().await.expect("close");
    });
    let parse = |line: String| -> serde_json::Value {
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    };
    let connected = parse(listener.line());
    assert_eq!(connected["event"], "connected");
    assert_eq!(connected["dialect"], "native");
    let message = parse(listener.line());
    assert_eq!(message["event"], "message");
    assert_eq!(message["peer"], connected["peer"]);
    assert_eq!(message["type"], 200);
    assert_eq!(message["len"], 3);
    assert_eq!(message["payload"], "ff0041");
    assert_eq!(message["encoding"], "hex");
    assert!(message["request_id"].is_string() || message["request_id"].is_null());
    let disconnected = parse(listener.line());
    assert_eq!(disconnected["event"], "disconnected");
    assert!(disconnected["reason"].is_string());
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn listen_json_announces_itself() {
    let certs = crate::support::Certs::new();
    let listener = Listener::start(&[
        "--json",
        "--dialect",
        "python1.4",
        "--tls-cert",
        &certs.server_cert,
        "--tls-key",
        &certs.server_key,
    ]);
    let ready: serde_json::Value = serde_json::from_str(&listener.ready).expect("JSON");
    assert_eq!(ready["event"], "listening");
    assert_eq!(ready["addr"], listener.addr);
    assert_eq!(ready["dialect"], "python1.4");
    assert_eq!(ready["mode"], "echo");
    assert_eq!(ready["tls_pin"], certs.server_pin);
    let reply = veltix(&[
        "request",
        &listener.addr,
        "--dialect",
        "python1.4",
        "--tls-pin",
        &certs.server_pin,
        "--data",
        "announced",
    ]);
    assert_eq!(reply.ok(), "announced");
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn listen_on_a_port_in_use_exits_4() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("bound").to_string();
    let line = veltix(&["listen", &addr]).fails(4).to_owned();
    assert!(
        line.starts_with(&format!("veltix: cannot listen on {addr}: ")),
        "{line}"
    );
}
