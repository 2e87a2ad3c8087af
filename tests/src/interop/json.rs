//! JSON payloads between us and a real Python Veltix 3.3.0, both directions,
//! on the compact wire: `Message::json` / `Message::parse_json` on our side,
//! `Request(T, json=…)` / `Response.json` on Python's
//! (`tests/python/json_peer_3_3.py`).
//!
//! Python writes `json.dumps(value)` (ASCII, `\uXXXX` escapes, `", "` and
//! `": "` separators); we write compact UTF-8 JSON. Each side decodes the
//! other's and sends it back, so a value that survives the trip was read
//! right both ways. The sample has non-ASCII text (outside the BMP too),
//! escapes, an integer beyond f64's precision, floats and nesting.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;
use veltix_driver::{
    Client, ClientConfig, ClientEvent, Dialect, Message, MessageType, Runtime, Server,
    ServerConfig, ServerEvent,
};

use crate::python::{Py, STEP, listening_addr, within};

const SCRIPT: &str = "json_peer_3_3.py";
const JSON_REQUEST: MessageType = user_type(220);
const JSON_REPLY: MessageType = user_type(221);

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type"),
    }
}

/// The value both sides send: `SAMPLE` in the Python script, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    text: String,
    escapes: String,
    big_int: u64,
    negative: i64,
    float: f64,
    small: f64,
    list: Vec<serde_json::Value>,
    nested: serde_json::Value,
}

/// What the JSON peers answer: the request's value as they read it, and
/// their own copy of the sample.
#[derive(Debug, Serialize, Deserialize)]
struct Reply {
    got: Sample,
    made: Sample,
}

/// The sample value (see [`Sample`]).
pub fn sample() -> Sample {
    Sample {
        text: "café – 日本語 🦀".to_owned(),
        escapes: "say \"hi\"\n\t\\ / \u{1}".to_owned(),
        big_int: 9_007_199_254_740_993,
        negative: -42,
        float: 2.5,
        small: 1e-7,
        list: vec![
            json!(1),
            json!("two"),
            json!(null),
            json!(true),
            json!(false),
        ],
        nested: json!({ "empty_object": {}, "empty_list": [], "deep": [[{ "k": "v" }]] }),
    }
}

/// Checks that `payload` is what Python's `json.dumps` writes with its
/// defaults: ASCII only, spaced separators.
fn assert_python_json_dumps(payload: &[u8], what: &str) {
    assert!(payload.is_ascii(), "{what}: json.dumps escapes non-ASCII");
    let text = std::str::from_utf8(payload).expect("ASCII");
    assert!(
        text.contains("\": ") && text.contains(", \""),
        "{what}: json.dumps separates with \", \" and \": \": {text}"
    );
    assert!(text.contains("\\u00e9"), "{what}: é as \\u00e9: {text}");
}

/// Our client (on `R`) sends JSON to the Python JSON server and reads its answer.
pub async fn our_json_to_python_server<R: Runtime + Default>(python: &Path) {
    let mut py = Py::spawn(python, SCRIPT, &["server", "--port", "0"]);
    let line = py.line().await;
    let addr = listening_addr(&line, &py);
    let config = ClientConfig::new(addr).dialect(Dialect::Python3);
    let client = within(STEP, Client::<R>::connect(config))
        .await
        .unwrap_or_else(|e| panic!("connect to Python: {e}{}", py.stderr()));
    let mut events = client.events();
    match within(STEP, events.next()).await {
        Some(ClientEvent::Connected(info)) => assert_eq!(info.dialect, Dialect::Python3),
        other => panic!("expected Connected first, got {other:?}"),
    }

    let request = Message::json(JSON_REQUEST, &sample()).expect("serialisable");
    // Ours is compact UTF-8, not Python's spaced ASCII: Python must still read it.
    assert!(!request.payload().is_ascii());
    let reply = within(STEP, client.request(request, STEP))
        .await
        .unwrap_or_else(|e| panic!("JSON request: {e}{}", py.stderr()));
    assert_eq!(reply.message_type(), JSON_REPLY);
    assert_python_json_dumps(reply.payload(), "Python's reply");
    let reply: Reply = reply
        .parse_json()
        .unwrap_or_else(|e| panic!("Python's reply is not our JSON: {e}{}", py.stderr()));
    assert_eq!(reply.got, sample(), "Python read our JSON differently");
    assert_eq!(reply.made, sample(), "we read Python's JSON differently");

    // Not JSON: Python's `Response.is_json` says so, as our parser does.
    let text = Message::text(JSON_REQUEST, "{not json");
    assert!(text.parse_json::<serde_json::Value>().is_err());
    let reply = within(STEP, client.request(text, STEP))
        .await
        .unwrap_or_else(|e| panic!("text request: {e}{}", py.stderr()));
    assert_eq!(
        reply.parse_json::<serde_json::Value>().expect("JSON"),
        json!({ "error": "not json" })
    );

    within(STEP, client.close()).await.expect("close");
    assert!(
        !py.refused_frames(),
        "Python refused some of our frames:{}",
        py.stderr()
    );
}

/// The Python JSON client against our server (on `R`), which answers with JSON.
pub async fn python_json_to_our_server<R: Runtime + Default>(python: &Path) {
    let config = ServerConfig::new("127.0.0.1:0").dialect(Dialect::Python3);
    let server = within(STEP, Server::<R>::bind(config)).await.expect("bind");
    let port = server.local_addr().port().to_string();
    let mut events = server.events();
    let serving = server.clone();
    let received = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ServerEvent::Message { peer, message }
                    if message.message_type() == JSON_REQUEST =>
                {
                    let got: Sample = message.parse_json().expect("Python's JSON");
                    let reply = Reply {
                        got: got.clone(),
                        made: sample(),
                    };
                    let reply = Message::json(JSON_REPLY, &reply).expect("serialisable");
                    serving
                        .reply(peer, &message, reply)
                        .await
                        .expect("reply to Python");
                    return Some((message.into_payload(), got));
                }
                ServerEvent::Disconnected { .. } => return None,
                _ => {}
            }
        }
        None
    });

    let mut py = Py::spawn(python, SCRIPT, &["client", "--port", &port]);
    let (status, lines) = py.finish().await;
    let report = format!("Python printed {lines:#?}{}", py.stderr());
    let (payload, got) = within(STEP, received)
        .await
        .expect("server event task")
        .unwrap_or_else(|| panic!("no JSON request reached our server; {report}"));
    assert_python_json_dumps(&payload, "Python's request");
    assert_eq!(got, sample(), "we read Python's JSON differently");
    assert!(
        status.success(),
        "the Python client failed ({status}); {report}"
    );
    for line in ["got ok", "made ok", "done"] {
        assert!(
            lines.iter().any(|l| l == line),
            "missing {line:?}; {report}"
        );
    }
    assert!(!py.refused_frames(), "Python refused our frames; {report}");
    within(STEP, server.shutdown()).await.expect("shutdown");
}
