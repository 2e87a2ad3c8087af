//! The examples run to completion (and say what they should).

mod common;

use std::time::Duration;

use common::within;

#[path = "../examples/embed.rs"]
mod embed;

#[path = "../examples/demo.rs"]
mod demo;

#[test]
fn embed_example_finishes_by_itself() {
    within(Duration::from_secs(30), || {
        embed::main().expect("the embed example succeeds");
    });
}

#[test]
fn demo_example_finishes_cleanly() {
    within(Duration::from_secs(120), || {
        demo::main().expect("the demo succeeds");
    });
}
