//! Status codes, the per-thread last error, and the guard every export runs in.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of a fallible call: `WS_STATUS_OK` (0) or a negative `WS_ERR_*` code.
pub type ws_status = c_int;

/// Success.
pub const WS_STATUS_OK: ws_status = 0;
/// A required pointer argument was NULL.
pub const WS_ERR_NULL: ws_status = -1;
/// An argument is out of range or malformed (unknown enum value, bad header, ...).
pub const WS_ERR_INVALID_ARGUMENT: ws_status = -2;
/// The URL is not a valid ws:// or wss:// URL.
pub const WS_ERR_BAD_URL: ws_status = -3;
/// The request needs something this build does not support (not returned by
/// this version; the code stays reserved).
pub const WS_ERR_NOT_SUPPORTED: ws_status = -4;
/// The TCP connection could not be made (refused, unreachable, unknown host).
pub const WS_ERR_CONNECT: ws_status = -5;
/// The opening handshake failed (non-101 answer, wrong accept key, ...).
pub const WS_ERR_HANDSHAKE: ws_status = -6;
/// The peer violated the protocol; the connection was failed with a close code.
pub const WS_ERR_PROTOCOL: ws_status = -7;
/// The connection is not open (still connecting, closing or closed).
pub const WS_ERR_NOT_OPEN: ws_status = -8;
/// The connection's send queue limit would be exceeded; try again later.
pub const WS_ERR_QUEUE_FULL: ws_status = -9;
/// A payload is too large (ping/pong over 125 bytes, close reason over 123).
pub const WS_ERR_TOO_LARGE: ws_status = -10;
/// Text that is not valid UTF-8.
pub const WS_ERR_INVALID_UTF8: ws_status = -11;
/// A close code that may not be sent (only 1000-1003, 1007-1011, 3000-4999).
pub const WS_ERR_INVALID_CLOSE_CODE: ws_status = -12;
/// A wait or a handshake ran out of time.
pub const WS_ERR_TIMEOUT: ws_status = -13;
/// A socket operation failed (listen, read, write).
pub const WS_ERR_IO: ws_status = -14;
/// The call is not allowed in the current state (e.g. a setting after first use).
pub const WS_ERR_BAD_STATE: ws_status = -15;
/// A bug inside the library (a caught panic); the message says where.
pub const WS_ERR_INTERNAL: ws_status = -16;
/// TLS failed: an unreadable or mismatched certificate or key in a setter, or a
/// TLS handshake that failed (untrusted certificate, wrong host name, peer not
/// speaking TLS, client certificate refused). Connections that fail so report
/// close code `WS_TLS_HANDSHAKE_FAIL` (1015).
pub const WS_ERR_TLS: ws_status = -17;

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

/// Runs the body of an exported function: catches panics, records failures,
/// and returns `fallback` when the body fails.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(failure)) => {
            record(failure);
            fallback
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            record(Failure::new(
                WS_ERR_INTERNAL,
                format!("internal error: {what}"),
            ));
            fallback
        }
    }
}

/// `guard` for functions that return a count (>= 0) or a negative status.
pub(crate) fn guard_count(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(n)) => n,
        Ok(Err(failure)) => record(failure),
        Err(_) => record(Failure::new(WS_ERR_INTERNAL, "internal error: panic")),
    }
}

/// `guard` for functions that return a status.
pub(crate) fn guard_status(body: impl FnOnce() -> Result<(), Failure>) -> ws_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => WS_STATUS_OK,
        Ok(Err(failure)) => record(failure),
        Err(_) => record(Failure::new(WS_ERR_INTERNAL, "internal error: panic")),
    }
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

/// The name of a status code ("WS_ERR_NOT_OPEN"), or "WS_ERR_UNKNOWN". Static string.
#[no_mangle]
pub extern "C" fn ws_status_name(status: ws_status) -> *const c_char {
    let name: &'static [u8] = match status {
        WS_STATUS_OK => b"WS_STATUS_OK\0",
        WS_ERR_NULL => b"WS_ERR_NULL\0",
        WS_ERR_INVALID_ARGUMENT => b"WS_ERR_INVALID_ARGUMENT\0",
        WS_ERR_BAD_URL => b"WS_ERR_BAD_URL\0",
        WS_ERR_NOT_SUPPORTED => b"WS_ERR_NOT_SUPPORTED\0",
        WS_ERR_CONNECT => b"WS_ERR_CONNECT\0",
        WS_ERR_HANDSHAKE => b"WS_ERR_HANDSHAKE\0",
        WS_ERR_PROTOCOL => b"WS_ERR_PROTOCOL\0",
        WS_ERR_NOT_OPEN => b"WS_ERR_NOT_OPEN\0",
        WS_ERR_QUEUE_FULL => b"WS_ERR_QUEUE_FULL\0",
        WS_ERR_TOO_LARGE => b"WS_ERR_TOO_LARGE\0",
        WS_ERR_INVALID_UTF8 => b"WS_ERR_INVALID_UTF8\0",
        WS_ERR_INVALID_CLOSE_CODE => b"WS_ERR_INVALID_CLOSE_CODE\0",
        WS_ERR_TIMEOUT => b"WS_ERR_TIMEOUT\0",
        WS_ERR_IO => b"WS_ERR_IO\0",
        WS_ERR_BAD_STATE => b"WS_ERR_BAD_STATE\0",
        WS_ERR_INTERNAL => b"WS_ERR_INTERNAL\0",
        WS_ERR_TLS => b"WS_ERR_TLS\0",
        super::frame::WS_FRAME_NONE => b"WS_FRAME_NONE\0",
        _ => b"WS_ERR_UNKNOWN\0",
    };
    name.as_ptr().cast()
}
