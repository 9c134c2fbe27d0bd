"""The asyncio client: :func:`connect`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

from ..options import ClientOptions
from . import _loop
from .connection import Connection


class ClientConnection(Connection):
    """The connection :func:`connect` makes; it frees the client once closed."""

    _detach: Callable[[], object]  # ends its use of the loop's event fd reader

    def _closed_in_loop(self) -> None:
        super()._closed_in_loop()
        self._free()
        self._detach()


class connect:
    """Connect to ``uri`` (``ws://host[:port]/path`` or ``wss://...``), as
    the ``websockets`` package's ``connect``::

        async with connect("ws://127.0.0.1:9001/") as ws:
            await ws.send("hello")
            print(await ws.recv())

    or ``ws = await connect(uri)`` (then ``await ws.close()``).

    ``options`` are the fields of :class:`~libwebsocket.ClientOptions`
    (``subprotocols``, ``additional_headers``, ``tls``, ``compression``,
    ``max_size``, ``open_timeout`` ...). Raises
    :class:`~libwebsocket.InvalidURI` for a malformed URL and
    :class:`~libwebsocket.WebSocketError` when the connection fails (its
    ``code`` says how: ``WS_ERR_CONNECT`` for a refused port,
    ``WS_ERR_HANDSHAKE``, ``WS_ERR_TLS`` ...).
    """

    def __init__(self, uri: str, **options: Any) -> None:
        """Check the options; connecting starts when awaited or entered."""
        self.uri = uri
        """The URL connected to."""
        self.options = ClientOptions(**options)
        """The options, checked."""
        self._connection: ClientConnection | None = None

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        """``await connect(...)``: the open connection."""
        return self._connect().__await__()

    async def _connect(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        ws = ClientConnection(loop, threading.get_ident())
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
