//! An entry for fuzz targets: arbitrary bytes into a server-side session,
//! through the same [`TlsLayer`](crate::TlsLayer) glue the drivers use,
//! into a Veltix server connection.
//!
//! A `cargo fuzz` target is one line:
//!
//! ```no_run
//! # fn fuzz_target(data: &[u8]) {
//! let _ = veltix_tls::fuzzing::feed_server(data);
//! # }
//! ```

use std::sync::OnceLock;

use std::time::Instant;

use veltix_core::{Connection, ConnectionConfig, Event, Role};

use crate::{TlsError, TlsLayer, TlsServerConfig, TlsSession, self_signed};

/// The server configuration every fuzz input meets: a key and a
/// self-signed certificate made once per process, all suites and groups.
///
/// # Panics
/// If the configuration cannot be made (it always can).
pub fn server_config() -> &'static TlsServerConfig {
    static CONFIG: OnceLock<TlsServerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let made = self_signed(vec!["veltix-fuzz".to_owned()]).expect("self-signed certificate");
        made.server_config().build().expect("server configuration")
    })
}

/// Feeds `data` to a fresh server session as a client's bytes would
/// arrive: the first byte is a chunk size (`0`: everything in one read),
/// the rest is the stream. All output is drained after every chunk, and at
/// the end the stream ends.
///
/// Then the same stream goes through a [`TlsLayer`] into a Veltix server
/// connection, as a driver moves it.
///
/// Panics (a fuzzer finding) if an invariant breaks:
/// - plaintext is delivered: no input can complete a handshake, since
///   that needs the server's ephemeral secret;
/// - the connection behind the layer hears anything, or reports any event
///   but its close;
/// - after an error, an input is accepted;
/// - output remains after draining, or the count of pending bytes is wrong;
/// - end of stream reads as a clean close.
///
/// # Errors
/// The session's error, if the input caused one.
pub fn feed_server(data: &[u8]) -> Result<(), TlsError> {
    let mut session = TlsSession::server(server_config())?;
    let (chunk, stream) = match data.split_first() {
        Some((&0, stream)) | Some((_, stream @ [])) => (stream.len().max(1), stream),
        Some((&size, stream)) => (usize::from(size), stream),
        None => (1, data),
    };
    let mut result = Ok(());
    for piece in stream.chunks(chunk) {
        let fed = session.feed(piece, |plain| {
            panic!(
                "{} bytes of plaintext from an unauthenticated peer",
                plain.len()
            )
        });
        drain(&mut session);
        if let Err(error) = fed {
            assert!(
                session.feed(b"\x16\x03\x03", |_| {}).is_err(),
                "a failed session took more input"
            );
            result = Err(error);
            break;
        }
    }
    let eof = session.handle_eof();
    assert!(
        eof.is_err(),
        "end of stream without a handshake read as clean"
    );
    drain(&mut session);
    through_layer(stream, chunk);
    result.and(eof)
}

/// The stream through the glue into a server connection: the connection
/// never hears a byte, and closes once the session fails or the stream ends.
fn through_layer(stream: &[u8], chunk: usize) {
    let now = Instant::now();
    let session = TlsSession::server(server_config()).expect("a session");
    let mut layer = TlsLayer::new(session);
    let mut conn = Connection::new(Role::Server, ConnectionConfig::default(), now, 0, [7; 32])
        .expect("default settings");
    for piece in stream.chunks(chunk) {
        let received = layer.receive(now, piece, &mut conn);
        if let Err(TlsError::NotTls { .. }) = received {
            // What a driver does: tell a plaintext peer why, in plaintext.
            TlsLayer::refuse_plaintext(&mut conn, now);
        }
        let failed = received.is_err();
        let _ = layer.encrypt(&mut conn);
        let mut out = Vec::new();
        while layer.wants_write() && layer.write_to(&mut out).unwrap_or(0) > 0 {}
        assert_eq!(
            conn.stats().bytes_received,
            0,
            "plaintext reached the connection"
        );
        if failed {
            assert!(
                conn.is_closed(),
                "a failed session left the connection open"
            );
            break;
        }
    }
    let _ = layer.receive_eof(&mut conn);
    assert!(
        conn.is_closed(),
        "the end of stream left the connection open"
    );
    while let Some(event) = conn.poll_event() {
        assert!(
            matches!(event, Event::Closed(_)),
            "an event from an unauthenticated peer: {event:?}"
        );
    }
}

fn drain(session: &mut TlsSession) {
    let pending = session.pending_tls_bytes();
    let mut out = Vec::new();
    while session.wants_write() {
        if session.write_tls(&mut out).unwrap_or(0) == 0 {
            break;
        }
    }
    assert!(!session.wants_write(), "output left after draining");
    assert_eq!(pending, out.len(), "bytes counted as pending vs written");
}
