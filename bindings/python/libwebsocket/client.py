"""The synchronous client: :class:`Client`."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Optional

from . import _dispatch
from ._connection import ConnectionBase, Data, Message
from .constants import CloseCode
from .exceptions import ConnectionClosedOK
from .options import ClientOptions, check_seconds


ReconnectCallback = Callable[["Client", int, float], Optional[bool]]
ReconnectedCallback = Callable[["Client", int], None]


class Client(ConnectionBase):
    """A WebSocket client connection whose calls block the calling thread.

    Make one with :meth:`connect`::

        with Client.connect("ws://127.0.0.1:9001/") as ws:
            ws.send("hello")
            print(ws.recv(timeout=5))

    While a call waits, the events of the library are dispatched on the
    calling thread; other threads may use other clients at the same time.

    With the ``reconnect`` option, the client replaces a connection that
    fails or is lost by a new one, and stays the same object::

        def resubscribe(ws, attempt):
            ws.send("subscribe news")

        ws = Client.connect(url, reconnect=Reconnect(delay=0.5, max_delay=30),
                            on_reconnected=resubscribe)

    Between two connections :meth:`recv` waits, :meth:`send` raises
    :class:`~libwebsocket.NotConnected`, and :attr:`reconnecting` is True.
    """

    def __init__(self) -> None:
        """Made by :meth:`connect`."""
        super().__init__()
        self._on_reconnect: ReconnectCallback | None = None
        self._on_reconnected: ReconnectedCallback | None = None
        # The reconnect callbacks waiting to run on the client's thread.
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()

    @classmethod
    def connect(
        cls,
        uri: str,
        *,
        on_reconnect: ReconnectCallback | None = None,
        on_reconnected: ReconnectedCallback | None = None,
        **options: Any,
    ) -> Client:
        """Connect to ``uri`` (``ws://host[:port]/path`` or ``wss://...``) and
        wait until the connection is open.

        ``options`` are the fields of :class:`~libwebsocket.ClientOptions`
        (``subprotocols``, ``additional_headers``, ``tls``, ``compression``,
        ``max_size``, ``open_timeout``, ``reconnect`` ...).

        With ``reconnect``, ``on_reconnect(client, attempt, delay)`` runs
        when a connection was lost (or failed) and attempt number
        ``attempt`` (1, 2 ... in a row) will connect ``delay`` seconds
        after the close; returning False stops reconnecting (as
        :meth:`close` does). ``on_reconnected(client, attempt)`` runs when
        an attempt's connection opened: the place to resend what the new
        connection needs (a login, subscriptions). Both run on the thread
        that calls this client's :meth:`recv`, :meth:`send`,
        :meth:`handle_events` or this method, never on the library's; the
        attempt does not wait for them, so an ``on_reconnect`` that runs
        late stops the attempts that follow, or closes the connection that
        opened meanwhile. With ``reconnect``, a first connection that fails
        is retried too, so this waits until one opens, or ``max_tries``
        attempts have failed.

        Raises :class:`~libwebsocket.InvalidURI` for a malformed URL, and
        :class:`~libwebsocket.WebSocketError` when the connection fails (its
        ``code`` says how: ``WS_ERR_CONNECT`` for a refused port,
        ``WS_ERR_HANDSHAKE``, ``WS_ERR_TLS`` ...).
        """
        self = cls()
        self._on_reconnect = on_reconnect
        self._on_reconnected = on_reconnected
        self._start_client(uri, ClientOptions(**options))
        try:
            while True:
                _dispatch.wait_for(lambda: self._opened or self._closed or bool(self._pending), None)
                self._run_pending()
                if self._opened or self._closed:
                    break
        except BaseException:
            self._free()
            raise
        if not self._opened:
            self._free()
            raise self._open_error(uri)
        return self

    # --- Reconnect callbacks ---------------------------------------------

    def _got_reconnect(self, attempt: int, delay: float) -> None:
        if self._on_reconnect is not None:
            self._pending.append((self._reconnect, (self._on_reconnect, attempt, delay)))

    def _reconnect(self, callback: ReconnectCallback, attempt: int, delay: float) -> None:
        if callback(self, attempt, delay) is False:
            self.close()

    def _got_reconnected(self, attempt: int) -> None:
        if self._on_reconnected is not None:
            self._pending.append((self._on_reconnected, (self, attempt)))

    def _run_pending(self) -> int:
        """Run the reconnect callbacks that wait; return how many ran."""
        count = 0
        while self._pending:
            callback, args = self._pending.popleft()
            count += 1
            callback(*args)
        return count

    # --- API -------------------------------------------------------------

    def send(self, message: Data) -> None:
        """Send a message: ``str`` as text, bytes-like as binary. When it
        leaves more than the high-water mark (1 MiB) waiting to be written,
        wait until what waits has fallen to the low-water mark (256 KiB).

        Raises :class:`~libwebsocket.ConnectionClosed` once the connection is
        closing or closed, and :class:`~libwebsocket.NotConnected` while a
        reconnecting client is between two connections."""
        self._run_pending()
        self._send(message)
        if self._backpressure:
            _dispatch.wait_for(lambda: not self._backpressure or self._closed, None)

    def recv(self, timeout: float | None = None) -> Message:
        """The next message: ``str`` (text) or ``bytes`` (binary).

        Waits at most ``timeout`` seconds (``None``: no limit), then raises
        :class:`TimeoutError`. Raises :class:`~libwebsocket.ConnectionClosed`
        once the connection is closed and every message was received. A
        reconnecting client keeps waiting while it is between two
        connections (its reconnect callbacks run meanwhile)."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._run_pending()
            if self._messages:
                return self._next_message()
            if self._closed:
                raise self._closed_error()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not _dispatch.wait_for(lambda: bool(self._messages) or self._closed or bool(self._pending), remaining):
                raise TimeoutError(f"no message within {timeout} s")

    def handle_events(self, timeout: float | None = 0) -> int:
        """Run the reconnect callbacks (``on_reconnect``, ``on_reconnected``)
        of the events that have arrived, and return how many ran; when none
        has, wait for one up to ``timeout`` seconds (``None``: no limit).
        For a client that only sends; :meth:`recv` and :meth:`send` run
        them too."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        _dispatch.wait_for(lambda: bool(self._pending) or self._closed, timeout)
        return self._run_pending()

    @property
    def reconnecting(self) -> bool:
        """True while a client made with ``reconnect`` is between two
        connections: it lost one (or its first failed) and another attempt follows."""
        return self._reconnecting

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
        close timeout). Closing a closed connection does nothing. A
        reconnecting client stops reconnecting, also between two
        connections, and its reconnect callbacks still waiting do not run."""
        self._pending.clear()
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
        state = "closed" if self._closed else "reconnecting" if self._reconnecting else "open"
        return f"<libwebsocket.Client {state}>"
