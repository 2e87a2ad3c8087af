//! Bad bytes: an oversized length, a corrupt frame, garbage, half a frame,
//! a trickle, a reset mid-frame.

use futures::future::join_all;
use veltix_driver::{CloseCode, CloseReason, Runtime};

use super::{
    Fixture, IDLE, corrupt_then_good_peer, during_attack, garbage_peer, half_frame_peer,
    oversized_peer, resetting_peer, trickling_peer,
};
use crate::support::{STEP, on_thread};

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
