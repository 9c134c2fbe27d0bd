//! `ws_set_log_callback`, `ws_set_log_dispatch`: the library's log, handed to
//! the application on the thread that logs or through the polled event queue.

use super::config::check_dispatch;
use super::constants::{ws_dispatch_mode, WS_DISPATCH_POLL};
use super::events;
use super::polled_log;
use super::status::{guard_status, ws_status, Failure, WS_ERR_BAD_STATE, WS_ERR_INVALID_ARGUMENT};
use crate::transport::fork::PerProcess;
use crate::transport::log::{set_sink, Level, Sink};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// The application's log callback and its `void *user_data`.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    callback: unsafe extern "C" fn(*mut c_void, ws_log_level, u64, *const c_char),
    user_data: *mut c_void,
}
// SAFETY: only handed back to the application's callback, on the threads the
// header documents for the dispatch mode.
unsafe impl Send for Target {}
unsafe impl Sync for Target {}

impl Target {
    /// Calls the callback with a line, on this thread.
    pub(crate) fn call(&self, level: ws_log_level, conn_id: u64, line: &CStr) {
        // SAFETY: the application's callback with its own pointer; the line
        // is a live C string for the call.
        unsafe { (self.callback)(self.user_data, level, conn_id, line.as_ptr()) }
    }
}

/// Lines go through the polled event queue (`ws_set_log_dispatch`).
static POLLED: AtomicBool = AtomicBool::new(false);
/// Serializes `ws_set_log_callback` calls, so that the callback set last is
/// the current generation (one per process, see `transport::fork`).
static SETTING: PerProcess<Mutex<()>> = PerProcess::new();

/// Sends the library's log lines of `min_level` and more severe levels
/// (`WS_LOG_ERROR` 1 ... `WS_LOG_DEBUG` 4) to `callback` with `user_data`;
/// a NULL `callback` turns logging off (the default: nothing is formatted,
/// and a line not taken costs one atomic load).
///
/// By default (`ws_set_log_dispatch(WS_DISPATCH_THREAD)`) the callback runs
/// on whichever thread logs: the library's I/O threads (several at once when
/// there are several I/O threads) and the threads of calls such as
/// `ws_server_listen`. So it must be safe to call from several threads at
/// the same time, must not block, and lines the callback itself would cause
/// by calling the library are dropped. With
/// `ws_set_log_dispatch(WS_DISPATCH_POLL)` it runs inside `ws_dispatch()`
/// instead, on the caller's thread (see there).
///
/// This call returns once no line is being written or delivered to the
/// previous callback, and drops the lines queued for it (polled mode), so
/// its `user_data` may go. So do not call it while holding a lock that your
/// log callback takes: it would wait for a callback that waits for you. It
/// may be called from inside a polled log callback (the line being
/// delivered then finishes).
///
/// `WS_ERR_INVALID_ARGUMENT` for a `min_level` outside 1 to 4 (with a
/// callback); `WS_ERR_BAD_STATE` when called from inside the log callback in
/// `WS_DISPATCH_THREAD` mode.
#[no_mangle]
pub unsafe extern "C" fn ws_set_log_callback(
    callback: ws_log_fn,
    user_data: *mut c_void,
    min_level: ws_log_level,
) -> ws_status {
    guard_status(|| {
        let setting = SETTING
            .get_or_init(|_| Mutex::new(()))
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let generation = polled_log::next_generation();
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
                let target = Target {
                    callback,
                    user_data,
                };
                let sink: Arc<Sink> = Arc::new(move |level: Level, conn_id, line: &CStr| {
                    let level = level as ws_log_level;
                    if POLLED.load(Ordering::Relaxed) {
                        polled_log::queue(target, generation, level, conn_id, line);
                    } else {
                        target.call(level, conn_id, line);
                    }
                });
                Some((sink, level))
            }
        };
        set_sink(sink).map_err(|why| Failure::new(WS_ERR_BAD_STATE, why))?;
        // Still under SETTING, so that generations only grow and the one of
        // the callback set last is current.
        polled_log::make_current(generation);
        drop(setting);
        polled_log::wait_for_delivery();
        Ok(())
    })
}

/// Where the log callback runs: `WS_DISPATCH_THREAD` (the default) on the
/// thread that logs, often an I/O thread; `WS_DISPATCH_POLL` inside
/// `ws_dispatch()` on the caller's thread, for hosts that may only be called
/// on their own thread (Perl, Python). Applies to every line logged after
/// the call, whatever callback is set; lines already queued are still
/// delivered by `ws_dispatch()`.
///
/// In `WS_DISPATCH_POLL` mode the thread that logs queues the line in the
/// polled event queue (creating it, so call `ws_event_queue_set_limit`
/// first if at all), where it waits in order with the events of
/// `WS_DISPATCH_POLL` servers and clients and makes `ws_event_fd()`
/// readable. Logging never waits: log lines may hold at most an eighth of
/// the queue's bound, and a line finding no room is dropped and counted; the
/// next line delivered is then preceded by a `WS_LOG_WARN` line (connection
/// id 0, whatever `min_level`) saying how many were dropped.
///
/// `WS_ERR_INVALID_ARGUMENT` for an unknown mode; `WS_ERR_IO` when the event
/// queue cannot be created.
#[no_mangle]
pub extern "C" fn ws_set_log_dispatch(mode: ws_dispatch_mode) -> ws_status {
    guard_status(|| {
        let polled = check_dispatch(mode)? == WS_DISPATCH_POLL;
        if polled {
            events::queue()?;
        }
        POLLED.store(polled, Ordering::Relaxed);
        Ok(())
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
