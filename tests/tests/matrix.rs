//! Every client runtime against every server runtime (3 × 3): requests,
//! pings both ways and a broadcast with exclusion, in the native dialect, over
//! TLS (`tls_*`) and in the Python 3.x dialect (`python3_*`: JSON handshake,
//! compact frames). Each pair runs inside a tokio runtime, which the tokio
//! side needs; smol and mio run their own threads whatever polls the test.

use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tests::{matrix, support};
use veltix_tokio::Tokio;

macro_rules! pairs {
    ($($name:ident, $tls_name:ident: $server:ty => $client:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<$server>(
                    stringify!($name),
                    matrix::requests_pings_and_broadcast::<$server, $client>(),
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $tls_name() {
                support::run_suite::<$server>(
                    stringify!($tls_name),
                    matrix::requests_pings_and_broadcast_over_tls::<$server, $client>(),
                )
                .await;
            }
        )*
    };
}

pairs! {
    tokio_server_tokio_clients, tls_tokio_server_tokio_clients: Tokio => Tokio,
    tokio_server_smol_clients, tls_tokio_server_smol_clients: Tokio => Smol,
    tokio_server_mio_clients, tls_tokio_server_mio_clients: Tokio => Mio,
    smol_server_tokio_clients, tls_smol_server_tokio_clients: Smol => Tokio,
    smol_server_smol_clients, tls_smol_server_smol_clients: Smol => Smol,
    smol_server_mio_clients, tls_smol_server_mio_clients: Smol => Mio,
    mio_server_tokio_clients, tls_mio_server_tokio_clients: Mio => Tokio,
    mio_server_smol_clients, tls_mio_server_smol_clients: Mio => Smol,
    mio_server_mio_clients, tls_mio_server_mio_clients: Mio => Mio,
}

macro_rules! python3_pairs {
    ($($name:ident: $server:ty => $client:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<$server>(
                    stringify!($name),
                    matrix::python3_requests_pings_and_broadcast::<$server, $client>(),
                )
                .await;
            }
        )*
    };
}

python3_pairs! {
    python3_tokio_server_tokio_clients: Tokio => Tokio,
    python3_tokio_server_smol_clients: Tokio => Smol,
    python3_tokio_server_mio_clients: Tokio => Mio,
    python3_smol_server_tokio_clients: Smol => Tokio,
    python3_smol_server_smol_clients: Smol => Smol,
    python3_smol_server_mio_clients: Smol => Mio,
    python3_mio_server_tokio_clients: Mio => Tokio,
    python3_mio_server_smol_clients: Mio => Smol,
    python3_mio_server_mio_clients: Mio => Mio,
}
