//! The implementations a scenario runs against: Veltix on each runtime and
//! API, in plaintext and over TLS; Python Veltix 1.3.0's and 3.3.0's
//! servers; and the three hand-written tokio baselines (two plaintext, one
//! over tokio-rustls).

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;

use futures::channel::oneshot;
use veltix_core::Dialect;
use veltix_core::compression::Compression;
use veltix_driver::{Runtime, ServerConfig};
use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tls::TlsServerConfig;
use veltix_tokio::Tokio;

use crate::baseline::{LdClient, ShaClient, ShaTlsClient, serve_ld, serve_sha, serve_sha_tls};
use crate::mio_threaded::{self, MioThreadedClient};
use crate::options::{compression_name, dialect_name};
use crate::procfs::{self, ServerProcess};
use crate::python::{self, Release};
use crate::report::{BASELINE_LD, BASELINE_SHA, BASELINE_TLS, PYTHON, PYTHON3};
use crate::rt::{BenchRuntime, Threads};
use crate::scenario::{self, Ctx, Measured, Scenario};
use crate::tls;
use crate::veltix::{self, VeltixClient};

/// One implementation: client and server of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implementation {
    /// Veltix on tokio (multi-threaded runtime, one worker per core).
    Tokio,
    /// Veltix on smol (global executor).
    Smol,
    /// Veltix's async API on our mio event loop (one thread).
    Mio,
    /// Veltix's threaded API (`veltix_mio::{Server, Client}`): blocking
    /// calls, callbacks on a worker thread, the mio event loop underneath.
    MioThreaded,
    /// [`Tokio`](Self::Tokio) over TLS 1.3, the server's key pinned.
    TokioTls,
    /// [`Smol`](Self::Smol) over TLS 1.3.
    SmolTls,
    /// [`Mio`](Self::Mio) over TLS 1.3.
    MioTls,
    /// [`MioThreaded`](Self::MioThreaded) over TLS 1.3.
    MioThreadedTls,
    /// Python Veltix 1.3.0's server, driven by the tokio client without the
    /// handshake (Python Veltix 1.x has none). Server only.
    Python,
    /// Python Veltix 3.3.0's server, driven by the tokio client in the
    /// Python 3 dialect (compact wire). Server only.
    Python3,
    /// Hand-written tokio + `LengthDelimitedCodec`, no hashing.
    BaselineLd,
    /// Hand-written tokio + the 62-byte header + SHA-256.
    BaselineSha,
    /// [`BaselineSha`](Self::BaselineSha) over `tokio-rustls`.
    BaselineTls,
}

impl Implementation {
    /// Every implementation, in table order.
    pub(crate) const ALL: [Self; 13] = [
        Self::Tokio,
        Self::Smol,
        Self::Mio,
        Self::MioThreaded,
        Self::Python,
        Self::Python3,
        Self::BaselineLd,
        Self::BaselineSha,
        Self::TokioTls,
        Self::SmolTls,
        Self::MioTls,
        Self::MioThreadedTls,
        Self::BaselineTls,
    ];

    /// The name in tables, JSON, `--impls` and `serve --impl`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::Smol => "smol",
            Self::Mio => "mio",
            Self::MioThreaded => "mio-threaded",
            Self::TokioTls => "tokio+tls",
            Self::SmolTls => "smol+tls",
            Self::MioTls => "mio+tls",
            Self::MioThreadedTls => "mio-threaded+tls",
            Self::Python => PYTHON,
            Self::Python3 => PYTHON3,
            Self::BaselineLd => BASELINE_LD,
            Self::BaselineSha => BASELINE_SHA,
            Self::BaselineTls => BASELINE_TLS,
        }
    }

    /// The implementation called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Runs one scenario with this implementation's client.
    pub(crate) fn run(self, scenario: Scenario, ctx: Ctx) -> io::Result<Measured> {
        match self {
            // The python rows' client is the tokio one (legacy, or python3).
            Self::Tokio | Self::TokioTls | Self::Python | Self::Python3 => {
                scenario::run::<VeltixClient<Tokio>, Tokio>(scenario, ctx)
            }
            Self::Smol | Self::SmolTls => scenario::run::<VeltixClient<Smol>, Smol>(scenario, ctx),
            Self::Mio | Self::MioTls => scenario::run::<VeltixClient<Mio>, Mio>(scenario, ctx),
            Self::MioThreaded | Self::MioThreadedTls => {
                scenario::run::<MioThreadedClient, Threads>(scenario, ctx)
            }
            Self::BaselineLd => scenario::run::<LdClient, Tokio>(scenario, ctx),
            Self::BaselineSha => scenario::run::<ShaClient, Tokio>(scenario, ctx),
            Self::BaselineTls => scenario::run::<ShaTlsClient, Tokio>(scenario, ctx),
        }
    }

    /// Whether this implementation's client runs the Veltix handshake with
    /// its own server: not with Python Veltix 1.x, which has none.
    pub(crate) fn handshake(self) -> bool {
        self != Self::Python
    }

    /// Whether client and server speak TLS.
    pub(crate) fn tls(self) -> bool {
        matches!(
            self,
            Self::TokioTls
                | Self::SmolTls
                | Self::MioTls
                | Self::MioThreadedTls
                | Self::BaselineTls
        )
    }

    /// Whether this is Veltix on both ends, which `--dialect` and
    /// `--compression` apply to.
    pub(crate) fn veltix(self) -> bool {
        matches!(
            self,
            Self::Tokio
                | Self::Smol
                | Self::Mio
                | Self::MioThreaded
                | Self::TokioTls
                | Self::SmolTls
                | Self::MioTls
                | Self::MioThreadedTls
        )
    }

    /// The Python Veltix release of a python row's server.
    pub(crate) fn python_release(self) -> Option<Release> {
        match self {
            Self::Python => Some(Release::V1_3_0),
            Self::Python3 => Some(Release::V3_3_0),
            _ => None,
        }
    }

    /// The dialect this implementation's client speaks when `chosen` is
    /// asked for: a python row speaks its server's.
    pub(crate) fn dialect(self, chosen: Dialect) -> Dialect {
        match self {
            Self::Python3 => Dialect::Python3,
            Self::Python => Dialect::Native,
            _ => chosen,
        }
    }

    /// Starts this implementation's server in a process of its own,
    /// speaking `dialect`, offering `compression`; `python` is the
    /// interpreter of a python row.
    pub(crate) fn start_server(
        self,
        dialect: Dialect,
        compression: Option<Compression>,
        python: Option<&Path>,
    ) -> io::Result<ServerProcess> {
        match (self.python_release(), python) {
            (Some(release), Some(python)) => python::start_server(python, release),
            (Some(release), None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no Python interpreter with veltix {}", release.version()),
            )),
            (None, _) => ServerProcess::start(
                self.name(),
                dialect_name(dialect),
                compression_name(compression),
            ),
        }
    }

    /// Why this implementation's client cannot drive a server the bench did
    /// not start (`--server`), if it cannot.
    pub(crate) fn external_client_refusal(self) -> Option<&'static str> {
        match self {
            Self::BaselineLd => Some("it speaks LengthDelimited framing, not the Veltix wire"),
            Self::Python | Self::Python3 => Some("it is a server only (its row's client is tokio)"),
            _ if self.tls() => Some("--server runs plaintext clients only"),
            _ => None,
        }
    }

    /// Runs this implementation's server, speaking `dialect` and offering
    /// `compression` (a Veltix server), until stdin closes (the bench's
    /// `serve` subcommand), printing `listening on ADDR` first (with
    /// ` tls-pin PIN` for a TLS server).
    pub(crate) fn serve(
        self,
        addr: SocketAddr,
        dialect: Dialect,
        compression: Option<Compression>,
    ) -> io::Result<()> {
        // The parent closes our stdin when it is done with us (or dies).
        let (done, stdin_closed) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin(), &mut io::sink());
            let _ = done.send(());
        });
        let tls = if self.tls() {
            Some(tls::server_config()?)
        } else {
            None
        };
        let pin = tls.as_ref().map(TlsServerConfig::pin);
        let announce = move |addr: SocketAddr| announce(&procfs::announcement(addr, pin));
        let config = || veltix::server_config(addr, dialect, compression, tls.clone());
        match self {
            Self::Tokio | Self::TokioTls => serve_veltix::<Tokio>(config(), announce, stdin_closed),
            Self::Smol | Self::SmolTls => serve_veltix::<Smol>(config(), announce, stdin_closed),
            Self::Mio | Self::MioTls => serve_veltix::<Mio>(config(), announce, stdin_closed),
            Self::MioThreaded | Self::MioThreadedTls => {
                let server = mio_threaded::serve(config())?;
                announce(server.local_addr());
                let _ = futures::executor::block_on(stdin_closed);
                drop(server);
                Ok(())
            }
            Self::Python | Self::Python3 => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a python server is a script of python/, run by an interpreter",
            )),
            Self::BaselineLd => Tokio::block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                announce(listener.local_addr()?);
                until(stdin_closed, serve_ld(listener)).await
            }),
            Self::BaselineSha => Tokio::block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                announce(listener.local_addr()?);
                until(stdin_closed, serve_sha(listener)).await
            }),
            Self::BaselineTls => {
                let tls = tls.ok_or_else(|| io::Error::other("no TLS configuration"))?;
                Tokio::block_on(async move {
                    let listener = tokio::net::TcpListener::bind(addr).await?;
                    announce(listener.local_addr()?);
                    until(stdin_closed, serve_sha_tls(listener, tls)).await
                })
            }
        }
    }
}

fn serve_veltix<R: BenchRuntime + Runtime + Default>(
    config: ServerConfig,
    announce: impl FnOnce(SocketAddr) + Send + 'static,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    R::block_on(async move {
        let server = veltix::serve::<R>(config, announce).await?;
        // Waiting on a channel (not `pending()`): an executor may drop a
        // task that nothing can ever wake, and the server with it.
        let _ = stop.await;
        drop(server);
        Ok(())
    })
}

/// Runs `serving` until `stop` fires.
async fn until(
    stop: oneshot::Receiver<()>,
    serving: impl Future<Output = io::Result<()>>,
) -> io::Result<()> {
    futures::pin_mut!(serving);
    match futures::future::select(stop, serving).await {
        futures::future::Either::Left(_) => Ok(()),
        futures::future::Either::Right((result, _)) => result,
    }
}

fn announce(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
