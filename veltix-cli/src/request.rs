//! `veltix request`: one request, its reply's payload on standard output.

use std::time::{Duration, Instant};

use serde_json::json;
use veltix_tokio::{Client, Error, Message};

use crate::args::RequestArgs;
use crate::exit::Failure;
use crate::{connect, duration, output, payload};

/// Connects, sends the request, prints the reply.
///
/// # Errors
/// Connecting failed, or the request timed out or its connection closed (1).
pub(crate) async fn run(args: RequestArgs) -> Result<(), Failure> {
    let client = connect::connect(&args.target).await?;
    let message = Message::new(args.message.kind, args.message.data.clone());
    let started = Instant::now();
    let outcome = request(&client, message, args.timeout, &args.target.addr).await;
    let latency = started.elapsed();
    // The reply (or its failure) is the outcome, however the close went.
    let _ = client.close().await;
    let reply = outcome?;
    if !args.json {
        return output::raw(reply.payload());
    }
    let (payload, encoding) = payload::json_fields(reply.payload());
    output::json(&json!({
        "type": reply.message_type().code(),
        "request_id": output::request_id(reply.request_id()),
        "timestamp_ms": reply.timestamp_ms(),
        "len": reply.payload().len(),
        "payload": payload,
        "encoding": encoding,
        "latency_ms": duration::millis(latency),
    }))
}

/// One request, its errors worded for this command.
///
/// # Errors
/// As [`run`].
pub(crate) async fn request(
    client: &Client,
    message: Message,
    timeout: Duration,
    addr: &str,
) -> Result<Message, Failure> {
    client.request(message, timeout).await.map_err(|e| match e {
        Error::TimedOut => Failure::failed(format!(
            "request to {addr} timed out after {}",
            duration::display(timeout)
        )),
        other => Failure::from_error(&format!("request to {addr}"), &other),
    })
}
