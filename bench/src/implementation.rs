//! The implementations a scenario runs against: Veltix on each runtime and
//! API, Python Veltix 1.3.0's server, and the two hand-written tokio baselines.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;

use futures::channel::oneshot;
use veltix_driver::Runtime;
use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tokio::Tokio;

use crate::baseline::{LdClient, ShaClient, serve_ld, serve_sha};
use crate::mio_threaded::{self, MioThreadedClient};
use crate::procfs::ServerProcess;
use crate::python;
use crate::report::{BASELINE_LD, BASELINE_SHA, PYTHON};
use crate::rt::{BenchRuntime, Threads};
use crate::scenario::{self, Ctx, Measured, Scenario};
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
    /// Python Veltix 1.3.0's server, driven by the tokio client without the
    /// handshake (Python Veltix 1.x has none). Server only.
    Python,
    /// Hand-written tokio + `LengthDelimitedCodec`, no hashing.
    BaselineLd,
    /// Hand-written tokio + the 62-byte header + SHA-256.
    BaselineSha,
}

impl Implementation {
    /// Every implementation, in table order.
    pub(crate) const ALL: [Self; 7] = [
        Self::Tokio,
        Self::Smol,
        Self::Mio,
        Self::MioThreaded,
        Self::Python,
        Self::BaselineLd,
        Self::BaselineSha,
    ];

    /// The name in tables, JSON, `--impls` and `serve --impl`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::Smol => "smol",
            Self::Mio => "mio",
            Self::MioThreaded => "mio-threaded",
            Self::Python => PYTHON,
            Self::BaselineLd => BASELINE_LD,
            Self::BaselineSha => BASELINE_SHA,
        }
    }

    /// The implementation called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Runs one scenario with this implementation's client.
    pub(crate) fn run(self, scenario: Scenario, ctx: Ctx) -> io::Result<Measured> {
        match self {
            // The python row's client is the tokio one (`handshake` is off).
            Self::Tokio | Self::Python => {
                scenario::run::<VeltixClient<Tokio>, Tokio>(scenario, ctx)
            }
            Self::Smol => scenario::run::<VeltixClient<Smol>, Smol>(scenario, ctx),
            Self::Mio => scenario::run::<VeltixClient<Mio>, Mio>(scenario, ctx),
            Self::MioThreaded => scenario::run::<MioThreadedClient, Threads>(scenario, ctx),
            Self::BaselineLd => scenario::run::<LdClient, Tokio>(scenario, ctx),
            Self::BaselineSha => scenario::run::<ShaClient, Tokio>(scenario, ctx),
        }
    }

    /// Whether this implementation's client runs the Veltix handshake with
    /// its own server: not with Python Veltix 1.x, which has none.
    pub(crate) fn handshake(self) -> bool {
        self != Self::Python
    }

    /// Starts this implementation's server in a process of its own;
    /// `python` is the interpreter for [`Self::Python`].
    pub(crate) fn start_server(self, python: Option<&Path>) -> io::Result<ServerProcess> {
        match (self, python) {
            (Self::Python, Some(python)) => python::start_server(python),
            (Self::Python, None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no Python interpreter with veltix 1.3.0",
            )),
            _ => ServerProcess::start(self.name()),
        }
    }

    /// Why this implementation's client cannot drive a server the bench did
    /// not start (`--server`), if it cannot.
    pub(crate) fn external_client_refusal(self) -> Option<&'static str> {
        match self {
            Self::BaselineLd => Some("it speaks LengthDelimited framing, not the Veltix wire"),
            Self::Python => Some("it is a server only (its row's client is tokio, legacy)"),
            _ => None,
        }
    }

    /// Runs this implementation's server until stdin closes (the bench's
    /// `serve` subcommand), printing `listening on ADDR` first.
    pub(crate) fn serve(self, addr: SocketAddr) -> io::Result<()> {
        // The parent closes our stdin when it is done with us (or dies).
        let (done, stdin_closed) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin(), &mut io::sink());
            let _ = done.send(());
        });
        match self {
            Self::Tokio => serve_veltix::<Tokio>(addr, stdin_closed),
            Self::Smol => serve_veltix::<Smol>(addr, stdin_closed),
            Self::Mio => serve_veltix::<Mio>(addr, stdin_closed),
            Self::MioThreaded => {
                let server = mio_threaded::serve(addr)?;
                announce(server.local_addr());
                let _ = futures::executor::block_on(stdin_closed);
                drop(server);
                Ok(())
            }
            Self::Python => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the python server is python/echo_server.py, run by an interpreter",
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
        }
    }
}

fn serve_veltix<R: BenchRuntime + Runtime + Default>(
    addr: SocketAddr,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    R::block_on(async move {
        let server = veltix::serve::<R>(addr, announce).await?;
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

fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}
