//! The dialect suite (`veltix_tests::dialects`) on tokio.

use veltix_tests::{dialects, support};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), dialects::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::dialect_tests!(on_tokio);
