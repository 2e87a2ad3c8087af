//! `veltix listen`: an echo server, or a server that prints what it gets.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{Value, json};
use veltix_tokio::{
    CloseReason, Message, PeerId, PeerInfo, Server, ServerConfig, ServerEvent, ServerEvents,
};

use crate::args::{self, ListenArgs};
use crate::exit::Failure;
use crate::signal::Interrupts;
use crate::{output, payload, tls};

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// The address cannot be bound (4), TLS files cannot be used (2), a line
/// cannot be written, or some peers had not flushed by the shutdown deadline (1).
pub(crate) async fn run(args: ListenArgs) -> Result<(), Failure> {
    let mut config = ServerConfig::new(args.addr.clone()).dialect(args.protocol.dialect.dialect());
    if let Some(key) = &args.protocol.key {
        config = config.pre_shared_key(key);
    }
    let tls = tls::server(&args.tls)?;
    let pin = tls.as_ref().map(|tls| tls.pin().to_string());
    if let Some(tls) = tls {
        config = config.tls(tls);
    }
    let mut interrupts = Interrupts::install()
        .map_err(|e| Failure::failed(format!("cannot catch Ctrl-C and SIGTERM: {e}")))?;
    let server = Server::bind(config)
        .await
        .map_err(|e| Failure::from_error(&format!("cannot listen on {}", args.addr), &e))?;
    if !args.print {
        server.on_message(|peer, message| {
            let answer = Message::new(message.message_type(), message.payload().clone());
            // Only fails when the peer is gone; flow control keeps room for
            // the answers of a peer that reads them.
            let _ = peer.try_reply(&message, answer);
        });
    }
    // Taken before the announcement, so no event is dropped.
    let events = args.print.then(|| server.events());
    announce(&server, &args, pin.as_deref())?;

    let printed = async {
        match events {
            Some(events) => print_events(&server, events, args.json).await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        () = interrupts.recv() => Ok(()),
        result = printed => result,
    };
    let shutdown = server.shutdown().await.map_err(|_| {
        Failure::failed("shut down, but some peers had not flushed within the shutdown timeout")
    });
    outcome.and(shutdown)
}

/// `listening on ADDR` (and `tls pin sha256:<hex>`), or its JSON.
fn announce(server: &Server, args: &ListenArgs, pin: Option<&str>) -> Result<(), Failure> {
    let addr = server.local_addr();
    if args.json {
        return output::json(&json!({
            "event": "listening",
            "addr": addr.to_string(),
            "dialect": args.protocol.dialect.name(),
            "mode": if args.print { "print" } else { "echo" },
            "tls_pin": pin,
        }));
    }
    output::line(&format!("listening on {addr}"))?;
    if let Some(pin) = pin {
        output::line(&format!("tls pin {pin}"))?;
    }
    Ok(())
}

/// Prints every event until the server is gone.
async fn print_events(
    server: &Server,
    mut events: ServerEvents,
    json: bool,
) -> Result<(), Failure> {
    let mut addrs: HashMap<PeerId, SocketAddr> = HashMap::new();
    while let Some(event) = events.next().await {
        let line = match event {
            ServerEvent::Connected { peer, addr, info } => {
                addrs.insert(peer, addr);
                let subject = server
                    .peer(peer)
                    .and_then(|p| p.tls_identity())
                    .map(|id| id.subject().to_owned());
                connected(peer, addr, &info, subject.as_deref(), json)
            }
            ServerEvent::Message { peer, message } => {
                message_line(peer, addrs.get(&peer), &message, json)
            }
            ServerEvent::Disconnected { peer, reason, .. } => {
                let addr = addrs.remove(&peer);
                disconnected(peer, addr.as_ref(), &reason, json)
            }
            _ => continue,
        };
        match line {
            Line::Text(text) => output::line(&text)?,
            Line::Json(value) => output::json(&value)?,
        }
    }
    Ok(())
}

enum Line {
    Text(String),
    Json(Value),
}

fn connected(
    peer: PeerId,
    addr: SocketAddr,
    info: &PeerInfo,
    tls_subject: Option<&str>,
    json: bool,
) -> Line {
    let dialect = args::dialect_name(info.dialect);
    if json {
        return Line::Json(json!({
            "event": "connected",
            "peer": peer.get(),
            "addr": addr.to_string(),
            "dialect": dialect,
            "authenticated": info.authenticated,
            "tls_subject": tls_subject,
        }));
    }
    let mut text = format!("{peer} {addr} connected ({dialect}");
    if info.authenticated {
        text.push_str(", key proved");
    }
    if let Some(subject) = tls_subject {
        text.push_str(&format!(", tls client {subject}"));
    }
    text.push(')');
    Line::Text(text)
}

/// `#1 127.0.0.1:50000 type=200 id=… "payload"`, or its JSON.
fn message_line(peer: PeerId, addr: Option<&SocketAddr>, message: &Message, json: bool) -> Line {
    let addr = addr.map_or_else(|| "-".to_owned(), SocketAddr::to_string);
    let id = output::request_id(message.request_id());
    if json {
        let (payload, encoding) = payload::json_fields(message.payload());
        return Line::Json(json!({
            "event": "message",
            "peer": peer.get(),
            "addr": addr,
            "type": message.message_type().code(),
            "request_id": id,
            "timestamp_ms": message.timestamp_ms(),
            "len": message.payload().len(),
            "payload": payload,
            "encoding": encoding,
        }));
    }
    Line::Text(format!(
        "{peer} {addr} type={} id={} {}",
        message.message_type().code(),
        id.as_deref().unwrap_or("-"),
        payload::human(message.payload()),
    ))
}

fn disconnected(peer: PeerId, addr: Option<&SocketAddr>, reason: &CloseReason, json: bool) -> Line {
    let addr = addr.map_or_else(|| "-".to_owned(), SocketAddr::to_string);
    if json {
        return Line::Json(json!({
            "event": "disconnected",
            "peer": peer.get(),
            "addr": addr,
            "reason": reason.to_string(),
        }));
    }
    Line::Text(format!("{peer} {addr} disconnected: {reason}"))
}
