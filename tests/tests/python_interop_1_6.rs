//! Interop with a real Python Veltix 1.6.1 (classic 62-byte frames after a
//! server-first HELLO / HELLO_ACK; our `Dialect::Python14`), in both
//! directions and with our side on tokio, smol and mio (async API), plus the
//! threaded `veltix_mio::Server`:
//!
//! - our client against `tests/python/echo_server_1_6.py`: requests of every
//!   size, pings both ways, 1 MiB, a burst of 500 in order, keep-alive;
//! - `tests/python/client_1_6.py` against our server: the same from Python.
//!
//! The 1.6.1 package announces itself as `1.6.0` and checks only
//! `major.minor`. Its full server does not refuse a client (it stops
//! accepting), so there is no server-full scenario here.
//!
//! The interpreter is `$VELTIX_PYTHON_1_6_1` when set, else a venv made once
//! at `<target dir>/python-veltix-1.6.1/` (`veltix_tests::python`). The
//! scenarios are in `veltix_tests::interop`. The harness is tokio, which the
//! smol and mio sides do not mind.

use std::time::Duration;

use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tests::interop;
use veltix_tests::python::{Release, within};
use veltix_tokio::Tokio;

const RELEASE: Release = Release::V1_6_1;
/// Time allowed for one test once Python is available.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

macro_rules! interop_tests {
    ($($name:ident: $scenario:ident $(::<$runtime:ty>)?),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = veltix_tests::python_for!(RELEASE);
                within(TEST_TIMEOUT, interop::$scenario$(::<$runtime>)?(python, RELEASE)).await;
            }
        )*
    };
}

interop_tests! {
    our_tokio_client_to_python_server: our_client_to_python_server::<Tokio>,
    our_smol_client_to_python_server: our_client_to_python_server::<Smol>,
    our_mio_client_to_python_server: our_client_to_python_server::<Mio>,
    python_client_to_our_tokio_server: python_client_to_our_server::<Tokio>,
    python_client_to_our_smol_server: python_client_to_our_server::<Smol>,
    python_client_to_our_mio_server: python_client_to_our_server::<Mio>,
    python_client_to_our_threaded_mio_server: python_client_to_threaded_mio_server,
    our_tokio_server_closes_reach_python_client: our_closes_reach_the_python_client::<Tokio>,
    our_smol_server_closes_reach_python_client: our_closes_reach_the_python_client::<Smol>,
    our_mio_server_closes_reach_python_client: our_closes_reach_the_python_client::<Mio>,
}
