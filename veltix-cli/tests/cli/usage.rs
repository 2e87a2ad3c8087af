//! Bad arguments: a clear error and exit code 2; help documents exit codes.

use crate::support::{Run, veltix};

/// Asserts clap's usage failure: exit 2, `error:` naming `what`.
fn usage_error(run: &Run, what: &str) {
    assert_eq!(run.code(), 2, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(
        run.stderr.contains(what),
        "{what:?} not in {:?}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error() {
    let bare = veltix(&[]);
    assert_eq!(bare.code(), 2, "{bare:?}");
    assert!(bare.stderr.contains("Usage: veltix <COMMAND>"), "{bare:?}");
    usage_error(&veltix(&["fly"]), "unrecognized subcommand 'fly'");
    usage_error(&veltix(&["request"]), "<ADDR>");
    usage_error(
        &veltix(&["send", "h:1", "--type", "5"]),
        "reserved to the library",
    );
    usage_error(
        &veltix(&["send", "h:1", "--type", "x"]),
        "not a message type",
    );
    usage_error(
        &veltix(&["ping", "h:1", "--dialect", "klingon"]),
        "possible values",
    );
    usage_error(&veltix(&["ping", "h:1", "--count", "0"]), "--count");
    usage_error(
        &veltix(&["request", "h:1", "--timeout", "2"]),
        "not a duration",
    );
    usage_error(
        &veltix(&["ping", "h:1", "--interval", "0s"]),
        "more than zero",
    );
    usage_error(
        &veltix(&["request", "h:1", "--tls-pin", "sha256:beef"]),
        "bad key pin",
    );
    usage_error(
        &veltix(&["request", "h:1", "--tls-cert", "c.pem"]),
        "--tls-key",
    );
    usage_error(
        &veltix(&["listen", "h:1", "--tls-key", "k.pem"]),
        "--tls-cert",
    );
    usage_error(
        &veltix(&["listen", "h:1", "--echo", "--print"]),
        "cannot be used with",
    );
    usage_error(
        &veltix(&["send", "h:1", "--data", "@/nonexistent/file"]),
        "cannot read /nonexistent/file",
    );
    usage_error(
        &veltix(&["bench", "h:1", "--count", "5", "--duration", "1s"]),
        "cannot be used with",
    );
}

#[test]
fn a_key_outside_the_native_dialect_exits_2_in_one_line() {
    let run = veltix(&[
        "listen",
        "127.0.0.1:0",
        "--dialect",
        "python3",
        "--key",
        "k",
    ]);
    let line = run.fails(2);
    assert!(line.contains("pre-shared key"), "{line}");
}

#[test]
fn help_documents_every_command_and_the_exit_codes() {
    let help = veltix(&["--help"]);
    let out = help.ok();
    for command in ["listen", "send", "request", "ping", "bench"] {
        assert!(out.contains(command), "{command} in {out}");
    }
    for code in [
        "0  success",
        "1  the operation failed",
        "2  bad arguments",
        "3  TLS",
        "4  cannot connect",
    ] {
        assert!(out.contains(code), "{code:?} in {out}");
    }
    let ping_help = veltix(&["ping", "--help"]);
    assert!(ping_help.ok().contains("Exit codes:"));
    assert!(veltix(&["--version"]).ok().starts_with("veltix "));
}

#[test]
fn an_address_that_is_no_address_exits_2_in_one_line() {
    for bad in ["no-port-here", "127.0.0.1:notaport"] {
        let run = veltix(&["ping", bad, "--count", "1"]);
        let line = run.fails(2);
        assert!(line.contains(bad), "{line}");
    }
}
