//! A connected client from the command line's target flags.

use veltix_tokio::{Client, ClientConfig, CloseReason, Error};

use crate::args::TargetArgs;
use crate::exit::Failure;
use crate::tls;

/// The client settings for `target`.
///
/// # Errors
/// TLS files that cannot be used (exit code 2).
pub(crate) fn config(target: &TargetArgs) -> Result<ClientConfig, Failure> {
    let mut config =
        ClientConfig::new(target.addr.clone()).dialect(target.protocol.dialect.dialect());
    config.connect_timeout = target.connect_timeout;
    config.connection.handshake_timeout = target.connect_timeout;
    if let Some(key) = &target.protocol.key {
        config = config.pre_shared_key(key);
    }
    if let Some(tls) = tls::client(&target.tls)? {
        config = config.tls(tls);
        if let Some(name) = &target.tls.tls_server_name {
            config = config.tls_server_name(name.clone());
        }
    }
    Ok(config)
}

/// Connects to `target` and completes the handshakes.
///
/// # Errors
/// Classified as [`Failure::from_error`] says: unreachable (4), TLS or key
/// refused (3), handshake failed (1), bad settings (2).
pub(crate) async fn connect(target: &TargetArgs) -> Result<Client, Failure> {
    let config = config(target)?;
    let plaintext = config.tls.is_none();
    Client::connect(config).await.map_err(|e| {
        let what = format!("cannot connect to {}", target.addr);
        match e {
            // What a TLS server does to a plaintext handshake (it cannot
            // answer in a protocol the client does not speak).
            Error::Closed(CloseReason::TransportClosed) if plaintext => Failure::failed(format!(
                "{what}: the server closed the connection during the handshake \
                 (does it require TLS, or another --dialect?)"
            )),
            other => Failure::from_error(&what, &other),
        }
    })
}

/// "native", "python3, TLS", …: how a client talks, for headers.
pub(crate) fn describe(target: &TargetArgs) -> String {
    let tls = if target.tls.tls_ca.is_some() || target.tls.tls_pin.is_some() {
        ", TLS"
    } else {
        ""
    };
    format!("{}{tls}", target.protocol.dialect.name())
}
