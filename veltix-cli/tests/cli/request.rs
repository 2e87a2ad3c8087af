//! `veltix request`: the reply's payload on stdout, or JSON.

use crate::support::{InProcess, local, veltix};

#[test]
fn request_prints_the_echo_byte_for_byte() {
    let server = InProcess::echo(local());
    let run = veltix(&["request", &server.addr, "--data", "hello there"]);
    assert_eq!(run.ok(), "hello there", "no newline added off a terminal");
    assert_eq!(&server.received().payload()[..], b"hello there");
}

#[test]
fn request_json_has_type_id_timestamp_payload_and_latency() {
    let server = InProcess::echo(local());
    let run = veltix(&[
        "request",
        &server.addr,
        "--type",
        "250",
        "--data",
        "ping?",
        "--timeout",
        "30s",
        "--json",
    ]);
    run.ok();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    let reply = &lines[0];
    assert_eq!(reply["type"], 250);
    assert_eq!(reply["payload"], "ping?");
    assert_eq!(reply["encoding"], "utf8");
    assert_eq!(reply["len"], 5);
    assert!(reply["request_id"].is_string(), "{reply}");
    assert!(reply["timestamp_ms"].as_u64().is_some(), "{reply}");
    assert!(
        reply["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{reply}"
    );
}

#[test]
fn an_unanswered_request_times_out_with_exit_1() {
    let server = InProcess::silent(local());
    let run = veltix(&["request", &server.addr, "--data", "x", "--timeout", "200ms"]);
    assert_eq!(
        run.fails(1),
        format!("veltix: request to {} timed out after 200ms", server.addr)
    );
    assert_eq!(run.stdout, "");
    let json = veltix(&["request", &server.addr, "--timeout", "200ms", "--json"]);
    json.fails(1);
    let error = &json.json_lines()[0];
    assert_eq!(error["exit_code"], 1);
    assert_eq!(
        error["error"],
        format!("request to {} timed out after 200ms", server.addr)
    );
}

#[test]
fn a_server_that_requires_a_key_refuses_a_wrong_one_with_exit_3() {
    let server = InProcess::echo(local().pre_shared_key("sesame"));
    let right = veltix(&["request", &server.addr, "--key", "sesame", "--data", "in"]);
    assert_eq!(right.ok(), "in");
    let wrong = veltix(&["request", &server.addr, "--key", "sesame?", "--data", "in"]);
    let line = wrong.fails(3);
    assert!(line.starts_with("veltix: cannot connect to "), "{line}");
}
