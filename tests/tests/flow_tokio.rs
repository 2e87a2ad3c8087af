//! The flow-control suite (`veltix_tests::flow`) against a tokio server.

use veltix_tests::{flow, support};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), flow::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::flow_tests!(on_tokio);
