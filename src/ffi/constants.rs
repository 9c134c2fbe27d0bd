//! Close codes (RFC 6455 section 7.4.1) with the names of the Perl `WebSocket`
//! distribution, and the small enumerations of the C API.

use std::ffi::c_int;

/// A close code (RFC 6455 section 7.4.1): `WS_OK` (1000) ... `WS_TLS_HANDSHAKE_FAIL`
/// (1015), or 3000-4999 for applications. Not a `ws_status`: `WS_OK` is 1000,
/// success of a call is `WS_STATUS_OK` (0), so never compare a call's result
/// with `WS_OK`.
pub type ws_close_code = u16;

/// 1000: normal closure.
pub const WS_OK: ws_close_code = 1000;
/// 1001: going away (server shutting down, page navigated away).
pub const WS_GONE: ws_close_code = 1001;
/// 1002: protocol error.
pub const WS_PROTOCOL_ERROR: ws_close_code = 1002;
/// 1003: a type of data the endpoint cannot accept.
pub const WS_NOT_ACCEPTABLE: ws_close_code = 1003;
/// 1005: no status code was present (reported locally, never sent).
pub const WS_NO_STATUS: ws_close_code = 1005;
/// 1006: closed without a close frame (reported locally, never sent).
pub const WS_CLOSED_ABNORMALLY: ws_close_code = 1006;
/// 1007: message data inconsistent with its type (e.g. invalid UTF-8 text).
pub const WS_BAD_MESSAGE: ws_close_code = 1007;
/// 1008: message violates the endpoint's policy.
pub const WS_FORBIDDEN: ws_close_code = 1008;
/// 1009: message too large to process.
pub const WS_MESSAGE_TOO_LARGE: ws_close_code = 1009;
/// 1010: the client needed an extension the server did not negotiate.
pub const WS_EXTENSIONS_NOT_AVAILABLE: ws_close_code = 1010;
/// 1011: the server hit an unexpected condition.
pub const WS_INTERNAL_SERVER_ERROR: ws_close_code = 1011;
/// 1015: the TLS handshake failed (reported locally, never sent).
pub const WS_TLS_HANDSHAKE_FAIL: ws_close_code = 1015;

/// What happens to a subscriber too slow to take a published message:
/// `WS_SLOW_SKIP` or `WS_SLOW_CLOSE` (see `ws_server_config_set_slow_subscriber`).
pub type ws_slow_subscriber = c_int;
/// The subscriber misses the message and stays subscribed (the default).
pub const WS_SLOW_SKIP: ws_slow_subscriber = 0;
/// The subscriber is closed with `WS_FORBIDDEN` (1008, policy violation)
/// "too slow to take published messages".
pub const WS_SLOW_CLOSE: ws_slow_subscriber = 1;

/// Kind of a message: `WS_MESSAGE_TEXT` or `WS_MESSAGE_BINARY`.
pub type ws_message_type = c_int;
/// A text message (UTF-8).
pub const WS_MESSAGE_TEXT: ws_message_type = 1;
/// A binary message.
pub const WS_MESSAGE_BINARY: ws_message_type = 2;

/// Flags of a piece of a message given to `on_message_part`: any of `WS_PART_*`.
pub type ws_part_flags = c_int;
/// The piece is its message's first.
pub const WS_PART_FIRST: ws_part_flags = 1;
/// The piece is its message's last.
pub const WS_PART_LAST: ws_part_flags = 2;

/// Options of `ws_conn_send_ex`: any of `WS_SEND_*`, or 0.
pub type ws_send_flags = c_int;
/// Compress this message whatever its size (when permessage-deflate was
/// negotiated; otherwise it goes uncompressed).
pub const WS_SEND_COMPRESS: ws_send_flags = 1;
/// Send this message uncompressed whatever its size.
pub const WS_SEND_NO_COMPRESS: ws_send_flags = 2;
/// More parts of this message follow. Alone, it sends the first part of a
/// message in parts; with `WS_SEND_CONTINUATION`, a middle part.
pub const WS_SEND_MORE: ws_send_flags = 4;
/// This part continues the message in parts that is open. Alone, it sends
/// the message's last part; with `WS_SEND_MORE`, a middle part.
pub const WS_SEND_CONTINUATION: ws_send_flags = 8;

/// State of a connection: one of `WS_STATE_*`.
pub type ws_state = c_int;
/// The opening handshake is under way.
pub const WS_STATE_CONNECTING: ws_state = 0;
/// Open: messages flow both ways.
pub const WS_STATE_OPEN: ws_state = 1;
/// The close handshake is under way; sends are refused.
pub const WS_STATE_CLOSING: ws_state = 2;
/// Closed.
pub const WS_STATE_CLOSED: ws_state = 3;

/// Where callbacks run: one of `WS_DISPATCH_*`.
pub type ws_dispatch_mode = c_int;
/// Callbacks run on the connection's I/O thread as events happen (the
/// default). One connection's callbacks never run concurrently; with several
/// I/O threads, different connections' callbacks may. Keep them short and
/// never block in them, since the other connections of that thread make no
/// progress meanwhile.
pub const WS_DISPATCH_THREAD: ws_dispatch_mode = 0;
/// Events are queued; callbacks run inside `ws_dispatch()` on the thread that
/// calls it. `ws_event_fd()` is readable while events are queued. While the
/// queue is full, connections wait (they stop reading, and their close
/// handshakes and timeouts wait too) until you dispatch: keep dispatching.
/// Answers are not lost to the delay: when a peer closes (a close frame, or
/// just the end of TCP) right after its messages, the library holds its side
/// of the close until you have dispatched those messages, so that what the
/// callbacks send in answer still goes out first, as in
/// `WS_DISPATCH_THREAD` (at most the close timeout).
pub const WS_DISPATCH_POLL: ws_dispatch_mode = 1;
