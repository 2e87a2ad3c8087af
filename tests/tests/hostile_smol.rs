//! The hostile suite (`veltix_tests::hostile`) on smol.

use veltix_smol::Smol;
use veltix_tests::{hostile, support};

macro_rules! on_smol {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smol::block_on(support::run_suite::<Smol>(stringify!($name), hostile::$name::<Smol>()));
            }
        )*
    };
}

veltix_tests::hostile_tests!(on_smol);
