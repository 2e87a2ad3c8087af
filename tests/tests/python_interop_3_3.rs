//! Interop with a real Python Veltix 3.3.0 (today's PyPI release: compact
//! "VX" frames after a JSON handshake; our `Dialect::Python3`), in both
//! directions and with our side on tokio, smol and mio (async API), plus the
//! threaded `veltix_mio::Server`:
//!
//! - our client against `tests/python/echo_server_3_3.py`: requests of every
//!   size, pings both ways, 1 MiB, a burst of 500 in order, keep-alive;
//! - `tests/python/client_3_3.py` against our server: the same from Python;
//! - JSON payloads both ways (`Message::json` / `parse_json` here,
//!   `Request(T, json=…)` / `Response.json` there), `tests/python/json_peer_3_3.py`;
//! - a full server refusing the other side's client, both ways
//!   (`ServerFullError("server_full")` in Python,
//!   `CloseReason::Peer { code: SERVER_FULL, reason: "server_full" }` here).
//!
//! The interpreter is `$VELTIX_PYTHON_3_3_0` when set, else a venv made once
//! at `<target dir>/python-veltix-3.3.0/` (`veltix_tests::python`; 3.3.0
//! needs CPython 3.11 or later). The scenarios are in `veltix_tests::interop`.
//! The harness is tokio, which the smol and mio sides do not mind.

use std::time::Duration;

use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tests::interop;
use veltix_tests::python::{Release, within};
use veltix_tokio::Tokio;

const RELEASE: Release = Release::V3_3_0;
/// Time allowed for one test once Python is available.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

macro_rules! interop_tests {
    ($($name:ident: $scenario:ident $(::<$runtime:ty>)? $(($release:expr))?),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = veltix_tests::python_for!(RELEASE);
                within(TEST_TIMEOUT, interop::$scenario$(::<$runtime>)?(python $(, $release)?)).await;
            }
        )*
    };
}

interop_tests! {
    our_tokio_client_to_python_server: our_client_to_python_server::<Tokio>(RELEASE),
    our_smol_client_to_python_server: our_client_to_python_server::<Smol>(RELEASE),
    our_mio_client_to_python_server: our_client_to_python_server::<Mio>(RELEASE),
    python_client_to_our_tokio_server: python_client_to_our_server::<Tokio>(RELEASE),
    python_client_to_our_smol_server: python_client_to_our_server::<Smol>(RELEASE),
    python_client_to_our_mio_server: python_client_to_our_server::<Mio>(RELEASE),
    python_client_to_our_threaded_mio_server: python_client_to_threaded_mio_server(RELEASE),
    our_tokio_server_closes_reach_python_client: our_closes_reach_the_python_client::<Tokio>(RELEASE),
    our_smol_server_closes_reach_python_client: our_closes_reach_the_python_client::<Smol>(RELEASE),
    our_mio_server_closes_reach_python_client: our_closes_reach_the_python_client::<Mio>(RELEASE),
    our_full_tokio_server_refuses_python_client: full_server_refuses_python_3_3_client::<Tokio>,
    our_full_smol_server_refuses_python_client: full_server_refuses_python_3_3_client::<Smol>,
    our_full_mio_server_refuses_python_client: full_server_refuses_python_3_3_client::<Mio>,
    full_python_server_refuses_our_tokio_client: full_python_3_3_server_refuses_our_client::<Tokio>,
    full_python_server_refuses_our_smol_client: full_python_3_3_server_refuses_our_client::<Smol>,
    full_python_server_refuses_our_mio_client: full_python_3_3_server_refuses_our_client::<Mio>,
    our_tokio_json_to_python_server: our_json_to_python_server::<Tokio>,
    our_smol_json_to_python_server: our_json_to_python_server::<Smol>,
    our_mio_json_to_python_server: our_json_to_python_server::<Mio>,
    python_json_to_our_tokio_server: python_json_to_our_server::<Tokio>,
    python_json_to_our_smol_server: python_json_to_our_server::<Smol>,
    python_json_to_our_mio_server: python_json_to_our_server::<Mio>,
}
