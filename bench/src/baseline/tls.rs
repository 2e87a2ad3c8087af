//! The header + SHA-256 baseline over TLS 1.3, hand-written with
//! `tokio-rustls`: the codec, client and connection loop of [`sha`](super::sha)
//! over a `TlsStream` instead of a `TcpStream`. The row Veltix's TLS rows
//! are divided by.
//!
//! The rustls configurations are the ones veltix-tls builds for Veltix
//! ([`TlsClientConfig::rustls`](veltix_tls::TlsClientConfig::rustls),
//! [`TlsServerConfig::rustls`](veltix_tls::TlsServerConfig::rustls)), so
//! both sides negotiate exactly what Veltix does: aws-lc-rs, TLS 1.3,
//! X25519MLKEM768, AES-256-GCM, a pinned server key, no resumption. Only
//! configuration is shared: the I/O (tokio-rustls's `TlsStream`, one task
//! per connection, the TLS handshake in that task) is none of Veltix's.
//!
//! The client's halves come from `tokio::io::split` (a lock around the
//! stream: one TLS session has one state for both directions), as a tokio
//! program reading and writing one TLS stream from two tasks does.

use std::io;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpListener;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use veltix_tls::TlsServerConfig;

use super::sha::{ShaClient, ShaCodec, answer};
use super::{ClientStream, CountedTcp};
use crate::client::Target;
use crate::counted::WireBytes;

/// The header + SHA-256 client over TLS (over TCP whose bytes are counted:
/// the encrypted records).
pub(crate) type ShaTlsClient = ShaClient<TlsStream<CountedTcp>>;

impl ClientStream for TlsStream<CountedTcp> {
    type ReadHalf = ReadHalf<Self>;
    type WriteHalf = WriteHalf<Self>;

    async fn connect(target: &Target) -> io::Result<Self> {
        let config = target.tls.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the TLS baseline needs a TLS server (its pin)",
            )
        })?;
        let tcp = <CountedTcp as ClientStream>::connect(target).await?;
        let name = ServerName::try_from(crate::tls::SERVER_NAME)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        TlsConnector::from(config.rustls().clone())
            .connect(name, tcp)
            .await
    }

    fn split(self) -> (ReadHalf<Self>, WriteHalf<Self>) {
        tokio::io::split(self)
    }

    fn wire(&self) -> WireBytes {
        self.get_ref().0.wire()
    }
}

/// The header + SHA-256 baseline server over TLS with `config`'s
/// certificate: accepts forever, one task per connection, the TLS handshake
/// first in that task.
pub(crate) async fn serve_sha_tls(
    listener: TcpListener,
    config: TlsServerConfig,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config.rustls().clone());
    super::serve::accept_loop(listener, || ShaCodec, answer, Some(acceptor)).await
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LIMIT, exercise_target};
    use super::*;

    #[tokio::test]
    async fn client_and_server_round_trip_over_tls() {
        let server_config = crate::tls::server_config().unwrap();
        let pin = server_config.pin();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_sha_tls(listener, server_config));
        let mut target = Target::plain(addr, false);
        target.tls = Some(crate::tls::client_config(pin).unwrap());
        tokio::time::timeout(LIMIT, exercise_target::<ShaTlsClient>(target))
            .await
            .expect("within the time limit")
            .unwrap();

        // A client that pins another key is refused.
        let mut wrong = Target::plain(addr, false);
        let other = crate::tls::server_config().unwrap().pin();
        wrong.tls = Some(crate::tls::client_config(other).unwrap());
        let refused = tokio::time::timeout(
            LIMIT,
            <TlsStream<CountedTcp> as ClientStream>::connect(&wrong),
        )
        .await
        .expect("within the time limit");
        assert!(refused.is_err());
    }
}
