//! `ws_client_config_set_reconnect`: clients that replace a lost connection.

use super::config::{with, ws_client_config};
use super::status::{ws_status, Failure, WS_ERR_INVALID_ARGUMENT};
use crate::transport::reconnect::Reconnect;
use std::time::Duration;

/// A good first delay for `ws_client_config_set_reconnect`, in ms.
pub const WS_RECONNECT_INITIAL_DELAY_MS: u64 = 500;
/// A good longest delay for `ws_client_config_set_reconnect`, in ms.
pub const WS_RECONNECT_MAX_DELAY_MS: u64 = 30000;

/// Longest delay allowed: a day, in ms.
const MOST_DELAY_MS: u64 = 86_400_000;

/// Makes the client reconnect: when its connection fails or is lost
/// without the application closing it, a new connection replaces it after
/// a delay that grows with each attempt in a row. Off by default.
///
/// - Delays: attempt n waits a random time between half and all of
///   min(`max_delay_ms`, `initial_delay_ms` × 2^(n-1)), counted from the
///   close. Half is fixed, so that a server that is down is not hammered;
///   half is random, so that clients that lost it together come back
///   spread out. `initial_delay_ms` 0 turns reconnecting off; otherwise
///   `max_delay_ms` is from `initial_delay_ms` to 86400000 (a day).
///   `WS_RECONNECT_INITIAL_DELAY_MS` (500) and `WS_RECONNECT_MAX_DELAY_MS`
///   (30000) suit most programs.
/// - `max_tries`: most attempts in a row, 0 for no limit. After the last
///   one fails, the `on_close` of its connection is the client's last
///   callback. The count starts afresh once a connection has stayed open
///   for `max_delay_ms`; after one lost sooner (a server that accepts and
///   then drops connections) it goes on, delays growing.
/// - What reconnects: the first connection failing as well as any later
///   one (connect, TLS or handshake error, timeout); a connection lost
///   without a close frame (1006: reset, I/O error, keepalive or close
///   timeout); the server closing with 1001 (going away), 1011 (internal
///   error), 1012 (service restart), 1013 (try again later) or 1014 (bad
///   gateway).
/// - What does not: the application closing (`ws_conn_close` on the
///   client's connection, `ws_client_close`, `ws_client_free`) or
///   cancelling an attempt (`on_reconnect`); the server closing with any
///   other code: 1000 (it meant it), 1005 (a close frame without a code),
///   1002, 1003 and 1007 to 1010 (the protocol, a policy, a size: another
///   connection would end the same way), or an application's code from
///   3000 to 4999.
/// - Callbacks: each connection has its own, as without reconnect, from
///   `on_open` (or `on_error`) to `on_close`. After the `on_close` of a
///   connection that will be replaced comes `on_reconnect`, which may
///   cancel the attempt; after the `on_open` of an attempt's connection
///   comes `on_reconnected`. In `on_close`, `ws_client_is_reconnecting`
///   tells whether an attempt follows.
/// - Sending while not connected fails with `WS_ERR_NOT_OPEN`
///   (`ws_client_send`): nothing is kept for the next connection.
/// - `ws_client_conn` says how long its connection stays valid.
///
/// `WS_ERR_INVALID_ARGUMENT` for delays out of range (nothing changes).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_reconnect(
    cfg: *mut ws_client_config,
    initial_delay_ms: u64,
    max_delay_ms: u64,
    max_tries: u32,
) -> ws_status {
    with(cfg, |c| {
        if initial_delay_ms == 0 {
            c.inner.reconnect = None;
            return Ok(());
        }
        if !(initial_delay_ms..=MOST_DELAY_MS).contains(&max_delay_ms) {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!(
                    "reconnect: the longest delay ({max_delay_ms} ms) must be from the first ({initial_delay_ms} ms) to a day ({MOST_DELAY_MS} ms)"
                ),
            ));
        }
        c.inner.reconnect = Some(Reconnect {
            initial_delay: Duration::from_millis(initial_delay_ms),
            max_delay: Duration::from_millis(max_delay_ms),
            max_tries,
        });
        Ok(())
    })
}
