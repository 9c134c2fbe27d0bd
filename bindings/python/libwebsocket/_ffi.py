"""The ctypes declarations of the C API (include/websocket.h), in one place.

``lib`` is the loaded library with the prototype of every function the
package calls; the ``*_FN`` types and :class:`Callbacks` mirror the header's
callback types and ``ws_callbacks``. Handles are plain ``c_void_p`` (ints on
the Python side); strings go in and come out as UTF-8 bytes.
"""

from __future__ import annotations

from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

from ._library import load

lib = load()

# Callback types: every callback gets the endpoint's user_data, then (except
# the log callback) the connection or handshake handle.
CONN_FN = CFUNCTYPE(None, c_void_p, c_void_p)  # on_open, on_handshake, on_drain
MESSAGE_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_int, c_void_p, c_size_t)
DATA_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t)  # on_ping, on_pong
CLOSE_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_uint16, c_char_p)
ERROR_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_int, c_char_p)
PART_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_int, c_void_p, c_size_t, c_int, c_uint64)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_uint64, c_char_p)
RECONNECT_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_uint32, c_uint64)  # attempt, delay_ms
RECONNECTED_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_uint32)  # attempt


class Callbacks(Structure):
    """``ws_callbacks``: its own size, then one function pointer per event."""

    _fields_ = [
        ("size", c_size_t),
        ("on_open", CONN_FN),
        ("on_message", MESSAGE_FN),
        ("on_ping", DATA_FN),
        ("on_pong", DATA_FN),
        ("on_close", CLOSE_FN),
        ("on_error", ERROR_FN),
        ("on_handshake", CONN_FN),
        ("on_drain", CONN_FN),
        ("on_message_part", PART_FN),
        ("on_reconnect", RECONNECT_FN),
        ("on_reconnected", RECONNECTED_FN),
    ]


_P = c_void_p  # any handle
_S = c_char_p  # a NUL-terminated UTF-8 string
_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    # Library-wide.
    "ws_version": (_S, []),
    "ws_last_error_code": (c_int, []),
    "ws_last_error_message": (_S, []),
    "ws_event_fd": (c_int, []),
    "ws_dispatch": (c_int, [c_int]),
    "ws_set_log_callback": (c_int, [LOG_FN, _P, c_int]),
    "ws_set_log_dispatch": (c_int, [c_int]),
    # Clients and their configs.
    "ws_client_connect": (_P, [_S, _P, POINTER(Callbacks), _P]),
    "ws_client_conn": (_P, [_P]),
    "ws_client_send": (c_int, [_P, c_int, _S, c_size_t]),
    "ws_client_close": (c_int, [_P, c_uint16, _S]),
    "ws_client_is_reconnecting": (c_int, [_P]),
    "ws_client_free": (None, [_P]),
    "ws_client_config_new": (_P, []),
    "ws_client_config_free": (None, [_P]),
    "ws_client_config_set_dispatch": (c_int, [_P, c_int]),
    "ws_client_config_set_max_message_size": (c_int, [_P, c_uint64]),
    "ws_client_config_set_connect_timeout_ms": (c_int, [_P, c_uint64]),
    "ws_client_config_set_handshake_timeout_ms": (c_int, [_P, c_uint64]),
    "ws_client_config_set_close_timeout_ms": (c_int, [_P, c_uint64]),
    "ws_client_config_set_keepalive_ms": (c_int, [_P, c_uint64]),
    "ws_client_config_add_header": (c_int, [_P, _S, _S]),
    "ws_client_config_add_subprotocol": (c_int, [_P, _S]),
    "ws_client_config_set_origin": (c_int, [_P, _S]),
    "ws_client_config_set_proxy": (c_int, [_P, _S]),
    "ws_client_config_set_deflate": (c_int, [_P, c_int]),
    "ws_client_config_set_compression_threshold": (c_int, [_P, c_uint64]),
    "ws_client_config_add_tls_ca_file": (c_int, [_P, _S]),
    "ws_client_config_set_tls_system_roots": (c_int, [_P, c_int]),
    "ws_client_config_set_tls_client_cert_file": (c_int, [_P, _S, _S]),
    "ws_client_config_dangerous_disable_tls_verification": (c_int, [_P]),
    "ws_client_config_set_reconnect": (c_int, [_P, c_uint64, c_uint64, c_uint32]),
    # Servers and their configs.
    "ws_server_listen": (_P, [_S, c_uint16, _P, POINTER(Callbacks), _P]),
    "ws_server_port": (c_uint16, [_P]),
    "ws_server_broadcast": (c_int, [_P, c_int, _S, c_size_t]),
    "ws_server_publish": (c_int, [_P, _S, c_int, _S, c_size_t]),
    "ws_server_subscriber_count": (c_size_t, [_P, _S]),
    "ws_server_stop": (c_int, [_P]),
    "ws_server_free": (None, [_P]),
    "ws_server_config_new": (_P, []),
    "ws_server_config_free": (None, [_P]),
    "ws_server_config_set_dispatch": (c_int, [_P, c_int]),
    "ws_server_config_set_max_message_size": (c_int, [_P, c_uint64]),
    "ws_server_config_set_handshake_timeout_ms": (c_int, [_P, c_uint64]),
    "ws_server_config_set_close_timeout_ms": (c_int, [_P, c_uint64]),
    "ws_server_config_set_keepalive_ms": (c_int, [_P, c_uint64]),
    "ws_server_config_set_max_connections": (c_int, [_P, c_uint64]),
    "ws_server_config_add_subprotocol": (c_int, [_P, _S]),
    "ws_server_config_set_deflate": (c_int, [_P, c_int]),
    "ws_server_config_set_compression_threshold": (c_int, [_P, c_uint64]),
    "ws_server_config_set_tls_cert_file": (c_int, [_P, _S, _S]),
    "ws_server_config_add_tls_client_ca_file": (c_int, [_P, _S]),
    "ws_server_config_set_tls_client_cert_optional": (c_int, [_P, c_int]),
    "ws_server_config_set_slow_subscriber": (c_int, [_P, c_int]),
    # Connections.
    "ws_conn_send": (c_int, [_P, c_int, _S, c_size_t]),
    "ws_conn_ping": (c_int, [_P, _S, c_size_t]),
    "ws_conn_close": (c_int, [_P, c_uint16, _S]),
    "ws_conn_id": (c_uint64, [_P]),
    "ws_conn_subprotocol": (_S, [_P]),
    "ws_conn_extensions": (_S, [_P]),
    "ws_conn_is_secure": (c_int, [_P]),
    "ws_conn_header_count": (c_int, [_P]),
    "ws_conn_header_at": (c_int, [_P, c_size_t, POINTER(_S), POINTER(_S)]),
    "ws_conn_peer_address": (_S, [_P]),
    "ws_conn_path": (_S, [_P]),
    "ws_conn_query": (_S, [_P]),
    "ws_conn_buffered_amount": (c_size_t, [_P]),
    "ws_conn_pause": (c_int, [_P]),
    "ws_conn_resume": (c_int, [_P]),
    "ws_conn_subscribe": (c_int, [_P, _S]),
    "ws_conn_unsubscribe": (c_int, [_P, _S]),
    "ws_conn_is_subscribed": (c_int, [_P, _S]),
    "ws_conn_retain": (_P, [_P]),
    "ws_conn_release": (None, [_P]),
}

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes

# Values of the header's #defines that the package passes or reads (the close
# codes and statuses are in constants.py).
MESSAGE_TEXT = 1
MESSAGE_BINARY = 2
DISPATCH_POLL = 1
RECONNECT_INITIAL_DELAY_MS = 500
RECONNECT_MAX_DELAY_MS = 30000
SLOW_SKIP = 0
SLOW_CLOSE = 1
