"""The exceptions the package raises.

Every one is a :class:`WebSocketError` with a ``code`` and a ``message``: for
a failed call the code is a :class:`~libwebsocket.Status` (negative) and the
message the library's sentence (``ws_last_error_message()``); for a closed
connection (:class:`ConnectionClosed`) the code is the close code.
"""

from __future__ import annotations

from ._ffi import lib
from .constants import CloseCode, Status


def _describe(code: int) -> str:
    for enum in (Status, CloseCode):
        try:
            return enum(code).name
        except ValueError:
            pass
    return str(code)


class WebSocketError(Exception):
    """A call of the library failed: ``code`` is its :class:`~libwebsocket.Status`,
    ``message`` says why in a sentence."""

    code: int
    message: str

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({_describe(self.code)})"


class InvalidURI(WebSocketError):
    """The URL is not a valid ``ws://`` or ``wss://`` URL (``WS_ERR_BAD_URL``)."""


class ConnectionClosed(WebSocketError):
    """The connection is closed (or closing): ``code`` is the close code the
    peer sent (``WS_NO_STATUS`` when its close frame had none,
    ``WS_CLOSED_ABNORMALLY`` when the connection ended without one, ``None``
    while the close handshake is still under way) and ``reason`` its reason.
    When the connection failed (this side closed it over a protocol error, a
    timeout ...), the message ends with why, e.g. "message too large (close
    code 1009)"."""

    code: int | None  # type: ignore[assignment]
    reason: str

    def __init__(self, code: int | None, reason: str = "", failure: str = "") -> None:
        name = "" if code is None else f" with {_describe(code)}"
        text = f"connection closed{name}" + (f": {reason}" if reason else "") + (f"; {failure}" if failure else "")
        super().__init__(code, text)  # type: ignore[arg-type]
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class NotConnected(WebSocketError):
    """A client made with the ``reconnect`` option is between two
    connections (it lost one, and another attempt follows): nothing was
    sent. ``code`` is ``WS_ERR_NOT_OPEN``. Send again once it has
    reconnected (``on_reconnected``), or give up with ``close()``."""

    def __init__(self, message: str) -> None:
        super().__init__(Status.WS_ERR_NOT_OPEN, message)


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed cleanly: with ``WS_OK`` (1000), ``WS_GONE`` (1001)
    or a close frame without a code."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a close frame."""


_CLEAN_CODES = (CloseCode.WS_OK, CloseCode.WS_GONE, CloseCode.WS_NO_STATUS)


def _connection_closed(code: int | None, reason: str, failure: str = "") -> ConnectionClosed:
    """The :class:`ConnectionClosed` subclass that fits ``code``."""
    if code is None:
        return ConnectionClosed(code, reason, failure)
    cls = ConnectionClosedOK if code in _CLEAN_CODES and not failure else ConnectionClosedError
    return cls(code, reason, failure)


def _last_error(what: str) -> WebSocketError:
    """The error of the library call that just failed on this thread, its
    message prefixed with ``what`` (e.g. "connect ws://host/")."""
    code = lib.ws_last_error_code()
    message = (lib.ws_last_error_message() or b"unknown error").decode("utf-8", "replace")
    cls = InvalidURI if code == Status.WS_ERR_BAD_URL else WebSocketError
    return cls(code, f"{what}: {message}")


def _check(status: int, what: str) -> int:
    """``status`` when it is not an error; else raise the library's error."""
    if status < 0:
        raise _last_error(what)
    return status
