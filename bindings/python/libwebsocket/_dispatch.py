"""The package's one ``ws_callbacks`` record, and the dispatch of polled events.

Every server and client is made in ``WS_DISPATCH_POLL`` mode with
:data:`CALLBACKS`, so the library's I/O threads never call Python: events
wait in the library's queue until :func:`dispatch` runs ``ws_dispatch()`` on
a Python thread. The C callbacks below only copy each event's data out (data
pointers are valid only during the call) and hand it to the connection object
watching that ``ws_conn`` (``_got_open``, ``_got_message`` ...), which records
it and wakes whoever waits for it. User code never runs inside
``ws_dispatch()``: it runs in the thread that waits (the sync API) or on the
asyncio loop. Should one of these methods raise all the same (a bug, or
KeyboardInterrupt arriving meanwhile), the exception is kept and raised
again once ``ws_dispatch()`` has returned, never through the C frames.

A client is registered by its user_data, as a server is: the connections
of its reconnect attempts, new ``ws_conn`` handles, go to the same object
(``_adopt``), and so do ``on_reconnect`` (which always lets the attempt go
ahead: the application's callback runs later, outside ``ws_dispatch()``,
and cancels by closing the client) and ``on_reconnected``.

Any thread may dispatch; one at a time does. :func:`wait_for` lets several
threads wait together: one of them (the leader) polls the event fd and
dispatches, the others sleep until something was dispatched.
"""

from __future__ import annotations

import ctypes
import math
import os
import select
import threading
import time
import weakref
from typing import Any, Callable, Protocol

from . import _ffi
from ._ffi import lib
from .exceptions import _check


class Watcher(Protocol):
    """What a connection object does with the events of its ``ws_conn``."""

    def _got_open(self) -> None: ...
    def _got_message(self, message: str | bytes) -> None: ...
    def _got_pong(self, data: bytes) -> None: ...
    def _got_error(self, status: int, message: str) -> None: ...
    def _got_close(self, code: int, reason: str) -> None: ...
    def _got_drain(self) -> None: ...


class Acceptor(Protocol):
    """What a server does when one of its connections opens."""

    def _accept(self, conn: int) -> Watcher | None: ...


class Follower(Watcher, Protocol):
    """A client, whose connections all go to it: a reconnecting client's
    attempts each make a new ``ws_conn``, adopted at its first event."""

    def _adopt(self, conn: int) -> None: ...
    def _got_reconnect(self, attempt: int, delay: float) -> None: ...
    def _got_reconnected(self, attempt: int) -> None: ...


# ws_conn pointer -> its connection object. A watched connection is retained
# by its object, so its pointer cannot be reused while the entry exists.
_watchers: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
# user_data of a server -> the server.
_acceptors: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
# user_data of a client -> the client.
_followers: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_next_id = 0
_held: list[BaseException] = []  # raised in the callbacks of the ws_dispatch() under way


def watch(conn: int, watcher: Watcher) -> None:
    """Send the events of ``conn`` to ``watcher`` (until its close)."""
    _watchers[conn] = watcher


def register(acceptor: Acceptor) -> int:
    """A user_data for a server: its opened connections go to ``acceptor._accept``."""
    global _next_id
    with lock:
        _next_id += 1
        _acceptors[_next_id] = acceptor
        return _next_id


def register_client(follower: Follower) -> int:
    """A user_data for a client: the events of each of its connections go to
    ``follower`` (a connection it does not watch yet is first given to
    ``follower._adopt``), and so do its reconnect events."""
    global _next_id
    with lock:
        _next_id += 1
        _followers[_next_id] = follower
        return _next_id


def unregister(user_data: int) -> None:
    """Forget a server's or a client's user_data."""
    _acceptors.pop(user_data, None)
    _followers.pop(user_data, None)


def _watcher(user_data: int | None, conn: int) -> Any:
    """The object watching ``conn``: the one it was given to, else its
    client's (a reconnect attempt's new connection), else None."""
    watcher = _watchers.get(conn)
    if watcher is None:
        follower = _followers.get(user_data or 0)
        if follower is not None:
            follower._adopt(conn)
            _watchers[conn] = watcher = follower
    return watcher


def _bytes(data: int | None, length: int) -> bytes:
    return ctypes.string_at(data or 0, length) if length else b""


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _on_open(user_data: int | None, conn: int) -> None:
    try:
        watcher = _watcher(user_data, conn)
        if watcher is None:
            acceptor = _acceptors.get(user_data or 0)
            watcher = acceptor._accept(conn) if acceptor is not None else None
            if watcher is None:
                return
            _watchers[conn] = watcher
        watcher._got_open()
    except BaseException as e:
        _held.append(e)


def _on_message(user_data: int | None, conn: int, kind: int, data: int | None, length: int) -> None:
    try:
        watcher = _watchers.get(conn)
        if watcher is not None:
            raw = _bytes(data, length)
            watcher._got_message(raw.decode() if kind == _ffi.MESSAGE_TEXT else raw)
    except BaseException as e:
        _held.append(e)


def _on_pong(user_data: int | None, conn: int, data: int | None, length: int) -> None:
    try:
        watcher = _watchers.get(conn)
        if watcher is not None:
            watcher._got_pong(_bytes(data, length))
    except BaseException as e:
        _held.append(e)


def _on_close(user_data: int | None, conn: int, code: int, reason: bytes | None) -> None:
    try:
        watcher = _watcher(user_data, conn)
        _watchers.pop(conn, None)
        if watcher is not None:
            watcher._got_close(code, _text(reason))
    except BaseException as e:
        _held.append(e)


def _on_error(user_data: int | None, conn: int, status: int, message: bytes | None) -> None:
    try:
        watcher = _watcher(user_data, conn)
        if watcher is not None:
            watcher._got_error(status, _text(message))
    except BaseException as e:
        _held.append(e)


def _on_drain(user_data: int | None, conn: int) -> None:
    try:
        watcher = _watchers.get(conn)
        if watcher is not None:
            watcher._got_drain()
    except BaseException as e:
        _held.append(e)


def _on_reconnect(user_data: int | None, conn: int, attempt: int, delay_ms: int) -> int:
    # Always lets the attempt go ahead: the application's on_reconnect runs
    # later, outside ws_dispatch(), and cancels by closing the client.
    try:
        follower = _followers.get(user_data or 0)
        if follower is not None:
            follower._got_reconnect(attempt, delay_ms / 1000)
    except BaseException as e:
        _held.append(e)
    return 0


def _on_reconnected(user_data: int | None, conn: int, attempt: int) -> None:
    try:
        follower = _followers.get(user_data or 0)
        if follower is not None:
            follower._got_reconnected(attempt)
    except BaseException as e:
        _held.append(e)


def hold(exception: BaseException) -> None:
    """Keep an exception raised inside ``ws_dispatch()`` until it returns."""
    _held.append(exception)


# The C function pointers live as long as the module: the record is shared by
# every server and client, and the library may call them until the last one is
# freed. on_ping is left out (the library answers pings itself), and so are
# on_handshake (servers accept what their config allows) and on_message_part.
_KEEP = (
    _ffi.CONN_FN(_on_open),
    _ffi.MESSAGE_FN(_on_message),
    _ffi.DATA_FN(_on_pong),
    _ffi.CLOSE_FN(_on_close),
    _ffi.ERROR_FN(_on_error),
    _ffi.CONN_FN(_on_drain),
    _ffi.RECONNECT_FN(_on_reconnect),
    _ffi.RECONNECTED_FN(_on_reconnected),
)
CALLBACKS = _ffi.Callbacks(
    size=ctypes.sizeof(_ffi.Callbacks),
    on_open=_KEEP[0],
    on_message=_KEEP[1],
    on_pong=_KEEP[2],
    on_close=_KEEP[3],
    on_error=_KEEP[4],
    on_drain=_KEEP[5],
    on_reconnect=_KEEP[6],
    on_reconnected=_KEEP[7],
)
CALLBACKS_REF = ctypes.byref(CALLBACKS)

lock = threading.RLock()  # one ws_dispatch() at a time; held to watch a new connection
_cond = threading.Condition()  # signalled after each dispatch
_leader: int | None = None  # the thread polling the event fd in wait_for
_event_fd: int | None = None
_poller: select.poll | None = None


def _wake_pipe() -> tuple[int, int]:
    """A non-blocking pipe that wakes the leader when another thread dispatched."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


_wake_r, _wake_w = _wake_pipe()


def _start_afresh_in_child() -> None:
    """After fork(), in the child: the library gives the child its own event
    queue and fd, and the parent's other threads do not exist there. Forget
    the parent's fd and poller, its locks (another thread may have held
    them) and its wake pipe (shared with the parent)."""
    global lock, _cond, _leader, _event_fd, _poller, _wake_r, _wake_w
    lock = threading.RLock()
    _cond = threading.Condition()
    _leader = None
    _held.clear()
    _event_fd, _poller = None, None
    os.close(_wake_r)
    os.close(_wake_w)
    _wake_r, _wake_w = _wake_pipe()


os.register_at_fork(after_in_child=_start_afresh_in_child)


def event_fd() -> int:
    """The library's event fd (``ws_event_fd()``): readable while events wait."""
    global _event_fd, _poller
    if _event_fd is None:
        fd = _check(lib.ws_event_fd(), "ws_event_fd")
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(_wake_r, select.POLLIN)
        _event_fd, _poller = fd, poller
    return _event_fd


def dispatch(max_events: int = 0) -> int:
    """Run ``ws_dispatch(max_events)`` (all queued events when 0) on this
    thread and return how many events it took; then raise the first exception
    held from its callbacks, if any."""
    with lock:
        count = lib.ws_dispatch(max_events)
        held = _held[:]
        _held.clear()
    _check(count, "ws_dispatch")
    notify()
    if held:
        raise held[0]
    return int(count)


def notify() -> None:
    """Wake the threads waiting in :func:`wait_for`, to check what they wait for."""
    with _cond:
        _cond.notify_all()
        if _leader is not None and _leader != threading.get_ident():
            try:
                os.write(_wake_w, b"\0")
            except BlockingIOError:
                pass  # a wake-up is already pending


def wait_for(ready: Callable[[], bool], timeout: float | None) -> bool:
    """Dispatch events until ``ready()`` is true (then return True) or
    ``timeout`` seconds have passed (None: no limit; then return False).

    The events already queued are always dispatched before giving up, so
    ``timeout=0`` means "what has arrived so far", not "nothing"."""
    global _leader
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = event_fd()
    dispatched = False  # whether this call ran ws_dispatch() itself
    while True:
        with _cond:
            if ready():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            expired = remaining is not None and remaining <= 0
            if expired and dispatched:
                return False
            if not expired and _leader is not None:
                _cond.wait(remaining)
                continue
            if not expired:
                _leader = threading.get_ident()
        if expired:
            # Time is up: take what is queued now, then check once more.
            dispatch()
            dispatched = True
            continue
        try:
            assert _poller is not None
            ms = None if remaining is None else math.ceil(remaining * 1000)
            for ready_fd, _ in _poller.poll(ms):
                if ready_fd == _wake_r:
                    _drain_wake_pipe()
                elif ready_fd == fd:
                    dispatch()
                    dispatched = True
        finally:
            with _cond:
                _leader = None
                _cond.notify_all()


def _drain_wake_pipe() -> None:
    try:
        while os.read(_wake_r, 64):
            pass
    except BlockingIOError:
        pass
