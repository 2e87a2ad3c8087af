//! Veltix itself, on any runtime: the bench client and the bench server are
//! the async `Client` and `Server` of `veltix-driver`, exactly as users get
//! them from `veltix-tokio`, `veltix-smol` and `veltix-mio`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use veltix_core::Dialect;
use veltix_core::compression::Compression;
use veltix_driver::{
    Client, ClientConfig, ClientEvent, ClientEvents, Error, Message, Runtime, Server, ServerConfig,
};
use veltix_tls::TlsServerConfig;

use crate::client::{BenchClient, EchoReceiver, EchoSender, Target, ended_early};
use crate::counted::{CountingRuntime, WireBytes, WireCounter};
use crate::tls;
use crate::wire::{BROADCAST, BROADCAST_LEN, CUE_BROADCAST, ECHO, SINK, payload};

/// Long enough never to fire in a healthy run; a stuck run fails instead of hanging.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every server the bench runs accepts this many connections (idle-100k,
/// with its warm-up connection and room to spare).
pub(crate) const MAX_CONNECTIONS: usize = 110_000;

/// The client's settings for `target`: its dialect (or no handshake at
/// all), compression when the target offers it, and TLS to a pinned key
/// when the target has it.
pub(crate) fn client_config(target: &Target) -> ClientConfig {
    let mut config = ClientConfig::new(target.addr.to_string()).dialect(target.dialect);
    if !target.handshake {
        config = config.legacy();
    }
    config.connection.compression = target.compression;
    if let Some(tls) = &target.tls {
        config = config.tls(tls.clone()).tls_server_name(tls::SERVER_NAME);
    }
    config
}

/// The server's settings: the bench's connection limit, `dialect` with
/// every peer, `compression` offered to every peer, and TLS when given.
pub(crate) fn server_config(
    addr: SocketAddr,
    dialect: Dialect,
    compression: Option<Compression>,
    tls: Option<TlsServerConfig>,
) -> ServerConfig {
    let mut config = ServerConfig::new(addr.to_string())
        .max_connections(MAX_CONNECTIONS)
        .dialect(dialect);
    config.connection.compression = compression;
    match tls {
        Some(tls) => config.tls(tls),
        None => config,
    }
}

/// A Veltix client on runtime `R`, its socket's bytes counted
/// ([`CountingRuntime`]: `R` itself, with a counter on each socket).
pub(crate) struct VeltixClient<R: Runtime>(Client<CountingRuntime<R>>, Arc<WireCounter>);

impl<R: Runtime + Default> BenchClient for VeltixClient<R> {
    type Sender = VeltixSender<R>;
    type Receiver = VeltixReceiver;

    async fn connect(target: Target) -> io::Result<Self> {
        let counter = Arc::new(WireCounter::default());
        let runtime = CountingRuntime::new(R::default(), counter.clone());
        let client = Client::connect_on(runtime, client_config(&target)).await?;
        Ok(Self(client, counter))
    }

    fn wire(&self) -> Option<WireBytes> {
        Some(self.1.now())
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let reply = self
            .0
            .request(Message::new(ECHO, payload), REQUEST_TIMEOUT)
            .await?;
        Ok(reply.into_payload())
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.0.ping(REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        Ok(self.0.send(Message::new(SINK, payload)).await?)
    }

    async fn close(self) {
        // A benchmark only needs the connection gone, however the close went.
        let _ = self.0.close().await;
    }

    async fn split(self) -> io::Result<(VeltixSender<R>, VeltixReceiver)> {
        let events = self.0.events();
        Ok((VeltixSender(self.0), VeltixReceiver(events)))
    }
}

/// The client, sending echo requests as plain messages.
pub(crate) struct VeltixSender<R: Runtime>(Client<CountingRuntime<R>>);

impl<R: Runtime> EchoSender for VeltixSender<R> {
    async fn send_echo(&mut self, payload: Bytes) -> io::Result<()> {
        Ok(self.0.send(Message::new(ECHO, payload)).await?)
    }

    async fn flush(&mut self) -> io::Result<()> {
        // The connection's task writes whatever is queued as soon as it can.
        Ok(())
    }

    async fn close(self) {
        // A benchmark only needs the connection gone, however the close went.
        let _ = self.0.close().await;
    }
}

/// The client's event stream: an echo of a plain message answers no request,
/// so it arrives as an ordinary message event.
pub(crate) struct VeltixReceiver(ClientEvents);

impl EchoReceiver for VeltixReceiver {
    async fn next_echo(&mut self) -> io::Result<Bytes> {
        loop {
            match self.0.next().await {
                Some(ClientEvent::Message(message)) => return echo_payload(message),
                Some(ClientEvent::Disconnected(reason)) => {
                    return Err(Error::Closed(reason).into());
                }
                None => return Err(ended_early()),
                // The first connection's `Connected` is still in the stream.
                Some(_) => {}
            }
        }
    }
}

/// The payload of an echo, which must have the echo type.
pub(crate) fn echo_payload(message: Message) -> io::Result<Bytes> {
    if message.message_type() == ECHO {
        Ok(message.into_payload())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "expected an echo, got a message of type {}",
                message.message_type().code()
            ),
        ))
    }
}

/// Runs the bench server on `R`: echo requests are answered from the
/// callback with `try_reply`, on the connection's own task (no hop to
/// another task), as the README and the examples do; sink messages are
/// dropped after the core has checked their hash. A broadcast cue is
/// answered by [`Server::broadcast`] of one 64-byte message to every peer,
/// from a thread of its own (a callback must not wait, and the broadcast
/// waits for room in every peer's queue).
pub(crate) async fn serve<R: Runtime + Default>(
    config: ServerConfig,
    listening: impl FnOnce(SocketAddr),
) -> io::Result<Server<R>> {
    let server = Server::<R>::bind(config).await?;
    // The callback holds the server it belongs to: a cycle, but a server
    // runs until it is shut down whatever handles are left.
    let broadcaster = server.clone();
    server.on_message(move |peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            if let Err(err) = peer.try_reply(&message, answer) {
                reply_failed(&err);
            }
        } else if message.message_type() == CUE_BROADCAST {
            let server = broadcaster.clone();
            on_broadcast_thread(move |message| {
                futures::executor::block_on(server.broadcast(message, &[]))
            });
        }
    });
    listening(server.local_addr());
    Ok(server)
}

/// Runs `broadcast` with the 64-byte broadcast message on a thread of its
/// own; a failure is printed (the fleet then waits in vain and says so).
pub(crate) fn on_broadcast_thread(
    broadcast: impl FnOnce(Message) -> Result<usize, Error> + Send + 'static,
) {
    let message = Message::new(BROADCAST, payload(9, BROADCAST_LEN));
    let spawned = std::thread::Builder::new()
        .name("broadcast".into())
        .spawn(move || {
            if let Err(err) = broadcast(message) {
                eprintln!("bench server: broadcast failed: {err}");
            }
        });
    if let Err(err) = spawned {
        eprintln!("bench server: no thread for the broadcast: {err}");
    }
}

/// Reports a `try_reply` that failed. Read flow control means it never
/// says Full for a peer that reads its answers, and the bench's clients all
/// do, so this is a bug to see, not to work around: the answer is lost and
/// the client reports which one is missing. Printed on the 1st, 2nd, 4th, 8th…
/// failure so a flood of them stays readable.
pub(crate) fn reply_failed(err: &Error) {
    static FAILURES: AtomicU64 = AtomicU64::new(0);
    let n = FAILURES.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        eprintln!("bench server: try_reply failed ({n} so far): {err}");
    }
}
