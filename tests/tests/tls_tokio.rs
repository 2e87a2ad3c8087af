//! The TLS suite (`veltix_tests::tls`) against a tokio server.

use veltix_tests::{support, tls};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), tls::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::tls_tests!(on_tokio);
