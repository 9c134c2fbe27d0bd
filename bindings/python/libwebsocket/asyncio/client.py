"""The asyncio client: :func:`connect`."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Optional, Union

from ..constants import CloseCode
from ..options import ClientOptions
from . import _loop
from .connection import Connection

logger = logging.getLogger("libwebsocket.client")

ReconnectCallback = Callable[["ClientConnection", int, float], Union[Optional[bool], Awaitable[Optional[bool]]]]
ReconnectedCallback = Callable[["ClientConnection", int], Union[None, Awaitable[None]]]


class ClientConnection(Connection):
    """The connection :func:`connect` makes; it frees the client once closed.

    Made with the ``reconnect`` option, it stands for every connection the
    client makes: between two, :meth:`recv` waits, :meth:`send` raises
    :class:`~libwebsocket.NotConnected` and :attr:`reconnecting` is True."""

    _detach: Callable[[], object]  # ends its use of the loop's event fd reader

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: int) -> None:
        """Made by :func:`connect`."""
        super().__init__(loop, thread)
        self._on_reconnect: ReconnectCallback | None = None
        self._on_reconnected: ReconnectedCallback | None = None
        self._stopped = False  # close() was called: reconnect callbacks no longer run
        self._callback_tasks: set[asyncio.Task[None]] = set()

    def _closed_in_loop(self) -> None:
        super()._closed_in_loop()
        self._free()
        self._detach()

    # --- Reconnect callbacks (run on the loop, never in ws_dispatch()) ---

    def _got_reconnect(self, attempt: int, delay: float) -> None:
        if self._on_reconnect is not None:
            self._soon(self._run_callback, "on_reconnect", self._on_reconnect, attempt, delay)

    def _got_reconnected(self, attempt: int) -> None:
        if self._on_reconnected is not None:
            self._soon(self._run_callback, "on_reconnected", self._on_reconnected, attempt)

    def _run_callback(self, name: str, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(self, *args)``; a coroutine it returns runs as a
        task. An ``on_reconnect`` that gives False stops reconnecting. An
        exception is logged to the ``libwebsocket.client`` logger."""
        if self._stopped or self._closed:
            return
        try:
            result = callback(self, *args)
        except Exception:
            logger.exception("the %s callback failed", name)
            return
        if inspect.isawaitable(result):
            task = self._loop.create_task(self._await_callback(name, result))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)
        else:
            self._decided(name, result)

    async def _await_callback(self, name: str, result: Awaitable[Any]) -> None:
        try:
            outcome = await result
        except Exception:
            logger.exception("the %s callback failed", name)
            return
        self._decided(name, outcome)

    def _decided(self, name: str, outcome: Any) -> None:
        if name == "on_reconnect" and outcome is False and not (self._stopped or self._closed):
            self._stopped = True
            self._start_close(CloseCode.WS_OK, "")

    # --- API ---------------------------------------------------------------

    @property
    def reconnecting(self) -> bool:
        """True while a client made with ``reconnect`` is between two
        connections: it lost one (or its first failed) and another attempt follows."""
        return self._reconnecting

    async def close(self, code: int = CloseCode.WS_OK, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` (at most 123
        UTF-8 bytes) and wait until the close handshake ends (at most the
        close timeout). Closing a closed connection does nothing. A
        reconnecting client stops reconnecting, also between two
        connections, and its reconnect callbacks do not run any more."""
        self._stopped = True
        await super().close(code, reason)


class connect:
    """Connect to ``uri`` (``ws://host[:port]/path`` or ``wss://...``), as
    the ``websockets`` package's ``connect``::

        async with connect("ws://127.0.0.1:9001/") as ws:
            await ws.send("hello")
            print(await ws.recv())

    or ``ws = await connect(uri)`` (then ``await ws.close()``).

    ``options`` are the fields of :class:`~libwebsocket.ClientOptions`
    (``subprotocols``, ``additional_headers``, ``tls``, ``compression``,
    ``max_size``, ``open_timeout``, ``reconnect`` ...).

    With ``reconnect``, ``on_reconnect(ws, attempt, delay)`` runs on the
    loop when a connection was lost (or failed) and attempt number
    ``attempt`` will connect ``delay`` seconds after the close; returning
    False stops reconnecting (as :meth:`ClientConnection.close` does).
    ``on_reconnected(ws, attempt)`` runs when an attempt's connection
    opened. Either may be a coroutine function (run as a task). The
    attempt does not wait for them: an ``on_reconnect`` that decides late
    stops the attempts that follow, or closes the connection that opened
    meanwhile. A first connection that fails is retried too, so connecting
    waits until one opens or ``max_tries`` attempts have failed. Raises
    :class:`~libwebsocket.InvalidURI` for a malformed URL and
    :class:`~libwebsocket.WebSocketError` when the connection fails (its
    ``code`` says how: ``WS_ERR_CONNECT`` for a refused port,
    ``WS_ERR_HANDSHAKE``, ``WS_ERR_TLS`` ...).
    """

    def __init__(
        self,
        uri: str,
        *,
        on_reconnect: ReconnectCallback | None = None,
        on_reconnected: ReconnectedCallback | None = None,
        **options: Any,
    ) -> None:
        """Check the options; connecting starts when awaited or entered."""
        self.uri = uri
        """The URL connected to."""
        self.options = ClientOptions(**options)
        """The options, checked."""
        self._callbacks = (on_reconnect, on_reconnected)
        self._connection: ClientConnection | None = None

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        """``await connect(...)``: the open connection."""
        return self._connect().__await__()

    async def _connect(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        ws = ClientConnection(loop, threading.get_ident())
        ws._on_reconnect, ws._on_reconnected = self._callbacks
        ws._start_client(self.uri, self.options)
        ws._detach = _loop.attach(loop, ws)
        try:
            while not (ws._opened or ws._closed):
                await ws._wait()
        except BaseException:  # cancelled while opening: give up the connection
            ws._free()
            ws._detach()
            raise
        if not ws._opened:
            raise ws._open_error(self.uri)
        return ws

    async def __aenter__(self) -> ClientConnection:
        """``async with connect(...) as ws``: the open connection."""
        self._connection = await self
        return self._connection

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the connection, and wait until it is closed."""
        assert self._connection is not None
        await self._connection.close()
