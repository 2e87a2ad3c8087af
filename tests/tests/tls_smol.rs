//! The TLS suite (`veltix_tests::tls`) on smol.

use veltix_smol::Smol;
use veltix_tests::{support, tls};

macro_rules! on_smol {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smol::block_on(support::run_suite::<Smol>(stringify!($name), tls::$name::<Smol>()));
            }
        )*
    };
}

veltix_tests::tls_tests!(on_smol);
