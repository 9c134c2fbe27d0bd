"""The synchronous client: :class:`Client`."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from . import _dispatch
from ._connection import ConnectionBase, Data, Message
from .constants import CloseCode
from .exceptions import ConnectionClosedOK
from .options import ClientOptions, check_seconds


class Client(ConnectionBase):
    """A WebSocket client connection whose calls block the calling thread.

    Make one with :meth:`connect`::

        with Client.connect("ws://127.0.0.1:9001/") as ws:
            ws.send("hello")
            print(ws.recv(timeout=5))

    While a call waits, the events of the library are dispatched on the
    calling thread; other threads may use other clients at the same time.
    """

    @classmethod
    def connect(cls, uri: str, **options: Any) -> Client:
        """Connect to ``uri`` (``ws://host[:port]/path`` or ``wss://...``) and
        wait until the connection is open.

        ``options`` are the fields of :class:`~libwebsocket.ClientOptions`
        (``subprotocols``, ``additional_headers``, ``tls``, ``compression``,
        ``max_size``, ``open_timeout`` ...).

        Raises :class:`~libwebsocket.InvalidURI` for a malformed URL, and
        :class:`~libwebsocket.WebSocketError` when the connection fails (its
        ``code`` says how: ``WS_ERR_CONNECT`` for a refused port,
        ``WS_ERR_HANDSHAKE``, ``WS_ERR_TLS`` ...).
        """
        self = cls()
        self._start_client(uri, ClientOptions(**options))
        _dispatch.wait_for(lambda: self._opened or self._closed, None)
        if not self._opened:
            self._free()
            raise self._open_error(uri)
        return self

    def send(self, message: Data) -> None:
        """Send a message: ``str`` as text, bytes-like as binary. When it
        leaves more than the high-water mark (1 MiB) waiting to be written,
        wait until what waits has fallen to the low-water mark (256 KiB).

        Raises :class:`~libwebsocket.ConnectionClosed` once the connection is
        closing or closed."""
        self._send(message)
        if self._backpressure:
            _dispatch.wait_for(lambda: not self._backpressure or self._closed, None)

    def recv(self, timeout: float | None = None) -> Message:
        """The next message: ``str`` (text) or ``bytes`` (binary).

        Waits at most ``timeout`` seconds (``None``: no limit), then raises
        :class:`TimeoutError`. Raises :class:`~libwebsocket.ConnectionClosed`
        once the connection is closed and every message was received."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        if not _dispatch.wait_for(lambda: bool(self._messages) or self._closed, timeout):
            raise TimeoutError(f"no message within {timeout} s")
        if self._messages:
            return self._next_message()
        raise self._closed_error()

    def __iter__(self) -> Iterator[Message]:
        """Iterate over messages until the connection closes: normally (the
        loop ends) or with an error (:class:`~libwebsocket.ConnectionClosedError`)."""
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def ping(self, data: Data = b"") -> None:
        """Send a ping with up to 125 bytes of payload (the peer answers with a pong)."""
        self._ping(data)

    def close(self, code: int = CloseCode.WS_OK, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` (at most 123
        UTF-8 bytes) and wait until the close handshake ends (at most the
        close timeout). Closing a closed connection does nothing."""
        if not self._closed:
            self._start_close(code, reason)
            _dispatch.wait_for(lambda: self._closed, None)
        self._free()

    def __enter__(self) -> Client:
        """Enter: gives the client itself."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the connection, and wait until it is closed."""
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<libwebsocket.Client {state}>"
