//! The dialect suite (`veltix_tests::dialects`) on smol.

use veltix_smol::Smol;
use veltix_tests::{dialects, support};

macro_rules! on_smol {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smol::block_on(support::run_suite::<Smol>(stringify!($name), dialects::$name::<Smol>()));
            }
        )*
    };
}

veltix_tests::dialect_tests!(on_smol);
