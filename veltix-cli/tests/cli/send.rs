//! `veltix send`: the server gets the message.

use crate::support::{InProcess, local, veltix};

#[test]
fn send_delivers_one_message_and_exits_0() {
    let server = InProcess::silent(local());
    let run = veltix(&["send", &server.addr, "--type", "321", "--data", "hello"]);
    assert_eq!(run.ok(), "", "nothing on stdout without --json");
    let got = server.received();
    assert_eq!(got.message_type().code(), 321);
    assert_eq!(&got.payload()[..], b"hello");
}

#[test]
fn send_reads_data_from_a_file_and_reports_in_json() {
    let server = InProcess::silent(local());
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("payload.bin");
    let bytes: Vec<u8> = (0..=255).collect();
    std::fs::write(&path, &bytes).expect("written");
    let data = format!("@{}", path.display());
    let run = veltix(&["send", &server.addr, "--data", &data, "--json"]);
    let report = &run.json_lines()[0];
    run.ok();
    assert_eq!(report["sent"], true);
    assert_eq!(report["len"], 256);
    assert_eq!(report["type"], 200);
    assert_eq!(&server.received().payload()[..], &bytes[..]);
}

#[test]
fn send_to_a_closed_port_exits_4() {
    let addr = free_port();
    let line = veltix(&["send", &addr, "--data", "x"]).fails(4).to_owned();
    assert!(
        line.starts_with(&format!("veltix: cannot connect to {addr}: ")),
        "{line}"
    );
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("bound").to_string()
}
