//! Status codes, the per-thread last error, and the one guard every export runs in.

use crate::transport::panic_text;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of a fallible call: `WS_STATUS_OK` (0) or a negative `WS_ERR_*`
/// code; a few calls also return a positive status that is not an error
/// (`WS_FRAME_NONE`, `WS_STATUS_BACKPRESSURE`), so test failure with `< 0`. Not to be
/// confused with the close codes (`ws_close_code`, `WS_OK` = 1000 ...): a send
/// succeeded when it returns `WS_STATUS_OK`, never `WS_OK`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ws_status {
    /// Success.
    WS_STATUS_OK = 0,
    /// A required pointer argument was NULL.
    WS_ERR_NULL = -1,
    /// An argument is out of range or malformed (unknown enum value, bad header, ...).
    WS_ERR_INVALID_ARGUMENT = -2,
    /// The URL is not a valid ws:// or wss:// URL.
    WS_ERR_BAD_URL = -3,
    /// The request needs something this build does not support, such as a
    /// callback of a newer header than the library's (`ws_callbacks`).
    WS_ERR_NOT_SUPPORTED = -4,
    /// The TCP connection could not be made (refused, unreachable, unknown host).
    WS_ERR_CONNECT = -5,
    /// The opening handshake failed (non-101 answer, wrong accept key, ...).
    WS_ERR_HANDSHAKE = -6,
    /// The peer violated the protocol; the connection was failed with a close code.
    WS_ERR_PROTOCOL = -7,
    /// The connection is not open (still connecting, closing or closed).
    WS_ERR_NOT_OPEN = -8,
    /// The connection's send queue limit would be exceeded; try again later.
    WS_ERR_QUEUE_FULL = -9,
    /// A payload is too large (ping/pong over 125 bytes, close reason over 123).
    WS_ERR_TOO_LARGE = -10,
    /// Text that is not valid UTF-8.
    WS_ERR_INVALID_UTF8 = -11,
    /// A close code that may not be sent (only 1000-1003, 1007-1011, 3000-4999).
    WS_ERR_INVALID_CLOSE_CODE = -12,
    /// A wait or a handshake ran out of time.
    WS_ERR_TIMEOUT = -13,
    /// A socket operation failed (listen, read, write).
    WS_ERR_IO = -14,
    /// The call is not allowed in the current state (e.g. a setting after first use).
    WS_ERR_BAD_STATE = -15,
    /// A bug inside the library (a caught panic); the message says where.
    WS_ERR_INTERNAL = -16,
    /// TLS failed: an unreadable or mismatched certificate or key in a setter, or a
    /// TLS handshake that failed (untrusted certificate, wrong host name, peer not
    /// speaking TLS, client certificate refused). Connections that fail so report
    /// close code `WS_TLS_HANDSHAKE_FAIL` (1015).
    WS_ERR_TLS = -17,
    /// Returned by `ws_frame_decoder_next` (a positive status, not an error) when
    /// no message or control frame is complete yet: append more bytes.
    WS_FRAME_NONE = 1,
    /// Returned by a send (a positive status, not an error): the message was
    /// queued, but more than the connection's high-water mark now waits to be
    /// sent (`ws_*_config_set_send_watermarks`). Stop sending until `on_drain`.
    WS_STATUS_BACKPRESSURE = 2,
}

pub use ws_status::*;

impl ws_status {
    /// Every status, for looking one up by its number.
    const ALL: [ws_status; 20] = [
        WS_STATUS_OK,
        WS_ERR_NULL,
        WS_ERR_INVALID_ARGUMENT,
        WS_ERR_BAD_URL,
        WS_ERR_NOT_SUPPORTED,
        WS_ERR_CONNECT,
        WS_ERR_HANDSHAKE,
        WS_ERR_PROTOCOL,
        WS_ERR_NOT_OPEN,
        WS_ERR_QUEUE_FULL,
        WS_ERR_TOO_LARGE,
        WS_ERR_INVALID_UTF8,
        WS_ERR_INVALID_CLOSE_CODE,
        WS_ERR_TIMEOUT,
        WS_ERR_IO,
        WS_ERR_BAD_STATE,
        WS_ERR_INTERNAL,
        WS_ERR_TLS,
        WS_FRAME_NONE,
        WS_STATUS_BACKPRESSURE,
    ];

    /// The status whose number is `n`, if there is one.
    fn from_int(n: c_int) -> Option<ws_status> {
        Self::ALL.into_iter().find(|s| *s as c_int == n)
    }

    /// The constant's name, as a static C string.
    fn name(self) -> &'static CStr {
        match self {
            WS_STATUS_OK => c"WS_STATUS_OK",
            WS_ERR_NULL => c"WS_ERR_NULL",
            WS_ERR_INVALID_ARGUMENT => c"WS_ERR_INVALID_ARGUMENT",
            WS_ERR_BAD_URL => c"WS_ERR_BAD_URL",
            WS_ERR_NOT_SUPPORTED => c"WS_ERR_NOT_SUPPORTED",
            WS_ERR_CONNECT => c"WS_ERR_CONNECT",
            WS_ERR_HANDSHAKE => c"WS_ERR_HANDSHAKE",
            WS_ERR_PROTOCOL => c"WS_ERR_PROTOCOL",
            WS_ERR_NOT_OPEN => c"WS_ERR_NOT_OPEN",
            WS_ERR_QUEUE_FULL => c"WS_ERR_QUEUE_FULL",
            WS_ERR_TOO_LARGE => c"WS_ERR_TOO_LARGE",
            WS_ERR_INVALID_UTF8 => c"WS_ERR_INVALID_UTF8",
            WS_ERR_INVALID_CLOSE_CODE => c"WS_ERR_INVALID_CLOSE_CODE",
            WS_ERR_TIMEOUT => c"WS_ERR_TIMEOUT",
            WS_ERR_IO => c"WS_ERR_IO",
            WS_ERR_BAD_STATE => c"WS_ERR_BAD_STATE",
            WS_ERR_INTERNAL => c"WS_ERR_INTERNAL",
            WS_ERR_TLS => c"WS_ERR_TLS",
            WS_FRAME_NONE => c"WS_FRAME_NONE",
            WS_STATUS_BACKPRESSURE => c"WS_STATUS_BACKPRESSURE",
        }
    }
}

/// A failure to report: its status and a human sentence.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: ws_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: ws_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn null(what: &str) -> Self {
        Failure::new(WS_ERR_NULL, format!("{what} is NULL"))
    }
}

thread_local! {
    static LAST_ERROR: RefCell<(ws_status, CString)> =
        RefCell::new((WS_STATUS_OK, CString::default()));
}

/// Records `failure` as the calling thread's last error and returns its status.
pub(crate) fn record(failure: Failure) -> ws_status {
    let mut message = failure.message;
    message.retain(|c| c != '\0');
    let message = CString::new(message).unwrap_or_default();
    // `try_with`: during thread exit the slot may be gone; then nothing is recorded.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = (failure.status, message));
    failure.status
}

/// The panic boundary of every export: runs `body`, catches a panic (recorded
/// as `WS_ERR_INTERNAL` with the panic's text) and records a failure. The
/// variants below only choose what C gets back when the body fails.
fn run<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, ws_status> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(failure)) => Err(record(failure)),
        Err(panic) => Err(record(Failure::new(
            WS_ERR_INTERNAL,
            format!("internal error: {}", panic_text(&*panic)),
        ))),
    }
}

/// Runs an export's body; `fallback` (NULL, 0, ...) when it fails.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    run(body).unwrap_or(fallback)
}

/// Runs an export's body that returns a count (>= 0); the negative status when it fails.
pub(crate) fn guard_count(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    run(body).unwrap_or_else(|status| status as c_int)
}

/// Runs an export's body that returns a status.
pub(crate) fn guard_status(body: impl FnOnce() -> Result<(), Failure>) -> ws_status {
    guard_status_of(|| body().map(|()| WS_STATUS_OK))
}

/// Runs an export's body that chooses its own status when it succeeds.
pub(crate) fn guard_status_of(body: impl FnOnce() -> Result<ws_status, Failure>) -> ws_status {
    run(body).unwrap_or_else(|status| status)
}

/// The status of the last failed call on this thread (`WS_STATUS_OK` if none failed).
/// Successful calls do not reset it.
#[no_mangle]
pub extern "C" fn ws_last_error_code() -> ws_status {
    LAST_ERROR
        .try_with(|e| e.borrow().0)
        .unwrap_or(WS_STATUS_OK)
}

/// The message of the last failed call on this thread ("" if none failed): a human
/// sentence such as "connect to 127.0.0.1:9: Connection refused (os error 111)".
/// The pointer stays valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn ws_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().1.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of a status code ("WS_ERR_NOT_OPEN"), or "WS_ERR_UNKNOWN" for a
/// number that is none. Takes an `int`, so that any number can be asked about.
/// Static string.
#[no_mangle]
pub extern "C" fn ws_status_name(status: c_int) -> *const c_char {
    ws_status::from_int(status)
        .map_or(c"WS_ERR_UNKNOWN", ws_status::name)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_message() -> String {
        // SAFETY: the pointer is this thread's last error, valid until the next call.
        unsafe { CStr::from_ptr(ws_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn every_guard_turns_a_panic_into_an_internal_error_that_keeps_its_text() {
        let boom = || -> Result<c_int, Failure> { panic!("boom at {}", 42) };
        assert_eq!(guard(-7, boom), -7);
        assert_eq!(ws_last_error_code(), WS_ERR_INTERNAL);
        assert_eq!(last_message(), "internal error: boom at 42");

        assert_eq!(guard_count(|| panic!("counted")), WS_ERR_INTERNAL as c_int);
        assert_eq!(last_message(), "internal error: counted");

        assert_eq!(guard_status(|| panic!("status")), WS_ERR_INTERNAL);
        assert_eq!(last_message(), "internal error: status");

        assert_eq!(guard_status_of(|| panic!("chosen")), WS_ERR_INTERNAL);
        assert_eq!(last_message(), "internal error: chosen");
    }
}
