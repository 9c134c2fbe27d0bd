//! `ws_set_log_callback`: the library's log, handed to the application.

use super::status::{guard_status, ws_status, Failure, WS_ERR_BAD_STATE, WS_ERR_INVALID_ARGUMENT};
use crate::transport::log::{set_sink, Level, Sink};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// The level of a log line: one of `WS_LOG_*`, lower is more severe.
pub type ws_log_level = c_int;
/// A connection or listener failed in a way the library did not expect (a
/// library bug caught on one connection, accepting failing).
pub const WS_LOG_ERROR: ws_log_level = 1;
/// A connection failed: the peer broke the protocol (with the close code
/// sent), a timeout (handshake, close, keepalive), TLS, a socket error.
pub const WS_LOG_WARN: ws_log_level = 2;
/// A connection's life: listening, refused (and why: full/503, bad
/// handshake/400 and what was wrong, rejected by the application, handshake
/// timeout, TLS), opened (peer, path, subprotocol, extensions), closed (code,
/// reason, who closed). Never one line per message.
pub const WS_LOG_INFO: ws_log_level = 3;
/// Per-connection detail: TCP accepted, client connecting, plain HTTP
/// requests, close frames received, flow control pausing and draining.
pub const WS_LOG_DEBUG: ws_log_level = 4;

/// A log callback: `level` is a `WS_LOG_*`, `conn_id` the connection the line
/// is about (`ws_conn_id`; 0 for none, e.g. a refused request), `message` a
/// sentence without a final newline, valid only during the call.
pub type ws_log_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: ws_log_level,
        conn_id: u64,
        message: *const c_char,
    ),
>;

/// The application's `void *user_data` for the log callback.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: only handed back to the application's callback, which the header
// says runs on any thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Sends the library's log lines of `min_level` and more severe levels
/// (`WS_LOG_ERROR` 1 ... `WS_LOG_DEBUG` 4) to `callback` with `user_data`;
/// a NULL `callback` turns logging off (the default: nothing is formatted,
/// and a line not taken costs one atomic load).
///
/// The callback runs on whichever thread logs: the library's I/O threads
/// (several at once when there are several I/O threads) and the threads of
/// calls such as `ws_server_listen`. So it must be safe to call from several
/// threads at the same time, must not block, and runs even in
/// `WS_DISPATCH_POLL` mode (hosts that may only be called on their own
/// thread should queue the lines themselves). Lines the callback itself
/// would cause by calling the library are dropped. This call returns once no
/// line is being written to the previous callback, so its `user_data` may go.
///
/// `WS_ERR_INVALID_ARGUMENT` for a `min_level` outside 1 to 4 (with a
/// callback); `WS_ERR_BAD_STATE` when called from inside the log callback.
#[no_mangle]
pub unsafe extern "C" fn ws_set_log_callback(
    callback: ws_log_fn,
    user_data: *mut c_void,
    min_level: ws_log_level,
) -> ws_status {
    guard_status(|| {
        let sink = match callback {
            None => None,
            Some(callback) => {
                let level = Level::from_number(min_level).ok_or_else(|| {
                    Failure::new(
                        WS_ERR_INVALID_ARGUMENT,
                        format!(
                            "min_level is {min_level}: use WS_LOG_ERROR (1) to WS_LOG_DEBUG (4)"
                        ),
                    )
                })?;
                let user_data = UserData(user_data);
                let sink: Arc<Sink> = Arc::new(move |level: Level, conn_id, line: &_| {
                    let user_data = user_data;
                    // SAFETY: the application's callback with its own pointer;
                    // the line is a live C string for the call.
                    unsafe {
                        callback(
                            user_data.0,
                            level as ws_log_level,
                            conn_id,
                            std::ffi::CStr::as_ptr(line),
                        )
                    }
                });
                Some((sink, level))
            }
        };
        set_sink(sink).map_err(|why| Failure::new(WS_ERR_BAD_STATE, why))
    })
}

/// The name of a log level: "ERROR", "WARN", "INFO", "DEBUG", or "UNKNOWN"
/// for any other number. A static string.
#[no_mangle]
pub extern "C" fn ws_log_level_name(level: c_int) -> *const c_char {
    Level::from_number(level)
        .map_or(c"UNKNOWN", Level::name)
        .as_ptr()
}
