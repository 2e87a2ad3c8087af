//! Shared code of the integration tests in `tests/`: the conformance and
//! hostile-peer suites, written once and generic over the runtime, the
//! raw-socket peers and frame builders they use, and the runtime-neutral
//! plumbing (deadlines, threads, event helpers) under them.
//!
//! A runner file per runtime (`tests/tests/conformance_tokio.rs`,
//! `tests/tests/hostile_tokio.rs`, later the smol and mio ones) expands
//! [`conformance_tests!`] and [`hostile_tests!`] into one `#[test]` per suite
//! function, so every runtime runs exactly the same list. A runner is a
//! dozen lines:
//!
//! ```text
//! macro_rules! on_tokio {
//!     ($($name:ident),* $(,)?) => { $(
//!         #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//!         async fn $name() {
//!             support::run_suite::<Tokio>(stringify!($name), conformance::$name::<Tokio>()).await;
//!         }
//!     )* };
//! }
//! veltix_tests::conformance_tests!(on_tokio);
//! ```
//!
//! A runtime without an async test attribute wraps the call in its own
//! `block_on` instead. The suites only need `R: Runtime + Default`: time,
//! tasks and sockets come from the runtime; raw peers are blocking
//! `std::net` sockets on plain threads.
//!
//! The interop scenarios ([`interop`]) talk to the real Python Veltix
//! packages, run as child processes by [`python`] (the one tokio-bound
//! module: the interop tests' harness is tokio whatever runtime our side
//! uses).

pub mod conformance;
pub mod dialects;
pub mod flow;
pub mod hostile;
pub mod interop;
pub mod matrix;
pub mod python;
pub mod raw;
pub mod support;
pub mod tls;

/// The README's Rust code blocks, compiled (and, but for the few that need
/// an outside peer or write a file, run) by `cargo test -p veltix-tests
/// --doc`: this crate sees tokio, smol and mio alike.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
