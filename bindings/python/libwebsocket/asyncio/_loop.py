"""The library's event fd on asyncio loops: while a loop has a connection or
server of this package, it dispatches the library's events whenever the fd is
readable (``loop.add_reader``)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

from .. import _dispatch

_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def attach(loop: asyncio.AbstractEventLoop) -> None:
    """One more user of the event fd on ``loop`` (call on the loop's thread)."""
    count = _users.get(loop, 0)
    if count == 0:
        loop.add_reader(_dispatch.event_fd(), _dispatch.dispatch)
    _users[loop] = count + 1


def detach(loop: asyncio.AbstractEventLoop) -> None:
    """One user fewer; the last one removes the reader."""
    count = _users.get(loop, 0) - 1
    if count > 0:
        _users[loop] = count
        return
    _users.pop(loop, None)
    if not loop.is_closed():
        loop.remove_reader(_dispatch.event_fd())


class LoopBound:
    """Something of one loop that coroutines wait on (:meth:`_wait`, woken by
    :meth:`_wake_waiters`), and that runs functions on the loop's thread
    from any thread (:meth:`_in_loop`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: int) -> None:
        self._loop = loop
        self._thread = thread  # the loop's thread (threading.get_ident())
        self._waiters: list[asyncio.Future[None]] = []

    async def _wait(self) -> None:
        """Wait until :meth:`_wake_waiters` is next called."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        """Wake every coroutine in :meth:`_wait` (on the loop's thread)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _in_loop(self, function: Callable[..., None], *args: object) -> None:
        """Call ``function(*args)`` now when on the loop's thread, else soon on it."""
        if threading.get_ident() == self._thread and not self._loop.is_closed():
            function(*args)
        else:
            self._soon(function, *args)

    def _soon(self, function: Callable[..., None], *args: object) -> None:
        """Call ``function(*args)`` soon on the loop's thread. Once the loop
        is closed nothing waits on it any more: then do nothing."""
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:
            if not self._loop.is_closed():
                raise
