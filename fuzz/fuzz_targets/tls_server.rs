//! Fuzzes a server-side TLS session with arbitrary client bytes, split into
//! reads of a size the input chooses.
//!
//! Invariants checked (by `veltix_tls::fuzzing::feed_server`, which panics
//! when one breaks):
//! - nothing panics inside rustls or the layer;
//! - no plaintext is ever delivered: no input can complete a handshake,
//!   which needs the server's ephemeral secret;
//! - a failed session takes no more input;
//! - after draining, no output is left, and the pending-bytes count was
//!   exactly what was written;
//! - end of stream never reads as a clean close.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = veltix_tls::fuzzing::feed_server(data);
});
