//! The conformance suite: what every runtime adapter must do, written once.
//!
//! Each `pub async fn name<R>()` is one test, generic over the runtime `R`
//! (`veltix_tokio::Tokio`, `veltix_smol::Smol`, …). A runner file in
//! `tests/tests/` turns the list in [`conformance_tests!`](crate::conformance_tests)
//! into `#[test]`s for its runtime, so no adapter can skip one.
//!
//! Every test binds `127.0.0.1:0`, bounds every wait (see
//! [`support::within`](crate::support::within)) and uses short protocol
//! timeouts, so a bug fails the test in seconds instead of hanging it. Raw
//! peers are blocking sockets on their own threads (see [`crate::raw`]).
//!
//! One file per topic; [`conformance_tests!`](crate::conformance_tests) lists
//! them all, grouped the same way. A new test goes in its topic's file and
//! in the list.

mod backpressure;
mod callbacks;
mod close;
mod handshake;
mod limits;
mod messaging;
mod ping;
mod reconnect;
mod requests;
mod routes;
mod stats;

pub use backpressure::*;
pub use callbacks::*;
pub use close::*;
pub use handshake::*;
pub use limits::*;
pub use messaging::*;
pub use ping::*;
pub use reconnect::*;
pub use requests::*;
pub use routes::*;
pub use stats::*;

/// Expands `$callback! { name, name, … }` with the name of every
/// conformance test, so each runtime's runner runs the same list.
#[macro_export]
macro_rules! conformance_tests {
    ($callback:ident) => {
        $callback! {
            // messaging.rs
            connect_and_exchange,
            messages_arrive_in_order,
            broadcast_reaches_exactly_the_others,
            broadcast_to_reaches_exactly_the_listed_peers,
            peers_lists_connected_peers_with_addresses,
            // requests.rs
            request_response_via_event_stream,
            request_response_via_callbacks,
            concurrent_requests_are_correlated,
            request_times_out_and_late_reply_is_a_message,
            pending_requests_fail_when_the_server_closes_the_peer,
            dropped_request_is_cancelled,
            // ping.rs
            ping_both_directions,
            quiet_connections_are_kept_alive,
            ping_to_a_silent_peer_times_out_at_the_given_timeout,
            // handshake.rs
            pre_shared_key_accepted,
            pre_shared_key_wrong_or_missing_is_refused,
            version_mismatch_is_refused,
            newest_common_version_is_chosen,
            legacy_client_to_default_server,
            silent_legacy_peer_is_served_after_legacy_wait,
            required_handshake_times_out_a_silent_peer,
            late_hello_after_legacy_wait_still_negotiates,
            // backpressure.rs
            server_send_waits_for_a_non_reading_peer,
            client_send_waits_for_a_non_reading_server,
            server_try_send_reports_full_for_a_non_reading_peer,
            client_try_send_reports_full_for_a_non_reading_server,
            // close.rs
            close_peer_tells_the_client_why,
            a_close_reaches_the_peer_at_once,
            graceful_shutdown_flushes_and_tells_peers,
            close_peer_flushes_every_accepted_message,
            client_close_flushes_every_accepted_message,
            dropping_every_client_handle_closes_the_connection,
            // limits.rs
            max_connections_refuses_the_extra_peer,
            limits_are_enforced_end_to_end,
            // reconnect.rs
            connect_failures_are_reported,
            reconnect_keeps_callbacks,
            a_slow_reader_hears_a_reconnection_in_order,
            reconnect_gives_up_after_max_attempts,
            // callbacks.rs
            message_callback_alone_does_not_leak_closed_peers,
            callbacks_without_event_stream_do_not_stall,
            on_disconnect_is_told_the_address,
            // stats.rs
            stats_count_a_known_exchange,
            stats_count_reconnections,
            metrics_record_into_a_test_recorder,
            // routes.rs
            a_route_answers_a_request,
            routes_and_on_message_split_traffic_by_type,
            an_unknown_type_without_on_message_is_counted,
            a_route_error_is_counted_and_the_peer_served_on,
        }
    };
}

/// Expands `$callback! { name, name, … }` with the conformance tests of
/// async handlers (routes.rs): run on tokio, smol and veltix-mio's async API.
/// (veltix-mio's threaded API runs handlers as plain closures on its worker
/// threads, tested in `tests/tests/routes_mio_threaded.rs`.)
#[macro_export]
macro_rules! async_handler_tests {
    ($callback:ident) => {
        $callback! {
            async_handlers_keep_order,
            async_handlers_overlap_up_to_the_limit,
            a_slow_async_handler_pauses_its_peer_while_others_are_served,
            a_panicking_async_handler_leaves_peer_and_server_alive,
            an_async_handler_awaits_a_request_to_its_peer,
        }
    };
}
