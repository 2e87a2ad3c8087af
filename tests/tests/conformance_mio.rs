//! The conformance suite (`veltix_tests::conformance`) on veltix-mio's event loop
//! (the async API over the `Mio` runtime, which the blocking API wraps).

use veltix_mio::Mio;
use veltix_tests::{conformance, support};

macro_rules! on_mio {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(support::run_suite::<Mio>(stringify!($name), conformance::$name::<Mio>()));
            }
        )*
    };
}

veltix_tests::conformance_tests!(on_mio);
veltix_tests::async_handler_tests!(on_mio);
