//! `ws_server_*`: listening, the connection list, broadcast, stop.

use super::callbacks::{ws_callbacks, Endpoint};
use super::config::ws_server_config;
use super::constants::{ws_message_type, WS_DISPATCH_POLL, WS_DISPATCH_THREAD};
use super::events;
use super::handle::{handle, inherited};
use super::status::{
    guard, guard_count, guard_status, ws_status, Failure, WS_ERR_INVALID_ARGUMENT, WS_ERR_IO,
    WS_ERR_TIMEOUT, WS_ERR_TLS,
};
use super::{checked_message, not_on_io_thread, text};
use crate::transport::fork;
use crate::transport::server::Server;
use crate::transport::Connection;
use crate::transport::ServerConfig;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// A listening server (opaque). Free with `ws_server_free`.
pub struct ws_server {
    pub(super) server: Server,
    endpoint: Arc<Endpoint>,
    /// The fork generation of the process that made it (see `handle.rs`).
    pub(super) generation: u32,
}

/// Starts a server listening on `host` (a name or IP literal such as
/// "127.0.0.1", "::1", "0.0.0.0") and `port` (0 picks a free port; read it with
/// `ws_server_port`). `config` may be NULL for the defaults; `callbacks` may be
/// NULL (then connections are accepted and closes answered, nothing else).
/// Binding happens before this returns. Returns NULL on error (address in use,
/// bad host ...): see `ws_last_error_message()`.
#[no_mangle]
pub unsafe extern "C" fn ws_server_listen(
    host: *const c_char,
    port: u16,
    config: *const ws_server_config,
    callbacks: *const ws_callbacks,
    user_data: *mut c_void,
) -> *mut ws_server {
    guard(std::ptr::null_mut(), || {
        let host = text(host, "host")?;
        start(config, callbacks, user_data, |inner, endpoint| {
            Server::listen(host, port, inner, endpoint)
                .map_err(|e| Failure::new(WS_ERR_IO, e.to_string()))
        })
    })
}

/// Starts a server on `fd`, a TCP socket (IPv4 or IPv6) the caller already
/// bound and put in the listening state (`listen()`; Perl's
/// `IO::Socket::INET` or `IO::Socket::SSL` listener, a socket handed over by
/// systemd or a supervisor). The server works on a duplicate of `fd`
/// (`F_DUPFD_CLOEXEC`), so the caller keeps its own descriptor and may close
/// it at once; the server closes its duplicate when freed. The duplicate is
/// made non-blocking, and since that flag belongs to the socket, not the
/// descriptor, `fd` becomes non-blocking too. The backlog is the one the
/// caller gave `listen()`. Everything else is as `ws_server_listen`: TLS
/// comes from `config` (the socket carries plain TCP; a TLS listener of the
/// caller's serves TLS when `config` has a certificate), `config` and
/// `callbacks` may be NULL, and `ws_server_port` tells the socket's port.
///
/// Returns NULL on error, with the reason in `ws_last_error_message()`:
/// `WS_ERR_INVALID_ARGUMENT` for a negative `fd`, or one that is not an
/// open socket, not a TCP socket (`SO_TYPE`, `SO_DOMAIN`) or not listening
/// (`SO_ACCEPTCONN`); `WS_ERR_TLS` for a certificate that cannot be used;
/// `WS_ERR_IO` when the duplicate cannot be made. `fd` is left as it was on
/// error (but for the non-blocking flag once the duplicate was made). Any
/// thread.
///
/// # Safety
/// `config` is NULL or a live config, `callbacks` NULL or a `ws_callbacks` of
/// at least its `size` bytes; `fd` is any integer (it is checked).
#[no_mangle]
pub unsafe extern "C" fn ws_server_listen_fd(
    fd: c_int,
    config: *const ws_server_config,
    callbacks: *const ws_callbacks,
    user_data: *mut c_void,
) -> *mut ws_server {
    guard(std::ptr::null_mut(), || {
        start(config, callbacks, user_data, |inner, endpoint| {
            Server::adopt(fd, inner, endpoint).map_err(|e| {
                let status = match e.kind() {
                    std::io::ErrorKind::InvalidInput => WS_ERR_INVALID_ARGUMENT,
                    _ => WS_ERR_IO,
                };
                Failure::new(status, e.to_string())
            })
        })
    })
}

/// What starting a server takes, whatever it listens on: reads the config
/// and callbacks, checks them, and has `listen` start the server.
unsafe fn start(
    config: *const ws_server_config,
    callbacks: *const ws_callbacks,
    user_data: *mut c_void,
    listen: impl FnOnce(ServerConfig, Arc<Endpoint>) -> Result<Server, Failure>,
) -> Result<*mut ws_server, Failure> {
    let callbacks = ws_callbacks::read(callbacks)?;
    let (inner, dispatch) = match config.as_ref() {
        Some(c) => (c.inner.clone(), c.dispatch),
        None => (ServerConfig::default(), WS_DISPATCH_THREAD),
    };
    callbacks.check_for(&inner.connection)?;
    if dispatch == WS_DISPATCH_POLL {
        events::queue()?;
    }
    // TLS mistakes (key and certificate that cannot go together) as WS_ERR_TLS.
    inner.tls.build().map_err(|e| Failure::new(WS_ERR_TLS, e))?;
    let endpoint = Endpoint::new(callbacks, user_data, dispatch);
    let server = listen(inner, endpoint.clone())?;
    Ok(Box::into_raw(Box::new(ws_server {
        server,
        endpoint,
        generation: fork::generation(),
    })))
}

/// 1 when the server speaks TLS (a certificate was configured), 0 when not,
/// `WS_ERR_NULL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_server_is_secure(server: *const ws_server) -> c_int {
    guard_count(|| Ok(handle(server)?.server.is_secure() as c_int))
}

/// The port the server listens on; 0 on error (NULL server).
#[no_mangle]
pub unsafe extern "C" fn ws_server_port(server: *const ws_server) -> u16 {
    guard(0, || Ok(handle(server)?.server.local_addr().port()))
}

/// How many connections the server has past the opening handshake and not yet
/// closed (including those in their close handshake); 0 on error.
#[no_mangle]
pub unsafe extern "C" fn ws_server_connection_count(server: *const ws_server) -> usize {
    guard(0, || Ok(handle(server)?.server.connection_count()))
}

/// Writes up to `capacity` of the connections counted by
/// `ws_server_connection_count` to `out` and returns how many there are (which
/// may be more than `capacity`). Each handle written is retained:
/// release each with `ws_conn_release`. `out` may be NULL when `capacity` is 0.
/// Returns a negative status on error.
#[no_mangle]
pub unsafe extern "C" fn ws_server_connections(
    server: *const ws_server,
    out: *mut *mut Connection,
    capacity: usize,
) -> c_int {
    guard_count(|| {
        let conns = handle(server)?.server.connections();
        if capacity > 0 && out.is_null() {
            return Err(Failure::null("out"));
        }
        for (i, conn) in conns.iter().take(capacity).enumerate() {
            *out.add(i) = Arc::into_raw(conn.clone()) as *mut Connection;
        }
        Ok(conns.len().min(c_int::MAX as usize) as c_int)
    })
}

/// Queues a message to every open connection. Returns how many connections took
/// it (those whose send queue was full or that were closing are skipped), or a
/// negative status (NULL server, unknown type, text that is not UTF-8).
#[no_mangle]
pub unsafe extern "C" fn ws_server_broadcast(
    server: *const ws_server,
    kind: ws_message_type,
    data: *const u8,
    len: usize,
) -> c_int {
    guard_count(|| {
        let s = handle(server)?;
        let data = super::bytes(data, len)?;
        let text = checked_message(kind, data, "broadcast")?;
        Ok(s.server.broadcast(text, data).min(c_int::MAX as usize) as c_int)
    })
}

/// Queues a message of `kind` to every connection subscribed to `topic`
/// (see `ws_conn_subscribe`). The frame is encoded once and shared by all
/// subscribers (and compressed once for those that agreed on
/// permessage-deflate without server context takeover with the same
/// settings). Never blocks; from any thread, callbacks included. Messages
/// published from one thread reach each subscriber in order, after what was
/// sent to it before from that thread. A subscriber whose send queue cannot
/// take the message misses it or is closed, as
/// `ws_server_config_set_slow_subscriber` says. Returns how many subscribers
/// it went to (0 when the topic has none), or a negative status (NULL
/// server or topic, a topic name that is empty or longer than 1024 bytes,
/// an unknown type, text that is not UTF-8).
#[no_mangle]
pub unsafe extern "C" fn ws_server_publish(
    server: *const ws_server,
    topic: *const c_char,
    kind: ws_message_type,
    data: *const u8,
    len: usize,
) -> c_int {
    guard_count(|| {
        let s = handle(server)?;
        let topic = super::topic(topic)?;
        let data = super::bytes(data, len)?;
        let text = checked_message(kind, data, "published")?;
        Ok(s.server.publish(topic, text, data).min(c_int::MAX as usize) as c_int)
    })
}

/// How many connections are subscribed to `topic` (0 for NULL arguments).
#[no_mangle]
pub unsafe extern "C" fn ws_server_subscriber_count(
    server: *const ws_server,
    topic: *const c_char,
) -> usize {
    guard(0, || {
        let s = handle(server)?;
        Ok(s.server.subscriber_count(super::topic(topic)?))
    })
}

/// Stops accepting connections and closes every open one with 1001 (going
/// away). A graceful stop: what had already arrived on a connection is
/// delivered first (in `WS_DISPATCH_POLL`, once you dispatch it), and what the
/// callbacks send in answer goes before the close frame; a connection waits
/// for that at most its close timeout. Callbacks keep running until those
/// connections have closed.
#[no_mangle]
pub unsafe extern "C" fn ws_server_stop(server: *const ws_server) -> ws_status {
    guard_status(|| {
        handle(server)?.server.stop();
        Ok(())
    })
}

/// Blocks the calling thread until no connection of the server is open, at most
/// `timeout_ms` (negative: no limit): after `ws_server_stop`, this lets the close
/// handshakes finish before the program exits. `WS_STATUS_OK` when none is open,
/// `WS_ERR_TIMEOUT` otherwise, `WS_ERR_BAD_STATE` when called from a callback in
/// `WS_DISPATCH_THREAD` mode (an I/O thread must not block).
#[no_mangle]
pub unsafe extern "C" fn ws_server_wait_closed(
    server: *const ws_server,
    timeout_ms: c_int,
) -> ws_status {
    guard_status(|| {
        let s = handle(server)?;
        not_on_io_thread()?;
        if s.server.wait_closed(super::timeout_of(timeout_ms)) {
            Ok(())
        } else {
            Err(Failure::new(
                WS_ERR_TIMEOUT,
                "timed out waiting for the connections to close",
            ))
        }
    })
}

/// Stops the server (as `ws_server_stop`) and frees it. No callback of this
/// server starts after this returns, and none is running then (callbacks
/// running on other threads are waited for), except when it is called from
/// inside a callback: then it returns at once, and callbacks of this server
/// already running on other I/O threads may still be finishing.
/// Connection handles retained by the application stay valid until released.
/// NULL is a no-op. In a child process, freeing a server of the parent's only
/// forgets it (see "fork()" in the overview).
#[no_mangle]
pub unsafe extern "C" fn ws_server_free(server: *mut ws_server) {
    guard((), || {
        if server.as_ref().is_some_and(inherited) {
            fork::abandon(server);
        } else if !server.is_null() {
            let s = Box::from_raw(server);
            s.server.stop();
            s.endpoint.shut();
        }
        Ok(())
    })
}
