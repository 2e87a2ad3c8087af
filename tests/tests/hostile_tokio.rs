//! The hostile-peer suite (`veltix_tests::hostile`) against a tokio server.

use veltix_tests::{hostile, support};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), hostile::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::hostile_tests!(on_tokio);
