//! `veltix send`: one message, then a clean close.

use std::time::Duration;

use serde_json::json;
use veltix_tokio::{ClientEvent, CloseReason, Message};

use crate::args::SendArgs;
use crate::exit::Failure;
use crate::{connect, output};

/// How long to wait for the close to be reported once `close` has returned
/// (it is normally there already).
const CLOSE_REPORT: Duration = Duration::from_secs(1);

/// Connects, sends the message, closes (flushing it) and checks that the
/// connection ended by our close rather than the server's.
///
/// # Errors
/// Connecting failed, the message was refused, or the server closed first (1).
pub(crate) async fn run(args: SendArgs) -> Result<(), Failure> {
    let addr = &args.target.addr;
    let client = connect::connect(&args.target).await?;
    let mut events = client.events();
    let message = Message::new(args.message.kind, args.message.data.clone());
    client
        .send(message)
        .await
        .map_err(|e| Failure::from_error(&format!("send to {addr}"), &e))?;
    // A close not answered in time means the message may not have been
    // flushed: that is this command's failure.
    client
        .close()
        .await
        .map_err(|e| Failure::from_error(&format!("close {addr}"), &e))?;
    let reason = tokio::time::timeout(CLOSE_REPORT, async {
        while let Some(event) = events.next().await {
            if let ClientEvent::Disconnected(reason) = event {
                return Some(reason);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    match reason {
        Some(CloseReason::Local { .. }) => {}
        Some(other) => {
            return Err(Failure::failed(format!(
                "send to {addr}: the connection ended before our close: {other}"
            )));
        }
        None => {
            return Err(Failure::failed(format!(
                "send to {addr}: the connection did not report its close"
            )));
        }
    }
    if args.json {
        output::json(&json!({
            "addr": addr,
            "type": args.message.kind.code(),
            "len": args.message.data.len(),
            "sent": true,
        }))?;
    }
    Ok(())
}
