//! The TLS suite (`veltix_tests::tls`) on veltix-mio's event loop
//! (the async API over the `Mio` runtime, which the blocking API wraps).

use veltix_mio::Mio;
use veltix_tests::{support, tls};

macro_rules! on_mio {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(support::run_suite::<Mio>(stringify!($name), tls::$name::<Mio>()));
            }
        )*
    };
}

veltix_tests::tls_tests!(on_mio);
