//! The flow-control scenarios (`veltix_tests::flow`) against veltix-mio's
//! threaded, blocking `Server`: callbacks on a worker thread answer with
//! `try_reply`, as its `mio_echo_server` example does.

use std::io::Write as _;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use veltix_driver::CloseReason;
use veltix_mio::{Message, Server, ServerConfig, ServerEvent};
use veltix_tests::flow::{self, PIPELINES, STALL, one_at_a_time};
use veltix_tests::raw::frame;
use veltix_tests::support::{ECHO, STEP, server_config};

/// A threaded echo server; a `try_reply` refused while the peer reads would
/// be a flow-control bug: the count of refusals comes back.
fn echo_server(config: ServerConfig) -> (Server, mpsc::Receiver<String>) {
    let server = Server::bind(config).expect("bind");
    let (refused_tx, refused) = mpsc::channel();
    server.on_message(move |peer, message| {
        let answer = Message::new(message.message_type(), message.payload().clone());
        if let Err(err) = peer.try_reply(&message, answer) {
            let _ = refused_tx.send(err.to_string());
        }
    });
    (server, refused)
}

#[test]
fn pipelined_echo_arrives_whole_and_in_order() {
    let _one = futures::executor::block_on(one_at_a_time());
    let (server, refused) = echo_server(server_config());
    for (size, count) in PIPELINES {
        flow::pipelined_echo(server.local_addr(), size, count);
    }
    assert_eq!(refused.try_iter().collect::<Vec<_>>(), Vec::<String>::new());
    server.shutdown().expect("shutdown");
}

#[test]
fn a_flooder_that_never_reads_is_paused_and_others_are_served() {
    let _one = futures::executor::block_on(one_at_a_time());
    let (server, _refused) = echo_server(server_config());
    let report = flow::flood_beside_a_good_peer(server.local_addr(), Duration::from_secs(3));
    flow::check_flood(&report);
    server.shutdown().expect("shutdown");
}

#[test]
fn a_peer_whose_output_stalls_is_closed() {
    let _one = futures::executor::block_on(one_at_a_time());
    let (server, _refused) = echo_server(flow::stall_config());
    let (gone_tx, gone) = mpsc::channel();
    server.on_disconnect(move |_, reason| {
        let _ = gone_tx.send(reason.clone());
    });
    let (stream, connected) = flow::stall_output(server.local_addr());
    let reason = gone.recv_timeout(STALL + STEP).expect("a disconnect");
    assert_eq!(reason, CloseReason::WriteStalled);
    assert!(connected.elapsed() >= STALL, "closed before the timeout");
    drop(stream);
    server.shutdown().expect("shutdown");
}

#[test]
fn a_slow_event_reader_pauses_only_the_peer_it_is_behind_on() {
    let _one = futures::executor::block_on(one_at_a_time());
    let server = Server::bind(server_config()).expect("bind");
    let mut events = server.events();
    let addr = server.local_addr();
    let flooder = TcpStream::connect_timeout(&addr, STEP).expect("connect the flooder");
    let flooding = std::thread::spawn(move || flow::flood_for(flooder, Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(2500));
    let mut good = TcpStream::connect_timeout(&addr, STEP).expect("connect");
    good.write_all(&frame(ECHO, 7, b"good")).expect("sent");
    let (flooded, flooded_last_second) = flooding.join().expect("flooded");
    assert!(
        flooded_last_second < 256 * 1024,
        "the flooder was still read ({flooded_last_second} B in the last second of {flooded} B)"
    );
    // The iterator holds up to `event_capacity` events the worker moved
    // there before the flooder paused; behind those, the stream serves each
    // peer in turn.
    let limit = server_config().event_capacity + 4;
    let deadline = Instant::now() + STEP;
    let mut messages = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).expect("an event") {
            ServerEvent::Message { message, .. } if message.payload().as_ref() == b"good" => {
                break;
            }
            ServerEvent::Message { .. } => messages += 1,
            _ => {}
        }
        assert!(
            messages < limit,
            "the good peer's message waited behind the flood"
        );
    }
    drop(good);
    // An iterator kept but no longer read holds the worker (it waits to hand
    // over the flooder's events in order): let it go first.
    drop(events);
    server.shutdown().expect("shutdown");
}
