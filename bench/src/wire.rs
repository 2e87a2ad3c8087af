//! What the bench's clients and servers say to each other, for every
//! implementation: one request kind that is echoed, one one-way kind that is
//! only counted, and a ping.
//!
//! Veltix carries the kind as its message type (pings are its built-in
//! PING/PONG); the baselines carry it as described in their modules.

use veltix_core::MessageType;

/// Requests of this type are answered with the same payload.
pub(crate) const ECHO: MessageType = match MessageType::new(200) {
    Ok(t) => t,
    Err(_) => panic!("200 is a user type"),
};

/// Messages of this type are received, hashed and dropped: nothing answers.
pub(crate) const SINK: MessageType = match MessageType::new(201) {
    Ok(t) => t,
    Err(_) => panic!("201 is a user type"),
};

/// A payload of `len` bytes whose content varies with `seed`.
pub(crate) fn payload(seed: u64, len: usize) -> bytes::Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}
