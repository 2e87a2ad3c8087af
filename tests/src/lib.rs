//! Shared code of the integration tests in `tests/`: the conformance and
//! hostile-peer suites, written once and generic over the runtime, the
//! raw-socket peers and frame builders they use, and the runtime-neutral
//! plumbing (deadlines, threads, event helpers) under them.
//!
//! A runner file per runtime (`tests/tests/conformance_tokio.rs`,
//! `tests/tests/hostile_tokio.rs`, later the smol ones) expands
//! [`conformance_tests!`] and [`hostile_tests!`] into one `#[test]` per suite
//! function, so every runtime runs exactly the same list.

pub mod conformance;
pub mod driver_bugs;
pub mod hostile;
pub mod raw;
pub mod support;
