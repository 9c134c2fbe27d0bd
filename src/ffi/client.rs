//! `ws_client_*`: connecting to a server.

use super::callbacks::{ws_callbacks, Endpoint};
use super::config::ws_client_config;
use super::constants::{WS_DISPATCH_POLL, WS_DISPATCH_THREAD};
use super::events;
use super::handle::{handle, inherited};
use super::status::{
    guard, Failure, WS_ERR_BAD_URL, WS_ERR_INTERNAL, WS_ERR_INVALID_ARGUMENT, WS_ERR_TLS,
};
use super::text;
use crate::transport::client::{connect, ConnectError};
use crate::transport::fork;
use crate::transport::{ClientConfig, Connection};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A client connection being made or made (opaque). Free with `ws_client_free`.
pub struct ws_client {
    pub(super) conn: Arc<Connection>,
    endpoint: Arc<Endpoint>,
}

/// Starts connecting to `url` (`ws://host[:port][/path][?query]` or `wss://...`
/// for TLS, IPv6 as `ws://[::1]:9001/`) and returns at once; `on_open` or
/// `on_error` + `on_close` tell the outcome (or wait with `ws_conn_wait_open`).
/// A failed TLS handshake reports `WS_ERR_TLS` and close code 1015. `config`
/// and `callbacks` may be NULL. Returns NULL at once for a malformed URL
/// (`WS_ERR_BAD_URL`), a malformed proxy variable (`WS_ERR_INVALID_ARGUMENT`)
/// or TLS options that cannot work, e.g. no trusted CA at all (`WS_ERR_TLS`).
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
        let conn = connect(url, inner, endpoint.clone()).map_err(|e| match e {
            ConnectError::BadUrl(m) => Failure::new(WS_ERR_BAD_URL, m),
            ConnectError::BadProxy(m) => Failure::new(WS_ERR_INVALID_ARGUMENT, m),
            ConnectError::Tls(m) => Failure::new(WS_ERR_TLS, m),
            ConnectError::Runtime(m) => Failure::new(WS_ERR_INTERNAL, m),
        })?;
        Ok(Box::into_raw(Box::new(ws_client { conn, endpoint })))
    })
}

/// The client's connection (borrowed: valid until `ws_client_free`; retain it
/// to keep it longer). NULL if `client` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_client_conn(client: *const ws_client) -> *mut Connection {
    guard(std::ptr::null_mut(), || {
        let c = handle(client)?;
        Ok(Arc::as_ptr(&c.conn) as *mut Connection)
    })
}

/// Frees the client. If the connection is still open it is closed with 1001
/// (going away) in the background. No callback of this client runs after this
/// returns (as for `ws_server_free`). NULL is a no-op. In a child process,
/// freeing a client of the parent's only forgets it (see "fork()" in the
/// overview).
#[no_mangle]
pub unsafe extern "C" fn ws_client_free(client: *mut ws_client) {
    guard((), || {
        if client.as_ref().is_some_and(inherited) {
            fork::abandon(client);
        } else if !client.is_null() {
            let c = Box::from_raw(client);
            c.endpoint.shut();
            let _ = c.conn.close(Some(1001), "");
        }
        Ok(())
    })
}
