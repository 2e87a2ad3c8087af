//! Shared helpers for the integration tests in `tests/`: raw-socket peers,
//! frame builders and the generic conformance suite.
