//! The baselines' accept loop and connection loop, written once over any
//! `tokio_util` codec, over TCP or TLS.

use std::io;

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Accepts forever; one task per connection runs `answer` on every frame,
/// after the TLS handshake (in that task) when `tls` is given. An accept
/// error (out of file descriptors, a connection reset before it was
/// accepted) skips that connection, as a real server would, instead of
/// ending the server in the middle of a memory run; so does a failed TLS
/// handshake.
pub(super) async fn accept_loop<C, D, E>(
    listener: TcpListener,
    codec: impl Fn() -> C,
    answer: fn(D) -> Option<E>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()>
where
    C: Decoder<Item = D, Error = io::Error> + Encoder<E, Error = io::Error> + Send + 'static,
    D: Send + 'static,
    E: Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("baseline server: accept failed: {error}");
                // Out of descriptors: give closing connections a moment.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if stream.set_nodelay(true).is_err() {
            continue;
        }
        let codec = codec();
        match &tls {
            None => {
                tokio::spawn(connection(stream, codec, answer));
            }
            Some(acceptor) => {
                let accepting = acceptor.accept(stream);
                tokio::spawn(async move {
                    if let Ok(stream) = accepting.await {
                        connection(stream, codec, answer).await;
                    }
                });
            }
        }
    }
}

/// Reads frames and answers them; answers are buffered (`feed`) and flushed
/// once no further frame is already waiting in the read buffer, so a
/// pipelined burst is answered with a few big writes, not one per frame.
async fn connection<S, C, D, E>(stream: S, codec: C, answer: fn(D) -> Option<E>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = D, Error = io::Error> + Encoder<E, Error = io::Error>,
{
    let mut framed = Framed::new(stream, codec);
    let mut unflushed = false;
    loop {
        // Anything already buffered is taken without waiting; when nothing
        // is, flush before waiting on the socket.
        let next = match futures::FutureExt::now_or_never(framed.next()) {
            Some(next) => next,
            None => {
                if unflushed {
                    if framed.flush().await.is_err() {
                        return;
                    }
                    unflushed = false;
                }
                framed.next().await
            }
        };
        let Some(Ok(frame)) = next else {
            // End of stream or a bad frame: drop the connection.
            return;
        };
        if let Some(reply) = answer(frame) {
            if framed.feed(reply).await.is_err() {
                return;
            }
            unflushed = true;
        }
    }
}
