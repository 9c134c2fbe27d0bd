"""Close codes and status codes, with the names of include/websocket.h.

Two kinds of numbers, never to be mixed up: a *close code* (:class:`CloseCode`,
``WS_OK`` = 1000 ...) travels in a close frame; a *status* (:class:`Status`,
``WS_STATUS_OK`` = 0, negative ``WS_ERR_*``) is the result of a C call and the
``code`` of a :class:`~libwebsocket.WebSocketError`.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """A close code (RFC 6455 section 7.4.1); applications may also use 3000-4999."""

    WS_OK = 1000
    """Normal closure."""
    WS_GONE = 1001
    """Going away (server shutting down, page navigated away)."""
    WS_PROTOCOL_ERROR = 1002
    """Protocol error."""
    WS_NOT_ACCEPTABLE = 1003
    """A type of data the endpoint cannot accept."""
    WS_NO_STATUS = 1005
    """No status code was present (reported locally, never sent)."""
    WS_CLOSED_ABNORMALLY = 1006
    """Closed without a close frame (reported locally, never sent)."""
    WS_BAD_MESSAGE = 1007
    """Message data inconsistent with its type (e.g. invalid UTF-8 text)."""
    WS_FORBIDDEN = 1008
    """Message violates the endpoint's policy."""
    WS_MESSAGE_TOO_LARGE = 1009
    """Message too large to process."""
    WS_EXTENSIONS_NOT_AVAILABLE = 1010
    """The client needed an extension the server did not negotiate."""
    WS_INTERNAL_SERVER_ERROR = 1011
    """The server hit an unexpected condition."""
    WS_TLS_HANDSHAKE_FAIL = 1015
    """The TLS handshake failed (reported locally, never sent)."""


class Status(IntEnum):
    """The result of a C call (``ws_status``): 0, a negative error, or
    ``WS_STATUS_BACKPRESSURE``."""

    WS_STATUS_OK = 0
    """Success."""
    WS_ERR_NULL = -1
    """A required pointer argument was NULL."""
    WS_ERR_INVALID_ARGUMENT = -2
    """An argument is out of range or malformed."""
    WS_ERR_BAD_URL = -3
    """The URL is not a valid ws:// or wss:// URL."""
    WS_ERR_NOT_SUPPORTED = -4
    """The request needs something this build does not support."""
    WS_ERR_CONNECT = -5
    """The TCP connection could not be made (refused, unreachable, unknown host)."""
    WS_ERR_HANDSHAKE = -6
    """The opening handshake failed (non-101 answer, wrong accept key, ...)."""
    WS_ERR_PROTOCOL = -7
    """The peer violated the protocol; the connection was failed with a close code."""
    WS_ERR_NOT_OPEN = -8
    """The connection is not open (still connecting, closing or closed)."""
    WS_ERR_QUEUE_FULL = -9
    """The connection's send queue limit would be exceeded."""
    WS_ERR_TOO_LARGE = -10
    """A payload is too large (ping over 125 bytes, close reason over 123)."""
    WS_ERR_INVALID_UTF8 = -11
    """Text that is not valid UTF-8."""
    WS_ERR_INVALID_CLOSE_CODE = -12
    """A close code that may not be sent (only 1000-1003, 1007-1011, 3000-4999)."""
    WS_ERR_TIMEOUT = -13
    """A wait or a handshake ran out of time."""
    WS_ERR_IO = -14
    """A socket operation failed (listen, read, write)."""
    WS_ERR_BAD_STATE = -15
    """The call is not allowed in the current state."""
    WS_ERR_INTERNAL = -16
    """A bug inside the library (a caught panic)."""
    WS_ERR_TLS = -17
    """TLS failed: a bad certificate or key, or a failed TLS handshake."""
    WS_STATUS_BACKPRESSURE = 2
    """Not an error: a message was queued, but more than the high-water mark
    waits to be sent (the send methods then wait for the drain)."""


WS_OK = CloseCode.WS_OK
WS_GONE = CloseCode.WS_GONE
WS_PROTOCOL_ERROR = CloseCode.WS_PROTOCOL_ERROR
WS_NOT_ACCEPTABLE = CloseCode.WS_NOT_ACCEPTABLE
WS_NO_STATUS = CloseCode.WS_NO_STATUS
WS_CLOSED_ABNORMALLY = CloseCode.WS_CLOSED_ABNORMALLY
WS_BAD_MESSAGE = CloseCode.WS_BAD_MESSAGE
WS_FORBIDDEN = CloseCode.WS_FORBIDDEN
WS_MESSAGE_TOO_LARGE = CloseCode.WS_MESSAGE_TOO_LARGE
WS_EXTENSIONS_NOT_AVAILABLE = CloseCode.WS_EXTENSIONS_NOT_AVAILABLE
WS_INTERNAL_SERVER_ERROR = CloseCode.WS_INTERNAL_SERVER_ERROR
WS_TLS_HANDSHAKE_FAIL = CloseCode.WS_TLS_HANDSHAKE_FAIL
