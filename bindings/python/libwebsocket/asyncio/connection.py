"""The asyncio connection: :class:`Connection`, the one both sides get."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType

from .._connection import ConnectionBase, Data, Message
from ..constants import CloseCode
from ..exceptions import ConnectionClosedOK
from ._loop import LoopBound


class Connection(ConnectionBase, LoopBound):
    """A WebSocket connection on an asyncio loop, shaped like the
    ``websockets`` package's: :meth:`send`, :meth:`recv`, ``async for
    message in connection``, :meth:`close`, :attr:`close_code` and
    :attr:`close_reason`.

    Use it on the loop it was made on (its events reach that loop whichever
    thread dispatches them).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: int) -> None:
        """Made by :func:`~libwebsocket.asyncio.connect` and
        :func:`~libwebsocket.asyncio.serve`, for ``loop`` running on ``thread``."""
        ConnectionBase.__init__(self)
        LoopBound.__init__(self, loop, thread)
        self._pings: deque[tuple[bytes, asyncio.Future[float], float]] = deque()

    # --- Events ------------------------------------------------------------

    def _wake(self) -> None:
        self._in_loop(self._wake_waiters)

    def _got_pong(self, data: bytes) -> None:
        self._in_loop(self._answer_pings, data, time.monotonic())

    def _answer_pings(self, data: bytes, when: float) -> None:
        # A pong answers its ping and every ping sent before it.
        if not any(payload == data for payload, _, _ in self._pings):
            return
        while self._pings:
            payload, waiter, sent = self._pings.popleft()
            if not waiter.done():
                waiter.set_result(when - sent)
            if payload == data:
                return

    def _lost(self) -> None:
        super()._lost()
        self._soon(self._fail_pings)

    def _end(self) -> None:
        super()._end()
        # Soon, never inside ws_dispatch(): it may free the client.
        self._soon(self._closed_in_loop)

    def _closed_in_loop(self) -> None:
        """The connection closed: fail the pings still waiting."""
        self._fail_pings()

    def _fail_pings(self) -> None:
        """The connection closed, or a reconnecting client lost it: fail
        the pings still waiting."""
        while self._pings:
            _, waiter, _ = self._pings.popleft()
            if not waiter.done():
                waiter.set_exception(self._closed_error())

    # --- API ---------------------------------------------------------------

    async def send(self, message: Data) -> None:
        """Send a message: ``str`` as text, bytes-like as binary. When it
        leaves more than the high-water mark (1 MiB) waiting to be written,
        wait until what waits has fallen to the low-water mark (256 KiB).

        Raises :class:`~libwebsocket.ConnectionClosed` once the connection is
        closing or closed."""
        self._send(message)
        while self._backpressure and not self._closed:
            await self._wait()

    async def recv(self) -> Message:
        """The next message: ``str`` (text) or ``bytes`` (binary).

        Raises :class:`~libwebsocket.ConnectionClosed` once the connection is
        closed and every message was received. To bound the wait, use
        ``await asyncio.wait_for(ws.recv(), seconds)``."""
        while not self._messages:
            if self._closed:
                raise self._closed_error()
            await self._wait()
        return self._next_message()

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Iterate over messages until the connection closes: normally (the
        loop ends) or with an error (:class:`~libwebsocket.ConnectionClosedError`)."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def ping(self, data: Data | None = None) -> Awaitable[float]:
        """Send a ping (``data``: up to 125 bytes; default 4 random bytes) and
        return an awaitable that gives the round-trip time in seconds once
        the pong arrives (``await (await ws.ping())``)."""
        payload = os.urandom(4) if data is None else data.encode() if isinstance(data, str) else bytes(data)
        self._ping(payload)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings.append((payload, waiter, time.monotonic()))
        return waiter

    async def close(self, code: int = CloseCode.WS_OK, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` (at most 123
        UTF-8 bytes) and wait until the close handshake ends (at most the
        close timeout). Closing a closed connection does nothing."""
        if not self._closed:
            self._start_close(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        while not self._closed:
            await self._wait()

    async def __aenter__(self) -> Connection:
        """Enter: gives the connection itself."""
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave: close the connection, and wait until it is closed."""
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<libwebsocket.asyncio.{type(self).__name__} {state}>"
