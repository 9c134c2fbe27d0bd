//! Configuration objects. One setter per option keeps the ABI stable as options grow.

use super::constants::{
    ws_dispatch_mode, ws_slow_subscriber, WS_DISPATCH_POLL, WS_DISPATCH_THREAD, WS_SLOW_CLOSE,
    WS_SLOW_SKIP,
};
use super::handle::{handle_mut, Handle};
use super::status::{guard, guard_status, ws_status, Failure, WS_ERR_INVALID_ARGUMENT};
use crate::transport::topics::SlowSubscriber;
use crate::transport::{ClientConfig, ConnectionConfig, ServerConfig};
use std::ffi::{c_char, c_int, CStr};
use std::time::Duration;

/// Options of a server (opaque). Create with `ws_server_config_new`, free with
/// `ws_server_config_free`; `ws_server_listen` copies it, so it can be freed after.
pub struct ws_server_config {
    pub(crate) inner: ServerConfig,
    pub(crate) dispatch: ws_dispatch_mode,
}

/// Options of a client (opaque). Create with `ws_client_config_new`, free with
/// `ws_client_config_free`; `ws_client_connect` copies it.
pub struct ws_client_config {
    pub(crate) inner: ClientConfig,
    pub(crate) dispatch: ws_dispatch_mode,
}

/// `mode` if it is a `WS_DISPATCH_*`, else `WS_ERR_INVALID_ARGUMENT`.
pub(crate) fn check_dispatch(mode: ws_dispatch_mode) -> Result<ws_dispatch_mode, Failure> {
    match mode {
        WS_DISPATCH_THREAD | WS_DISPATCH_POLL => Ok(mode),
        _ => Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("unknown dispatch mode {mode} (use WS_DISPATCH_THREAD or WS_DISPATCH_POLL)"),
        )),
    }
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(v: T, what: &str) -> Result<T, Failure> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("{what} must be positive, got {v}"),
        ))
    }
}

/// Applies `set` to the config behind `cfg`, a checked pointer.
pub(crate) unsafe fn with<C: Handle>(
    cfg: *mut C,
    set: impl FnOnce(&mut C) -> Result<(), Failure>,
) -> ws_status {
    guard_status(|| set(handle_mut(cfg)?))
}

fn set_connection_option(
    c: &mut ConnectionConfig,
    option: Option_,
    value: u64,
) -> Result<(), Failure> {
    match option {
        Option_::MaxMessageSize => {
            c.max_message_size = positive(value, "max_message_size")? as usize
        }
        Option_::SendQueueLimit => {
            c.send_queue_limit = positive(value, "send_queue_limit")? as usize
        }
        Option_::HandshakeTimeout => {
            c.handshake_timeout = Duration::from_millis(positive(value, "handshake timeout")?)
        }
        Option_::CloseTimeout => {
            c.close_timeout = Duration::from_millis(positive(value, "close timeout")?)
        }
        Option_::Keepalive => {
            c.keepalive = (value > 0).then(|| Duration::from_millis(value));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Option_ {
    MaxMessageSize,
    SendQueueLimit,
    HandshakeTimeout,
    CloseTimeout,
    Keepalive,
}

/// A server configuration with the defaults: thread dispatch, 32 MiB messages,
/// 64 MiB send queue, 10 s handshake and 5 s close timeouts, 10000 connections.
#[no_mangle]
pub extern "C" fn ws_server_config_new() -> *mut ws_server_config {
    guard(std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(ws_server_config {
            inner: ServerConfig::default(),
            dispatch: WS_DISPATCH_THREAD,
        })))
    })
}

/// Frees a server configuration. NULL is a no-op.
///
/// # Safety
/// `cfg` is NULL or from `ws_server_config_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_free(cfg: *mut ws_server_config) {
    guard((), || {
        if !cfg.is_null() {
            drop(Box::from_raw(cfg));
        }
        Ok(())
    })
}

/// Where the server's callbacks run: `WS_DISPATCH_THREAD` (default) or `WS_DISPATCH_POLL`.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_dispatch(
    cfg: *mut ws_server_config,
    mode: ws_dispatch_mode,
) -> ws_status {
    with(cfg, |c| {
        c.dispatch = check_dispatch(mode)?;
        Ok(())
    })
}

/// Largest message accepted in bytes (> 0); a larger one fails the connection
/// with 1009 before it is buffered. Default 32 MiB.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_max_message_size(
    cfg: *mut ws_server_config,
    bytes: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::MaxMessageSize, bytes)
    })
}

/// Most bytes of outgoing messages queued per connection (> 0); sends beyond it
/// return `WS_ERR_QUEUE_FULL`. Default 64 MiB.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_send_queue_limit(
    cfg: *mut ws_server_config,
    bytes: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::SendQueueLimit, bytes)
    })
}

/// Time a client has to complete the opening handshake, in ms (> 0). Default 10000.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_handshake_timeout_ms(
    cfg: *mut ws_server_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::HandshakeTimeout, ms)
    })
}

/// Time the peer has to answer a close frame, in ms (> 0). Default 5000.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_close_timeout_ms(
    cfg: *mut ws_server_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::CloseTimeout, ms)
    })
}

/// Keepalive of each connection, in ms (0, the default, turns it off): after
/// this long without hearing from the client, the server pings it; when the
/// client stays silent as long again, the connection fails (`on_error` with
/// `WS_ERR_TIMEOUT`, then `on_close` with 1006).
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_keepalive_ms(
    cfg: *mut ws_server_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::Keepalive, ms)
    })
}

/// Most open connections at once (> 0); further upgrade requests get HTTP
/// 503. Connections still in the opening handshake do not count here (see
/// `ws_server_config_set_max_handshakes`). Default 10000.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_max_connections(
    cfg: *mut ws_server_config,
    max: u64,
) -> ws_status {
    with(cfg, |c| {
        c.inner.max_connections = positive(max, "max_connections")? as usize;
        Ok(())
    })
}

/// Listens with `SO_REUSEPORT` (`on` != 0): several servers, in this process
/// or others, that all set it may listen on the same host and port, and the
/// kernel spreads new connections over them, for one port served by several
/// processes. Default off (a port in use is an error).
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_reuse_port(
    cfg: *mut ws_server_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.reuse_port = on != 0;
        Ok(())
    })
}

/// What happens to a subscriber (see `ws_conn_subscribe`) whose send queue
/// cannot take a published message, because its send queue limit or the
/// memory budgets would be exceeded: `WS_SLOW_SKIP` (the default), it misses
/// the message and stays subscribed; `WS_SLOW_CLOSE`, it is closed with 1008
/// (policy violation) "too slow to take published messages". Other sends to it are refused with
/// `WS_ERR_QUEUE_FULL` either way.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_slow_subscriber(
    cfg: *mut ws_server_config,
    policy: ws_slow_subscriber,
) -> ws_status {
    with(cfg, |c| {
        c.inner.slow_subscriber = match policy {
            WS_SLOW_SKIP => SlowSubscriber::Skip,
            WS_SLOW_CLOSE => SlowSubscriber::Close,
            other => {
                return Err(Failure::new(
                    WS_ERR_INVALID_ARGUMENT,
                    format!("unknown slow subscriber policy {other}"),
                ))
            }
        };
        Ok(())
    })
}

/// The server's memory budgets: what its connections together may hold of
/// messages being received (reassembled or inflated) and of messages sent and
/// not yet written. When a message needs more than the inbound budget leaves,
/// the connection holding the most fails with 1009 "message too big for the
/// memory left" (`on_error`, then `on_close`): another one holding more than
/// this one would, or else this one. A send that would queue more than the
/// outbound budget leaves gets `WS_ERR_QUEUE_FULL`. Each connection
/// holds up to 64 KiB each way outside the budgets; the process-wide budgets
/// (`ws_set_memory_budget`) apply too. Default 512 MiB each; both > 0.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_memory_budget(
    cfg: *mut ws_server_config,
    inbound: usize,
    outbound: usize,
) -> ws_status {
    with(cfg, |c| {
        c.inner.inbound_budget = positive(inbound, "the inbound budget")?;
        c.inner.outbound_budget = positive(outbound, "the outbound budget")?;
        Ok(())
    })
}

/// Most connections at once still in the opening handshake, before their
/// request is read (> 0). When one more comes, the oldest of them is dropped,
/// so peers that connect and then send nothing, or a byte at a time
/// (slowloris), cannot keep fresh clients out. From half that many on, new
/// connections get a handshake deadline of at most 2 s. Default 4096.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_max_handshakes(
    cfg: *mut ws_server_config,
    max: u64,
) -> ws_status {
    with(cfg, |c| {
        c.inner.max_handshakes = positive(max, "max_handshakes")? as usize;
        Ok(())
    })
}

/// A client configuration with the defaults: thread dispatch, 32 MiB messages,
/// 64 MiB send queue, 10 s connect+handshake and 5 s close timeouts, no extra headers.
#[no_mangle]
pub extern "C" fn ws_client_config_new() -> *mut ws_client_config {
    guard(std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(ws_client_config {
            inner: ClientConfig::default(),
            dispatch: WS_DISPATCH_THREAD,
        })))
    })
}

/// Frees a client configuration. NULL is a no-op.
///
/// # Safety
/// `cfg` is NULL or from `ws_client_config_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_free(cfg: *mut ws_client_config) {
    guard((), || {
        if !cfg.is_null() {
            drop(Box::from_raw(cfg));
        }
        Ok(())
    })
}

/// Where the client's callbacks run: `WS_DISPATCH_THREAD` (default) or `WS_DISPATCH_POLL`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_dispatch(
    cfg: *mut ws_client_config,
    mode: ws_dispatch_mode,
) -> ws_status {
    with(cfg, |c| {
        c.dispatch = check_dispatch(mode)?;
        Ok(())
    })
}

/// Largest message accepted in bytes (> 0); larger ones fail the connection with 1009. Default 32 MiB.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_max_message_size(
    cfg: *mut ws_client_config,
    bytes: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::MaxMessageSize, bytes)
    })
}

/// Most bytes of outgoing messages queued (> 0); sends beyond it return
/// `WS_ERR_QUEUE_FULL`. Default 64 MiB.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_send_queue_limit(
    cfg: *mut ws_client_config,
    bytes: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::SendQueueLimit, bytes)
    })
}

/// Time allowed for the TLS and WebSocket handshakes once the TCP connection
/// is made, in ms (> 0). Default 10000. (The TCP connection itself has
/// `ws_client_config_set_connect_timeout_ms`.)
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_handshake_timeout_ms(
    cfg: *mut ws_client_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::HandshakeTimeout, ms)
    })
}

/// Time the server has to answer a close frame, in ms (> 0). Default 5000.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_close_timeout_ms(
    cfg: *mut ws_client_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::CloseTimeout, ms)
    })
}

/// Keepalive, in ms (0, the default, turns it off): after this long without
/// hearing from the server, the client pings it; when the server stays silent
/// as long again, the connection fails (`on_error` with `WS_ERR_TIMEOUT`, then
/// `on_close` with 1006).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_keepalive_ms(
    cfg: *mut ws_client_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        set_connection_option(&mut c.inner.connection, Option_::Keepalive, ms)
    })
}

/// Adds a header to the opening request (e.g. "Authorization", "Bearer x").
/// The name must be an HTTP token and neither may contain CR or LF; the
/// headers the library writes itself are refused: Host, Upgrade, Connection,
/// Sec-WebSocket-Key, Sec-WebSocket-Version, Sec-WebSocket-Extensions, and
/// those with their own setter: Sec-WebSocket-Protocol
/// (`ws_client_config_add_subprotocol`) and Origin (`ws_client_config_set_origin`).
///
/// # Safety
/// `name` and `value` are NUL-terminated strings (or NULL, an error).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_add_header(
    cfg: *mut ws_client_config,
    name: *const c_char,
    value: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        if name.is_null() {
            return Err(Failure::null("header name"));
        }
        if value.is_null() {
            return Err(Failure::null("header value"));
        }
        let bad = |m: String| Failure::new(WS_ERR_INVALID_ARGUMENT, m);
        let name = CStr::from_ptr(name)
            .to_str()
            .map_err(|_| bad("header name is not UTF-8".into()))?;
        let value = CStr::from_ptr(value)
            .to_str()
            .map_err(|_| bad("header value is not UTF-8".into()))?;
        let token = |ch: char| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch);
        if name.is_empty() || !name.chars().all(token) {
            return Err(bad(format!("header name {name:?} is not an HTTP token")));
        }
        if value
            .chars()
            .any(|ch| ch == '\r' || ch == '\n' || ch == '\0')
        {
            return Err(bad(format!("header {name} value contains CR or LF")));
        }
        const RESERVED: [&str; 8] = [
            "host",
            "upgrade",
            "connection",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-protocol",
            "sec-websocket-extensions",
            "origin",
        ];
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(bad(format!(
                "header {name} is written by the library (subprotocols and Origin have their own setters)"
            )));
        }
        c.inner.headers.push((name.to_string(), value.to_string()));
        Ok(())
    })
}

/// Most frames one incoming message may be made of; a message with more fails
/// the connection with 1009 (`WS_MESSAGE_TOO_LARGE`). 0, the default, means
/// no limit.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_max_fragments(
    cfg: *mut ws_server_config,
    count: u64,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.max_fragments = usize::try_from(count).unwrap_or(usize::MAX);
        Ok(())
    })
}

/// Most frames one incoming message may be made of; a message with more fails
/// the connection with 1009 (`WS_MESSAGE_TOO_LARGE`). 0, the default, means
/// no limit.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_max_fragments(
    cfg: *mut ws_client_config,
    count: u64,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.max_fragments = usize::try_from(count).unwrap_or(usize::MAX);
        Ok(())
    })
}

/// Messages arrive in pieces instead of whole: when `on` is non-zero, each
/// piece of an incoming message goes to `on_message_part` as it comes off
/// the socket (`on_message` is not called), so a message of any size passes
/// through bounded memory; a server or client without `on_message_part` is
/// then refused (`WS_ERR_INVALID_ARGUMENT`). The maximum message size
/// (`ws_server_config_set_max_message_size`) still limits each message's
/// total, so raise it for large messages. Default 0 (whole messages).
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_receive_parts(
    cfg: *mut ws_server_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.receive_parts = on != 0;
        Ok(())
    })
}

/// Messages arrive in pieces instead of whole: as
/// `ws_server_config_set_receive_parts`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_receive_parts(
    cfg: *mut ws_client_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.receive_parts = on != 0;
        Ok(())
    })
}

/// Answers pings automatically (`on` non-zero, the default) or not (0). When
/// off, a received ping is still reported to `on_ping`, but no pong goes out
/// unless the application sends one with `ws_conn_pong` (RFC 6455 wants one
/// answer per ping, with its payload, soon; the latest ping may be the only
/// one answered). `ws_conn_set_auto_pong` changes it for one open
/// connection. Applies to the connections opened after it.
/// `WS_ERR_NULL` for a NULL `cfg`. Not thread-safe: set a config from one
/// thread at a time.
///
/// # Safety
/// `cfg` is NULL (an error) or a live config.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_auto_pong(
    cfg: *mut ws_server_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.auto_pong = on != 0;
        Ok(())
    })
}

/// Answers pings automatically or not, on the client's connection: as
/// `ws_server_config_set_auto_pong` (default on).
///
/// # Safety
/// `cfg` is NULL (an error) or a live config.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_auto_pong(
    cfg: *mut ws_client_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.auto_pong = on != 0;
        Ok(())
    })
}

/// Keeps each connection's opening handshake as it went over the wire
/// (`on` non-zero), for `ws_conn_request_text` and `ws_conn_response_text`
/// (to log or inspect it, or to hand it to a WebSocket implementation that
/// takes over the socket). Off by default (0), and then those return NULL:
/// the two heads cost a few hundred bytes per connection (about 330 bytes
/// per connection end with the requests of this library's client), which a
/// server with many idle connections would rather not pay. Applies to the
/// connections opened after it. `WS_ERR_NULL` for a NULL `cfg`. Not
/// thread-safe: set a config from one thread at a time.
///
/// # Safety
/// `cfg` is NULL (an error) or a live config.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_keep_handshake_text(
    cfg: *mut ws_server_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.keep_handshake_text = on != 0;
        Ok(())
    })
}

/// Keeps the client connection's opening handshake as it went over the
/// wire: as `ws_server_config_set_keep_handshake_text` (default off).
///
/// # Safety
/// `cfg` is NULL (an error) or a live config.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_keep_handshake_text(
    cfg: *mut ws_client_config,
    on: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.connection.keep_handshake_text = on != 0;
        Ok(())
    })
}

/// Sets the flow-control watermarks of a connection's outgoing bytes.
fn set_watermarks(c: &mut ConnectionConfig, low: u64, high: u64) -> Result<(), Failure> {
    if high == 0 || low > high {
        return Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("watermarks must be 0 <= low <= high and high > 0, got low {low}, high {high}"),
        ));
    }
    c.send_high_water = usize::try_from(high).unwrap_or(usize::MAX);
    c.send_low_water = usize::try_from(low).unwrap_or(usize::MAX);
    Ok(())
}

/// Flow control (as the browser's `bufferedAmount` and uWebSockets'
/// backpressure): once more than `high` bytes wait to be sent on a
/// connection (`ws_conn_buffered_amount`), a send still queues but returns
/// `WS_STATUS_BACKPRESSURE`, and the connection stops reading from its socket
/// once one more message has arrived, so that TCP pushes back on a peer that
/// sends without reading. (The one more message lets two peers that send
/// each other large messages each read the other's; while closing it reads
/// on.) Reading resumes once the amount is back at `high` or under, and
/// `on_drain` comes, once, when it falls to `low` or under. The send queue
/// limit (`ws_server_config_set_send_queue_limit`) still refuses sends beyond it.
/// Defaults: low 262144 (256 KiB), high 1048576 (1 MiB).
/// `WS_ERR_INVALID_ARGUMENT` unless 0 <= `low` <= `high` and `high` > 0.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_send_watermarks(
    cfg: *mut ws_server_config,
    low: u64,
    high: u64,
) -> ws_status {
    with(cfg, |c| set_watermarks(&mut c.inner.connection, low, high))
}

/// Flow control for the client's connection: as
/// `ws_server_config_set_send_watermarks`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_send_watermarks(
    cfg: *mut ws_client_config,
    low: u64,
    high: u64,
) -> ws_status {
    with(cfg, |c| set_watermarks(&mut c.inner.connection, low, high))
}
