//! Tests that show bugs in `veltix-driver` (see `veltix_tests::driver_bugs`
//! for the diagnosis), on tokio. They fail until the driver is fixed; then
//! they move into the conformance suite.

use veltix_tests::{driver_bugs, support};
use veltix_tokio::Tokio;

macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::run_suite::<Tokio>(stringify!($name), driver_bugs::$name::<Tokio>()).await;
            }
        )*
    };
}

veltix_tests::driver_bugs_tests!(on_tokio);
