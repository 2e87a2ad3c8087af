//! The flow suite (`veltix_tests::flow`) on smol.

use veltix_smol::Smol;
use veltix_tests::{flow, support};

macro_rules! on_smol {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smol::block_on(support::run_suite::<Smol>(stringify!($name), flow::$name::<Smol>()));
            }
        )*
    };
}

veltix_tests::flow_tests!(on_smol);
