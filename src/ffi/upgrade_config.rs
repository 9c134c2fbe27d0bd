//! Options of the opening handshake: subprotocols, Origin, the proxy and the
//! connect timeout of clients; subprotocols, the Origin allow-list and the
//! answers to plain HTTP requests of servers.

use super::config::{with, ws_client_config, ws_server_config};
use super::status::{ws_status, Failure, WS_ERR_INVALID_ARGUMENT};
use super::{bytes, text};
use crate::protocol::handshake::is_valid_subprotocol;
use crate::protocol::proxy::parse_proxy_url;
use crate::transport::config::ProxyChoice;
use crate::transport::http_files::{PlainResponse, StaticDir};
use std::ffi::{c_char, c_int};
use std::path::Path;
use std::time::Duration;

fn invalid(message: String) -> Failure {
    Failure::new(WS_ERR_INVALID_ARGUMENT, message)
}

/// A checked subprotocol name.
unsafe fn subprotocol(name: *const c_char) -> Result<String, Failure> {
    let name = text(name, "subprotocol")?;
    if !is_valid_subprotocol(name) {
        return Err(invalid(format!(
            "subprotocol {name:?} is not an HTTP token (no spaces, commas or quotes)"
        )));
    }
    Ok(name.to_string())
}

/// A header value without CR, LF (NUL cannot occur in a C string).
fn header_value(value: &str, what: &str) -> Result<String, Failure> {
    if value.contains(['\r', '\n']) {
        return Err(invalid(format!("{what} contains CR or LF")));
    }
    Ok(value.to_string())
}

/// Offers a subprotocol (call again to offer more, preferred first). The server
/// must choose one of them, or the handshake fails; the chosen one is
/// `ws_conn_subprotocol`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_add_subprotocol(
    cfg: *mut ws_client_config,
    name: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.subprotocols.push(subprotocol(name)?);
        Ok(())
    })
}

/// The `Origin` header to send (e.g. "https://example.com"), or NULL for none
/// (the default).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_origin(
    cfg: *mut ws_client_config,
    origin: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.origin = if origin.is_null() {
            None
        } else {
            Some(header_value(text(origin, "origin")?, "origin")?)
        };
        Ok(())
    })
}

/// Time allowed to make the TCP connection, through the proxy if any, in ms
/// (> 0). Default 10000. The TLS and WebSocket handshakes that follow have the
/// handshake timeout.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_connect_timeout_ms(
    cfg: *mut ws_client_config,
    ms: u64,
) -> ws_status {
    with(cfg, |c| {
        if ms == 0 {
            return Err(invalid("connect timeout must be positive, got 0".into()));
        }
        c.inner.connect_timeout = Duration::from_millis(ms);
        Ok(())
    })
}

/// The HTTP proxy to tunnel through with CONNECT:
/// - NULL (the default): from the environment, as curl reads it: `https_proxy`
///   or `HTTPS_PROXY` for wss://, `http_proxy` for ws://, then `all_proxy` /
///   `ALL_PROXY`; hosts matching `no_proxy` / `NO_PROXY` go direct;
/// - "" : no proxy, whatever the environment says;
/// - "http://[user:password@]host[:port]" (port 1080 by default): always this
///   one; user and password are sent as Basic `Proxy-Authorization`.
///
/// Only http:// proxies are supported (`WS_ERR_INVALID_ARGUMENT` otherwise).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_proxy(
    cfg: *mut ws_client_config,
    url: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.proxy = if url.is_null() {
            ProxyChoice::FromEnvironment
        } else {
            match text(url, "proxy")? {
                "" => ProxyChoice::Direct,
                url => ProxyChoice::Use(parse_proxy_url(url).map_err(invalid)?),
            }
        };
        Ok(())
    })
}

/// Adds a subprotocol the server speaks (call again for more, preferred first).
/// The server answers with the first of its own that the client offered; a
/// client offering only others gets 400. An `on_handshake` callback may choose
/// differently with `ws_handshake_accept`.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_subprotocol(
    cfg: *mut ws_server_config,
    name: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.subprotocols.push(subprotocol(name)?);
        Ok(())
    })
}

/// Adds an origin (e.g. "https://example.com") to the allow-list. Once the
/// list is not empty, upgrade requests whose `Origin` header is not in it get
/// 403 (compared case-insensitively, a trailing "/" ignored). Requests without
/// `Origin` are let through: browsers always send it, other clients need not.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_allowed_origin(
    cfg: *mut ws_server_config,
    origin: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        let origin = text(origin, "origin")?;
        if origin.is_empty() {
            return Err(invalid("origin is empty".into()));
        }
        c.inner
            .allowed_origins
            .push(header_value(origin, "origin")?);
        Ok(())
    })
}

/// Serves the files of directory `path` to requests that are not WebSocket
/// upgrades (GET and HEAD; "index.html" for a directory; nothing outside the
/// directory, no hidden files, no listings), so a server can serve its own web
/// page on its own port. NULL turns it off. `WS_ERR_INVALID_ARGUMENT` when
/// `path` is not a directory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_static_dir(
    cfg: *mut ws_server_config,
    path: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.static_dir = if path.is_null() {
            None
        } else {
            Some(StaticDir::new(Path::new(text(path, "path")?)).map_err(invalid)?)
        };
        Ok(())
    })
}

/// The response to requests that are not WebSocket upgrades, when no static
/// directory is set: `status` (200-599), `content_type` (NULL:
/// "text/plain; charset=utf-8") and `body` (`len` bytes, NULL when 0). By
/// default such requests get 400 naming the missing upgrade headers.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_http_response(
    cfg: *mut ws_server_config,
    status: c_int,
    content_type: *const c_char,
    body: *const u8,
    len: usize,
) -> ws_status {
    with(cfg, |c| {
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..=599).contains(s) && *s != 101)
            .ok_or_else(|| {
                invalid(format!(
                    "HTTP status must be 100-599 and not 101, got {status}"
                ))
            })?;
        let content_type = if content_type.is_null() {
            "text/plain; charset=utf-8".to_string()
        } else {
            header_value(text(content_type, "content type")?, "content type")?
        };
        c.inner.http_response = Some(PlainResponse {
            status,
            content_type,
            body: bytes(body, len)?.to_vec(),
        });
        Ok(())
    })
}
