//! permessage-deflate options (RFC 7692) of server and client configs, the
//! library-wide `compression_threshold`, and the negotiated extension of a connection.

use super::config::{with, ws_client_config, ws_server_config};
use super::handle::handle;
use super::status::{guard, guard_status, ws_status, Failure, WS_ERR_INVALID_ARGUMENT};
use crate::protocol::deflate::DeflateConfig;
use crate::transport::config::set_default_compression_threshold;
use crate::transport::{Connection, ConnectionConfig};
use std::ffi::{c_char, c_int};

/// One deflate setting, applied the same way to server and client configs.
enum Setting {
    Enabled(bool),
    Threshold(u64),
    NoContextTakeover(bool, bool),
    MaxWindowBits(c_int, c_int),
    Level(c_int),
    MemLevel(c_int),
}

fn window_bits(bits: c_int, which: &str) -> Result<u8, Failure> {
    if (9..=15).contains(&bits) {
        Ok(bits as u8)
    } else {
        Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("{which} must be 9 to 15, got {bits}"),
        ))
    }
}

/// Applies `setting`; every setting but the threshold turns deflate on.
fn apply(c: &mut ConnectionConfig, setting: Setting) -> Result<(), Failure> {
    match setting {
        Setting::Enabled(false) => c.deflate = None,
        Setting::Enabled(true) => {
            c.deflate.get_or_insert_with(DeflateConfig::default);
        }
        Setting::Threshold(bytes) => {
            c.compression_threshold = usize::try_from(bytes).unwrap_or(usize::MAX)
        }
        Setting::NoContextTakeover(server, client) => {
            let d = c.deflate.get_or_insert_with(DeflateConfig::default);
            d.server_no_context_takeover = server;
            d.client_no_context_takeover = client;
        }
        Setting::MaxWindowBits(server, client) => {
            let server = window_bits(server, "server_max_window_bits")?;
            let client = window_bits(client, "client_max_window_bits")?;
            let d = c.deflate.get_or_insert_with(DeflateConfig::default);
            d.server_max_window_bits = server;
            d.client_max_window_bits = client;
        }
        Setting::Level(level) => {
            if !(0..=9).contains(&level) {
                return Err(Failure::new(
                    WS_ERR_INVALID_ARGUMENT,
                    format!("compression level must be 0-9, got {level}"),
                ));
            }
            c.deflate.get_or_insert_with(DeflateConfig::default).level = level as u32;
        }
        Setting::MemLevel(mem_level) => {
            if !(1..=9).contains(&mem_level) {
                return Err(Failure::new(
                    WS_ERR_INVALID_ARGUMENT,
                    format!("memory level must be 1-9, got {mem_level}"),
                ));
            }
            c.deflate
                .get_or_insert_with(DeflateConfig::default)
                .mem_level = mem_level as u8;
        }
    }
    Ok(())
}

unsafe fn server(cfg: *mut ws_server_config, setting: Setting) -> ws_status {
    with(cfg, |c| apply(&mut c.inner.connection, setting))
}

unsafe fn client(cfg: *mut ws_client_config, setting: Setting) -> ws_status {
    with(cfg, |c| apply(&mut c.inner.connection, setting))
}

/// Turns permessage-deflate (RFC 7692) on (`enabled` != 0) or off (the default).
/// On, the server accepts the first acceptable offer of each client.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_deflate(
    cfg: *mut ws_server_config,
    enabled: c_int,
) -> ws_status {
    server(cfg, Setting::Enabled(enabled != 0))
}

/// Messages smaller than `bytes` are sent uncompressed even when compression was
/// negotiated (0 compresses every message). Default: `ws_set_compression_threshold`'s
/// value when the config was created (10240).
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_compression_threshold(
    cfg: *mut ws_server_config,
    bytes: u64,
) -> ws_status {
    server(cfg, Setting::Threshold(bytes))
}

/// Requires (or, from a client's offer, accepts) that the server (`server_side` != 0)
/// and/or the client (`client_side` != 0) reset their compression context after each
/// message: less memory per connection, larger messages. Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_deflate_no_context_takeover(
    cfg: *mut ws_server_config,
    server_side: c_int,
    client_side: c_int,
) -> ws_status {
    server(
        cfg,
        Setting::NoContextTakeover(server_side != 0, client_side != 0),
    )
}

/// Largest LZ77 windows, as bits (9 to 15; default 15), that the server and the
/// client may compress with. A server uses at most `server_bits` for itself and
/// asks clients that support it to use at most `client_bits`. Each window costs
/// about 2^(bits+2) bytes per connection. Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_deflate_max_window_bits(
    cfg: *mut ws_server_config,
    server_bits: c_int,
    client_bits: c_int,
) -> ws_status {
    server(cfg, Setting::MaxWindowBits(server_bits, client_bits))
}

/// zlib compression level of the compressor: 0 (store) to 9 (smallest), default 6.
/// Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_deflate_level(
    cfg: *mut ws_server_config,
    level: c_int,
) -> ws_status {
    server(cfg, Setting::Level(level))
}

/// zlib memory level of the compressor, 1 to 9 (default 8): it sizes the
/// compressor's symbol buffers, 7 × 2^(level+6) bytes (112 KiB at 8, under
/// 1 KiB at 1), next to a fixed 128 KiB hash table and the window (2^(bits+2)
/// bytes). Lower levels compress slightly worse (incompressible data grows by
/// up to ~4% at 1). Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_deflate_memory_level(
    cfg: *mut ws_server_config,
    mem_level: c_int,
) -> ws_status {
    server(cfg, Setting::MemLevel(mem_level))
}

/// Turns permessage-deflate on (`enabled` != 0: the client offers it) or off (the default).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_deflate(
    cfg: *mut ws_client_config,
    enabled: c_int,
) -> ws_status {
    client(cfg, Setting::Enabled(enabled != 0))
}

/// As `ws_server_config_set_compression_threshold`, for a client.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_compression_threshold(
    cfg: *mut ws_client_config,
    bytes: u64,
) -> ws_status {
    client(cfg, Setting::Threshold(bytes))
}

/// Asks the server to reset its compression context after each message
/// (`server_side` != 0), and/or resets ours (`client_side` != 0). Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_deflate_no_context_takeover(
    cfg: *mut ws_client_config,
    server_side: c_int,
    client_side: c_int,
) -> ws_status {
    client(
        cfg,
        Setting::NoContextTakeover(server_side != 0, client_side != 0),
    )
}

/// Asks the server to compress with at most `server_bits` (9 to 15) and
/// compresses with at most `client_bits`. Turns deflate on.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_deflate_max_window_bits(
    cfg: *mut ws_client_config,
    server_bits: c_int,
    client_bits: c_int,
) -> ws_status {
    client(cfg, Setting::MaxWindowBits(server_bits, client_bits))
}

/// As `ws_server_config_set_deflate_level`, for a client.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_deflate_level(
    cfg: *mut ws_client_config,
    level: c_int,
) -> ws_status {
    client(cfg, Setting::Level(level))
}

/// As `ws_server_config_set_deflate_memory_level`, for a client.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_deflate_memory_level(
    cfg: *mut ws_client_config,
    mem_level: c_int,
) -> ws_status {
    client(cfg, Setting::MemLevel(mem_level))
}

/// Sets the library-wide default `compression_threshold` (bytes), used by the
/// configs created after this call. The default is 10240.
#[no_mangle]
pub extern "C" fn ws_set_compression_threshold(bytes: u64) -> ws_status {
    guard_status(|| {
        set_default_compression_threshold(usize::try_from(bytes).unwrap_or(usize::MAX));
        Ok(())
    })
}

/// The permessage-deflate parameters in use, as a `Sec-WebSocket-Extensions`
/// value, e.g.
/// "permessage-deflate; client_max_window_bits=10", or "" when none (or still
/// connecting); NULL for a NULL handle. Valid while the handle is held.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_extensions(c: *const Connection) -> *const c_char {
    guard(std::ptr::null(), || {
        let c = handle(c)?;
        Ok(c.extensions().as_ptr())
    })
}
