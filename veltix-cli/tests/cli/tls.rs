//! TLS: pinned and CA trust, mutual TLS, and the refusals (exit code 3).

use veltix_tls::{ServerTrust, TlsServerConfig};

use crate::support::{Certs, InProcess, Listener, local, veltix};

fn tls_listener(certs: &Certs, more: &[&str]) -> Listener {
    let mut args = vec![
        "--tls-cert",
        &certs.server_cert,
        "--tls-key",
        &certs.server_key,
    ];
    args.extend_from_slice(more);
    Listener::start(&args)
}

#[test]
fn a_tls_listener_prints_its_pin_and_serves_pinned_and_ca_clients() {
    let certs = Certs::new();
    let listener = tls_listener(&certs, &[]);
    assert_eq!(listener.line(), format!("tls pin {}", certs.server_pin));
    let addr = listener.addr.as_str();
    let pinned = veltix(&[
        "request",
        addr,
        "--tls-pin",
        &certs.server_pin,
        "--data",
        "pinned",
    ]);
    assert_eq!(pinned.ok(), "pinned");
    let bare_hex = certs.server_pin.trim_start_matches("sha256:");
    assert_eq!(
        veltix(&["request", addr, "--tls-pin", bare_hex, "--data", "hex"]).ok(),
        "hex"
    );
    // The certificate names 127.0.0.1 (the host of ADDR) and localhost.
    let ca = veltix(&[
        "request",
        addr,
        "--tls-ca",
        &certs.server_cert,
        "--data",
        "ca",
    ]);
    assert_eq!(ca.ok(), "ca");
    let named = veltix(&[
        "request",
        addr,
        "--tls-ca",
        &certs.server_cert,
        "--tls-server-name",
        "localhost",
        "--data",
        "named",
    ]);
    assert_eq!(named.ok(), "named");
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn a_wrong_pin_or_name_exits_3_with_one_line() {
    let certs = Certs::new();
    let listener = tls_listener(&certs, &[]);
    let other = Certs::new();
    let wrong_pin = veltix(&[
        "ping",
        &listener.addr,
        "-c",
        "1",
        "--tls-pin",
        &other.server_pin,
    ]);
    let line = wrong_pin.fails(3);
    assert!(line.contains("does not match the pin"), "{line}");
    assert!(
        line.contains(&certs.server_pin),
        "names the server's pin: {line}"
    );
    let wrong_ca = veltix(&["send", &listener.addr, "--tls-ca", &other.server_cert]);
    assert!(wrong_ca.fails(3).contains("TLS"), "{wrong_ca:?}");
    let wrong_name = veltix(&[
        "send",
        &listener.addr,
        "--tls-ca",
        &certs.server_cert,
        "--tls-server-name",
        "elsewhere.test",
    ]);
    assert!(
        wrong_name.fails(3).contains("not valid for"),
        "{wrong_name:?}"
    );
}

#[test]
fn mutual_tls_admits_a_client_certificate_and_refuses_none() {
    let certs = Certs::new();
    let listener = tls_listener(&certs, &["--tls-client-ca", &certs.client_cert, "--print"]);
    assert!(listener.line().starts_with("tls pin sha256:"));
    let addr = listener.addr.as_str();
    veltix(&[
        "send",
        addr,
        "--tls-pin",
        &certs.server_pin,
        "--tls-cert",
        &certs.client_cert,
        "--tls-key",
        &certs.client_key,
        "--data",
        "with a certificate",
    ])
    .ok();
    let connected = listener.line();
    assert!(
        connected.contains(" connected (native, tls client "),
        "{connected}"
    );
    assert!(listener.line().ends_with(r#" "with a certificate""#));
    let without = veltix(&[
        "send",
        addr,
        "--tls-pin",
        &certs.server_pin,
        "--data",
        "none",
    ]);
    without.fails(3);
    assert_eq!(listener.terminate().code(), Some(0));
}

#[test]
fn every_client_command_speaks_tls_to_a_library_server() {
    let certs = Certs::new();
    let tls = TlsServerConfig::builder_from_files(&certs.server_cert, &certs.server_key)
        .and_then(|builder| builder.build())
        .expect("a TLS server configuration");
    let server = InProcess::echo(local().tls(tls));
    let pin = ["--tls-pin", certs.server_pin.as_str()];
    let addr = server.addr.as_str();
    veltix(&[&["send", addr, "--data", "sent"][..], &pin].concat()).ok();
    assert_eq!(&server.received().payload()[..], b"sent");
    let reply = veltix(&[&["request", addr, "--data", "asked"][..], &pin].concat());
    assert_eq!(reply.ok(), "asked");
    let ping = veltix(&[&["ping", addr, "-c", "1", "-i", "10ms"][..], &pin].concat());
    assert!(
        ping.ok().starts_with(&format!("PING {addr} (native, TLS)")),
        "{ping:?}"
    );
    let bench = veltix(&[&["bench", addr, "--count", "20", "--json"][..], &pin].concat());
    bench.ok();
    assert_eq!(bench.json_lines()[0]["tls"], true);
    let _ = ServerTrust::pin(&certs.server_pin).expect("the printed pin parses back");
}

#[test]
fn a_tls_client_on_a_plaintext_port_exits_3() {
    let certs = Certs::new();
    let server = InProcess::echo(local());
    let run = veltix(&[
        "request",
        &server.addr,
        "--tls-pin",
        &certs.server_pin,
        "--data",
        "x",
    ]);
    assert!(run.fails(3).contains("TLS"), "{run:?}");
}

#[test]
fn a_plaintext_client_on_a_tls_port_is_told_and_exits_3() {
    let certs = Certs::new();
    let listener = tls_listener(&certs, &[]);
    let run = veltix(&["request", &listener.addr, "--data", "x"]);
    let line = run.fails(3);
    assert!(line.contains("this server requires TLS"), "{line}");
    assert!(
        line.ends_with("(connect with --tls-pin or --tls-ca)"),
        "{line}"
    );
}

#[test]
fn unusable_tls_files_are_usage_errors() {
    let certs = Certs::new();
    let run = veltix(&["request", "127.0.0.1:9", "--tls-ca", "/nonexistent/ca.pem"]);
    assert_eq!(
        run.fails(2),
        "veltix: TLS settings: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)"
    );
    // A key that is not a key.
    let run = veltix(&[
        "listen",
        "127.0.0.1:0",
        "--tls-cert",
        &certs.server_cert,
        "--tls-key",
        &certs.server_cert,
    ]);
    assert!(
        run.fails(2).starts_with("veltix: TLS settings: "),
        "{run:?}"
    );
}
