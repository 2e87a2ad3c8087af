//! The `veltix` binary, run as a user would: each subcommand against a
//! server in this process (or a library client against `veltix listen`),
//! on 127.0.0.1, every child bounded by a deadline. No timing is asserted.

mod bench;
mod dialects;
mod listen;
mod ping;
mod request;
mod send;
mod support;
mod tls;
mod usage;
