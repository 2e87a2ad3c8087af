//! What the core may not read but a driver must pass in: OS randomness
//! (time comes from the runtime, see [`Runtime::now`](crate::Runtime::now)).

use std::io;

/// 32 bytes from the OS's secure random source: handshake nonces and id seeds.
pub(crate) fn random_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).map_err(io::Error::other)?;
    Ok(seed)
}

/// A random number in [0, 1), for backoff jitter.
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    // 53 random bits → an exactly representable fraction.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// A fresh random UUID v4, for broadcast frames (which no single connection numbers).
pub(crate) fn random_request_id() -> io::Result<veltix_core::RequestId> {
    let mut bytes = [0; 16];
    getrandom::fill(&mut bytes).map_err(io::Error::other)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(veltix_core::RequestId::from_bytes(bytes))
}

/// Resolves `addr` (numeric addresses resolve without a lookup). Every
/// failure is [`Error::Resolve`](crate::Error::Resolve), never `Io`: a
/// caller tells "no such host" from "the host refused" by the variant.
pub(crate) fn resolve(addr: &str) -> Result<std::net::SocketAddr, crate::Error> {
    use std::net::ToSocketAddrs;
    let failed = |source| crate::Error::Resolve {
        addr: addr.to_owned(),
        source,
    };
    addr.to_socket_addrs()
        .map_err(failed)?
        .next()
        .ok_or_else(|| {
            failed(io::Error::new(
                io::ErrorKind::NotFound,
                "the lookup found no address",
            ))
        })
}

#[cfg(all(test, not(veltix_loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_resolve_failure_is_typed_as_resolve() {
        for bad in ["no-port-here", "127.0.0.1:notaport"] {
            match resolve(bad) {
                Err(crate::Error::Resolve { addr, .. }) => assert_eq!(addr, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(resolve("127.0.0.1:7000").is_ok());
    }
}
