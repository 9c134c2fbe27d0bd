"""The asyncio server: :func:`serve` and :class:`Server`."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

from .._listener import Listener, Subscriber
from ..constants import CloseCode
from ..exceptions import ConnectionClosed
from ..options import ServerOptions
from . import _loop
from ._loop import LoopBound
from .connection import Connection

logger = logging.getLogger("libwebsocket.server")

Handler = Callable[[Connection], Awaitable[None]]


class ServerConnection(Connection, Subscriber):
    """A connection of a :class:`Server`: its opening starts the handler.
    It may :meth:`subscribe` to topics, for what the server publishes to
    them (:meth:`Server.publish`); these calls never block."""

    def __init__(self, server: Server) -> None:
        """A connection of ``server``, made when it opens."""
        super().__init__(server._loop, server._thread)
        self._server = server

    def _got_open(self) -> None:
        super()._got_open()
        self._in_loop(self._server._start_handler, self)

    def _closed_in_loop(self) -> None:
        super()._closed_in_loop()
        self._server._connections.discard(self)
        self._server._wake_waiters()


class Server(Listener, LoopBound):
    """A listening server (what :func:`serve` gives), shaped like the
    ``websockets`` package's: :attr:`port`, :meth:`serve_forever`,
    :meth:`close` and :meth:`wait_closed`."""

    def __init__(self, handler: Handler, host: str, port: int, options: ServerOptions) -> None:
        """Listen on ``host`` and ``port`` (call on the loop's thread; see :func:`serve`)."""
        LoopBound.__init__(self, asyncio.get_running_loop(), threading.get_ident())
        self._handler = handler
        self._connections: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        Listener.__init__(self, host, port, options)
        # Until closed, the loop holds the server, whoever else does: it
        # serves as long as the loop runs, and goes with it.
        self._detach = _loop.attach(self._loop, self, keep=True)

    # --- Connections (the dispatcher calls _accept on any thread) ----------

    def _accept(self, conn: int) -> ServerConnection:
        ws = ServerConnection(self)
        ws._attach(conn, self._max_queue)
        self._connections.add(ws)
        return ws

    def _start_handler(self, ws: ServerConnection) -> None:
        task = self._loop.create_task(self._run_handler(ws))
        self._tasks.add(task)
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake_waiters()

    async def _run_handler(self, ws: ServerConnection) -> None:
        """Run the handler; then close the connection with 1000, or with 1011
        when the handler raised (logged to the ``libwebsocket.server``
        logger), unless it raised ConnectionClosed."""
        code = CloseCode.WS_OK
        try:
            await self._handler(ws)
        except ConnectionClosed:
            pass  # the connection ended under the handler: nothing to report
        except Exception:
            logger.exception("the connection handler failed")
            code = CloseCode.WS_INTERNAL_SERVER_ERROR
        await ws.close(code)

    # --- API ---------------------------------------------------------------

    @property
    def connections(self) -> set[Connection]:
        """The open connections (a copy)."""
        return set(self._connections)

    def close(self) -> None:
        """Stop accepting connections and close the open ones with 1001
        (going away); :meth:`wait_closed` waits for the end."""
        if not self._closing and self._handle is not None:
            self._closing = True
            self._stop()
            for connection in list(self._connections):
                connection._read_again()
            self._wake_waiters()

    async def wait_closed(self) -> None:
        """Wait until the server was closed, its connections have closed and
        their handlers returned; then free it."""
        while not (self._closing and not self._connections and not self._tasks):
            await self._wait()
        if self._handle is not None:
            self._release()
            self._detach()

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` was called and the server is closed (or
        this task is cancelled, which closes the server)."""
        try:
            await self.wait_closed()
        except asyncio.CancelledError:
            self.close()
            raise

    async def __aenter__(self) -> Server:
        """Enter: gives the server itself."""
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the server, and wait until its connections have closed."""
        self.close()
        await self.wait_closed()


class serve:
    """Listen on ``host`` and ``port`` (0: a free one, see
    :attr:`Server.port`) and run ``await handler(connection)`` for each
    connection that opens, as the ``websockets`` package's ``serve``::

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(echo, "127.0.0.1", 0) as server:
            print(server.port)
            await server.serve_forever()

    or ``server = await serve(...)`` (then ``server.close()`` and ``await
    server.wait_closed()``). When the handler returns, its connection is
    closed with 1000; when it raises, with 1011. ``options`` are the fields
    of :class:`~libwebsocket.ServerOptions` (``tls``, ``compression``,
    ``max_size``, ``subprotocols`` ...).
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        """Check the options; listening starts when awaited or entered."""
        self._args = (handler, host, port, ServerOptions(**options))
        self._server: Server | None = None

    def __await__(self) -> Generator[Any, None, Server]:
        """``await serve(...)``: the listening server."""
        return self._start().__await__()

    async def _start(self) -> Server:
        return Server(*self._args)

    async def __aenter__(self) -> Server:
        """``async with serve(...) as server``: listen, give the server."""
        self._server = await self
        return self._server

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the server, and wait until its connections have closed."""
        assert self._server is not None
        await self._server.__aexit__(kind, value, tb)
