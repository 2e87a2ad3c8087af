//! The conformance suite (`veltix_tests::conformance`) on smol.

use veltix_smol::Smol;
use veltix_tests::{conformance, support};

macro_rules! on_smol {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smol::block_on(support::run_suite::<Smol>(stringify!($name), conformance::$name::<Smol>()));
            }
        )*
    };
}

veltix_tests::conformance_tests!(on_smol);
veltix_tests::async_handler_tests!(on_smol);
