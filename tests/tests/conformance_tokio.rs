//! The conformance suite (`veltix_tests::conformance`) on tokio.

use veltix_tests::{conformance, support};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), conformance::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::conformance_tests!(on_tokio);
veltix_tests::async_handler_tests!(on_tokio);
