//! The C ABI, and nothing else: handle types, configuration setters, callbacks,
//! the polled event queue and the error model. Thin: it checks, converts and
//! forwards to [`crate::transport`]. `include/websocket.h` is generated from it.
//!
//! Every exported function runs inside one panic boundary (`status::guard` and
//! its variants, which differ only in what C gets back on failure), so a panic
//! becomes `WS_ERR_INTERNAL` with the panic's text instead of unwinding into C,
//! and checks every pointer argument for NULL: handles through
//! `handle::handle`, data through `text` and `bytes`. Pointers that are not
//! NULL must be what the header says (a live handle from this library, a
//! buffer of at least `len` bytes, a NUL-terminated string); that is the
//! contract of every `unsafe` export, and every export that takes a pointer is
//! `unsafe`.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

// In the order the header presents them, by task (cbindgen keeps source
// order; blank lines keep rustfmt from sorting the groups): start (this
// file), listen and connect, send, receive and close, logs and statistics,
// configure, the frame codec, errors; then the types the others share.
pub mod server;

pub mod client;

pub mod handshake;

pub mod conn;

pub mod events;

pub mod log;
mod polled_log;
pub mod stats;
mod wakeup;

pub mod config;

pub mod deflate;

pub mod tls;

pub mod upgrade_config;

pub mod frame;

pub mod status;

pub mod callbacks;
pub mod constants;
mod handle;

use crate::transport::topics::MAX_TOPIC_LEN;
use crate::transport::{runtime, ErrorKind};
use constants::{ws_message_type, WS_MESSAGE_BINARY, WS_MESSAGE_TEXT};
use status::{
    guard_status, ws_status, Failure, WS_ERR_BAD_STATE, WS_ERR_CONNECT, WS_ERR_HANDSHAKE,
    WS_ERR_INTERNAL, WS_ERR_INVALID_ARGUMENT, WS_ERR_IO, WS_ERR_PROTOCOL, WS_ERR_TIMEOUT,
    WS_ERR_TLS,
};
use std::ffi::{c_char, c_int, c_uint, CStr};
use std::time::Duration;

/// The library version, "MAJOR.MINOR.PATCH" (a static string).
#[no_mangle]
pub extern "C" fn ws_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Starts the library's I/O threads now instead of on first use. Optional;
/// calling it again does nothing. Fails (`WS_ERR_INTERNAL`) when they cannot
/// start, e.g. for a malformed `WS_IO_THREADS`.
#[no_mangle]
pub extern "C" fn ws_init() -> ws_status {
    guard_status(|| runtime::start().map_err(|e| Failure::new(WS_ERR_INTERNAL, e.to_string())))
}

/// Sets how many I/O threads the library runs: 1 by default, 0 for one per
/// CPU, at most 256. Call it before the first server, client or `ws_init()`;
/// without a call, the environment variable `WS_IO_THREADS` (same values)
/// decides. Once the threads run, `WS_ERR_BAD_STATE` (unless `count` is what
/// runs); `WS_ERR_INVALID_ARGUMENT` over 256.
///
/// Each connection lives on one I/O thread. In `WS_DISPATCH_THREAD` mode its
/// callbacks run there one at a time, in order; callbacks of different
/// connections (of one server too) may run at the same time on different
/// threads, so with more than one thread the `user_data` they share must be
/// safe to use from several threads. `WS_DISPATCH_POLL` is unchanged: every
/// callback runs inside `ws_dispatch()`.
#[no_mangle]
pub extern "C" fn ws_set_io_threads(count: c_uint) -> ws_status {
    guard_status(|| {
        if count as usize > runtime::MAX_THREADS {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!(
                    "at most {} I/O threads (asked for {count})",
                    runtime::MAX_THREADS
                ),
            ));
        }
        runtime::set_threads(count as usize).map_err(|e| Failure::new(WS_ERR_BAD_STATE, e))
    })
}

/// Sets the process-wide memory budgets: what all connections together may
/// hold of messages being received (reassembled or inflated) and of messages
/// sent and not yet written, with the same rules as a server's
/// (`ws_server_config_set_memory_budget`): past the inbound budget the
/// connection holding the most fails with 1009, past the outbound one a send
/// gets `WS_ERR_QUEUE_FULL`. Each
/// connection holds up to 64 KiB each way outside the budgets. Default 1 GiB
/// each; both > 0. Servers also have budgets of their own
/// (`ws_server_config_set_memory_budget`). May be called at any time.
#[no_mangle]
pub extern "C" fn ws_set_memory_budget(inbound: usize, outbound: usize) -> ws_status {
    guard_status(|| {
        if inbound == 0 || outbound == 0 {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                "memory budgets must be positive",
            ));
        }
        crate::transport::budget::PROCESS.inbound.set_limit(inbound);
        crate::transport::budget::PROCESS
            .outbound
            .set_limit(outbound);
        Ok(())
    })
}

/// How many I/O threads run, starting them if they do not run yet; a
/// negative status when they cannot start.
#[no_mangle]
pub extern "C" fn ws_io_threads() -> c_int {
    status::guard_count(|| {
        runtime::thread_count()
            .map(|n| n as c_int)
            .map_err(|e| Failure::new(WS_ERR_INTERNAL, e.to_string()))
    })
}

/// A borrowed `&str` from a C string argument named `what`.
unsafe fn text<'a>(s: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if s.is_null() {
        return Err(Failure::null(what));
    }
    CStr::from_ptr(s).to_str().map_err(|_| {
        Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// True for `WS_MESSAGE_TEXT`, false for `WS_MESSAGE_BINARY`.
fn is_text(kind: ws_message_type) -> Result<bool, Failure> {
    match kind {
        WS_MESSAGE_TEXT => Ok(true),
        WS_MESSAGE_BINARY => Ok(false),
        other => Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("unknown message type {other}"),
        )),
    }
}

/// As [`is_text`], for a message sent to many connections (`what`: how it
/// is sent), whose text is checked here, once.
fn checked_message(kind: ws_message_type, data: &[u8], what: &str) -> Result<bool, Failure> {
    let text = is_text(kind)?;
    if text && std::str::from_utf8(data).is_err() {
        return Err(Failure::new(
            status::WS_ERR_INVALID_UTF8,
            format!("{what} text is not valid UTF-8"),
        ));
    }
    Ok(text)
}

/// A topic name from a C string (any bytes but NUL).
unsafe fn topic<'a>(name: *const c_char) -> Result<&'a [u8], Failure> {
    if name.is_null() {
        return Err(Failure::null("topic"));
    }
    let name = CStr::from_ptr(name).to_bytes();
    if name.is_empty() || name.len() > MAX_TOPIC_LEN {
        return Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("a topic name has 1 to {MAX_TOPIC_LEN} bytes"),
        ));
    }
    Ok(name)
}

/// A borrowed byte slice from a C pointer and length (NULL allowed when `len` is 0).
unsafe fn bytes<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::null("data"));
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            "length is out of range",
        ));
    }
    Ok(std::slice::from_raw_parts(data, len))
}

/// Hands out `header`, the header at `index`, through the `name` and `value`
/// out-pointers (each may be NULL); `WS_ERR_INVALID_ARGUMENT` when there is
/// none (out of range).
unsafe fn header_at(
    header: Option<(&CStr, &CStr)>,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> Result<(), Failure> {
    let (n, v) = header.ok_or_else(|| {
        Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("header index {index} is out of range"),
        )
    })?;
    if !name.is_null() {
        *name = n.as_ptr();
    }
    if !value.is_null() {
        *value = v.as_ptr();
    }
    Ok(())
}

/// A wait of `ms` milliseconds; negative means no limit.
fn timeout_of(ms: c_int) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

/// Refuses a blocking wait on an I/O thread, which could wait for itself and
/// holds up its other connections.
fn not_on_io_thread() -> Result<(), Failure> {
    if runtime::on_runtime_thread() {
        return Err(Failure::new(
            WS_ERR_BAD_STATE,
            "cannot wait on one of the library's I/O threads (inside a WS_DISPATCH_THREAD callback)",
        ));
    }
    Ok(())
}

/// The status reported to C for a transport error kind.
fn status_of(kind: ErrorKind) -> ws_status {
    match kind {
        ErrorKind::Connect => WS_ERR_CONNECT,
        ErrorKind::Handshake => WS_ERR_HANDSHAKE,
        ErrorKind::Protocol => WS_ERR_PROTOCOL,
        ErrorKind::Io => WS_ERR_IO,
        ErrorKind::Timeout => WS_ERR_TIMEOUT,
        ErrorKind::Tls => WS_ERR_TLS,
        ErrorKind::Internal => WS_ERR_INTERNAL,
    }
}
