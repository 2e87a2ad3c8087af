//! The dialect suite (`veltix_tests::dialects`) on veltix-mio's event loop
//! (the async API over the `Mio` runtime, which the blocking API wraps).

use veltix_mio::Mio;
use veltix_tests::{dialects, support};

macro_rules! on_mio {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(support::run_suite::<Mio>(stringify!($name), dialects::$name::<Mio>()));
            }
        )*
    };
}

veltix_tests::dialect_tests!(on_mio);
