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

/// A fleet client's cue (`broadcast-100k`): the Veltix bench servers
/// answer it by broadcasting one [`BROADCAST`] message to every peer.
pub(crate) const CUE_BROADCAST: MessageType = match MessageType::new(202) {
    Ok(t) => t,
    Err(_) => panic!("202 is a user type"),
};

/// What the bench servers broadcast on a [`CUE_BROADCAST`]: 64 bytes.
pub(crate) const BROADCAST: MessageType = match MessageType::new(203) {
    Ok(t) => t,
    Err(_) => panic!("203 is a user type"),
};

/// The payload of a [`BROADCAST`].
pub(crate) const BROADCAST_LEN: usize = 64;

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

/// `len` bytes of JSON records, as an application would send them: keys
/// repeat, values vary (pseudo-random, the same every time). The generator
/// of veltix-core's codec bench (`benches/codec.rs`), so LZ4 shrinks it as
/// much as there: about 3.9:1 at 1 MiB.
pub(crate) fn json_records(len: usize) -> bytes::Bytes {
    const WORDS: [&str; 10] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    ];
    let mut x: u32 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut out = Vec::with_capacity(len + 300);
    let mut i = 0u64;
    while out.len() < len {
        let (a, b, c) = (next(), next(), next());
        out.extend_from_slice(
            format!(
                r#"{{"id": {i}, "user": "user_{:05}", "email": "user{}@example.com", "score": {}.{:02}, "active": {}, "tags": ["{}", "{}"], "ts": "2025-11-{:02}T{:02}:{:02}:{:02}Z"}}, "#,
                a % 100_000,
                b % 10_000,
                c % 1000,
                a % 100,
                b % 2 == 0,
                WORDS[(a % 10) as usize],
                WORDS[(b % 10) as usize],
                1 + c % 28,
                a % 24,
                b % 60,
                c % 60,
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out.into()
}

#[cfg(test)]
mod tests {
    use veltix_core::compression::Compressor;

    use super::*;

    #[test]
    fn json_records_compress_and_random_bytes_do_not() {
        let json = json_records(1 << 20);
        assert_eq!(json.len(), 1 << 20);
        assert_eq!(json, json_records(1 << 20), "the same every time");
        assert!(json.starts_with(br#"{"id": 0, "user": "user_"#));
        let mut lz4 = Compressor::new();
        let ratio = json.len() as f64 / lz4.compress(&json).expect("JSON shrinks").len() as f64;
        assert!((3.0..5.0).contains(&ratio), "JSON at {ratio:.2}:1");
        assert!(
            lz4.compress(&payload(7, 1 << 20)).is_none(),
            "random bytes do not shrink"
        );
    }
}
