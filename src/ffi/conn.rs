//! `ws_conn_*`: sending, closing, and reading a connection's properties.

use super::constants::{
    ws_close_code, ws_message_type, ws_send_flags, ws_state, WS_MESSAGE_BINARY, WS_MESSAGE_TEXT,
    WS_SEND_COMPRESS, WS_SEND_CONTINUATION, WS_SEND_MORE, WS_SEND_NO_COMPRESS, WS_STATE_CLOSED,
    WS_STATE_CLOSING, WS_STATE_CONNECTING, WS_STATE_OPEN,
};
use super::handle::{handle, inherited};
use super::status::{
    guard, guard_count, guard_status, guard_status_of, ws_status, Failure, WS_ERR_BAD_STATE,
    WS_ERR_INVALID_ARGUMENT, WS_ERR_INVALID_CLOSE_CODE, WS_ERR_INVALID_UTF8, WS_ERR_NOT_OPEN,
    WS_ERR_QUEUE_FULL, WS_ERR_TIMEOUT, WS_ERR_TOO_LARGE, WS_STATUS_BACKPRESSURE, WS_STATUS_OK,
};
use super::{bytes, is_text, not_on_io_thread, status_of, timeout_of};
use crate::transport::fork;
use crate::transport::topics::{TopicError, MAX_TOPIC_LEN};
use crate::transport::{Compression, Connection, ConnectionState, SendError, SendOptions, Sent};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The status of a send: `WS_STATUS_OK`, `WS_STATUS_BACKPRESSURE`, or why it
/// was refused.
pub(super) fn sent(result: Result<Sent, SendError>) -> Result<ws_status, Failure> {
    match result {
        Ok(Sent::Queued) => Ok(WS_STATUS_OK),
        Ok(Sent::Backpressure) => Ok(WS_STATUS_BACKPRESSURE),
        Err(e) => Err(refused(e)),
    }
}

/// Why a send or close was refused, as a status and a sentence.
pub(super) fn refused(e: SendError) -> Failure {
    let status = match e {
        SendError::NotOpen => WS_ERR_NOT_OPEN,
        SendError::QueueFull => WS_ERR_QUEUE_FULL,
        SendError::TooLarge => WS_ERR_TOO_LARGE,
        SendError::InvalidUtf8 => WS_ERR_INVALID_UTF8,
        SendError::InvalidCloseCode => WS_ERR_INVALID_CLOSE_CODE,
        SendError::NoMessageInParts | SendError::MessageInPartsOpen => WS_ERR_BAD_STATE,
        SendError::PartKindMismatch => WS_ERR_INVALID_ARGUMENT,
    };
    let hint = match e {
        SendError::NoMessageInParts => " (a first part has WS_SEND_MORE alone)",
        SendError::MessageInPartsOpen => " (the last has WS_SEND_CONTINUATION alone)",
        _ => "",
    };
    Failure::new(status, format!("{e}{hint}"))
}

/// Queues a message of `kind` (`WS_MESSAGE_TEXT`, checked to be UTF-8, or
/// `WS_MESSAGE_BINARY`). Never blocks. On the connection's own I/O thread (in
/// its callbacks) what the socket takes goes at once, and only the rest is
/// copied; from another thread the data is copied and handed to that thread.
/// `WS_STATUS_BACKPRESSURE` when it was queued but more than the high-water
/// mark now waits to be sent (stop sending until `on_drain`; the connection
/// also stops reading meanwhile), `WS_ERR_NOT_OPEN` once the connection is
/// closing or closed, `WS_ERR_QUEUE_FULL` when the send queue limit would be
/// exceeded (nothing was queued). Messages
/// still queued when the connection closes (the peer closed first, or stopped
/// reading) are dropped: `on_close` tells that the connection ended.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_send(
    c: *mut Connection,
    kind: ws_message_type,
    data: *const u8,
    len: usize,
) -> ws_status {
    guard_status_of(|| {
        let c = handle(c)?;
        let data = bytes(data, len)?;
        sent(c.send_message(is_text(kind)?, data, SendOptions::default()))
    })
}

/// Reads `ws_conn_send_ex`'s flags.
fn send_options(flags: ws_send_flags) -> Result<SendOptions, Failure> {
    let known = WS_SEND_COMPRESS | WS_SEND_NO_COMPRESS | WS_SEND_MORE | WS_SEND_CONTINUATION;
    let bad = |why: String| Err(Failure::new(WS_ERR_INVALID_ARGUMENT, why));
    if flags & !known != 0 {
        return bad(format!("unknown send flags {:#x}", flags & !known));
    }
    let compression = match (
        flags & WS_SEND_COMPRESS != 0,
        flags & WS_SEND_NO_COMPRESS != 0,
    ) {
        (true, true) => return bad("WS_SEND_COMPRESS and WS_SEND_NO_COMPRESS together".into()),
        (true, false) => Compression::Always,
        (false, true) => Compression::Never,
        (false, false) => Compression::Auto,
    };
    Ok(SendOptions {
        compression,
        continues: flags & WS_SEND_CONTINUATION != 0,
        more: flags & WS_SEND_MORE != 0,
    })
}

/// Queues a message as `ws_conn_send` does, with options (`flags`, any of
/// `WS_SEND_*` or 0):
///
/// - `WS_SEND_COMPRESS` / `WS_SEND_NO_COMPRESS`: compress this message, or
///   not, whatever the compression threshold (compression needs
///   permessage-deflate to have been negotiated; without it the message goes
///   uncompressed). For a message in parts the first part decides.
/// - A message in parts: send its first part with `WS_SEND_MORE`, the
///   middle ones with `WS_SEND_CONTINUATION | WS_SEND_MORE`, the last with
///   `WS_SEND_CONTINUATION`; `kind` is the message's on every part. Each
///   part becomes a frame (empty parts may send none) and goes out as soon
///   as the connection can send it, compressed parts included. The parts may
///   come from any thread, in order; messages sent by anyone meanwhile wait
///   until the last part, so nothing goes between the frames of the message.
///   A text part may end inside a UTF-8 character; the message may not. One
///   message in parts at a time per connection: `WS_ERR_BAD_STATE` for a
///   first part while one is open, or a continuation when none is.
///   Closing while a message in parts is open sends the close frame after
///   the parts given so far (the peer sees an unfinished message end with
///   the close), and the messages sent after its first part are dropped.
///
/// Returns as `ws_conn_send`; `WS_ERR_INVALID_ARGUMENT` for an unknown flag,
/// both compression flags, or a part whose `kind` is not its message's;
/// `WS_ERR_INVALID_UTF8` for text that cannot be UTF-8 (nothing is queued
/// then, and a message in parts stays as it was).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_send_ex(
    c: *mut Connection,
    kind: ws_message_type,
    data: *const u8,
    len: usize,
    flags: ws_send_flags,
) -> ws_status {
    guard_status_of(|| {
        let c = handle(c)?;
        let data = bytes(data, len)?;
        let options = send_options(flags)?;
        sent(c.send_message(is_text(kind)?, data, options))
    })
}

/// Queues a text message of `len` bytes (UTF-8, need not be NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_send_text(
    c: *mut Connection,
    text: *const c_char,
    len: usize,
) -> ws_status {
    ws_conn_send(c, WS_MESSAGE_TEXT, text.cast(), len)
}

/// Queues a binary message of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_send_binary(
    c: *mut Connection,
    data: *const u8,
    len: usize,
) -> ws_status {
    ws_conn_send(c, WS_MESSAGE_BINARY, data, len)
}

/// Queues a ping with up to 125 bytes of payload (`data` may be NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_ping(
    c: *mut Connection,
    data: *const u8,
    len: usize,
) -> ws_status {
    guard_status_of(|| sent(handle(c)?.ping(bytes(data, len)?)))
}

/// Queues a pong with up to 125 bytes of payload: unsolicited (a
/// heartbeat), or the answer to a ping when automatic pongs are off
/// (`ws_conn_set_auto_pong`; give it the ping's payload).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_pong(
    c: *mut Connection,
    data: *const u8,
    len: usize,
) -> ws_status {
    guard_status_of(|| sent(handle(c)?.pong(bytes(data, len)?)))
}

/// Switches automatic pongs on (`on` non-zero) or off (0) for this
/// connection (the config's `ws_*_config_set_auto_pong` sets its start,
/// default on). Off, each ping is still reported to `on_ping` and the
/// application answers it with `ws_conn_pong`. Applies to the pings handled
/// after it (a ping already read may have been answered). From any thread,
/// callbacks included. `WS_ERR_NOT_OPEN` before the connection opened and
/// once it closed; `WS_ERR_NULL` for NULL.
///
/// # Safety
/// `c` is NULL (an error) or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_set_auto_pong(c: *mut Connection, on: c_int) -> ws_status {
    guard_status(|| handle(c)?.set_auto_pong(on != 0).map_err(refused))
}

/// Sets the largest incoming message this connection accepts, in bytes (>
/// 0), in place of its config's (`ws_*_config_set_max_message_size`): a
/// message over it fails the connection with 1009 (`WS_MESSAGE_TOO_LARGE`)
/// as the config's limit does, before it is buffered; with messages in parts
/// it limits each message's total. Applies to the messages that start after
/// it: one being received keeps the limit it started with. The memory budgets
/// still apply. From any thread, callbacks included. `WS_ERR_INVALID_ARGUMENT`
/// for 0, `WS_ERR_NOT_OPEN` before the connection opened and once it closed,
/// `WS_ERR_NULL` for NULL.
///
/// # Safety
/// `c` is NULL (an error) or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_set_max_message_size(c: *mut Connection, bytes: u64) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        if bytes == 0 {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                "max_message_size must be positive, got 0",
            ));
        }
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        c.set_max_message_size(bytes).map_err(refused)
    })
}

/// Ends an open connection at once, without the close handshake: no close
/// frame, nothing more is sent (what is queued is dropped) or read, and the
/// socket is closed, so the peer sees TCP end (with a reset if it had data
/// on the way). `on_close` follows, on the connection's thread (or from
/// `ws_dispatch`), with 1006 (`WS_CLOSED_ABNORMALLY`) and the reason
/// "aborted"; a reconnecting client does not reconnect, as after
/// `ws_conn_close`. From any thread, callbacks included.
/// `WS_ERR_NOT_OPEN` when the connection is not open (still connecting,
/// closing or closed: nothing changes then); `WS_ERR_NULL` for NULL.
///
/// # Safety
/// `c` is NULL (an error) or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_abort(c: *mut Connection) -> ws_status {
    guard_status(|| handle(c)?.abort().map_err(refused))
}

/// Starts the close handshake with `code` (1000-1003, 1007-1011 or 3000-4999;
/// 0 sends a close frame without a code) and `reason` (UTF-8, at most 123
/// bytes, may be NULL). `on_close` follows when the peer answers or the close
/// timeout passes. `WS_ERR_NOT_OPEN` if already closing or closed.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_close(
    c: *mut Connection,
    code: ws_close_code,
    reason: *const c_char,
) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        let (code, reason) = close_args(code, reason)?;
        c.close(code, reason).map_err(refused)
    })
}

/// The code (0: none) and reason (NULL: none) of a close, as Rust takes them.
pub(super) unsafe fn close_args<'a>(
    code: ws_close_code,
    reason: *const c_char,
) -> Result<(Option<u16>, &'a str), Failure> {
    let reason = if reason.is_null() {
        ""
    } else {
        CStr::from_ptr(reason)
            .to_str()
            .map_err(|_| Failure::new(WS_ERR_INVALID_UTF8, "close reason is not valid UTF-8"))?
    };
    Ok(((code != 0).then_some(code), reason))
}

/// The connection's state (`WS_STATE_*`), or a negative status for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_state(c: *const Connection) -> ws_state {
    guard_count(|| {
        Ok(match handle(c)?.state() {
            ConnectionState::Connecting => WS_STATE_CONNECTING,
            ConnectionState::Open => WS_STATE_OPEN,
            ConnectionState::Closing => WS_STATE_CLOSING,
            ConnectionState::Closed => WS_STATE_CLOSED,
        })
    })
}

/// The subprotocol the opening handshake settled on; "" when none, NULL for
/// a NULL connection. Valid as long as the connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_subprotocol(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || Ok(handle(c)?.subprotocol().as_ptr()))
}

/// 1 when the connection runs over TLS, 0 when not, `WS_ERR_NULL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_is_secure(c: *const Connection) -> c_int {
    guard_count(|| Ok(handle(c)?.is_secure() as c_int))
}

/// The value of the first opening-handshake header named `name`
/// (case-insensitive) the peer sent: a request header on a server connection, a
/// response header on a client one. NULL when there is none or the connection
/// has not opened yet; also NULL, with the last error set, when `c` or `name`
/// is NULL. Valid as long as the connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_header(
    c: *const Connection,
    name: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        let name = super::text(name, "name")?;
        Ok(handle(c)?
            .header(name)
            .map_or(std::ptr::null(), CStr::as_ptr))
    })
}

/// How many handshake headers the peer sent (see `ws_conn_header`); negative
/// status on error.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_header_count(c: *const Connection) -> c_int {
    guard_count(|| Ok(handle(c)?.header_count().min(c_int::MAX as usize) as c_int))
}

/// The handshake header at `index` (0-based, in the order received): its name
/// and value through `name` and `value` (either may be NULL), valid as long as
/// the connection handle. `WS_ERR_INVALID_ARGUMENT` when out of range.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_header_at(
    c: *const Connection,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        super::header_at(c.header_at(index), index, name, value)
    })
}

/// The request head of the opening handshake exactly as it went over the
/// wire: the request line, the header lines and the blank line that ends
/// them ("GET /chat HTTP/1.1\r\nHost: ...\r\n\r\n"), as a C string. On
/// a client connection the request it sent (with the headers of
/// `ws_client_config_add_header`), on a server connection the request it
/// received. NULL for NULL, before the handshake completed (until the
/// connection opened), and when the config did not ask to keep it
/// (`ws_*_config_set_keep_handshake_text`, default off). Valid as long as
/// the connection handle (until `on_close` returns, or the last
/// `ws_conn_release`). From any thread.
///
/// # Safety
/// `c` is NULL or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_request_text(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || {
        Ok(handle(c)?
            .request_text()
            .map_or(std::ptr::null(), CStr::as_ptr))
    })
}

/// The response head of the opening handshake exactly as it went over the
/// wire ("HTTP/1.1 101 Switching Protocols\r\n...\r\n\r\n"): on a client
/// connection the response it received, on a server connection the one it
/// sent, with the headers `on_handshake` added. NULL and lifetime as
/// `ws_conn_request_text`.
///
/// # Safety
/// `c` is NULL or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_response_text(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || {
        Ok(handle(c)?
            .response_text()
            .map_or(std::ptr::null(), CStr::as_ptr))
    })
}

/// The peer's address, "127.0.0.1:54321" or "[::1]:54321" ("" before the TCP
/// connection exists, NULL for a NULL handle). Valid while the handle is held.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_peer_address(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || Ok(handle(c)?.peer().as_ptr()))
}

/// The request path ("/chat"); for a client, the path of its URL. Valid while the handle is held.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_path(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || Ok(handle(c)?.path().as_ptr()))
}

/// The request query without '?' ("" when none). Valid while the handle is held.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_query(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || Ok(handle(c)?.query().as_ptr()))
}

/// Bytes sent or queued on the connection and not yet written to its socket,
/// messages still to be compressed included (0 for NULL). Over the high-water
/// mark (`ws_*_config_set_send_watermarks`) sends return
/// `WS_STATUS_BACKPRESSURE` and the connection stops reading.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_buffered_amount(c: *const Connection) -> usize {
    guard(0, || Ok(handle(c)?.buffered_amount()))
}

/// Pauses reading: the connection stops reading from its socket once the
/// message being read (at most one more) has been delivered, so that TCP
/// pushes back on a peer that sends faster than the application can take
/// messages (as Node's `ws.pause()`; `max_queue` in Python's `websockets`).
/// Sends, pings and closes still go out; what the peer sends, its close frame
/// and pongs included, waits unread until `ws_conn_resume` (keepalive takes a
/// peer that keeps taking what is sent as alive). From any thread, in any
/// state (no effect once closed). `WS_ERR_NULL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_pause(c: *const Connection) -> ws_status {
    guard_status(|| {
        handle(c)?.pause();
        Ok(())
    })
}

/// Reads again after `ws_conn_pause` (nothing happens when not paused). From
/// any thread. `WS_ERR_NULL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_resume(c: *const Connection) -> ws_status {
    guard_status(|| {
        handle(c)?.resume();
        Ok(())
    })
}

/// The close code once closed (as given to `on_close`), 0 while not closed,
/// negative status for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_close_code(c: *const Connection) -> c_int {
    guard_count(|| Ok(handle(c)?.close_info().map_or(0, |i| i.code as c_int)))
}

/// Takes a reference to the connection so the handle stays valid after its
/// callbacks (and after `ws_client_free`). Returns `c`. Each retain needs one
/// `ws_conn_release`.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_retain(c: *mut Connection) -> *mut Connection {
    guard(std::ptr::null_mut(), || {
        handle(c)?;
        Arc::increment_strong_count(c as *const Connection);
        Ok(c)
    })
}

/// Gives back a reference taken by `ws_conn_retain` or `ws_server_connections`.
/// NULL is a no-op. In a child process, releasing a connection of the
/// parent's only forgets it (see "fork()" in the overview).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_release(c: *mut Connection) {
    guard((), || {
        if c.as_ref().is_some_and(inherited) {
            fork::abandon(c);
        } else if !c.is_null() {
            Arc::decrement_strong_count(c as *const Connection);
        }
        Ok(())
    })
}

/// Attaches an application pointer to the connection (per-connection state).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_set_user_data(
    c: *mut Connection,
    user_data: *mut c_void,
) -> ws_status {
    guard_status(|| {
        handle(c)?.app_data.store(user_data, Ordering::Release);
        Ok(())
    })
}

/// The pointer set by `ws_conn_set_user_data` (NULL if none, or for NULL).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_get_user_data(c: *const Connection) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        Ok(handle(c)?.app_data.load(Ordering::Acquire))
    })
}

/// Blocks the calling thread until the connection is open, at most `timeout_ms`
/// (negative: no limit). `WS_STATUS_OK` once it has opened (even if it closed
/// again since); if it failed instead, the
/// failure's status (`WS_ERR_CONNECT`, `WS_ERR_HANDSHAKE`, ...) with its message;
/// `WS_ERR_TIMEOUT` when time ran out; `WS_ERR_BAD_STATE` when called from a
/// callback in `WS_DISPATCH_THREAD` mode (an I/O thread must not block).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_wait_open(c: *const Connection, timeout_ms: c_int) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        not_on_io_thread()?;
        let state = c.wait_for(ConnectionState::Open, timeout_of(timeout_ms));
        if c.was_opened() {
            return Ok(());
        }
        match (state, c.failure()) {
            (ConnectionState::Connecting, _) => Err(Failure::new(
                WS_ERR_TIMEOUT,
                "timed out waiting for the connection to open",
            )),
            (_, Some((kind, message))) => Err(Failure::new(status_of(kind), message)),
            _ => Err(Failure::new(
                WS_ERR_NOT_OPEN,
                "the connection was closed before it opened",
            )),
        }
    })
}

/// Blocks the calling thread until the connection is closed (its `on_close`
/// comes next, or has run), at most `timeout_ms` (negative: no limit).
/// `WS_STATUS_OK` when closed, `WS_ERR_TIMEOUT` otherwise, `WS_ERR_BAD_STATE`
/// when called from a callback in `WS_DISPATCH_THREAD` mode.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_wait_closed(c: *const Connection, timeout_ms: c_int) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        not_on_io_thread()?;
        match c.wait_for(ConnectionState::Closed, timeout_of(timeout_ms)) {
            ConnectionState::Closed => Ok(()),
            _ => Err(Failure::new(
                WS_ERR_TIMEOUT,
                "timed out waiting for the connection to close",
            )),
        }
    })
}

/// What a topic call's refusal becomes.
fn topic_failure(e: TopicError) -> Failure {
    match e {
        TopicError::NotOpen => Failure::new(
            WS_ERR_NOT_OPEN,
            "only an open connection of a server can subscribe to topics",
        ),
        TopicError::BadName => Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("a topic name has 1 to {MAX_TOPIC_LEN} bytes"),
        ),
    }
}

/// Subscribes a server's connection to `topic` (a NUL-terminated name of 1
/// to 1024 bytes): from now on it gets what `ws_server_publish` publishes to
/// that topic. Subscribing again is no error. From any thread. A connection
/// leaves all its topics when it closes, before its `on_close`. `WS_ERR_NOT_OPEN` for a closed
/// connection or a client's, `WS_ERR_INVALID_ARGUMENT` for a bad name.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_subscribe(
    c: *const Connection,
    topic: *const c_char,
) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        c.subscribe(super::topic(topic)?).map_err(topic_failure)?;
        Ok(())
    })
}

/// Unsubscribes a connection from `topic`; no error when it was not
/// subscribed. From any thread.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_unsubscribe(
    c: *const Connection,
    topic: *const c_char,
) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        c.unsubscribe(super::topic(topic)?).map_err(topic_failure)?;
        Ok(())
    })
}

/// 1 when the connection is subscribed to `topic`, 0 when not, or a negative
/// status (NULL arguments, a bad name).
#[no_mangle]
pub unsafe extern "C" fn ws_conn_is_subscribed(
    c: *const Connection,
    topic: *const c_char,
) -> c_int {
    guard_count(|| {
        let c = handle(c)?;
        Ok(c_int::from(c.is_subscribed(super::topic(topic)?)))
    })
}
