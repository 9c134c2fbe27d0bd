"""The library's event fd on asyncio loops: while a loop has a connection or
server of this package, it dispatches the library's events whenever the fd is
readable (``loop.add_reader``)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

from .. import _dispatch


class _Reader:
    """The event fd's reader on one loop, counting its users. The loop holds
    it (through ``add_reader``) while it has users, and it holds the users
    that ask to be kept: a server nobody else holds serves as long as its
    loop runs, and goes with the loop once the loop is closed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd  # the event fd it was added for
        self.users = 0
        self.kept: dict[int, object] = {}  # id(user) -> user

    def __call__(self) -> None:
        _dispatch.dispatch()


# The loops' readers; weakly, so that only the loops hold them.
_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_Reader]] = weakref.WeakKeyDictionary()


def attach(loop: asyncio.AbstractEventLoop, user: object, keep: bool = False) -> Callable[[], object]:
    """``user`` uses the event fd on ``loop`` (call on the loop's thread);
    with ``keep``, the loop holds ``user`` until the use ends. Returns what
    ends the use: call it when done, from any thread; it acts once, and at
    the latest when ``user`` is collected."""
    known = _readers.get(loop)
    reader = known() if known is not None else None
    if reader is None:
        reader = _Reader(_dispatch.event_fd())
        loop.add_reader(reader.fd, reader)
        _readers[loop] = weakref.ref(reader)
    reader.users += 1
    if keep:
        reader.kept[id(user)] = user
    return weakref.finalize(user, _detach, loop, weakref.ref(reader), id(user), threading.get_ident())


def _detach(
    loop: asyncio.AbstractEventLoop, reader_ref: weakref.ref[_Reader], user_id: int, thread: int
) -> None:
    """One user fewer (``thread`` is the loop's); the last one removes the reader."""
    if threading.get_ident() != thread:
        try:
            loop.call_soon_threadsafe(_detach, loop, reader_ref, user_id, thread)
        except RuntimeError:
            pass  # the loop is closed: its reader went with it
        return
    reader = reader_ref()
    if reader is None:  # the loop was closed and its reader collected
        return
    reader.kept.pop(user_id, None)
    reader.users -= 1
    if reader.users == 0:
        _readers.pop(loop, None)
        if not loop.is_closed():
            loop.remove_reader(reader.fd)


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
