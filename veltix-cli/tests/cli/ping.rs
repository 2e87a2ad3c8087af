//! `veltix ping`: one line per ping, then the summary.

use std::time::Duration;

use veltix_tokio::Server;

use crate::support::{InProcess, local, runtime, veltix};

#[test]
fn ping_count_3_prints_three_rtt_lines_and_a_summary() {
    let server = InProcess::silent(local());
    let run = veltix(&["ping", &server.addr, "--count", "3", "--interval", "10ms"]);
    let out = run.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0], format!("PING {} (native)", server.addr));
    for (i, line) in lines[1..4].iter().enumerate() {
        let prefix = format!("reply from {}: seq={} time=", server.addr, i + 1);
        assert!(line.starts_with(&prefix) && line.ends_with(" ms"), "{line}");
    }
    assert_eq!(lines[4], format!("--- {} ping statistics ---", server.addr));
    assert!(
        lines[5].starts_with("3 sent, 3 received, 0% loss; rtt min/avg/max/mdev = "),
        "{}",
        lines[5]
    );
}

#[test]
fn ping_json_gives_a_line_per_ping_and_a_summary() {
    let server = InProcess::silent(local());
    let run = veltix(&["ping", &server.addr, "-c", "2", "-i", "10ms", "--json"]);
    run.ok();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{run:?}");
    for (i, line) in lines[..2].iter().enumerate() {
        assert_eq!(line["event"], "reply");
        assert_eq!(line["seq"], i + 1);
        assert!(line["rtt_ms"].as_f64().is_some(), "{line}");
    }
    let summary = &lines[2];
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["sent"], 2);
    assert_eq!(summary["received"], 2);
    assert_eq!(summary["loss_percent"], 0.0);
    for key in ["min", "avg", "max", "mdev"] {
        assert!(summary["rtt_ms"][key].as_f64().is_some(), "{summary}");
    }
}

#[test]
fn a_server_that_goes_away_ends_the_pings_with_a_summary_and_exit_1() {
    let rt = runtime();
    let server = rt.block_on(Server::bind(local())).expect("binds");
    let stopper = server.clone();
    // Shut down a little after the client connects: well inside the
    // 1000 pings × 10 ms it asks for.
    server.on_connect(move |_, _| {
        let server = stopper.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = server.shutdown().await;
        });
    });
    let addr = server.local_addr().to_string();
    let run = veltix(&["ping", &addr, "-c", "1000", "-i", "10ms"]);
    let line = run.fails(1).to_owned();
    assert!(
        line.starts_with(&format!("veltix: ping {addr}: ")),
        "{line}"
    );
    let summary = run.stdout.lines().last().expect("a summary");
    assert!(
        summary.contains(" sent, ") && summary.contains(" received, "),
        "{run:?}"
    );
    assert!(!summary.starts_with("1000 sent"), "{run:?}");
}
