//! Bad bytes: an oversized length, a corrupt frame (and the stats that
//! count it), garbage, half a frame, a trickle, a reset mid-frame.

use std::time::Duration;

use futures::channel::oneshot;
use futures::future::join_all;
use veltix_driver::{CloseCode, CloseReason, Runtime};

use super::{
    Fixture, IDLE, corrupt_then_good_peer, during_attack, garbage_peer, half_frame_peer,
    oversized_peer, resetting_peer, trickling_peer,
};
use crate::raw::{self, RawPeer};
use crate::support::{ECHO, STEP, eventually, on_thread, within};

/// A 4 GiB-1 length is refused with ERROR code 5, before and after the handshake.
pub async fn oversized_length_is_refused_with_code_5<R: Runtime + Default>() {
    let mut fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let legacy = on_thread::<R, _>(STEP, "oversized legacy peer", move || {
        oversized_peer(addr, false)
    })
    .await;
    let negotiated = on_thread::<R, _>(STEP, "oversized negotiated peer", move || {
        oversized_peer(addr, true)
    })
    .await;
    let peer = fixture.peer_at(negotiated).await;
    let reason = fixture.disconnect_of(peer).await;
    assert_eq!(reason.code(), CloseCode::PAYLOAD_TOO_LARGE, "{reason:?}");
    assert!(
        fixture
            .server
            .peers()
            .iter()
            .all(|p| p.addr() != legacy && p.addr() != negotiated)
    );
    fixture.finish().await;
}

/// A frame whose hash does not match is dropped; the good frame after it is echoed.
pub async fn corrupt_frame_is_dropped_and_the_next_is_echoed<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    on_thread::<R, _>(STEP, "corrupt frame after handshake", move || {
        corrupt_then_good_peer(addr, true)
    })
    .await;
    on_thread::<R, _>(STEP, "corrupt first frame (legacy)", move || {
        corrupt_then_good_peer(addr, false)
    })
    .await;
    fixture.finish().await;
}

/// The stats count the corrupt frames a raw peer sends: on its `Peer`, in
/// the server's totals, and nowhere else; the peer lives on.
pub async fn stats_count_corrupt_frames_from_a_hostile_peer<R: Runtime + Default>() {
    const CORRUPT: u64 = 3;
    let mut fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let before = fixture.server.stats();
    let (local_tx, local) = oneshot::channel();
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let peer_thread = on_thread::<R, _>(STEP, "corrupting peer", move || {
        let mut raw = RawPeer::connect(addr).expect("connect");
        raw.handshake();
        let mut burst = Vec::new();
        for id in 0..CORRUPT {
            burst.extend(raw::corrupt_frame(ECHO, 100 + u128::from(id), b"bad"));
        }
        burst.extend(raw::frame(ECHO, 200, b"good"));
        raw.write(&burst).expect("write");
        let echo = raw
            .next_app_frame(Duration::from_secs(3))
            .expect("read")
            .expect("still open");
        assert_eq!(
            echo.request_id().to_u128(),
            200,
            "only the good frame is echoed"
        );
        let _ = local_tx.send(raw.local_addr());
        // Connected until its stats have been read.
        let _ = done.recv_timeout(STEP);
    });
    let local = within::<R, _>(STEP, "the raw peer's address", local)
        .await
        .expect("the raw peer reports its address");
    let peer = fixture.peer_at(local).await;
    let handle = fixture.server.peer(peer).expect("still connected");
    eventually::<R>(STEP, "the peer's stats count the corrupt frames", || {
        handle.stats().corrupt_frames == CORRUPT
    })
    .await;
    let stats = handle.stats();
    // HELLO, the corrupt ones, the good one.
    assert!(stats.frames_in >= 2 + CORRUPT, "{stats:?}");
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0, "{stats:?}");
    eventually::<R>(STEP, "the server's totals count them", || {
        fixture.server.stats().corrupt_frames - before.corrupt_frames == CORRUPT
    })
    .await;
    assert_eq!(
        fixture.good.stats().corrupt_frames,
        0,
        "the good client saw none"
    );
    let _ = done_tx.send(());
    peer_thread.await;
    fixture.finish().await;
}

/// Random bytes, before or after the handshake, get the peer cut off.
pub async fn random_garbage_is_cut_off<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let peers = (1..=8u64).map(|seed| {
        on_thread::<R, _>(IDLE * 4, "garbage peer", move || {
            garbage_peer(addr, seed, seed % 2 == 0)
        })
    });
    join_all(peers).await;
    fixture.finish().await;
}

/// Half a frame (inside the header, or inside the payload) then silence:
/// closed by the idle timeout, while the good client is served throughout.
pub async fn half_frame_then_silence_is_closed_by_idle_timeout<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    during_attack(&fixture, IDLE * 5, "half frames", move || {
        let inside_header = std::thread::spawn(move || half_frame_peer(addr, 30));
        half_frame_peer(addr, 62 + 10);
        inside_header.join().expect("the other half-frame peer");
    })
    .await;
    fixture.finish().await;
}

/// A peer trickling one byte at a time is closed by the idle timeout.
pub async fn trickling_peer_is_closed_by_idle_timeout<R: Runtime + Default>() {
    let fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    during_attack(&fixture, IDLE * 5, "trickle", move || trickling_peer(addr)).await;
    fixture.finish().await;
}

/// A reset in the middle of a frame ends that peer (transport closed) and
/// nothing else.
pub async fn reset_mid_frame_is_noticed<R: Runtime + Default>() {
    let mut fixture = Fixture::<R>::new().await;
    let addr = fixture.addr;
    let local = on_thread::<R, _>(STEP, "resetting peer", move || resetting_peer(addr)).await;
    let peer = fixture.peer_at(local).await;
    let reason = fixture.disconnect_of(peer).await;
    assert_eq!(reason, CloseReason::TransportClosed);
    assert!(fixture.server.peer(peer).is_none());
    assert_eq!(
        fixture.server.peers().len(),
        1,
        "only the good client is left"
    );
    fixture.finish().await;
}
