//! The hostile behaviours: blocking functions, each on a plain thread with
//! a raw socket, each asserting its own outcome.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use veltix_core::MessageType;
use veltix_driver::CloseCode;

use super::IDLE;
use crate::raw::{self, Ending, RawPeer};
use crate::support::{DATA, ECHO};

/// A header announcing 4 GiB-1 bytes: the server answers ERROR code 5 and
/// closes, before or after the handshake.
pub fn oversized_peer(addr: SocketAddr, handshake: bool) -> SocketAddr {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    raw.write(&raw::header_only(DATA, u32::MAX))
        .expect("write the header");
    let started = Instant::now();
    let closed = raw.read_until_closed(Duration::from_secs(3));
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::PAYLOAD_TOO_LARGE.0),
        "frames: {:?}",
        closed.frames
    );
    assert_eq!(
        closed.app_frames().len(),
        1,
        "only the ERROR frame: {:?}",
        closed.frames
    );
    assert_eq!(
        closed.ending,
        Ending::Eof,
        "an orderly close after the ERROR frame"
    );
    assert!(
        closed.at - started < IDLE,
        "refused on the header at once, not by a timeout ({:?})",
        closed.at - started
    );
    raw.local_addr()
}

/// A frame with a bad hash, then a good one: the first is dropped, the second
/// echoed, and the connection lives on.
pub fn corrupt_then_good_peer(addr: SocketAddr, handshake: bool) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    let mut burst = raw::corrupt_frame(ECHO, 100, b"bad payload");
    burst.extend(raw::frame(ECHO, 101, b"good payload"));
    raw.write(&burst).expect("write");
    let echo = raw
        .next_app_frame(Duration::from_secs(3))
        .expect("read")
        .expect("still open");
    assert_eq!(
        echo.request_id().to_u128(),
        101,
        "the corrupt frame was not echoed"
    );
    assert_eq!(&echo.payload()[..], b"good payload");

    // Once more, with the corrupt frame alone in its own write.
    raw.write(&raw::corrupt_frame(ECHO, 102, b"bad again"))
        .expect("write");
    raw.write(&raw::frame(ECHO, 103, b"good again"))
        .expect("write");
    let echo = raw
        .next_app_frame(Duration::from_secs(3))
        .expect("read")
        .expect("still open");
    assert_eq!(echo.request_id().to_u128(), 103);
    assert_eq!(&echo.payload()[..], b"good again");
}

/// 8 KiB of seeded random bytes: the server cuts the peer off, at the latest
/// by the idle timeout, and never echoes anything.
pub fn garbage_peer(addr: SocketAddr, seed: u64, handshake: bool) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    if handshake {
        raw.handshake();
    }
    // The server may close while we write: that is the point.
    let _ = raw.write(&raw::garbage(seed, 8 * 1024));
    let closed = raw.read_until_closed(IDLE * 3);
    if let Some(code) = closed.close_code() {
        assert!(
            [
                CloseCode::PROTOCOL_VIOLATION.0,
                CloseCode::PAYLOAD_TOO_LARGE.0,
                CloseCode::IDLE_TIMEOUT.0,
                CloseCode::HANDSHAKE_TIMEOUT.0,
            ]
            .contains(&code),
            "seed {seed}: closed with code {code}"
        );
    }
    assert!(
        closed
            .app_frames()
            .iter()
            .all(|m| m.message_type() == MessageType::ERROR),
        "seed {seed}: garbage was echoed: {:?}",
        closed.frames
    );
}

/// Half a frame, then silence: the idle timeout closes the peer with code 7,
/// about [`IDLE`] after its last whole frame. `bytes_sent` bytes of a
/// 1000-byte frame are sent (under 62 stops inside the header).
pub fn half_frame_peer(addr: SocketAddr, bytes_sent: usize) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let last_whole_frame = Instant::now();
    let frame = raw::frame(ECHO, 5, &[7; 1000]);
    raw.write(&frame[..bytes_sent]).expect("write half a frame");
    let closed = raw.read_until_closed(IDLE * 4);
    assert_eq!(
        closed.close_code(),
        Some(CloseCode::IDLE_TIMEOUT.0),
        "{:?}",
        closed.frames
    );
    let after = closed.at - last_whole_frame;
    assert!(
        after >= IDLE - Duration::from_millis(100),
        "closed early, after {after:?}"
    );
    assert!(after < IDLE * 3, "closed late, after {after:?}");
}

/// One byte every 50 ms of a frame that would take 10 s to finish: cut off
/// by the idle timeout all the same.
pub fn trickling_peer(addr: SocketAddr) {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let last_whole_frame = Instant::now();
    let frame = raw::frame(ECHO, 9, &[1; 138]);
    for byte in frame.chunks(1) {
        if raw.write(byte).is_err() {
            break; // reset by the server
        }
        match raw.next_frame(Duration::from_millis(50)) {
            Ok(Some(m)) if m.message_type() == MessageType::ERROR => {
                let (code, _) = raw::parse_close(m.payload()).expect("close payload");
                assert_eq!(code, CloseCode::IDLE_TIMEOUT.0);
                let after = last_whole_frame.elapsed();
                assert!(
                    after >= IDLE - Duration::from_millis(100),
                    "closed early: {after:?}"
                );
                assert!(after < IDLE * 3, "closed late: {after:?}");
                return;
            }
            Ok(Some(m)) => assert!(
                m.message_type() == MessageType::HEARTBEAT,
                "unexpected {m:?}"
            ),
            Ok(None) => panic!("closed without saying why"),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    panic!("the trickle was never cut off");
}

/// Half a frame, then a reset (`SO_LINGER` 0): returns the peer's address.
pub fn resetting_peer(addr: SocketAddr) -> SocketAddr {
    let mut raw = RawPeer::connect(addr).expect("connect");
    raw.handshake();
    let local = raw.local_addr();
    let frame = raw::frame(ECHO, 11, &[3; 500]);
    raw.write(&frame[..200]).expect("write part of a frame");
    raw.reset();
    local
}
