//! The hostile suite (`veltix_tests::hostile`) on veltix-mio's event loop
//! (the async API over the `Mio` runtime, which the blocking API wraps).

use veltix_mio::Mio;
use veltix_tests::{hostile, support};

macro_rules! on_mio {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(support::run_suite::<Mio>(stringify!($name), hostile::$name::<Mio>()));
            }
        )*
    };
}

veltix_tests::hostile_tests!(on_mio);
