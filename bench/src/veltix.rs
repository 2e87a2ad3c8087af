//! Veltix itself, on any runtime: the bench client and the bench server are
//! the async `Client` and `Server` of `veltix-driver`, exactly as users get
//! them from `veltix-tokio`, `veltix-smol` and `veltix-mio`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use veltix_driver::{Client, ClientConfig, Message, Runtime, Server, ServerConfig};

use crate::client::BenchClient;
use crate::wire::{ECHO, SINK};

/// Long enough never to fire in a healthy run; a stuck run fails instead of hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Veltix client on runtime `R`.
pub(crate) struct VeltixClient<R: Runtime>(Client<R>);

impl<R: Runtime + Default> BenchClient for VeltixClient<R> {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self(
            Client::connect(ClientConfig::new(addr.to_string())).await?,
        ))
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let reply = self
            .0
            .request(Message::new(ECHO, payload), REQUEST_TIMEOUT)
            .await?;
        Ok(reply.payload().clone())
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.0.ping().await?;
        Ok(())
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        Ok(self.0.send(Message::new(SINK, payload)).await?)
    }

    async fn close(self) {
        self.0.close().await;
    }
}

/// Runs the bench server on `R`: echo requests are answered from the
/// callback, on the connection's own task (no hop to another task); sink
/// messages are dropped after the core has checked their hash.
pub(crate) async fn serve<R: Runtime + Default>(
    addr: SocketAddr,
    listening: impl FnOnce(SocketAddr),
) -> io::Result<Server<R>> {
    let config = ServerConfig::new(addr.to_string()).max_connections(100_000);
    let server = Server::<R>::bind(config).await?;
    server.on_message(|peer, message| {
        if message.message_type() != ECHO {
            return;
        }
        let answer = Message::new(ECHO, message.payload().clone());
        if peer.try_reply(&message, answer).is_err() {
            // The peer's queue is full (it is not reading): wait for room
            // off the connection's task rather than drop the answer.
            let peer = peer.clone();
            R::default().spawn(async move {
                let answer = Message::new(ECHO, message.payload().clone());
                let _ = peer.reply(&message, answer).await;
            });
        }
    });
    listening(server.local_addr());
    Ok(server)
}
