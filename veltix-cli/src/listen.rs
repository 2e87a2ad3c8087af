//! `veltix listen`: an echo server, or a server that prints what it gets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

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
    // The peers' addresses, for the message lines.
    let peers = Peers::default();
    if args.print {
        let (peers, json) = (peers.clone(), args.json);
        // Written on the peer's own task, where the peer is still there to
        // ask for its TLS identity (the event stream may be read after a
        // quick peer has gone), and before any of its messages reach that
        // stream: its "connected" line comes first.
        server.on_connect(move |peer, info| {
            peers.insert(peer.id(), peer.addr());
            let subject = peer.tls_identity().map(|id| id.subject().to_owned());
            // A failed write fails the event loop at its next line.
            let _ = write(connected(
                peer.id(),
                peer.addr(),
                &info,
                subject.as_deref(),
                json,
            ));
        });
    }
    // Taken before the announcement, so no event is dropped.
    let events = args.print.then(|| server.events());
    announce(&server, &args, pin.as_deref())?;

    let printed = async {
        match events {
            Some(events) => print_events(&peers, events, args.json).await,
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

/// Addresses of the connected peers, by id.
#[derive(Clone, Default)]
struct Peers(Arc<Mutex<HashMap<PeerId, SocketAddr>>>);

impl Peers {
    fn insert(&self, peer: PeerId, addr: SocketAddr) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer, addr);
    }

    fn get(&self, peer: PeerId) -> Option<SocketAddr> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            .copied()
    }

    fn remove(&self, peer: PeerId) -> Option<SocketAddr> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&peer)
    }
}

/// Prints every message and disconnection until the server is gone (the
/// connections are printed by `on_connect`).
async fn print_events(peers: &Peers, mut events: ServerEvents, json: bool) -> Result<(), Failure> {
    while let Some(event) = events.next().await {
        let line = match event {
            ServerEvent::Message { peer, message } => {
                message_line(peer, peers.get(peer).as_ref(), &message, json)
            }
            ServerEvent::Disconnected { peer, addr, reason } => {
                let addr = peers.remove(peer).unwrap_or(addr);
                disconnected(peer, Some(&addr), &reason, json)
            }
            _ => continue,
        };
        write(line)?;
    }
    Ok(())
}

fn write(line: Line) -> Result<(), Failure> {
    match line {
        Line::Text(text) => output::line(&text),
        Line::Json(value) => output::json(&value),
    }
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
