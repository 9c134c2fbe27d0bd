//! `ws_client_*`: connecting to a server, and staying connected.

use super::callbacks::{ws_callbacks, Endpoint};
use super::config::ws_client_config;
use super::conn::{close_args, refused, sent};
use super::constants::{ws_close_code, ws_message_type, WS_DISPATCH_POLL, WS_DISPATCH_THREAD};
use super::events;
use super::handle::{handle, inherited};
use super::is_text;
use super::status::{
    guard, guard_count, guard_status, guard_status_of, ws_status, Failure, WS_ERR_BAD_URL,
    WS_ERR_INTERNAL, WS_ERR_INVALID_ARGUMENT, WS_ERR_NOT_OPEN, WS_ERR_TLS,
};
use super::{bytes, text};
use crate::protocol::session::check_close;
use crate::transport::client::ConnectError;
use crate::transport::fork;
use crate::transport::reconnecting::Client;
use crate::transport::{ClientConfig, Connection, SendError, SendOptions};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// A client (opaque): its connection, and with
/// `ws_client_config_set_reconnect` the ones that replace it when it is
/// lost. Free with `ws_client_free`.
pub struct ws_client {
    pub(super) client: Arc<Client>,
    endpoint: Arc<Endpoint>,
}

/// Starts connecting to `url` (`ws://host[:port][/path][?query]` or `wss://...`
/// for TLS, IPv6 as `ws://[::1]:9001/`) and returns at once; `on_open` or
/// `on_error` + `on_close` tell the outcome (or wait with `ws_conn_wait_open`).
/// A failed TLS handshake reports `WS_ERR_TLS` and close code 1015. `config`
/// and `callbacks` may be NULL. Returns NULL at once for a malformed URL
/// (`WS_ERR_BAD_URL`), a malformed proxy variable (`WS_ERR_INVALID_ARGUMENT`)
/// or TLS options that cannot work, e.g. no trusted CA at all (`WS_ERR_TLS`).
/// A client that reconnects (`ws_client_config_set_reconnect`) tries again
/// when this first connection fails, as when a connection is lost.
#[no_mangle]
pub unsafe extern "C" fn ws_client_connect(
    url: *const c_char,
    config: *const ws_client_config,
    callbacks: *const ws_callbacks,
    user_data: *mut c_void,
) -> *mut ws_client {
    guard(std::ptr::null_mut(), || {
        let url = text(url, "url")?;
        let callbacks = ws_callbacks::read(callbacks)?;
        let (inner, dispatch) = match config.as_ref() {
            Some(c) => (c.inner.clone(), c.dispatch),
            None => (ClientConfig::default(), WS_DISPATCH_THREAD),
        };
        callbacks.check_for(&inner.connection)?;
        if dispatch == WS_DISPATCH_POLL {
            events::queue()?;
        }
        let endpoint = Endpoint::new(callbacks, user_data, dispatch);
        let client = Client::connect(url, inner, endpoint.clone()).map_err(|e| match e {
            ConnectError::BadUrl(m) => Failure::new(WS_ERR_BAD_URL, m),
            ConnectError::BadProxy(m) => Failure::new(WS_ERR_INVALID_ARGUMENT, m),
            ConnectError::Tls(m) => Failure::new(WS_ERR_TLS, m),
            ConnectError::Runtime(m) => Failure::new(WS_ERR_INTERNAL, m),
        })?;
        Ok(Box::into_raw(Box::new(ws_client { client, endpoint })))
    })
}

/// The client's connection (borrowed). NULL if `client` is NULL.
///
/// Without reconnect, the client has this one connection, valid until
/// `ws_client_free`. With reconnect, each attempt is a new connection, and
/// this is the newest: open, being opened (or waiting for its attempt's
/// delay, in `WS_STATE_CONNECTING`), or closed (between a close and
/// `on_reconnect`, or once the client stopped reconnecting). It is then
/// valid until `on_reconnect` for it has returned, when the next
/// attempt's connection replaces it (or `ws_client_free`). From a thread
/// other than the one running the client's callbacks, use the
/// `ws_client_*` calls (`ws_client_send`, `ws_client_close`), or hold the
/// connection with `ws_client_retain_conn`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_conn(client: *const ws_client) -> *mut Connection {
    guard(std::ptr::null_mut(), || {
        let c = handle(client)?;
        Ok(c.client
            .with_current(|conn| Arc::as_ptr(conn) as *mut Connection))
    })
}

/// The client's connection as `ws_client_conn` gives it, retained: valid
/// until `ws_conn_release`, whatever the client does meanwhile. NULL if
/// `client` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_client_retain_conn(client: *const ws_client) -> *mut Connection {
    guard(std::ptr::null_mut(), || {
        let conn = handle(client)?.client.current();
        Ok(Arc::into_raw(conn) as *mut Connection)
    })
}

/// Sends a message on the client's connection, as `ws_conn_send` does on
/// `ws_client_conn(client)`, from any thread. While the client has no open
/// connection (connecting, reconnecting, closed) it fails with
/// `WS_ERR_NOT_OPEN` and sends nothing: the library does not keep messages
/// for the next connection; an application that wants to should keep them
/// itself and send them from `on_reconnected`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_send(
    client: *const ws_client,
    kind: ws_message_type,
    data: *const u8,
    len: usize,
) -> ws_status {
    guard_status_of(|| {
        let c = handle(client)?;
        let data = bytes(data, len)?;
        let text = is_text(kind)?;
        let conn = c.client.current();
        match conn.send_message(text, data, SendOptions::default()) {
            Err(SendError::NotOpen) if c.client.is_reconnecting() => Err(Failure::new(
                WS_ERR_NOT_OPEN,
                "the client is not connected: it is reconnecting",
            )),
            result => sent(result),
        }
    })
}

/// Closes the client for good: no reconnect attempt is made any more (one
/// waiting for its delay ends with `on_close` 1006), and its connection, if
/// open, starts the close handshake with `code` and `reason` as
/// `ws_conn_close`. `WS_STATUS_OK` when this stopped or closed something;
/// `WS_ERR_NOT_OPEN` when the client had already ended; the errors of
/// `ws_conn_close` for a code or reason that may not be sent (then nothing
/// changes). Any thread may call it, callbacks included.
#[no_mangle]
pub unsafe extern "C" fn ws_client_close(
    client: *const ws_client,
    code: ws_close_code,
    reason: *const c_char,
) -> ws_status {
    guard_status(|| {
        let c = handle(client)?;
        let (code, reason) = close_args(code, reason)?;
        check_close(code, reason).map_err(refused)?;
        let stopped = c.client.stop();
        match c.client.current().close(code, reason) {
            Err(SendError::NotOpen) if stopped => Ok(()),
            Err(SendError::NotOpen) => Err(Failure::new(
                WS_ERR_NOT_OPEN,
                "the client has ended: no connection is open, and none will be made",
            )),
            result => result.map_err(refused),
        }
    })
}

/// 1 while the client is reconnecting: from the close of a connection that
/// another attempt will replace (so `on_close` can tell whether the client
/// goes on) until a connection opens again or the client stops; 0 otherwise
/// (connected, making its first connection, ended, or not reconnecting);
/// `WS_ERR_NULL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_client_is_reconnecting(client: *const ws_client) -> c_int {
    guard_count(|| Ok(handle(client)?.client.is_reconnecting() as c_int))
}

/// Frees the client. If its connection is still open it is closed with 1001
/// (going away) in the background, and no reconnect attempt is made any
/// more. No callback of this client runs after this returns (as for
/// `ws_server_free`). NULL is a no-op. In a child process, freeing a client
/// of the parent's only forgets it (see "fork()" in the overview).
#[no_mangle]
pub unsafe extern "C" fn ws_client_free(client: *mut ws_client) {
    guard((), || {
        if client.as_ref().is_some_and(inherited) {
            fork::abandon(client);
        } else if !client.is_null() {
            let c = Box::from_raw(client);
            c.endpoint.shut();
            c.client.stop();
            let _ = c.client.current().close(Some(1001), "");
        }
        Ok(())
    })
}
