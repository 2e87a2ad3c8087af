//! The flow suite (`veltix_tests::flow`) on veltix-mio's event loop
//! (the async API over the `Mio` runtime, which the blocking API wraps).

use veltix_mio::Mio;
use veltix_tests::{flow, support};

macro_rules! on_mio {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(support::run_suite::<Mio>(stringify!($name), flow::$name::<Mio>()));
            }
        )*
    };
}

veltix_tests::flow_tests!(on_mio);
