#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod args;
mod bench;
mod connect;
mod duration;
mod exit;
mod listen;
mod output;
mod payload;
mod ping;
mod request;
mod send;
mod signal;
mod stats;
mod tls;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    // Usage errors exit with 2, --help and --version with 0 (clap's own).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::error(&format!("cannot start the runtime: {e}"));
            return exit::Exit::Failed.into();
        }
    };
    let json = cli.command.json();
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::error(&failure.message());
            if json {
                // A program reading standard output learns of the failure
                // there too, as the last line.
                let _ = output::json(&serde_json::json!({
                    "error": failure.message(),
                    "exit_code": failure.exit as u8,
                }));
            }
            failure.exit.into()
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Listen(args) => listen::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::Request(args) => request::run(args).await,
        Command::Ping(args) => ping::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
