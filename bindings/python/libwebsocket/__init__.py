"""libwebsocket: a WebSocket client and server (RFC 6455, permessage-deflate,
TLS) over the libwebsocket C library.

Two APIs over the same connections:

- asyncio, shaped like the ``websockets`` package: :func:`connect`,
  :func:`serve` (also in :mod:`libwebsocket.asyncio`);
- synchronous: :class:`Client` (``Client.connect(url)``, ``send``,
  ``recv(timeout=)``) and :class:`Server` (callbacks run by
  ``serve_forever()``).

The library does its I/O on its own threads but never calls Python from
them: its events wait in a queue and are dispatched on a Python thread (the
asyncio loop, or the thread waiting in a sync call).
"""

from ._ffi import lib as _lib
from ._library import LibraryNotFoundError
from ._log import enable_logging
from .asyncio import connect, serve
from .client import Client
from .constants import (
    WS_BAD_MESSAGE,
    WS_CLOSED_ABNORMALLY,
    WS_EXTENSIONS_NOT_AVAILABLE,
    WS_FORBIDDEN,
    WS_GONE,
    WS_INTERNAL_SERVER_ERROR,
    WS_MESSAGE_TOO_LARGE,
    WS_NO_STATUS,
    WS_NOT_ACCEPTABLE,
    WS_OK,
    WS_PROTOCOL_ERROR,
    WS_TLS_HANDSHAKE_FAIL,
    CloseCode,
    Status,
)
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidURI,
    NotConnected,
    WebSocketError,
)
from .options import ClientOptions, ClientTLS, Reconnect, ServerOptions, ServerTLS
from .server import Server, ServerConnection

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the loaded C library (``ws_version()``), e.g. ``"0.1.0"``."""
    return str(_lib.ws_version().decode())


__all__ = [
    "connect",
    "serve",
    "Client",
    "Server",
    "ServerConnection",
    "ClientOptions",
    "ServerOptions",
    "ClientTLS",
    "ServerTLS",
    "Reconnect",
    "CloseCode",
    "Status",
    "WebSocketError",
    "InvalidURI",
    "NotConnected",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "LibraryNotFoundError",
    "enable_logging",
    "library_version",
    "WS_OK",
    "WS_GONE",
    "WS_PROTOCOL_ERROR",
    "WS_NOT_ACCEPTABLE",
    "WS_NO_STATUS",
    "WS_CLOSED_ABNORMALLY",
    "WS_BAD_MESSAGE",
    "WS_FORBIDDEN",
    "WS_MESSAGE_TOO_LARGE",
    "WS_EXTENSIONS_NOT_AVAILABLE",
    "WS_INTERNAL_SERVER_ERROR",
    "WS_TLS_HANDSHAKE_FAIL",
]
