"""The synchronous server: :class:`Server` and its :class:`ServerConnection`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import _dispatch
from ._connection import Data, Message
from ._listener import Listener, Subscriber
from .constants import CloseCode
from .exceptions import ConnectionClosed
from .options import ServerOptions, check_seconds


class ServerConnection(Subscriber):
    """One client of a :class:`Server`, as its callbacks get it. Its calls
    never block. It may :meth:`subscribe` to topics, for what the server
    publishes to them (:meth:`Server.publish`)."""

    def __init__(self, server: Server) -> None:
        """Made by the server when a connection opens."""
        super().__init__()
        self._server = server

    def _got_open(self) -> None:
        super()._got_open()
        self._server._queue(self._server._on_connect, self)

    def _got_message(self, message: Message) -> None:
        self._server._queue(self._message, message)
        self._held_one()

    def _message(self, message: Message) -> None:
        """Give ``message`` to the server's ``on_message``."""
        self._took_one()
        self._server._on_message(self, message)

    def _got_close(self, code: int, reason: str) -> None:
        super()._got_close(code, reason)
        self._server._queue(self._server._closed, self, code, reason)

    def send(self, message: Data) -> None:
        """Queue a message: ``str`` as text, bytes-like as binary. Never
        blocks; see :attr:`buffered_amount` for what waits to be written.
        Raises :class:`~libwebsocket.ConnectionClosed` once the connection is
        closing or closed, and :class:`~libwebsocket.WebSocketError`
        (``WS_ERR_QUEUE_FULL``) when the send queue limit (64 MiB) would be
        exceeded."""
        self._send(message)

    def ping(self, data: Data = b"") -> None:
        """Send a ping with up to 125 bytes of payload."""
        self._ping(data)

    def close(self, code: int = CloseCode.WS_OK, reason: str = "") -> None:
        """Start the close handshake with ``code`` and ``reason``; ``on_close``
        follows. Closing a closing or closed connection does nothing."""
        self._start_close(code, reason)

    def __repr__(self) -> str:
        return f"<libwebsocket.ServerConnection {self.remote_address}>"


ConnectCallback = Callable[[ServerConnection], None]
MessageCallback = Callable[[ServerConnection, Message], None]
CloseCallback = Callable[[ServerConnection, int, str], None]


def _ignore(*args: Any) -> None:
    pass


class Server(Listener):
    """A WebSocket server whose callbacks run on the thread that calls
    :meth:`serve_forever` or :meth:`handle_events`::

        def echo(conn, message):
            conn.send(message)

        with Server("127.0.0.1", 9001, on_message=echo) as server:
            server.serve_forever()   # until server.shutdown() from another thread

    ``on_connect(conn)`` runs when a connection opens, ``on_message(conn,
    message)`` for each message (``str`` or ``bytes``), ``on_close(conn,
    code, reason)`` when it closed (with the peer's close code). An
    exception raised by a callback propagates out of :meth:`serve_forever`
    or :meth:`handle_events` (which may be called again), except
    :class:`~libwebsocket.ConnectionClosed`: a callback sending to a
    connection that has just closed is normal, and that connection's
    ``on_close`` follows.

    ``host`` and ``port`` (0: a free port, see :attr:`port`) say where to
    listen; ``options`` are the fields of :class:`~libwebsocket.ServerOptions`.
    The server listens once the constructor returns.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_connect: ConnectCallback | None = None,
        on_message: MessageCallback | None = None,
        on_close: CloseCallback | None = None,
        **options: Any,
    ) -> None:
        checked = ServerOptions(**options)
        self._on_connect = on_connect or _ignore
        self._on_message = on_message or _ignore
        self._on_close = on_close or _ignore
        self._events: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._connections: set[ServerConnection] = set()
        self._stopping = False
        super().__init__(host, port, checked)

    def _accept(self, conn: int) -> ServerConnection:
        connection = ServerConnection(self)
        connection._attach(conn, self._max_queue)
        self._connections.add(connection)
        return connection

    def _queue(self, callback: Callable[..., None], *args: Any) -> None:
        self._events.append((callback, args))

    def _closed(self, connection: ServerConnection, code: int, reason: str) -> None:
        self._connections.discard(connection)
        self._on_close(connection, code, reason)

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections (a copy)."""
        return set(self._connections)

    def handle_events(self, timeout: float | None = 0) -> int:
        """Dispatch the library's queued events, then run this server's
        callbacks for them and return how many ran.

        When none of the events is this server's, wait for more up to
        ``timeout`` seconds (``None``: no limit); with the default 0 it never
        waits, yet still takes every event that has arrived. Events of the
        package's other servers and clients are dispatched too, and recorded
        for them."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        _dispatch.wait_for(lambda: bool(self._events), timeout)
        return self._run_events()

    def _run_events(self) -> int:
        count = 0
        while self._events:
            callback, args = self._events.popleft()
            count += 1
            try:
                callback(*args)
            except ConnectionClosed:
                pass  # e.g. an answer to a client that just left: its on_close follows
        return count

    def serve_forever(self) -> None:
        """Run the callbacks as events come, until :meth:`shutdown` was
        called (from a callback or another thread) and every connection has
        closed."""
        while True:
            _dispatch.wait_for(lambda: bool(self._events) or self._done(), None)
            self._run_events()
            if self._done():
                return

    def _done(self) -> bool:
        return self._stopping and not self._connections and not self._events

    def shutdown(self) -> None:
        """Stop accepting connections and close the open ones with 1001
        (going away); :meth:`serve_forever` returns once they have closed.
        May be called from any thread."""
        if not self._stopping and self._handle is not None:
            self._stopping = True
            self._stop()
            for connection in list(self._connections):
                connection._read_again()
            _dispatch.notify()

    def close(self) -> None:
        """Shut down, run the callbacks of what the connections still send
        until they have closed, and free the server. Closing twice does nothing."""
        if self._handle is None:
            return
        self.shutdown()
        self.serve_forever()
        self._release()

    def __enter__(self) -> Server:
        """Enter: gives the server itself."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the server, and wait until its connections have closed."""
        self.close()
