//! Veltix's threaded API, `veltix_mio::{Server, Client}`: blocking calls,
//! callbacks on a Veltix worker thread, the driver on the mio event loop
//! underneath. The client's methods block, so its scenarios run on
//! [`Threads`](crate::rt::Threads): one thread per connection, as its users
//! write them.

use std::io;

use bytes::Bytes;
use veltix_mio::{Client, ClientEvent, ClientEvents, Error, Message, Server, ServerConfig};

use crate::client::{BenchClient, EchoReceiver, EchoSender, Target};
use crate::veltix::{
    REQUEST_TIMEOUT, client_config, echo_payload, on_broadcast_thread, reply_failed,
};
use crate::wire::{CUE_BROADCAST, ECHO, SINK};

/// A blocking client. Its `async` methods return only once the blocking call
/// has finished: they never yield.
pub(crate) struct MioThreadedClient(Client);

impl BenchClient for MioThreadedClient {
    type Sender = MioThreadedSender;
    type Receiver = MioThreadedReceiver;

    async fn connect(target: Target) -> io::Result<Self> {
        Ok(Self(Client::connect(client_config(&target))?))
    }

    async fn request(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let reply = self
            .0
            .request(Message::new(ECHO, payload), REQUEST_TIMEOUT)?;
        Ok(reply.into_payload())
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.0.ping(REQUEST_TIMEOUT)?;
        Ok(())
    }

    async fn send(&mut self, payload: Bytes) -> io::Result<()> {
        Ok(self.0.send(Message::new(SINK, payload))?)
    }

    async fn close(self) {
        // A benchmark only needs the connection gone, however the close went.
        let _ = self.0.close();
    }

    async fn split(self) -> io::Result<(MioThreadedSender, MioThreadedReceiver)> {
        let events = self.0.events();
        Ok((MioThreadedSender(self.0), MioThreadedReceiver(events)))
    }
}

/// The client, sending echo requests as plain messages (`Client::send`).
pub(crate) struct MioThreadedSender(Client);

impl EchoSender for MioThreadedSender {
    async fn send_echo(&mut self, payload: Bytes) -> io::Result<()> {
        Ok(self.0.send(Message::new(ECHO, payload))?)
    }

    async fn flush(&mut self) -> io::Result<()> {
        // The event loop writes whatever is queued as soon as it can.
        Ok(())
    }

    async fn close(self) {
        // A benchmark only needs the connection gone, however the close went.
        let _ = self.0.close();
    }
}

/// The client's blocking event iterator (no `on_message` callback is set,
/// so messages come here, in order).
pub(crate) struct MioThreadedReceiver(ClientEvents);

impl EchoReceiver for MioThreadedReceiver {
    async fn next_echo(&mut self) -> io::Result<Bytes> {
        loop {
            match self.0.recv_timeout(REQUEST_TIMEOUT) {
                Some(ClientEvent::Message(message)) => return echo_payload(message),
                Some(ClientEvent::Disconnected(reason)) => {
                    return Err(Error::Closed(reason).into());
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no echo within {} s (or the client is gone)",
                            REQUEST_TIMEOUT.as_secs()
                        ),
                    ));
                }
                // The first connection's `Connected` is still queued.
                Some(_) => {}
            }
        }
    }
}

/// Binds the threaded server (one worker thread, so callbacks, and the
/// echoes, keep the order of the messages) with `config`
/// ([`server_config`](crate::veltix::server_config)) and echoes from
/// `on_message` with `try_reply`, as the mio `echo_server` example does.
/// A broadcast cue is answered as the async servers do
/// ([`veltix::serve`](crate::veltix::serve)), with the blocking
/// `Server::broadcast` on a thread of its own.
pub(crate) fn serve(config: ServerConfig) -> io::Result<Server> {
    let server = Server::bind(config)?;
    // A cycle, as in `veltix::serve`: the server runs until it is shut down.
    let broadcaster = server.clone();
    server.on_message(move |peer, message| {
        if message.message_type() == ECHO {
            let answer = Message::new(ECHO, message.payload().clone());
            if let Err(err) = peer.try_reply(&message, answer) {
                reply_failed(&err);
            }
        } else if message.message_type() == CUE_BROADCAST {
            let server = broadcaster.clone();
            on_broadcast_thread(move |message| server.broadcast(message, &[]));
        }
    });
    Ok(server)
}
